//! The invariants section of a run report (SPEC §11): every invariant violation found in a
//! scenario's stack, with its evidence. A violation is a defect of Gauntlet itself, not of the
//! stack under test, so it is shown apart from the clause matrix; it fails the run (exit 1).
//!
//! ```text
//!   runner after hook ──crate::explore::invariants::Trace::of_stack(stack).check()──►
//!     Evidence.invariants (per scenario) ──violations()──► section() ──► index.html
//!                                                                    └► results.json (evidence)
//! ```

use askama::Template;
use serde::Serialize;

use super::{scenario_anchor, ReportError, RunReport};

/// One invariant a scenario's stack broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvariantViolation {
    /// `INV-3`.
    pub invariant: String,
    pub what: String,
    /// Request ids, ledger entries, journal lines, counts.
    pub evidence: Vec<String>,
}

impl From<crate::explore::invariants::Violation> for InvariantViolation {
    fn from(v: crate::explore::invariants::Violation) -> Self {
        InvariantViolation {
            invariant: v.invariant.to_string(),
            what: v.what,
            evidence: v.evidence,
        }
    }
}

/// A violation with the scenario it was found in.
#[derive(Debug, Clone)]
pub struct Found {
    pub feature: String,
    pub scenario: String,
    pub anchor: String,
    pub violation: InvariantViolation,
}

/// Every violation of the run, scenario by scenario.
pub fn violations(report: &RunReport) -> Vec<Found> {
    let mut out = Vec::new();
    for (fi, f) in report.features.iter().enumerate() {
        for (si, s) in f.scenarios.iter().enumerate() {
            for v in &s.evidence.invariants {
                out.push(Found {
                    feature: f.name.clone(),
                    scenario: s.name.clone(),
                    anchor: scenario_anchor(fi, si),
                    violation: v.clone(),
                });
            }
        }
    }
    out
}

#[derive(Template)]
#[template(path = "invariants.html", config = "src/report/askama.toml")]
struct Section<'a> {
    found: &'a [Found],
}

/// The HTML section, empty when no invariant broke.
///
/// # Errors
/// The template failed to render.
pub fn section(report: &RunReport) -> Result<String, ReportError> {
    let found = violations(report);
    if found.is_empty() {
        return Ok(String::new());
    }
    Ok(Section { found: &found }.render()?)
}

/// Lines for the console: `INV-3 (feature › scenario): what`.
pub fn console_lines(report: &RunReport) -> Vec<String> {
    violations(report)
        .iter()
        .map(|f| {
            format!(
                "{} ({} › {}): {}",
                f.violation.invariant, f.feature, f.scenario, f.violation.what
            )
        })
        .collect()
}
