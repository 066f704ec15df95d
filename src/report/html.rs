//! HTML writer: one self-contained `index.html` (inline CSS and a few lines of inline JS; no
//! network, no CDN, no external fonts).
//!
//! ```text
//!   RunReport ──redacted()──► IndexPage (view model: preformatted strings) ──askama──► index.html
//!                                 ├── plot::percentile_plot() for each histogram's inline SVG
//!                                 └── indent_json() for JSON bodies of the last exchange
//! ```
//!
//! The template is `templates/index.html` (with `style.css` and `script.js` included inline);
//! askama escapes every value, and the view model holds only strings, numbers and flags, so the
//! template has no logic beyond loops and conditions. Order on the page: verdict and counts, the
//! failures (links to each failing scenario, only when the run failed), run (seed, stack, stack
//! start-up), clause matrix, features → scenarios → steps, breaker timelines, histograms.
//!
//! The page must stay usable with a hundred scenarios and without JavaScript: features and
//! scenarios are `<details>`, open only when they hold a failure; the script only adds
//! expand/collapse/filter buttons and opens the `<details>` a link points into.

use std::time::Duration;

use askama::Template;

use super::clauses::{is_clause_id, scenario_anchor, ClauseVerdict, ScenarioRef};
use super::evidence::BreakerTimeline;
use super::format::{compact_html, human_duration, human_millis, human_time, percentile_label};
use super::latency_time::{latency_time_plot, LatencyTimePlot};
use super::model::{
    Counts, FeatureReport, HistogramReport, RunReport, ScenarioReport, StackInfo, Status,
    StepReport, Verdict,
};
use super::plot::{percentile_plot, PercentilePlot};
use super::waterfall::{waterfall_views, WaterfallView};
use super::ReportError;
use exchange::{exchange_view, short_exchange_view, ExchangeView};
use explain_view::{
    baseline_view, governing_views, link_repeats, stack_file_views, BaselineView, GoverningView,
    StackFileView,
};

mod exchange;
mod explain_view;

/// The failures list shows this much of an error's first line; the scenario shows all of it.
const MAX_SUMMARY_CHARS: usize = 240;
/// A clause with more scenarios than this lists them in a collapsed `<details>` (its failing
/// ones stay in view), unless every one of them failed.
const INLINE_SCENARIOS: usize = 3;

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
    /// The stack's warnings, with `backticked` parts as code.
    warnings: Vec<Vec<TextPart>>,
    startup: Option<StartupView>,
    failures: Vec<FailureView>,
    failed_clauses: Vec<String>,
    clauses_passed: usize,
    clauses_failed: usize,
    clauses_uncovered: usize,
    clause_rows: Vec<ClauseView>,
    uncovered: Vec<UncoveredView>,
    unknown: Vec<UnknownView>,
    features: Vec<FeatureView>,
    breakers: Vec<BreakerView>,
    histograms: Vec<HistogramView>,
    /// The stack's files, lines linkable (explain_view.rs).
    stack_files: Vec<StackFileView>,
    /// The diff against `--baseline-stack`.
    baseline: Option<BaselineView>,
    /// The invariants section ([`super::invariants`]), empty when none broke.
    invariants: String,
}

/// Stack start-up times over the scenarios that started their own stack.
struct StartupView {
    count: usize,
    median: String,
    max: String,
    max_anchor: String,
    max_scenario: String,
    total: String,
}

/// One failed or undefined scenario in the list at the top of the page.
struct FailureView {
    anchor: String,
    feature: String,
    scenario: String,
    status: &'static str,
    /// `line 33: And the service received …`, when a step decided the failure.
    step: Option<String>,
    /// The error's first line, shortened.
    error: Option<String>,
    /// The config values governing the scenario's failed clauses.
    governing: Vec<GoverningView>,
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
    /// `9 scenarios, all passed`, `28 scenarios: 17 passed, 11 failed`; empty without scenarios.
    summary: String,
    /// Failed and undefined scenarios, always listed (when the full list is collapsed).
    failing: Vec<ScenarioLink>,
    /// Every scenario, grouped by feature.
    groups: Vec<LinkGroup>,
    /// The full list is short enough to show without a `<details>`.
    inline: bool,
}

struct LinkGroup {
    feature: String,
    links: Vec<ScenarioLink>,
}

struct UncoveredView {
    id: String,
    /// Scenarios are tagged with it, but all were skipped.
    skipped_only: bool,
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
    anchor: String,
    name: String,
    path: String,
    description: Option<String>,
    tags: Vec<TagView>,
    status: &'static str,
    open: bool,
    counts: Counts,
    duration: String,
    scenarios: Vec<ScenarioView>,
}

/// `@ACL-2` links to its clause-matrix row; other tags are plain.
struct TagView {
    text: String,
    href: Option<String>,
}

