//! HTML writer: one self-contained `index.html` (inline CSS and a few lines of inline JS; no
//! network, no CDN, no external fonts).
//!
//! ```text
//!   RunReport ──redacted()──► IndexPage (view model: preformatted strings) ──askama──► index.html
//!                                 └── plot::percentile_plot() for each histogram's inline SVG
//! ```
//!
//! The template is `templates/index.html` (with `style.css` and `script.js` included inline);
//! askama escapes every value, and the view model holds only strings, numbers and flags, so the
//! template has no logic beyond loops and conditions. Order on the page: verdict and counts, run
//! (seed, stack), clause matrix, features → scenarios → steps, breaker timelines, histograms.

use askama::Template;

use super::clauses::{scenario_anchor, ClauseVerdict, ScenarioRef};
use super::format::{human_duration, human_millis, human_time, percentile_label};
use super::model::{
    Counts, Exchange, HistogramReport, RunReport, ScenarioReport, StackInfo, Status, StepReport,
    Verdict,
};
use super::plot::{percentile_plot, PercentilePlot};
use super::ReportError;

/// Bodies longer than this are cut in the page (the full exchange is in `results.json`).
const MAX_BODY_CHARS: usize = 16 * 1024;

#[derive(Template)]
#[template(path = "index.html", config = "src/report/askama.toml")]
struct IndexPage {
    run_id: String,
    verdict: &'static str,
    verdict_label: &'static str,
    scenarios: Counts,
    steps: Counts,
    started: String,
    duration: String,
    seed: u64,
    real_time: bool,
    stack: StackInfo,
    clauses_passed: usize,
    clauses_failed: usize,
    clauses_uncovered: usize,
    clause_rows: Vec<ClauseView>,
    uncovered: Vec<ClauseView>,
    unknown: Vec<UnknownView>,
    features: Vec<FeatureView>,
    breakers: Vec<BreakerView>,
    histograms: Vec<HistogramView>,
}

/// A run of clause text; `code` parts were between backticks in SPEC §8.
struct TextPart {
    text: String,
    code: bool,
}

struct ClauseView {
    id: String,
    text: Vec<TextPart>,
    verdict: &'static str,
    scenarios: Vec<ScenarioLink>,
}

struct UnknownView {
    id: String,
    scenarios: Vec<ScenarioLink>,
}

struct ScenarioLink {
    anchor: String,
    feature: String,
    scenario: String,
    status: &'static str,
}

struct FeatureView {
    name: String,
    path: String,
    description: Option<String>,
    tags: Vec<String>,
    counts: Counts,
    duration: String,
    scenarios: Vec<ScenarioView>,
}

struct ScenarioView {
    anchor: String,
    keyword: String,
    name: String,
    line: usize,
    tags: Vec<String>,
    status: &'static str,
    open: bool,
    duration: String,
    stack_startup: Option<String>,
    steps: Vec<StepView>,
}

struct StepView {
    keyword: String,
    text: String,
    line: usize,
    status: &'static str,
    duration: String,
    error: Option<String>,
    docstring: Option<String>,
    table: Vec<Vec<String>>,
    exchange: Option<ExchangeView>,
}

struct ExchangeView {
    request: String,
    response: Option<String>,
}

struct BreakerView {
    service: String,
    transitions: Vec<TransitionView>,
}

struct TransitionView {
    at: String,
    from: String,
    from_class: String,
    to: String,
    to_class: String,
    reason: String,
}

struct HistogramView {
    name: String,
    count: u64,
    min: String,
    mean: String,
    max: String,
    rows: Vec<(String, String)>,
    plot: Option<PercentilePlot>,
    hlog_file: Option<String>,
}

/// Renders `index.html`. Redacts first.
pub fn render(report: &RunReport) -> Result<String, ReportError> {
    let report = report.redacted();
    let counts = report.counts();
    let matrix = report.clause_matrix();
    let verdict = report.verdict();
    let clause_rows: Vec<ClauseView> = matrix
        .rows
        .iter()
        .map(|row| ClauseView {
            id: row.id.clone(),
            text: split_code(&row.text),
            verdict: row.verdict.as_str(),
            scenarios: links(&row.scenarios),
        })
        .collect();
    let uncovered = matrix
        .rows
        .iter()
        .filter(|r| r.verdict == ClauseVerdict::Uncovered)
        .map(|row| ClauseView {
            id: row.id.clone(),
            text: split_code(&row.text),
            verdict: row.verdict.as_str(),
            scenarios: links(&row.scenarios),
        })
        .collect();
    let page = IndexPage {
        run_id: report.run_id.clone(),
        verdict: verdict.as_str(),
        verdict_label: match verdict {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
        },
        scenarios: counts.scenarios,
        steps: counts.steps,
        started: human_time(report.started_at),
        duration: human_duration(report.duration),
        seed: report.seed,
        real_time: report.real_time,
        stack: report.stack.clone(),
        clauses_passed: matrix.count(ClauseVerdict::Passed),
        clauses_failed: matrix.count(ClauseVerdict::Failed),
        clauses_uncovered: matrix.count(ClauseVerdict::Uncovered),
        clause_rows,
        uncovered,
        unknown: matrix
            .unknown
            .iter()
            .map(|u| UnknownView {
                id: u.id.clone(),
                scenarios: links(&u.scenarios),
            })
            .collect(),
        features: report
            .features
            .iter()
            .enumerate()
            .map(|(fi, f)| FeatureView {
                name: f.name.clone(),
                path: f.path.clone(),
                description: f.description.clone().filter(|d| !d.trim().is_empty()),
                tags: f.tags.iter().map(|t| format!("@{t}")).collect(),
                counts: f.counts().scenarios,
                duration: human_duration(f.duration()),
                scenarios: f
                    .scenarios
                    .iter()
                    .enumerate()
                    .map(|(si, s)| scenario_view(scenario_anchor(fi, si), s))
                    .collect(),
            })
            .collect(),
        breakers: report
            .breakers
            .iter()
            .map(|b| BreakerView {
                service: b.service.clone(),
                transitions: b
                    .transitions
                    .iter()
                    .map(|t| TransitionView {
                        at: format!("+{:.3} s", t.at.as_secs_f64()),
                        from: t.from.clone(),
                        from_class: state_class(&t.from),
                        to: t.to.clone(),
                        to_class: state_class(&t.to),
                        reason: t.reason.clone(),
                    })
                    .collect(),
            })
            .collect(),
        histograms: report.histograms.iter().map(histogram_view).collect(),
    };
    Ok(page.render()?)
}

