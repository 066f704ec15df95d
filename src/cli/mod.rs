//! The command line (SPEC §9). `main.rs` only parses and maps the [`Exit`] to a process code;
//! each command lives in its own module and is callable in-process by tests.
//!
//! Exit codes, the same for every command ([`Exit`]): 0 success; 1 a broken contract or
//! objective (a failed scenario, a load threshold or error-ratio breach, ...); 2 a usage or
//! configuration error (undefined or ambiguous steps included); 130 interrupted by SIGINT
//! (Ctrl-C), 143 by SIGTERM or SIGHUP — always after writing what was measured.

pub mod chaos;
pub mod check;
pub mod clauses;
pub mod compare;
pub mod container;
pub mod docker;
pub mod explore;
pub mod image;
pub mod load;
pub mod mutate;
pub mod run;
pub mod steps;
pub mod token;
pub mod toxics;
pub mod up;
pub mod up_docker;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// How a command ended: the one mapping to process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// A broken contract or objective: failed scenarios, a load threshold breached.
    Failures,
    /// Bad usage or configuration (undefined steps included).
    Usage,
    /// Stopped by a signal, after writing reports and stopping everything started.
    Interrupted(Signal),
}

impl Exit {
    /// The exit of a command whose containers could not be had: the user's setup (no engine,
    /// no permission, an image missing, a stack the target cannot run) is usage, exit 2; the
    /// engine failing at a running stack is a failure, exit 1.
    pub fn of_container_error(error: &crate::docker::DockerError) -> Exit {
        if error.is_setup() {
            Exit::Usage
        } else {
            Exit::Failures
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failures => 1,
            Exit::Usage => 2,
            Exit::Interrupted(signal) => signal.exit_code(),
        }
    }
}

/// The exporter of `--otlp-endpoint`, if given.
///
/// # Errors
/// A malformed endpoint, printed, as [`Exit::Usage`].
pub fn otlp_exporter(
    endpoint: Option<&str>,
) -> Result<Option<crate::trace::otlp::OtlpExporter>, Exit> {
    endpoint
        .map(crate::trace::otlp::OtlpExporter::new)
        .transpose()
        .map_err(|e| {
            eprintln!("error: {e}");
            Exit::Usage
        })
}

/// A signal that stops a command early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, Ctrl-C.
    Interrupt,
    /// SIGTERM (what CI sends on a timeout).
    Terminate,
    /// SIGHUP (the terminal went away): handled as SIGTERM.
    Hangup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// 128 + the signal number, as a shell reports it: 130 for SIGINT, 143 for SIGTERM; SIGHUP
    /// is handled like SIGTERM, so 143 too.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate | Signal::Hangup => 143,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "gauntlet",
    version,
    about = "Chaos and conformance harness for a Kong-style gateway and a Consul-style mesh"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run features against a stack and write reports/<run-id>/.
    Run(run::RunArgs),
    /// Start the stack on its fixed ports for exploration with curl; Ctrl-C stops it.
    Up(up::UpArgs),
    /// Print a signed JWT (last line): `--consumer NAME`, or `<key> <secret> [minutes]`, on the
    /// running `up` stack's clock (stderr says which clock).
    Token(token::TokenArgs),
    /// Print the step catalog and what each parameter accepts (`--json` for editors).
    Steps(steps::StepsArgs),
    /// Print the clause catalogue (features/clauses.yml): each clause, its domain, the
    /// scenarios that verify it; `--governs PATH` for the clauses governing one config value.
    Clauses(clauses::ClausesArgs),
    /// Validate the stack and the features without running them.
    Check(check::CheckArgs),
    /// Act on a running `gauntlet up` stack (`--control URL` or GAUNTLET_CONTROL): stop|start|kill|pause|unpause
    /// a service, add or clear faults, advance the clock, read a service's journal, status.
    Chaos(chaos::ChaosArgs),
    /// Send load to a loopback URL and print HDR latency percentiles (open model with --rate).
    Load(load::LoadArgs),
    /// Compare two runs (default: the newest with the previous one on its stack): new failures,
    /// fixed, flaky, latency deltas against the noise band, the stacks' file diff; exit 1 on a
    /// regression.
    Compare(compare::CompareArgs),
    /// Mutation testing: run the features against every single-value change of the stack's
    /// config and report which mistakes the suite catches, and for the right clause.
    Mutate(mutate::MutateArgs),
    /// Gauntlet's container image for `--target docker`: `gauntlet image build`.
    Image(image::ImageArgs),
    /// The container target's leftovers: `gauntlet docker prune`.
    Docker(docker::DockerArgs),
    /// What the binary runs inside a container of `--target docker` (internal).
    #[command(hide = true)]
    Container(container::ContainerArgs),
    /// Search for the smallest schedules of failures that break the steady-state hypotheses
    /// of experiments/ (seeded; prints the resilience matrix, writes reports/<run-id>/).
    Explore(explore::ExploreArgs),
}

/// Completes on Ctrl-C (SIGINT), SIGTERM (what CI sends on a timeout) or SIGHUP (a closed
/// terminal), saying which.
pub async fn interrupted() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::Hangup,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    Signal::Interrupt
}

/// SIGINT, SIGTERM and SIGHUP caught from the moment [`Interrupts::listen`] returns (where
/// [`interrupted`] catches them only once first polled): `up` listens before it prints the
/// addresses a caller then acts on, so a Ctrl-C right after them is never the default kill.
pub struct Interrupts {
    #[cfg(unix)]
    streams: Option<[tokio::signal::unix::Signal; 3]>,
}

impl Interrupts {
    /// Starts catching the signals (falls back to [`interrupted`] where it cannot).
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(int), Ok(term), Ok(hup)) => Some([int, term, hup]),
                _ => None,
            };
            Interrupts { streams }
        }
        #[cfg(not(unix))]
        Interrupts {}
    }

    /// The next signal.
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        if let Some([int, term, hup]) = &mut self.streams {
            return tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::Hangup,
            };
        }
        interrupted().await
    }
}

/// Default stack directory.
pub fn default_stack() -> PathBuf {
    PathBuf::from("scenarios/valueverse")
}

/// Runs a parsed command.
pub async fn execute(cli: Cli) -> Exit {
    match cli.command {
        Command::Run(args) => run::execute(args).await,
        Command::Up(args) => up::execute(args).await,
        Command::Token(args) => token::execute(args).await,
        Command::Steps(args) => steps::execute(args),
        Command::Clauses(args) => clauses::execute(args),
        Command::Check(args) => check::execute(args),
        Command::Chaos(args) => chaos::execute(args).await,
        Command::Load(args) => load::execute(args).await,
        Command::Mutate(args) => mutate::execute(args).await,
        Command::Compare(args) => compare::execute(args),
        Command::Image(args) => image::execute(args).await,
        Command::Docker(args) => docker::execute(args).await,
        Command::Container(args) => container::execute(args).await,
        Command::Explore(args) => explore::execute(args).await,
    }
}