struct ScenarioView {
    anchor: String,
    keyword: String,
    name: String,
    line: usize,
    tags: Vec<TagView>,
    status: &'static str,
    open: bool,
    duration: String,
    stack_startup: Option<String>,
    /// `--repeat`: each round's status, and whether they disagree.
    repeats: Vec<&'static str>,
    flaky: bool,
    governing: Vec<GoverningView>,
    steps: Vec<StepView>,
    /// The links the scenario used or faulted, one line each ([`super::links`]).
    links: Vec<String>,
    /// The evidence of a failing scenario: its breakers and what reached its services.
    evidence: Option<EvidenceView>,
}

struct EvidenceView {
    breakers: Vec<BreakerView>,
    journals: Vec<JournalView>,
    /// The last requests as trace waterfalls (waterfall.rs).
    waterfalls: Vec<WaterfallView>,
}

struct JournalView {
    service: String,
    received: u64,
    shown: usize,
    entries: Vec<JournalRow>,
}

struct JournalRow {
    seq: u64,
    at: String,
    request: String,
    source: String,
    fault: String,
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
    /// Every exchange of the step in a failing scenario (first and last ones).
    exchanges: Vec<ExchangeView>,
    exchanges_omitted: usize,
}

struct BreakerView {
    scenario: String,
    anchor: String,
    service: String,
    transitions: Vec<TransitionView>,
}

struct TransitionView {
    at: String,
    from: &'static str,
    from_class: &'static str,
    to: &'static str,
    to_class: &'static str,
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
    /// Latency over time, with the scenario's breaker transitions (latency_time.rs).
    timeline: Option<LatencyTimePlot>,
    hlog_file: Option<String>,
}

/// Renders `index.html`. Redacts first.
pub fn render(report: &RunReport) -> Result<String, ReportError> {
    let report = report.redacted();
    let secrets = report.secrets.as_slice();
    let counts = report.counts();
    let matrix = report.clause_matrix();
    let verdict = report.verdict();
    let known: Vec<&str> = matrix.rows.iter().map(|r| r.id.as_str()).collect();
    let tag = |t: &String| tag_view(t, &known);
    let clause_rows: Vec<ClauseView> = matrix
        .rows
        .iter()
        .map(|row| clause_view(&row.id, &row.text, row.verdict, &row.scenarios))
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
        warnings: report
            .stack
            .warnings
            .iter()
            .map(|w| split_code(w))
            .collect(),
        startup: startup_view(&report.features),
        failures: failure_views(&report),
        failed_clauses: matrix
            .rows
            .iter()
            .filter(|r| r.verdict == ClauseVerdict::Failed)
            .map(|r| r.id.clone())
            .collect(),
        clauses_passed: matrix.count(ClauseVerdict::Passed),
        clauses_failed: matrix.count(ClauseVerdict::Failed),
        clauses_uncovered: matrix.count(ClauseVerdict::Uncovered),
        clause_rows,
        uncovered: matrix
            .uncovered()
            .map(|row| UncoveredView {
                id: row.id.clone(),
                skipped_only: !row.scenarios.is_empty(),
            })
            .collect(),
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
            .map(|(fi, f)| {
                let status = Status::aggregate(f.scenarios.iter().map(|s| s.status));
                FeatureView {
                    anchor: format!("feature-{}", fi + 1),
                    name: f.name.clone(),
                    path: f.path.clone(),
                    description: f.description.clone().filter(|d| !d.trim().is_empty()),
                    tags: f.tags.iter().map(tag).collect(),
                    status: status.as_str(),
                    open: status.is_failure(),
                    counts: f.counts().scenarios,
                    duration: human_duration(f.duration()),
                    scenarios: f
                        .scenarios
                        .iter()
                        .enumerate()
                        .map(|(si, s)| ScenarioView {
                            anchor: scenario_anchor(fi, si),
                            keyword: s.keyword.clone(),
                            name: s.full_name(),
                            line: s.line,
                            tags: s.tags.iter().map(tag).collect(),
                            status: s.status.as_str(),
                            open: s.status.is_failure(),
                            duration: human_duration(s.duration),
                            stack_startup: s.evidence.stack_startup.map(human_duration),
                            repeats: s.repeats.iter().map(|r| r.as_str()).collect(),
                            flaky: s.is_flaky(),
                            governing: if s.status.is_failure() {
                                governing_views(&report.explain, &s.clauses)
                            } else {
                                Vec::new()
                            },
                            steps: s.steps.iter().map(|st| step_view(st, secrets)).collect(),
                            links: s.evidence.links.iter().map(|l| l.summary()).collect(),
                            evidence: evidence_view(s, &scenario_anchor(fi, si)),
                        })
                        .collect(),
                }
            })
            .collect(),
        breakers: report
            .features
            .iter()
            .enumerate()
            .flat_map(|(fi, f)| {
                f.scenarios
                    .iter()
                    .enumerate()
                    .flat_map(move |(si, s)| breaker_views(s, &scenario_anchor(fi, si)))
            })
            .collect(),
        histograms: report
            .scenarios()
            .flat_map(|(_, s)| {
                let breakers = &s.evidence.breakers;
                s.evidence
                    .histograms
                    .iter()
                    .map(move |h| histogram_view(h, breakers))
            })
            .collect(),
        stack_files: stack_file_views(&report.explain),
        baseline: baseline_view(&report.explain),
        invariants: super::invariants::section(&report)?,
    };
    Ok(compact_html(&page.render()?))
}

