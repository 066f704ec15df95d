//! The conformance suite as a test (`cargo test --features e2e`): every feature must pass on the
//! valueverse stack, and each negative-control stack must fail exactly the clauses it breaks,
//! for the reason it breaks them.
//!
//! A suite that passes on a broken stack proves nothing, and one that blames the wrong clause
//! misleads the platform engineer reading it, so both are checked here with the same runner
//! `gauntlet run` uses. Beyond the hand-made negative controls, `gauntlet mutate` must score
//! 100 on valueverse: every single-value config mistake that is not declared equivalent (with
//! its reason, in `scenarios/valueverse/equivalent-mutants.yml`) is killed by a scenario tagged
//! with a clause that governs the mistaken value.

use std::path::PathBuf;
use std::process::ExitCode;

use gauntlet::mutate::{self, MutateOptions};
use gauntlet::report::mutation::MutantStatus;
use gauntlet::runner::{self, RunOptions};

/// A deliberately broken stack: the clauses the full suite must fail on it (no more, no fewer)
/// and a fragment of the failure message that shows why.
struct NegativeControl {
    stack: &'static str,
    fails: &'static [&'static str],
    because: &'static str,
}

const NEGATIVE_CONTROLS: &[NegativeControl] = &[
    NegativeControl {
        stack: "scenarios/broken-auth",
        fails: &["AUTH-4"],
        because: "expected status 401, got 200",
    },
    NegativeControl {
        stack: "scenarios/broken-acl",
        fails: &["ACL-2", "ACL-4"],
        because: "expected status 403, got 200",
    },
    NegativeControl {
        stack: "scenarios/broken-ratelimit",
        fails: &["RATE-1"],
        because: "expected status 429, got 200",
    },
    NegativeControl {
        stack: "scenarios/broken-breaker",
        fails: &["CB-2", "CB-4", "CB-5", "NET-2"],
        because: "expected header X-Circuit-Breaker-State: \"OPEN\", got \"CLOSED\"",
    },
    NegativeControl {
        stack: "scenarios/open-mesh",
        fails: &["MESH-3"],
        because: "to be denied (http: 403 text/plain \"RBAC: access denied\"",
    },
    NegativeControl {
        stack: "scenarios/broken-retry",
        fails: &["RETRY-1", "NET-2"],
        because: "expected value-architect to have received 4 requests, it received 1",
    },
];

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

async fn conformant_stack_passes() -> Result<String, String> {
    let outcome = runner::run(&options("scenarios/valueverse"))
        .await
        .map_err(|e| e.to_string())?;
    let counts = outcome.report.counts().scenarios;
    if outcome.passed() {
        Ok(format!("valueverse: {} scenarios passed", counts.passed))
    } else {
        Err(format!(
            "valueverse: {} scenarios failed (clauses {}); problems: {:?}; see {:?}",
            counts.failed + counts.undefined,
            outcome.failed_clauses().join(", "),
            outcome.problems,
            outcome.report_path
        ))
    }
}

async fn broken_stack_fails(control: &NegativeControl) -> Result<String, String> {
    let outcome = runner::run(&options(control.stack))
        .await
        .map_err(|e| e.to_string())?;
    let failed = outcome.failed_clauses();
    if failed != control.fails {
        return Err(format!(
            "{}: failed clauses {failed:?}, expected exactly {:?}",
            control.stack, control.fails
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
    if !errors.iter().any(|e| e.contains(control.because)) {
        return Err(format!(
            "{}: no failure says {:?}; failures: {errors:?}",
            control.stack, control.because
        ));
    }
    Ok(format!(
        "{}: fails exactly {} ({} scenarios)",
        control.stack,
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
    let mut results = vec![runtime.block_on(conformant_stack_passes())];
    for control in NEGATIVE_CONTROLS {
        results.push(runtime.block_on(broken_stack_fails(control)));
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
