//! The HTML page of `gauntlet compare` (`compare.html`): one self-contained file with the same
//! look as the run report and the history index.
//!
//! ```text
//!   Comparison ──► ComparePage (view model: strings and flags) ──askama──► compare.html
//!                     └── file_diff.html per changed stack file (shared with the run report)
//! ```

use askama::Template;

use super::compare::{
    short_digest, Comparison, Movement, ScenarioChange, Side, MIN_ABSOLUTE_BAND_MS,
    MIN_RELATIVE_BAND, NOISE_RUNS,
};
use super::diff::FileDiff;
use super::format::human_millis;
use super::ReportError;

#[derive(Template)]
#[template(path = "compare.html", config = "src/report/askama.toml")]
struct ComparePage {
    verdict: &'static str,
    verdict_label: &'static str,
    summary: String,
    a_id: String,
    b_id: String,
    a_stack: String,
    b_stack: String,
    b_digest: String,
    different_stacks: bool,
    sides: Vec<SideView>,
    groups: Vec<GroupView>,
    clauses: Vec<ClauseView>,
    band_rule: String,
    latency: Vec<DeltaView>,
    config_changed: bool,
    config_note: Option<String>,
    diffs: Vec<FileDiffView>,
}

struct SideView {
    label: &'static str,
    run_id: String,
    href: Option<String>,
    started: String,
    verdict: String,
    passed: usize,
    failed: usize,
    undefined: usize,
    stack: String,
    digest: String,
    commit: String,
}

struct GroupView {
    id: &'static str,
    title: &'static str,
    rows: Vec<RowView>,
}

struct RowView {
    scenario: String,
    a: String,
    b: String,
}

struct ClauseView {
    clause: String,
    a: String,
    b: String,
}

struct DeltaView {
    histogram: String,
    percentile: &'static str,
    a: String,
    b: String,
    delta: String,
    band: String,
    band_title: String,
    movement: &'static str,
    class: &'static str,
}

/// A changed file, its lines numbered for the page.
pub struct FileDiffView {
    pub name: String,
    pub change: &'static str,
    pub added: usize,
    pub removed: usize,
    pub hunks: Vec<HunkView>,
}

pub struct HunkView {
    pub header: String,
    pub lines: Vec<LineView>,
}

pub struct LineView {
    pub class: &'static str,
    pub mark: char,
    pub old: String,
    pub new: String,
    pub text: String,
}

/// Numbers each line of each hunk with its old and new line number.
pub fn file_diff_view(d: &FileDiff) -> FileDiffView {
    FileDiffView {
        name: d.name.clone(),
        change: d.change,
        added: d.added,
        removed: d.removed,
        hunks: d
            .hunks
            .iter()
            .map(|h| {
                let (mut old, mut new) = (h.old_start.max(1), h.new_start.max(1));
                let lines = h
                    .lines
                    .iter()
                    .map(|l| {
                        let (o, n) = match l.mark() {
                            '+' => (String::new(), new.to_string()),
                            '-' => (old.to_string(), String::new()),
                            _ => (old.to_string(), new.to_string()),
                        };
                        if l.mark() != '+' {
                            old += 1;
                        }
                        if l.mark() != '-' {
                            new += 1;
                        }
                        LineView {
                            class: l.class(),
                            mark: l.mark(),
                            old: o,
                            new: n,
                            text: l.text().to_string(),
                        }
                    })
                    .collect();
                HunkView {
                    header: h.header(),
                    lines,
                }
            })
            .collect(),
    }
}

fn side_view(label: &'static str, s: &Side, href: Option<String>) -> SideView {
    SideView {
        label,
        run_id: s.run_id.clone(),
        href,
        started: s.started_at.replace('T', " ").replace('Z', " UTC"),
        verdict: if s.verdict == "passed" {
            "passed"
        } else {
            "failed"
        }
        .to_string(),
        passed: s.passed,
        failed: s.failed,
        undefined: s.undefined,
        stack: s.stack.clone(),
        digest: short_digest(&s.stack_digest),
        commit: s
            .git_commit
            .as_deref()
            .map(|c| c.chars().take(10).collect())
            .unwrap_or_default(),
    }
}

