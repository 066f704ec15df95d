//! The conformance suite as a test (`cargo test --features e2e`): on every stack folder under
//! `scenarios/`, every feature must pass, unless the folder is a negative control: then its
//! `expect.yml` ([`Expectation`]) says the clauses it must fail (exactly those) and the reason.
//!
//! A suite that passes on a broken stack proves nothing, and one that blames the wrong clause
//! misleads the platform engineer reading it, so both are checked here with the same runner
//! `gauntlet run` uses. Beyond the hand-made negative controls, `gauntlet mutate` must score
//! 100 on valueverse: every single-value config mistake that is not declared equivalent (with
//! its reason, in `scenarios/valueverse/equivalent-mutants.yml`) is killed by a scenario tagged
//! with a clause that governs the mistaken value.

use std::path::PathBuf;
use std::process::ExitCode;

use gauntlet::clauses::expect::Expectation;
use gauntlet::clauses::Catalogue;
use gauntlet::mutate::{self, MutateOptions};
use gauntlet::report::mutation::MutantStatus;
use gauntlet::runner::{self, RunOptions};

/// Every stack folder under `scenarios/`, with its `expect.yml` when it is a negative control:
/// the clauses the full suite must fail on it (no more, no fewer) and a fragment of the failure
/// message that shows why. A folder without one is conformant and must pass everything.
fn stacks() -> Result<Vec<(String, Option<Expectation>)>, String> {
    let catalogue = Catalogue::built_in();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .map_err(|e| format!("cannot list scenarios/: {e}"))?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|dir| dir.join("stack.yml").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let expect = Expectation::load(&dir, &catalogue).map_err(|e| e.to_string())?;
            Ok((dir.display().to_string(), expect))
        })
        .collect()
}

fn options(stack: &str) -> RunOptions {
    let name = stack.rsplit('/').next().unwrap_or(stack);
    RunOptions {
        stack_dir: PathBuf::from(stack),
        report_dir: Some(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("e2e-reports")
                .join(name),
        ),
        quiet: true,
        ..RunOptions::default()
    }
}

/// The run report of the whole suite stays under this many bytes.
const REPORT_LIMIT: u64 = 1 << 20;

async fn conformant_stack_passes(stack: &str) -> Result<String, String> {
    let outcome = runner::run(&options(stack))
        .await
        .map_err(|e| e.to_string())?;
    let counts = outcome.report.counts().scenarios;
    // The report people open first stays light (issue 13: under 1 MB for the whole suite).
    let size = outcome
        .report_path
        .as_ref()
        .and_then(|dir| std::fs::metadata(dir.join("index.html")).ok())
        .map_or(0, |m| m.len());
    if size >= REPORT_LIMIT {
        return Err(format!(
            "{stack}: index.html is {size} bytes, over the {REPORT_LIMIT}-byte budget"
        ));
    }
    if outcome.passed() {
        Ok(format!(
            "{stack}: {} scenarios passed (index.html {} KB)",
            counts.passed,
            size / 1024
        ))
    } else {
        Err(format!(
            "{stack}: {} scenarios failed (clauses {}); problems: {:?}; see {:?}",
            counts.failed + counts.undefined,
            outcome.failed_clauses().join(", "),
            outcome.problems,
            outcome.report_path
        ))
    }
}

async fn broken_stack_fails(stack: &str, control: &Expectation) -> Result<String, String> {
    let outcome = runner::run(&options(stack))
        .await
        .map_err(|e| e.to_string())?;
    let mut failed = outcome.failed_clauses();
    failed.sort();
    if failed != control.fails {
        return Err(format!(
            "{stack}: failed clauses {failed:?}, expected exactly {:?} (its expect.yml)",
            control.fails
        ));
    }
    let errors: Vec<String> = outcome
        .report
        .features
        .iter()
        .flat_map(|f| &f.scenarios)
        .filter_map(|s| s.failing_step())
        .filter_map(|step| step.error.clone())
        .collect();
    if !errors.iter().any(|e| e.contains(&control.because)) {
        return Err(format!(
            "{stack}: no failure says {:?}; failures: {errors:?}",
            control.because
        ));
    }
    Ok(format!(
        "{stack}: fails exactly {} ({} scenarios)",
        failed.join(", "),
        errors.len()
    ))
}

async fn every_mutant_is_killed_for_the_right_reason() -> Result<String, String> {
    let options = MutateOptions {
        min_score: Some(100.0),
        report_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-mutation")),
        quiet: true,
        seed: Some(20_261_202),
        ..MutateOptions::default()
    };
    let report = mutate::run(&options).await.map_err(|e| e.to_string())?;
    let counts = report.counts();
    let summary = format!(
        "mutate valueverse: score {:.1}% ({} killed, {} timed out, {} survived, {} killed for the wrong reason, {} equivalent, {} invalid) in {:.0} s",
        report.score(),
        counts.killed,
        counts.timed_out,
        counts.survived,
        counts.killed_for_wrong_reason,
        counts.equivalent,
        counts.invalid,
        report.duration.as_secs_f64()
    );
    if report.passed() {
        return Ok(summary);
    }
    let missed: Vec<String> = report
        .mutants
        .iter()
        .filter(|m| {
            matches!(
                m.status,
                MutantStatus::Survived
                    | MutantStatus::KilledForWrongReason
                    | MutantStatus::EquivalentKilled
            )
        })
        .map(|m| {
            let why = if m.failed_clauses.is_empty() {
                format!("governed by {}", m.governing_clauses.join(", "))
            } else {
                format!("failed {}", m.failed_clauses.join(", "))
            };
            format!("\n  {} {} ({why})", m.status.as_str(), m.describe())
        })
        .collect();
    Err(format!("{summary}; not killed:{}", missed.concat()))
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut results = Vec::new();
    match stacks() {
        Err(e) => results.push(Err(e)),
        Ok(stacks) => {
            for (stack, expect) in &stacks {
                results.push(runtime.block_on(async {
                    match expect {
                        None => conformant_stack_passes(stack).await,
                        Some(expect) => broken_stack_fails(stack, expect).await,
                    }
                }));
            }
        }
    }
    results.push(runtime.block_on(every_mutant_is_killed_for_the_right_reason()));
    let mut failed = 0;
    for result in &results {
        match result {
            Ok(line) => println!("ok: {line}"),
            Err(line) => {
                failed += 1;
                println!("FAILED: {line}");
            }
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