fn links(refs: &[ScenarioRef]) -> Vec<ScenarioLink> {
    refs.iter().map(link).collect()
}

fn link(r: &ScenarioRef) -> ScenarioLink {
    ScenarioLink {
        anchor: r.anchor.clone(),
        feature: r.feature.clone(),
        scenario: r.scenario.clone(),
        status: r.status.as_str(),
    }
}

fn clause_view(id: &str, text: &str, verdict: ClauseVerdict, refs: &[ScenarioRef]) -> ClauseView {
    let mut groups: Vec<LinkGroup> = Vec::new();
    for r in refs {
        match groups.last_mut() {
            Some(g) if g.feature == r.feature => g.links.push(link(r)),
            _ => groups.push(LinkGroup {
                feature: r.feature.clone(),
                links: vec![link(r)],
            }),
        }
    }
    ClauseView {
        id: id.to_string(),
        text: split_code(text),
        verdict: verdict.as_str(),
        summary: counts_summary(refs.iter().map(|r| r.status)),
        failing: refs
            .iter()
            .filter(|r| r.status.is_failure())
            .map(link)
            .collect(),
        inline: refs.len() <= INLINE_SCENARIOS || refs.iter().all(|r| r.status.is_failure()),
        groups,
    }
}

/// `1 scenario, passed`, `9 scenarios, all passed`, `28 scenarios: 17 passed, 11 failed`; `""`
/// for none. Statuses in Cucumber's order, as every other count on the page.
fn counts_summary(statuses: impl IntoIterator<Item = Status>) -> String {
    let mut counts = Counts::default();
    for s in statuses {
        counts.add(s);
    }
    let parts: Vec<(usize, Status)> = [
        (counts.passed, Status::Passed),
        (counts.failed, Status::Failed),
        (counts.skipped, Status::Skipped),
        (counts.undefined, Status::Undefined),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .collect();
    match (counts.total, parts.as_slice()) {
        (0, _) => String::new(),
        (1, [(_, status)]) => format!("1 scenario, {status}"),
        (n, [(_, status)]) => format!("{n} scenarios, all {status}"),
        (n, _) => {
            let parts: Vec<String> = parts.iter().map(|(k, s)| format!("{k} {s}")).collect();
            format!("{n} scenarios: {}", parts.join(", "))
        }
    }
}

fn tag_view(tag: &str, known_clauses: &[&str]) -> TagView {
    let href = if known_clauses.contains(&tag) {
        Some(format!("#clause-{tag}"))
    } else if is_clause_id(tag) {
        Some("#unknown-clauses".to_string())
    } else {
        None
    };
    TagView {
        text: format!("@{tag}"),
        href,
    }
}

fn failure_views(report: &RunReport) -> Vec<FailureView> {
    let mut out = Vec::new();
    for (fi, f) in report.features.iter().enumerate() {
        for (si, s) in f.scenarios.iter().enumerate() {
            if !s.status.is_failure() {
                continue;
            }
            let step = s.failing_step();
            out.push(FailureView {
                anchor: scenario_anchor(fi, si),
                feature: f.name.clone(),
                scenario: s.full_name(),
                status: s.status.as_str(),
                governing: governing_views(&report.explain, &s.clauses),
                step: step.map(|st| format!("line {}: {}{}", st.line, st.keyword, st.text)),
                error: step.and_then(|st| match (&st.error, st.status) {
                    (Some(e), _) => Some(first_line(e)),
                    (None, Status::Undefined) => Some("no step definition matches".to_string()),
                    (None, _) => None,
                }),
            });
        }
    }
    link_repeats(out.iter_mut().map(|f| &mut f.governing));
    out
}

/// The first non-empty line, at most [`MAX_SUMMARY_CHARS`] characters.
fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    match line.char_indices().nth(MAX_SUMMARY_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None if text.trim().lines().nth(1).is_some() => format!("{line} …"),
        None => line.to_string(),
    }
}