fn links(refs: &[ScenarioRef]) -> Vec<ScenarioLink> {
    refs.iter()
        .map(|r| ScenarioLink {
            anchor: r.anchor.clone(),
            feature: r.feature.clone(),
            scenario: r.scenario.clone(),
            status: r.status.as_str(),
        })
        .collect()
}

fn scenario_view(anchor: String, s: &ScenarioReport) -> ScenarioView {
    ScenarioView {
        anchor,
        keyword: s.keyword.clone(),
        name: s.name.clone(),
        line: s.line,
        tags: s.tags.iter().map(|t| format!("@{t}")).collect(),
        status: s.status.as_str(),
        open: s.status.is_failure(),
        duration: human_duration(s.duration),
        stack_startup: s.stack_startup.map(human_duration),
        steps: s.steps.iter().map(step_view).collect(),
    }
}

fn step_view(s: &StepReport) -> StepView {
    StepView {
        keyword: s.keyword.trim().to_string(),
        text: s.text.clone(),
        line: s.line,
        status: s.status.as_str(),
        duration: match s.status {
            Status::Passed | Status::Failed => human_duration(s.duration),
            Status::Skipped | Status::Undefined => String::new(),
        },
        error: s.error.clone(),
        docstring: s.docstring.clone(),
        table: s.table.clone().unwrap_or_default(),
        exchange: s.exchange.as_ref().map(exchange_view),
    }
}

fn exchange_view(e: &Exchange) -> ExchangeView {
    let mut request = format!("{} {}\n", e.request.method, e.request.url);
    for (name, value) in &e.request.headers {
        request.push_str(&format!("{name}: {value}\n"));
    }
    if !e.request.body.is_empty() {
        request.push('\n');
        request.push_str(&cut(&e.request.body));
    }
    let response = e.response.as_ref().map(|r| {
        let mut text = format!("HTTP {}\n", r.status);
        for (name, value) in &r.headers {
            text.push_str(&format!("{name}: {value}\n"));
        }
        if !r.body.is_empty() {
            text.push('\n');
            text.push_str(&cut(&r.body));
        }
        text
    });
    ExchangeView { request, response }
}

/// At most [`MAX_BODY_CHARS`] characters, with a note saying how much was left out.
fn cut(body: &str) -> String {
    match body.char_indices().nth(MAX_BODY_CHARS) {
        Some((at, _)) => format!(
            "{}\n… ({} more bytes; see results.json)",
            &body[..at],
            body.len() - at
        ),
        None => body.to_string(),
    }
}

fn histogram_view(h: &HistogramReport) -> HistogramView {
    HistogramView {
        name: h.name.clone(),
        count: h.count,
        min: human_millis(h.min_ms),
        mean: human_millis(h.mean_ms),
        max: human_millis(h.max_ms),
        rows: h
            .percentiles
            .iter()
            .map(|p| {
                (
                    format!("p{}", percentile_label(p.percentile)),
                    human_millis(p.value_ms),
                )
            })
            .collect(),
        plot: percentile_plot(&h.percentiles),
        hlog_file: h.hlog_file.clone(),
    }
}

/// `HALF-OPEN` → `half-open`, for the state chip's colour.
fn state_class(state: &str) -> String {
    match state.to_ascii_lowercase().replace('_', "-").as_str() {
        s @ ("closed" | "open" | "half-open") => s.to_string(),
        _ => "other".to_string(),
    }
}

/// Splits clause text at backticks: "gets 401 `Unauthorized`" → [gets 401 ][Unauthorized (code)].
fn split_code(text: &str) -> Vec<TextPart> {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| TextPart {
            text: part.to_string(),
            code: i % 2 == 1,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_clause_text_into_prose_and_code() {
        let parts = split_code("gets 401 `Unauthorized` and `WWW-Authenticate: Bearer`.");
        let shape: Vec<(&str, bool)> = parts.iter().map(|p| (p.text.as_str(), p.code)).collect();
        assert_eq!(
            shape,
            [
                ("gets 401 ", false),
                ("Unauthorized", true),
                (" and ", false),
                ("WWW-Authenticate: Bearer", true),
                (".", false)
            ]
        );
    }

    #[test]
    fn cuts_long_bodies_on_a_character_boundary() {
        let body = "é".repeat(MAX_BODY_CHARS + 3);
        let out = cut(&body);
        assert!(out.ends_with("… (6 more bytes; see results.json)"));
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn maps_breaker_states_to_known_classes() {
        assert_eq!(state_class("HALF-OPEN"), "half-open");
        assert_eq!(state_class("half_open"), "half-open");
        assert_eq!(state_class("weird"), "other");
    }
}
