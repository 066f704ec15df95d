//! The command line (SPEC §9). `main.rs` only parses and maps the [`Exit`] to a process code;
//! each command lives in its own module and is callable in-process by tests.
//!
//! Exit codes: 0 success, 1 a run with failures, 2 usage or configuration errors.

pub mod chaos;
pub mod check;
pub mod clauses;
pub mod load;
pub mod run;
pub mod steps;
pub mod token;
pub mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// A run had failing scenarios.
    Failures,
    /// Bad usage or configuration.
    Usage,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failures => 1,
            Exit::Usage => 2,
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
    /// Print a signed JWT (last line): `--consumer NAME`, or `<key> <secret> [minutes]`.
    Token(token::TokenArgs),
    /// Print the step catalog.
    Steps,
    /// Print the clause catalogue (features/clauses.yml): each clause, its domain, the
    /// scenarios that verify it; `--governs PATH` for the clauses governing one config value.
    Clauses(clauses::ClausesArgs),
    /// Validate the stack and the features without running them.
    Check(check::CheckArgs),
    /// Act on a running `gauntlet up` stack: stop|start|kill a service, add or clear faults,
    /// advance the clock, read a service's journal.
    Chaos(chaos::ChaosArgs),
    /// Send load to a loopback URL and print HDR latency percentiles (open model with --rate).
    Load(load::LoadArgs),
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM (what CI sends on a timeout).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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
        Command::Token(args) => token::execute(args),
        Command::Steps => steps::execute(),
        Command::Clauses(args) => clauses::execute(args),
        Command::Check(args) => check::execute(args),
        Command::Chaos(args) => chaos::execute(args).await,
        Command::Load(args) => load::execute(args).await,
    }
}
