//! The load steps can fail, and say why in words a QA engineer acts on: a latency objective
//! that holds makes "is missed by" fail with the measured value; load beyond the consumer's
//! rate limit fails instead of measuring 429s; and each load step's histogram reaches the report.

mod support;

use std::path::Path;

use gauntlet::runner::{self, RunOptions};
use support::root;

/// Runs one feature (written to a temp dir) against valueverse; returns the report.
async fn run_feature(text: &str) -> gauntlet::report::RunReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("load.feature");
    std::fs::write(&path, text).expect("write feature");
    let options = RunOptions {
        paths: vec![path],
        stack_dir: root().join("scenarios/valueverse"),
        report_dir: None,
        quiet: true,
        ..RunOptions::default()
    };
    runner::run(&options)
        .await
        .expect("the run completes")
        .report
}

fn errors(report: &gauntlet::report::RunReport) -> Vec<String> {
    report
        .features
        .iter()
        .flat_map(|f| &f.scenarios)
        .filter_map(|s| s.failing_step())
        .filter_map(|s| s.error.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_met_objective_fails_the_missed_step_with_the_measured_value_and_is_reported() {
    let report = run_feature(
        "Feature: f\n  Scenario: s\n    Given I have a valid token for \"admin-user\"\n    \
         And the clock reaches the start of the next minute\n    \
         When I send 20 GET requests to \"/api/v1/value-models\" at 100 per second\n    \
         Then the p99 latency objective of 5 s is missed by at least 1 s\n",
    )
    .await;
    let errors = errors(&report);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("the p99 latency was ")
            && errors[0].contains("it met the 5.00 s objective"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("over 20 requests"), "{}", errors[0]);
    let histograms: Vec<_> = report.histograms().collect();
    assert_eq!(histograms.len(), 1, "one histogram per load step");
    assert_eq!(histograms[0].count, 20);
    assert!(histograms[0]
        .name
        .starts_with("s · GET /api/v1/value-models"));
    assert_eq!(histograms[0].hlog_file.as_deref(), Some("load-l2-1.hlog"));
    let log = histograms[0].hlog.as_deref().expect("an interval log");
    let (_, total) = gauntlet::load::hlog::read_total(log).expect("the log parses");
    assert_eq!(total.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_beyond_the_rate_limit_fails_instead_of_measuring_refusals() {
    let report = run_feature(
        "Feature: f\n  Scenario: s\n    Given I have a valid token for \"frontend-app\"\n    \
         And the clock reaches the start of the next minute\n    \
         When 10 concurrent clients send 110 GET requests to \"/api/v1/value-models\"\n    \
         Then the p99 latency is below 1 s\n",
    )
    .await;
    let errors = errors(&report);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("10 of the 110 load requests were refused with 429"),
        "{}",
        errors[0]
    );
}

#[test]
fn the_latency_feature_tags_every_scenario_with_lat_1() {
    let text =
        std::fs::read_to_string(Path::new(&root()).join("features/latency/objectives.feature"))
            .expect("the latency feature");
    let scenarios = text.matches("Scenario:").count();
    assert!(scenarios >= 3);
    assert_eq!(text.matches("@LAT-1").count(), scenarios);
}
