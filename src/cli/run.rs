//! `gauntlet run`: features against a stack, reports written, `N passed, N failed` last.
//!
//! Paths take cucumber's forms: a folder, a file, `file:LINE[:LINE...]` (the scenarios at those
//! lines, as the console prints them), and `@rerun.txt` (the locations in that file, e.g.
//! `reports/latest/rerun.txt`, the last run's failures).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;

use super::{Exit, Signal};
use crate::runner::selection::{read_rerun_file, Location};
use crate::runner::{self, console, RunError, RunOptions};

#[derive(Debug, Args)]
#[command(after_help = "\
Paths:
  features/                                       every feature under the folder (the default)
  features/resilience/circuit_breaker.feature:22  the scenario at line 22 (as the console prints it);
                                                  an outline's line runs every row, a row's line that row
  @reports/latest/rerun.txt                       the scenarios that failed last time

Exit status: 0 every scenario passed; 1 a scenario failed; 2 a usage or configuration error,
undefined or ambiguous steps included (nothing is run then); 130 interrupted by Ctrl-C, 143 by
SIGTERM or SIGHUP (the report is written first).")]
pub struct RunArgs {
    /// Feature files or folders (default: features/), `file:LINE`, or `@rerun.txt`.
    pub paths: Vec<String>,
    /// Stack definition folder.
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
    /// Tag expression, e.g. '@AUTH-4 and not @slow'.
    #[arg(long)]
    pub tags: Option<String>,
    /// Only scenarios whose name matches this regex.
    #[arg(long, short = 'n', value_name = "REGEX")]
    pub name: Option<String>,
    /// Seed for random fault choices (printed and reported; replays a run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenarios run at once (each has its own stack).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
    /// Start no new scenario after the first failure (scenarios already running finish).
    #[arg(long)]
    pub fail_fast: bool,
    /// "N seconds pass" sleeps for real instead of jumping the stack clock.
    #[arg(long)]
    pub real_time: bool,
    /// Where reports/<run-id>/, latest/, history.jsonl and the history index.html are written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Run directories kept under the report directory (older ones are removed; history.jsonl
    /// keeps every run).
    #[arg(long, value_name = "N", default_value_t = crate::report::history::DEFAULT_KEEP, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub keep: usize,
    /// Run every scenario N times; a scenario that both passes and fails is marked flaky (it
    /// still fails the run). Every round uses the same seed.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100))]
    pub repeat: usize,
    /// A stack folder to diff this run's stack files against in the report (e.g. the
    /// conformant scenarios/valueverse when running an edited copy).
    #[arg(long, value_name = "DIR")]
    pub baseline_stack: Option<PathBuf>,
    /// Export every scenario's spans (gateway stages, upstream attempts, sidecar hops, faults and toxics)
    /// with OTLP over HTTP (protobuf) to a collector or Jaeger, e.g. `http://127.0.0.1:4318`
    /// (spans go to /v1/traces; a URL with a path is used as is). Off by default. Loopback
    /// only: Gauntlet sends network traffic only to loopback (127.0.0.0/8, ::1, localhost), so
    /// any other host is refused (exit 2).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Where each scenario's stack runs: in this process, or as containers on a Docker network
    /// (SPEC §13; a fresh stack per scenario, `--concurrency` of them at once, default 4).
    #[arg(long, value_enum, default_value_t = crate::target::Target::Process)]
    pub target: crate::target::Target,
}

/// Scenario lines wanted per feature file.
type Lines = BTreeMap<PathBuf, Vec<usize>>;

