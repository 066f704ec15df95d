//! The report of `gauntlet explore` (SPEC §11): `results.json` (the exploration model) and a
//! self-contained `index.html` whose first screen is the resilience matrix — action kind ×
//! service, link or clock → held / broken — then the reproducers.
//!
//! ```text
//!   Exploration ──render_json──► results.json
//!               ──render_html (templates/explore.html)──► index.html
//! ```

use std::collections::BTreeSet;

use askama::Template;

use super::ReportError;
use crate::explore::{Exploration, Outcome};

struct Cell {
    class: &'static str,
    label: &'static str,
    detail: String,
}

struct Row {
    kind: String,
    cells: Vec<Cell>,
}

struct PairRow {
    actions: String,
    verdict: &'static str,
    detail: String,
    emergent: bool,
}

#[derive(Template)]
#[template(path = "explore.html", config = "src/report/askama.toml")]
struct ExplorePage {
    run_id: String,
    verdict: &'static str,
    verdict_label: &'static str,
    stack: String,
    stack_dir: String,
    seed: u64,
    played: usize,
    planned: usize,
    broken: usize,
    wall: String,
    window: String,
    stopped_early: Option<String>,
    unreachable: Option<String>,
    /// (invariant, where, what, evidence).
    violations: Vec<(String, String, String, Vec<String>)>,
    hypotheses: Vec<String>,
    targets: Vec<String>,
    rows: Vec<Row>,
    pairs: Vec<PairRow>,
    skipped_pairs: usize,
    /// (file, description).
    repros: Vec<(String, String)>,
}

/// `results.json` of an exploration: `{"kind": "exploration", ..., "matrix": [...]}`.
///
/// # Errors
/// Serialisation failed.
pub fn render_json(e: &Exploration) -> Result<String, ReportError> {
    let mut value = serde_json::to_value(e).map_err(|source| ReportError::Json {
        what: "the exploration",
        source,
    })?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("kind".into(), "exploration".into());
        map.insert(
            "matrix".into(),
            serde_json::to_value(e.matrix()).map_err(|source| ReportError::Json {
                what: "the resilience matrix",
                source,
            })?,
        );
        map.insert(
            "pairs".into(),
            serde_json::to_value(e.pair_matrix()).map_err(|source| ReportError::Json {
                what: "the pairs of the resilience matrix",
                source,
            })?,
        );
    }
    serde_json::to_string_pretty(&value).map_err(|source| ReportError::Json {
        what: "the exploration",
        source,
    })
}

/// `index.html` of an exploration.
///
/// # Errors
/// The template failed to render.
pub fn render_html(e: &Exploration, run_id: &str, stack_dir: &str) -> Result<String, ReportError> {
    let matrix = e.matrix();
    let targets: Vec<String> = matrix
        .iter()
        .map(|c| c.target.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let kinds: Vec<String> = matrix
        .iter()
        .map(|c| c.kind.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = kinds
        .into_iter()
        .map(|kind| Row {
            cells: targets
                .iter()
                .map(
                    |t| match matrix.iter().find(|c| c.kind == kind && &c.target == t) {
                        None => Cell {
                            class: "none",
                            label: "—",
                            detail: String::new(),
                        },
                        Some(c) => Cell {
                            class: c.verdict,
                            label: c.verdict,
                            detail: c.detail.clone().unwrap_or_default(),
                        },
                    },
                )
                .collect(),
            kind,
        })
        .collect();
    let broken = e
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Broken(_)))
        .count();
    let failed = e.broken();
    let page = ExplorePage {
        run_id: run_id.to_string(),
        verdict: if failed { "failed" } else { "passed" },
        verdict_label: if e.unreachable.is_some() {
            "Hypothesis unreachable"
        } else if !e.violations().is_empty() {
            "Invariant violated"
        } else if failed {
            "Hypothesis broken"
        } else {
            "Every hypothesis held"
        },
        stack: e.stack.clone(),
        stack_dir: stack_dir.to_string(),
        seed: e.seed,
        played: e.results.len(),
        planned: e.planned,
        broken,
        wall: format!("{:.1} s", e.wall.as_secs_f64()),
        window: crate::units::format_duration(e.window),
        stopped_early: e.stopped_early.clone(),
        unreachable: e.unreachable.clone(),
        violations: e
            .violations()
            .into_iter()
            .map(|(s, v)| {
                (
                    v.invariant.to_string(),
                    if s == 0 {
                        "baseline".to_string()
                    } else {
                        format!("schedule {s}")
                    },
                    v.what.clone(),
                    v.evidence.clone(),
                )
            })
            .collect(),
        hypotheses: e.hypotheses.clone(),
        targets,
        rows,
        pairs: e
            .pair_matrix()
            .into_iter()
            .map(|c| PairRow {
                actions: format!("#{} {}", c.schedule, c.actions),
                verdict: c.verdict,
                detail: c.detail.unwrap_or_default(),
                emergent: c.emergent,
            })
            .collect(),
        skipped_pairs: e.skipped_pairs,
        repros: e
            .repros
            .iter()
            .map(|r| {
                (
                    r.file.clone(),
                    format!(
                        "{} breaks {} of {}",
                        r.description, r.objective, r.hypothesis
                    ),
                )
            })
            .collect(),
    };
    Ok(page.render()?)
}