fn startup_view(features: &[FeatureReport]) -> Option<StartupView> {
    let mut times: Vec<(Duration, String, &ScenarioReport)> = Vec::new();
    for (fi, f) in features.iter().enumerate() {
        for (si, s) in f.scenarios.iter().enumerate() {
            if let Some(d) = s.evidence.stack_startup {
                times.push((d, scenario_anchor(fi, si), s));
            }
        }
    }
    let (max, max_anchor, max_scenario) = times
        .iter()
        .max_by_key(|t| t.0)
        .map(|(d, a, s)| (*d, a.clone(), s.name.clone()))?;
    let total: Duration = times.iter().map(|t| t.0).sum();
    let mut sorted: Vec<Duration> = times.iter().map(|t| t.0).collect();
    sorted.sort();
    Some(StartupView {
        count: times.len(),
        median: human_duration(sorted[sorted.len() / 2]),
        max: human_duration(max),
        max_anchor,
        max_scenario,
        total: human_duration(total),
    })
}

fn step_view(s: &StepReport, secrets: &[String]) -> StepView {
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
        exchange: s.exchange.as_ref().map(|e| exchange_view(e, secrets)),
        exchanges: s
            .exchanges
            .iter()
            .map(|e| short_exchange_view(e, secrets))
            .collect(),
        exchanges_omitted: s.exchanges_omitted,
    }
}

fn histogram_view(h: &HistogramReport, breakers: &[BreakerTimeline]) -> HistogramView {
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
        plot: percentile_plot(&h.percentiles, &h.objectives),
        timeline: latency_time_plot(h, breakers),
        hlog_file: h.hlog_file.clone(),
    }
}

fn breaker_views(s: &ScenarioReport, anchor: &str) -> Vec<BreakerView> {
    s.evidence
        .breakers
        .iter()
        .map(|b| BreakerView {
            scenario: s.name.clone(),
            anchor: anchor.to_string(),
            service: b.service.clone(),
            transitions: b
                .transitions
                .iter()
                .map(|t| TransitionView {
                    at: stack_time(t.at),
                    from: t.from.as_str(),
                    from_class: t.from.class(),
                    to: t.to.as_str(),
                    to_class: t.to.class(),
                    reason: t.reason.clone(),
                })
                .collect(),
        })
        .collect()
}

/// `+61.500 s`: stack-clock time since the stack started.
fn stack_time(at: Duration) -> String {
    format!("+{:.3} s", at.as_secs_f64())
}

/// The evidence shown inside a failing scenario (a passing one shows none).
fn evidence_view(s: &ScenarioReport, anchor: &str) -> Option<EvidenceView> {
    let ev = &s.evidence;
    if !s.status.is_failure()
        || (ev.breakers.is_empty() && ev.journals.is_empty() && ev.traces.is_empty())
    {
        return None;
    }
    Some(EvidenceView {
        waterfalls: waterfall_views(&ev.traces),
        breakers: breaker_views(s, anchor),
        journals: ev
            .journals
            .iter()
            .map(|j| JournalView {
                service: j.service.clone(),
                received: j.received,
                shown: j.entries.len(),
                entries: j
                    .entries
                    .iter()
                    .map(|e| JournalRow {
                        seq: e.seq,
                        at: stack_time(e.at),
                        request: format!("{} {}", e.method, e.path).trim().to_string(),
                        source: e.source.clone().unwrap_or_default(),
                        fault: e.fault.clone().unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
    })
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
    fn summarises_clause_scenarios_by_status() {
        use Status::*;
        assert_eq!(counts_summary([]), "");
        assert_eq!(counts_summary([Passed]), "1 scenario, passed");
        assert_eq!(counts_summary([Passed, Passed]), "2 scenarios, all passed");
        assert_eq!(
            counts_summary([Passed, Failed, Passed]),
            "3 scenarios: 2 passed, 1 failed"
        );
    }

    #[test]
    fn shortens_errors_to_their_first_line() {
        assert_eq!(first_line("expected 401\ngot 200"), "expected 401 …");
        assert_eq!(first_line("\nonly line"), "only line");
        let long = "x".repeat(MAX_SUMMARY_CHARS + 5);
        assert_eq!(
            first_line(&long).chars().count(),
            MAX_SUMMARY_CHARS + 1,
            "cut with an ellipsis"
        );
    }

    #[test]
    fn links_clause_tags_to_their_matrix_row() {
        let known = ["ACL-2"];
        let tag = |t: &str| tag_view(t, &known).href;
        assert_eq!(tag("ACL-2").as_deref(), Some("#clause-ACL-2"));
        assert_eq!(tag("ACL-9").as_deref(), Some("#unknown-clauses"));
        assert_eq!(tag("slow"), None);
    }
}