/// The feature paths and per-file lines `args.paths` stand for.
fn targets(args: &[String]) -> Result<(Vec<PathBuf>, Lines), String> {
    let mut locations = Vec::new();
    for arg in args {
        match arg.strip_prefix('@') {
            Some(file) => {
                let found = read_rerun_file(std::path::Path::new(file))
                    .map_err(|e| format!("{file}: cannot read the rerun file: {e}"))?;
                if found.is_empty() {
                    return Err(format!(
                        "{file} lists no scenario (the last run had no failure)"
                    ));
                }
                locations.extend(found);
            }
            None => locations.push(Location::parse(arg)),
        }
    }
    if locations.is_empty() {
        locations.push(Location::parse("features"));
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut lines: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
    // A file given whole and with lines runs whole.
    let whole: Vec<&PathBuf> = locations
        .iter()
        .filter(|l| l.lines.is_empty())
        .map(|l| &l.path)
        .collect();
    for location in &locations {
        if !paths.contains(&location.path) {
            paths.push(location.path.clone());
        }
        if !location.lines.is_empty() && !whole.contains(&&location.path) {
            if location.path.is_dir() {
                return Err(format!(
                    "{location}: a line number needs a feature file, not a folder"
                ));
            }
            lines
                .entry(location.path.clone())
                .or_default()
                .extend(&location.lines);
        }
    }
    Ok((paths, lines))
}

pub async fn execute(args: RunArgs) -> Exit {
    let (paths, lines) = match targets(&args.paths) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let otlp = match super::otlp_exporter(args.otlp_endpoint.as_deref()) {
        Ok(otlp) => otlp,
        Err(exit) => return exit,
    };
    let options = RunOptions {
        paths,
        lines,
        name: args.name,
        stack_dir: args.stack,
        tags: args.tags,
        seed: args.seed,
        concurrency: args.concurrency.map(usize::from),
        fail_fast: args.fail_fast,
        real_time: args.real_time,
        report_dir: Some(args.report_dir),
        keep: args.keep,
        quiet: false,
        repeat: args.repeat,
        baseline_stack: args.baseline_stack,
        otlp: otlp.clone(),
        target: args.target,
    };
    // Caught from here on: a signal while the features are checked (seconds on a big suite) or
    // the stacks start stops the run with its report, never the default kill.
    let mut signals = super::Interrupts::listen();
    let signal: Arc<Mutex<Option<Signal>>> = Arc::default();
    let interrupt = {
        let signal = signal.clone();
        async move {
            let which = signals.next().await;
            if let Ok(mut s) = signal.lock() {
                *s = Some(which);
            }
        }
    };
    let result = runner::run_until(&options, interrupt).await;
    if let Some(otlp) = &otlp {
        otlp.flush().await;
        match otlp.outcome() {
            (sent, 0, _) => eprintln!("OTLP: {sent} spans sent to {}", otlp.url()),
            (sent, failed, reason) => eprintln!(
                "warning: OTLP: {failed} spans could not be sent to {} ({}); {sent} sent",
                otlp.url(),
                reason.unwrap_or_default()
            ),
        }
    }
    match result {
        Ok(outcome) => {
            for warning in &outcome.report_warnings {
                eprintln!("warning: {warning}");
            }
            for error in &outcome.report_errors {
                eprintln!("error: writing the report: {error}");
            }
            let broken = crate::report::invariants::console_lines(&outcome.report);
            if !broken.is_empty() {
                println!(
                    "INVARIANT VIOLATIONS ({}): defects of Gauntlet itself, not of the stack",
                    broken.len()
                );
                for line in broken.iter().take(20) {
                    println!("  {line}");
                }
            }
            for line in console::final_summary(&outcome, options.tags.as_deref()) {
                println!("{line}");
            }
            let stopped_by = signal.lock().ok().and_then(|s| *s);
            match stopped_by {
                Some(signal) if outcome.interrupted => Exit::Interrupted(signal),
                _ if outcome.passed() => Exit::Success,
                _ => Exit::Failures,
            }
        }
        Err(RunError::Features { findings }) => {
            for finding in &findings {
                eprintln!("error: {finding}");
            }
            eprintln!(
                "{} problem(s) in the features; nothing was run (`gauntlet check` lists them too)",
                findings.len()
            );
            Exit::Usage
        }
        Err(RunError::Containers(e)) => {
            eprintln!("error: {e}");
            Exit::of_container_error(&e)
        }
        Err(
            e @ (RunError::Config(_)
            | RunError::Selection(_)
            | RunError::MissingPath(_)
            | RunError::ReportDir { .. }),
        ) => {
            eprintln!("error: {e}");
            Exit::Usage
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_attach_to_their_file_and_a_whole_file_wins() {
        let args: Vec<String> = [
            "features/resilience/circuit_breaker.feature:22",
            "features/resilience/circuit_breaker.feature:78",
            "features/auth",
        ]
        .map(String::from)
        .to_vec();
        let (paths, lines) = targets(&args).unwrap();
        assert_eq!(
            paths,
            [
                PathBuf::from("features/resilience/circuit_breaker.feature"),
                PathBuf::from("features/auth")
            ]
        );
        assert_eq!(
            lines[&PathBuf::from("features/resilience/circuit_breaker.feature")],
            [22, 78]
        );
        let (_, lines) = targets(&[
            "features/a.feature:3".to_string(),
            "features/a.feature".to_string(),
        ])
        .unwrap();
        assert!(lines.is_empty());
        assert_eq!(targets(&[]).unwrap().0, [PathBuf::from("features")]);
    }
}
