//! The conformance suite as a test (`cargo test --features e2e`): every feature must pass on the
//! valueverse stack, and each negative control stack must fail the clause it breaks.
//!
//! A suite that passes on a broken stack proves nothing, so both halves are checked here, with
//! the same runner `gauntlet run` uses.

use std::path::PathBuf;
use std::process::ExitCode;

use gauntlet::report::clauses::ClauseVerdict;
use gauntlet::runner::{self, RunOptions};

/// (stack, features, clause the stack breaks). Each must make that clause's scenarios fail.
const NEGATIVE_CONTROLS: &[(&str, &str, &str)] = &[
    ("scenarios/broken-auth", "features/auth", "AUTH-4"),
    ("scenarios/broken-acl", "features/acl", "ACL-2"),
    (
        "scenarios/broken-ratelimit",
        "features/rate_limit",
        "RATE-1",
    ),
];

fn report_dir(name: &str) -> Option<PathBuf> {
    Some(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("e2e-reports")
            .join(name),
    )
}

async fn conformant_stack_passes() -> Result<String, String> {
    let options = RunOptions {
        report_dir: report_dir("valueverse"),
        ..RunOptions::default()
    };
    let outcome = runner::run(&options).await.map_err(|e| e.to_string())?;
    let counts = outcome.report.counts();
    if outcome.passed() {
        Ok(format!(
            "valueverse: {} scenarios passed",
            counts.scenarios.passed
        ))
    } else {
        Err(format!(
            "valueverse: {} scenarios failed (clauses {}); parse errors: {:?}; see {:?}",
            counts.scenarios.failed + counts.scenarios.undefined,
            outcome.failed_clauses().join(", "),
            outcome.parse_errors,
            outcome.report_path
        ))
    }
}

async fn broken_stack_fails(stack: &str, features: &str, clause: &str) -> Result<String, String> {
    let options = RunOptions {
        paths: vec![PathBuf::from(features)],
        stack_dir: PathBuf::from(stack),
        tags: Some(format!("@{clause}")),
        report_dir: report_dir(stack.rsplit('/').next().unwrap_or(stack)),
        quiet: true,
        ..RunOptions::default()
    };
    let outcome = runner::run(&options).await.map_err(|e| e.to_string())?;
    let matrix = outcome.report.clause_matrix();
    let row = matrix
        .rows
        .iter()
        .find(|r| r.id == clause)
        .ok_or_else(|| format!("{stack}: clause {clause} is not in the matrix"))?;
    if row.verdict == ClauseVerdict::Failed {
        let failed = outcome.report.counts().scenarios.failed;
        Ok(format!(
            "{stack}: {clause} fails as it must ({failed} scenarios failed)"
        ))
    } else {
        Err(format!(
            "{stack}: the {clause} scenarios did not fail (verdict {}); the suite does not discriminate",
            row.verdict.as_str()
        ))
    }
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut results = vec![runtime.block_on(conformant_stack_passes())];
    for (stack, features, clause) in NEGATIVE_CONTROLS {
        results.push(runtime.block_on(broken_stack_fails(stack, features, clause)));
    }
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
