//! `gauntlet run`: features against a stack, reports written, `N passed, N failed` last.

use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::runner::{self, RunError, RunOptions};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Feature files or folders (default: features/).
    pub paths: Vec<PathBuf>,
    /// Stack definition folder.
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
    /// Tag expression, e.g. '@AUTH-4 and not @slow'.
    #[arg(long)]
    pub tags: Option<String>,
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
    /// Where reports/<run-id>/ and latest/ are written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
}

pub async fn execute(args: RunArgs) -> Exit {
    let options = RunOptions {
        paths: if args.paths.is_empty() {
            vec![PathBuf::from("features")]
        } else {
            args.paths
        },
        stack_dir: args.stack,
        tags: args.tags,
        seed: args.seed,
        concurrency: args.concurrency.map(usize::from),
        fail_fast: args.fail_fast,
        real_time: args.real_time,
        report_dir: Some(args.report_dir),
        quiet: false,
    };
    match runner::run_until(&options, super::interrupted()).await {
        Ok(outcome) => {
            let counts = outcome.report.counts().scenarios;
            if let Some(path) = &outcome.report_path {
                println!("report: {}", path.join("index.html").display());
            }
            let failed_clauses = outcome.failed_clauses();
            if !failed_clauses.is_empty() {
                println!("failed clauses: {}", failed_clauses.join(", "));
            }
            for problem in &outcome.problems {
                println!("error: {}", problem.message);
            }
            if counts.total == 0 {
                println!(
                    "no scenario ran: nothing matched {}",
                    options
                        .tags
                        .as_deref()
                        .map_or("the feature paths".to_string(), |t| format!("--tags {t}"))
                );
            }
            println!(
                "{} passed, {} failed",
                counts.passed,
                counts.failed + counts.undefined
            );
            if outcome.passed() {
                Exit::Success
            } else {
                Exit::Failures
            }
        }
        Err(
            e @ (RunError::Config(_)
            | RunError::Tags { .. }
            | RunError::MissingPath(_)
            | RunError::ReportDir { .. }),
        ) => {
            eprintln!("error: {e}");
            Exit::Usage
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Failures
        }
    }
}
