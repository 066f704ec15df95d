//! The HTML page of `gauntlet mutate` (`reports/<run-id>/index.html`, beside its `results.json`;
//! issue 12 item 2): the score against `--min-score` first, then every mutant, survivors first,
//! each with its exact mutation (YAML path, old → new), the clauses governing the value and what
//! failed.
//!
//! ```text
//!   MutationReport ──redacted()──► MutationPage (view model) ──askama (templates/mutation.html)──► index.html
//! ```

use askama::Template;

use super::mutation::{MutantCounts, MutantStatus, MutationReport};
use super::ReportError;

#[derive(Template)]
#[template(path = "mutation.html", config = "src/report/askama.toml")]
struct MutationPage {
    run_id: String,
    verdict: &'static str,
    verdict_label: String,
    score: String,
    min_score: Option<String>,
    counts: MutantCounts,
    stack: String,
    seed: u64,
    duration: String,
    rate: String,
    baseline: String,
    all_scenarios: bool,
    rows: Vec<MutantRow>,
}

struct MutantRow {
    id: usize,
    status: &'static str,
    /// CSS: `failed` for what the suite missed, `passed` for detected, `skipped` for unscored.
    class: &'static str,
    file: String,
    key: String,
    old: String,
    new: String,
    governing: String,
    failed_clauses: String,
    /// `location name: reason` of each failed scenario.
    failures: Vec<String>,
    note: Option<String>,
}

/// Renders the mutation run's `index.html`. Redacts first.
///
/// # Errors
/// The template cannot be rendered.
pub fn render(report: &MutationReport) -> Result<String, ReportError> {
    let report = report.redacted();
    let passed = report.passed();
    let score = format!("{:.1}%", report.score());
    let page = MutationPage {
        run_id: report.run_id.clone(),
        verdict: if passed { "passed" } else { "failed" },
        verdict_label: format!("Mutation score {score}"),
        score,
        min_score: report.min_score.map(|m| format!("{m:.1}%")),
        counts: report.counts(),
        stack: report.stack.clone(),
        seed: report.seed,
        duration: format!("{:.1} s", report.duration.as_secs_f64()),
        rate: format!("{:.2} mutants/s", report.mutants_per_second()),
        baseline: format!(
            "{} scenarios passed in {:.1} s",
            report.baseline_scenarios,
            report.baseline_duration.as_secs_f64()
        ),
        all_scenarios: report.all_scenarios,
        rows: report
            .mutants
            .iter()
            .map(|m| {
                let (file, key) = m
                    .path
                    .split_once(':')
                    .map_or((String::new(), m.path.clone()), |(f, k)| {
                        (f.to_string(), k.to_string())
                    });
                MutantRow {
                    id: m.id,
                    status: m.status.as_str(),
                    class: match m.status {
                        MutantStatus::Survived
                        | MutantStatus::KilledForWrongReason
                        | MutantStatus::EquivalentKilled => "failed",
                        MutantStatus::Killed | MutantStatus::TimedOut => "passed",
                        MutantStatus::Equivalent | MutantStatus::Invalid => "skipped",
                    },
                    file,
                    key,
                    old: m.old.clone(),
                    new: m.new.clone(),
                    governing: m.governing_clauses.join(", "),
                    failed_clauses: m.failed_clauses.join(", "),
                    failures: m
                        .failed_scenarios
                        .iter()
                        .map(|f| format!("{} {}: {}", f.location, f.name, f.reason))
                        .collect(),
                    note: m.note.clone(),
                }
            })
            .collect(),
    };
    Ok(page.render()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::mutation::{FailedScenario, MutantResult};
    use std::time::{Duration, SystemTime};

    fn mutant(id: usize, status: MutantStatus, new: &str) -> MutantResult {
        MutantResult {
            id,
            path: "kong.yml:services[value-architect].plugins[circuit-breaker].config.failure_threshold".into(),
            old: "5".into(),
            new: new.into(),
            status,
            governing_clauses: vec!["CB-2".into()],
            failed_clauses: vec![],
            failed_scenarios: vec![],
            scenarios_run: 4,
            note: None,
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn the_page_leads_with_the_score_and_lists_survivors_first_with_their_mutation() {
        let mut killed = mutant(1, MutantStatus::Killed, "6");
        killed.failed_clauses = vec!["CB-2".into()];
        killed.failed_scenarios.push(FailedScenario {
            location: "features/resilience/circuit_breaker.feature:28".into(),
            name: "Five consecutive failed attempts".into(),
            clauses: vec!["CB-2".into()],
            reason: "expected OPEN, got CLOSED (secret s3cret)".into(),
        });
        let mut report = MutationReport {
            run_id: "20261201-000000-valueverse-mutate".into(),
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs(2),
            stack: "scenarios/valueverse".into(),
            seed: 7,
            baseline_scenarios: 12,
            baseline_duration: Duration::from_secs(1),
            min_score: Some(100.0),
            all_scenarios: false,
            mutants: vec![killed, mutant(2, MutantStatus::Survived, "4")],
            secrets: vec!["s3cret".into()],
        };
        report.sort();
        let html = render(&report).unwrap();
        assert!(html.contains("Mutation score 50.0%"), "score first");
        let survivor = html.find("id=\"mutant-2\"").expect("survivor row");
        let killed = html.find("id=\"mutant-1\"").expect("killed row");
        assert!(survivor < killed, "survivors first");
        assert!(html.contains(
            "services[value-architect].plugins[circuit-breaker].config.failure_threshold"
        ));
        assert!(html.contains("<code>5</code> → <code>4</code>"));
        assert!(!html.contains("s3cret"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "self-contained"
        );
    }
}
