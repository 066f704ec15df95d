//! `gauntlet mutate`: mutation testing of the suite against a stack's config (SPEC §12).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::Exit;
use crate::clauses::GovernsPattern;
use crate::mutate::{self, MutateOptions};
use crate::report::mutation::console_table;
use crate::units::parse_duration;

#[derive(Debug, Args)]
#[command(after_help = "\
Every single-value change of the stack's kong.yml, intentions and stack.yml (numbers ±1, ×2, ÷2;
jwt claims and token sources removed; ACL groups added to or removed from each route and
consumer; limit_by; intentions flipped, removed, widened to `*`; L7 permission order; the default
intention) is run against the features tagged with a clause that governs the changed value
(features/clauses.yml `governs`). A mutant is killed when one of them fails.

Mutants declared in the stack's equivalent-mutants.yml are run too: one that is killed is an error.

Exit status: 0 the score reaches --min-score (or none was given); 1 below it, or a declared
equivalent was killed; 2 a usage or
configuration error: a missing path, no scenarios, or a stack that fails its own suite (no score
is given then).")]
pub struct MutateArgs {
    /// Feature files or folders (default: features/).
    pub paths: Vec<PathBuf>,
    /// Stack definition folder.
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
    /// Exit 1 when the mutation score (percent) is below this.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub min_score: Option<f64>,
    /// Only mutants whose path matches this pattern (`kong.yml:**.retries`, `intentions.*:**`).
    #[arg(long, value_name = "PATTERN", value_parser = parse_pattern)]
    pub only: Option<GovernsPattern>,
    /// Mutants run at once (each with its own stacks).
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Wall-time limit per mutant (default: three times the baseline plus 30 s).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Run every scenario against every mutant, to find kills for the wrong reason.
    #[arg(long)]
    pub all_scenarios: bool,
    /// Seed for random fault choices (the baseline and every mutant use it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where reports/<run-id>/results.json is written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage (e.g. 100, 95.5)"))?;
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("`{text}` is not between 0 and 100"))
    }
}

fn parse_pattern(text: &str) -> Result<GovernsPattern, String> {
    GovernsPattern::parse(text).map_err(|e| e.to_string())
}

pub async fn execute(args: MutateArgs) -> Exit {
    let options = MutateOptions {
        paths: if args.paths.is_empty() {
            vec![PathBuf::from("features")]
        } else {
            args.paths
        },
        stack_dir: args.stack,
        only: args.only,
        min_score: args.min_score,
        jobs: usize::from(args.jobs),
        timeout: args.timeout,
        all_scenarios: args.all_scenarios,
        seed: args.seed,
        report_dir: Some(args.report_dir),
        quiet: false,
    };
    quiet_step_panics();
    let run = mutate::run(&options);
    let result = tokio::select! {
        result = run => result,
        signal = super::interrupted() => {
            println!("interrupted: every mutant's stacks are stopped; no score");
            return Exit::Interrupted(signal);
        }
    };
    match result {
        Ok(report) => {
            println!();
            for line in console_table(&report) {
                println!("{line}");
            }
            match options.min_score {
                Some(min) if report.score() < min => println!("below --min-score {min}"),
                _ => {}
            }
            if report.passed() {
                Exit::Success
            } else {
                Exit::Failures
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_usage() {
                Exit::Usage
            } else {
                Exit::Failures
            }
        }
    }
}

/// A failing step panics with its message (cucumber's way) and the runner reports it; hundreds
/// of mutants fail steps on purpose, so those panics are not printed. Any other panic still is.
fn quiet_step_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_steps = info
            .location()
            .is_some_and(|l| l.file().replace('\\', "/").contains("src/steps/"));
        if !in_steps {
            previous(info);
        }
    }));
}