fn rows(list: &[ScenarioChange]) -> Vec<RowView> {
    let show = |s: &[super::model::Status]| {
        if s.is_empty() {
            "absent".to_string()
        } else {
            s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        }
    };
    list.iter()
        .map(|c| RowView {
            scenario: c.scenario.clone(),
            a: show(&c.a),
            b: show(&c.b),
        })
        .collect()
}

/// Renders `compare.html`; `hrefs` link each run's id to its report (relative to the page).
pub fn render(
    c: &Comparison,
    hrefs: (Option<String>, Option<String>),
) -> Result<String, ReportError> {
    let regression = c.is_regression();
    let show = |v: Option<f64>| v.map_or_else(|| "–".to_string(), human_millis);
    let page = ComparePage {
        verdict: if regression { "failed" } else { "passed" },
        verdict_label: if regression { "REGRESSION" } else { "NO REGRESSION" },
        summary: format!(
            "{} → {} · {} new failure(s), {} fixed, {} flaky · {} latency regression(s)",
            c.a.run_id,
            c.b.run_id,
            c.new_failures.len(),
            c.fixed.len(),
            c.flaky.len(),
            c.latency_regressions()
        ),
        a_id: c.a.run_id.clone(),
        b_id: c.b.run_id.clone(),
        a_stack: c.a.stack.clone(),
        b_stack: c.b.stack.clone(),
        b_digest: short_digest(&c.b.stack_digest),
        different_stacks: c.different_stacks,
        sides: vec![side_view("A", &c.a, hrefs.0), side_view("B", &c.b, hrefs.1)],
        groups: vec![
            GroupView { id: "new-failures", title: "New failures", rows: rows(&c.new_failures) },
            GroupView { id: "fixed", title: "Fixed", rows: rows(&c.fixed) },
            GroupView { id: "flaky", title: "Flaky (not counted as regressions)", rows: rows(&c.flaky) },
            GroupView { id: "still-failing", title: "Still failing", rows: rows(&c.still_failing) },
        ],
        clauses: c
            .clauses
            .iter()
            .map(|cl| ClauseView {
                clause: cl.clause.clone(),
                a: cl.a.clone(),
                b: cl.b.clone(),
            })
            .collect(),
        band_rule: format!(
            "A delta is a regression only when it exceeds the noise band: the spread (max − min) of that percentile over the last {NOISE_RUNS} runs on the stack before B, at least {:.0}% of A and {MIN_ABSOLUTE_BAND_MS} ms.",
            MIN_RELATIVE_BAND * 100.0
        ),
        latency: c
            .latency
            .iter()
            .map(|d| DeltaView {
                histogram: d.histogram.clone(),
                percentile: d.percentile,
                a: show(d.a_ms),
                b: show(d.b_ms),
                delta: d.delta_ms().map_or_else(
                    || "–".to_string(),
                    |v| {
                        if v >= 0.0 {
                            format!("+{}", human_millis(v))
                        } else {
                            format!("−{}", human_millis(-v))
                        }
                    },
                ),
                band: format!("±{}", human_millis(d.band_ms)),
                band_title: if d.band_runs > 0 {
                    format!("spread of {} recent runs", d.band_runs)
                } else {
                    "too little history: the minimum band".to_string()
                },
                movement: d.movement.as_str(),
                class: match d.movement {
                    Movement::Regression => "regression",
                    Movement::Improvement => "improvement",
                    _ => "noise",
                },
            })
            .collect(),
        config_changed: c.config_changed,
        config_note: c.config_note.clone(),
        diffs: c.config_diff.iter().map(file_diff_view).collect(),
    };
    Ok(page.render()?)
}
