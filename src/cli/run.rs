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
    #[arg(long)]
    pub concurrency: Option<usize>,
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
        concurrency: args.concurrency,
        fail_fast: args.fail_fast,
        real_time: args.real_time,
        report_dir: Some(args.report_dir),
        quiet: false,
    };
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match runner::run_until(&options, ctrl_c).await {
        Ok(outcome) => {
            let counts = outcome.report.counts().scenarios;
            if let Some(path) = &outcome.report_path {
                println!("report: {}", path.join("index.html").display());
            }
            let failed_clauses = outcome.failed_clauses();
            if !failed_clauses.is_empty() {
                println!("failed clauses: {}", failed_clauses.join(", "));
            }
            for error in &outcome.parse_errors {
                println!("parse error: {error}");
            }
            let failed = counts.failed + counts.undefined + outcome.parse_errors.len();
            println!("{} passed, {} failed", counts.passed, failed);
            if outcome.passed() {
                Exit::Success
            } else {
                Exit::Failures
            }
        }
        Err(e @ (RunError::Config(_) | RunError::Tags { .. } | RunError::MissingPath(_))) => {
            eprintln!("error: {e}");
            Exit::Usage
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Failures
        }
    }
}
