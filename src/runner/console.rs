//! What `gauntlet run` prints at the end, for a person or a CI log: every failure again (where,
//! which clause, why in one line), the failed clauses, where the report is and how to rerun the
//! failures, then `N passed, N failed` as the last line.
//!
//! ```text
//!   failures:
//!     features/resilience/circuit_breaker.feature:22 [CB-2] Five consecutive failed attempts ...
//!       line 31: expected header X-Circuit-Breaker-State: "OPEN", got "CLOSED"
//!   failed clauses: CB-2
//!     CB-2 is governed by kong.yml:16 failure_threshold = 6, kong.yml:20 failure_statuses = [500, 502, 503, 504], ...
//!   report: reports/20261201-101500-valueverse/index.html
//!   rerun the failures: gauntlet run @reports/latest/rerun.txt
//!   130 passed, 1 failed
//! ```
//! One function, [`final_summary`], so every line of the ending is decided in one place.

use super::RunOutcome;
use crate::report::model::Status;
use crate::report::redact::redact_text;

/// Governing config values printed per failed clause.
const GOVERNING_SHOWN: usize = 4;

/// A failure message cut to one line of at most this many characters.
const REASON_WIDTH: usize = 160;

/// The first line of `text`, at most [`REASON_WIDTH`] characters (`…` when cut).
fn one_line(text: &str) -> String {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim();
    let mut out: String = first.chars().take(REASON_WIDTH).collect();
    if first.chars().count() > REASON_WIDTH || text.trim().lines().count() > 1 {
        out.push('…');
    }
    out
}

/// The lines printed after a run, the last being `N passed, N failed`. `tags` names the tag
/// expression when one was given (for "nothing matched").
pub fn final_summary(outcome: &RunOutcome, tags: Option<&str>) -> Vec<String> {
    let report = &outcome.report;
    let secrets = report.secrets.as_slice();
    let mut lines = Vec::new();
    let failures: Vec<String> = report
        .features
        .iter()
        .flat_map(|f| f.scenarios.iter().map(move |s| (f, s)))
        .filter(|(_, s)| s.status == Status::Failed)
        .map(|(f, s)| {
            let mut clauses: Vec<String> = crate::report::clause_ids(&f.tags);
            for c in &s.clauses {
                if !clauses.contains(c) {
                    clauses.push(c.clone());
                }
            }
            let clauses = if clauses.is_empty() {
                String::new()
            } else {
                format!(" [{}]", clauses.join(" "))
            };
            let reason = s.failing_step().map_or_else(
                || "failed".to_string(),
                |step| {
                    format!(
                        "line {}: {}",
                        step.line,
                        one_line(&redact_text(
                            step.error.as_deref().unwrap_or("failed"),
                            secrets
                        ))
                    )
                },
            );
            let flaky = if s.is_flaky() {
                let runs: Vec<&str> = s.repeats.iter().map(|r| r.as_str()).collect();
                format!(" (flaky: {})", runs.join(", "))
            } else {
                String::new()
            };
            format!(
                "  {}:{}{clauses} {}{flaky}\n    {reason}",
                f.path,
                s.line,
                redact_text(&s.full_name(), secrets)
            )
        })
        .collect();
    if !failures.is_empty() {
        lines.push("failures:".to_string());
        lines.extend(failures);
    }
    for problem in &outcome.problems {
        lines.push(format!("error: {}", problem.message));
    }
    let failed_clauses = outcome.failed_clauses();
    if !failed_clauses.is_empty() {
        lines.push(format!("failed clauses: {}", failed_clauses.join(", ")));
    }
    // Where to look first: the values governing each failed clause (all of them in the report).
    for clause in &report.explain.governing {
        let shown: Vec<String> = clause
            .values
            .iter()
            .take(GOVERNING_SHOWN)
            .map(|v| {
                let key = v.path.rsplit('.').next().unwrap_or(&v.path);
                format!(
                    "{} {key} = {}",
                    v.location(),
                    redact_text(&v.value, secrets)
                )
            })
            .collect();
        let more = clause.values.len() + clause.omitted - shown.len();
        lines.push(format!(
            "  {} is governed by {}{}",
            clause.clause,
            shown.join(", "),
            if more > 0 {
                format!(" (+{more} in the report)")
            } else {
                String::new()
            }
        ));
    }
    let counts = report.counts().scenarios;
    if let Some(path) = &outcome.report_path {
        lines.push(format!("report: {}", path.join("index.html").display()));
        if counts.failed > 0 {
            let rerun = path
                .parent()
                .map(|root| root.join("latest").join("rerun.txt"))
                .unwrap_or_else(|| path.join("rerun.txt"));
            lines.push(format!(
                "rerun the failures: gauntlet run @{}",
                rerun.display()
            ));
        }
    }
    if counts.total == 0 {
        lines.push(format!(
            "no scenario ran: nothing matched {}",
            tags.map_or("the feature paths".to_string(), |t| format!("--tags {t}"))
        ));
    }
    if counts.undefined > 0 {
        lines.push(format!(
            "{} scenario(s) with undefined steps (not counted as failed: fix the steps)",
            counts.undefined
        ));
    }
    if counts.skipped > 0 {
        lines.push(format!("{} scenario(s) skipped", counts.skipped));
    }
    let flaky = report.scenarios().filter(|(_, s)| s.is_flaky()).count();
    if flaky > 0 {
        lines.push(format!(
            "{flaky} flaky scenario(s): passed and failed across --repeat (counted as failed)"
        ));
    }
    lines.push(format!(
        "{} passed, {} failed",
        counts.passed, counts.failed
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_reason_is_one_line_cut_with_an_ellipsis() {
        assert_eq!(one_line("expected 401, got 200"), "expected 401, got 200");
        assert_eq!(
            one_line("expected 4 requests\n  #1 GET /x"),
            "expected 4 requests…"
        );
        assert_eq!(one_line(&"x".repeat(200)).chars().count(), 161);
    }
}
