//! Gauntlet's own results file (`results.json`): the neutral model as JSON, plus the derived
//! verdict, counts and clause matrix, for tools that post-process runs (trend dashboards, diffs
//! between a conformant and a broken stack).
//!
//! ```text
//!   RunReport ──redacted()──► { format, version, verdict, counts, clause_matrix, ...model }
//! ```
//!
//! Durations are milliseconds as floats (`*_ms`), wall times RFC 3339 in UTC. Secrets and
//! histogram log contents are never included (the logs are files under `histograms/`).

use serde::Serialize;

use super::clauses::ClauseMatrix;
use super::model::{RunCounts, RunReport, Verdict};
use super::ReportError;

/// Identifies the document; bump `VERSION` when a field changes meaning or disappears.
pub const FORMAT: &str = "gauntlet-results";
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct ResultsDocument<'a> {
    format: &'static str,
    version: u32,
    verdict: Verdict,
    counts: RunCounts,
    clause_matrix: ClauseMatrix,
    #[serde(flatten)]
    run: &'a RunReport,
}

/// Renders `results.json`. Redacts first.
pub fn render(report: &RunReport) -> Result<String, ReportError> {
    let report = report.redacted();
    let document = ResultsDocument {
        format: FORMAT,
        version: VERSION,
        verdict: report.verdict(),
        counts: report.counts(),
        clause_matrix: report.clause_matrix(),
        run: &report,
    };
    let mut json = serde_json::to_string_pretty(&document).map_err(|source| ReportError::Json {
        what: "results.json",
        source,
    })?;
    json.push('\n');
    Ok(json)
}
