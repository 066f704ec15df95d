//! The history index `reports/index.html` (SPEC §10, issue 13): every run newest first, a verdict
//! strip per clause across runs, flaky scenarios, p99 per histogram over time and the suite
//! duration over time. One self-contained file (inline CSS, SVG, no script needed).
//!
//! ```text
//!   history::load() ──► entries (oldest first) ──► HistoryPage (view model) ──askama──► index.html
//!                                                   └── TimePlot for each series (inline SVG)
//! ```
//!
//! The page stays fast with a thousand runs: the table lists every run, the strip and the plots
//! the most recent ones only ([`STRIP_RUNS`], [`PLOT_RUNS`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use askama::Template;

use super::format::{human_duration, human_millis};
use super::history::{self, HistoryEntry};
use super::model::Status;
use super::ReportError;

/// Runs shown in the clause verdict strip.
pub const STRIP_RUNS: usize = 40;
/// Runs drawn in the plots.
pub const PLOT_RUNS: usize = 100;
/// A scenario is flaky when it both passed and failed within this many recent runs.
pub const FLAKY_WINDOW: usize = 10;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = WIDTH - 24.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = HEIGHT - 36.0;

#[derive(Template)]
#[template(path = "history.html", config = "src/report/askama.toml")]
struct HistoryPage {
    verdict: &'static str,
    verdict_label: String,
    runs_total: usize,
    warnings: Vec<String>,
    runs: Vec<RunRow>,
    strip_runs: Vec<StripHead>,
    clause_rows: Vec<StripRow>,
    flaky_window: usize,
    flaky: Vec<FlakyView>,
    p99_plots: Vec<TimePlot>,
    duration_plot: Option<TimePlot>,
}

struct RunRow {
    run_id: String,
    href: Option<String>,
    started: String,
    verdict: String,
    passed: usize,
    failed: usize,
    skipped: usize,
    undefined: usize,
    duration: String,
    stack: String,
    digest: String,
    version: String,
    commit: String,
}

struct StripHead {
    run_id: String,
    /// `11-28 11:03`, from the run id.
    short: String,
}

struct StripRow {
    id: String,
    cells: Vec<Cell>,
}

struct Cell {
    class: String,
    title: String,
}

struct FlakyView {
    scenario: String,
    passed: usize,
    failed: usize,
    /// Oldest first, within the window.
    cells: Vec<Cell>,
}

/// A series over runs, drawn as inline SVG.
pub struct TimePlot {
    pub title: String,
    pub unit: String,
    pub width: String,
    pub height: String,
    pub left: String,
    pub right: String,
    pub top: String,
    pub bottom: String,
    pub polyline: String,
    pub points: Vec<PlotPoint>,
    pub y_ticks: Vec<Tick>,
    /// The first and last run of the axis.
    pub x_first: String,
    pub x_last: String,
}

pub struct PlotPoint {
    pub x: String,
    pub y: String,
    pub label: String,
    pub failed: bool,
}

pub struct Tick {
    pub pos: String,
    pub label: String,
}

/// Renders the history index of `entries` (oldest first, as [`history::load`] returns them).
/// `existing` holds the run ids whose directory is still there (retention removes old ones);
/// `warnings` are shown at the top (the corrupt lines that were skipped).
///
/// # Errors
/// A template error.
pub fn render(
    entries: &[HistoryEntry],
    warnings: &[String],
    existing: &BTreeSet<String>,
) -> Result<String, ReportError> {
    let latest = entries.last();
    let verdict = match latest.map(|e| e.verdict.as_str()) {
        Some("passed") => "passed",
        _ => "failed",
    };
    let verdict_label = match latest {
        Some(e) => format!("Latest run {}", e.verdict.to_uppercase()),
        None => "No runs yet".to_string(),
    };
    let page = HistoryPage {
        verdict,
        verdict_label,
        runs_total: entries.len(),
        warnings: warnings.to_vec(),
        runs: entries.iter().rev().map(|e| run_row(e, existing)).collect(),
        strip_runs: recent(entries, STRIP_RUNS)
            .iter()
            .rev()
            .map(|e| StripHead {
                run_id: e.run_id.clone(),
                short: short_time(&e.run_id),
            })
            .collect(),
        clause_rows: clause_rows(recent(entries, STRIP_RUNS)),
        flaky_window: FLAKY_WINDOW,
        flaky: flaky(recent(entries, FLAKY_WINDOW)),
        p99_plots: p99_plots(recent(entries, PLOT_RUNS)),
        duration_plot: duration_plot(recent(entries, PLOT_RUNS)),
    };
    Ok(page.render()?)
}

/// Reads `root/history.jsonl` and writes `root/index.html`. Returns the index's path and the
/// warnings about skipped lines.
///
/// # Errors
/// The history cannot be read, or the index cannot be rendered or written.
pub fn write_index(root: &Path) -> Result<(PathBuf, Vec<String>), ReportError> {
    let (entries, warnings) = history::load(root).map_err(|e| ReportError::Write {
        path: root.join(history::HISTORY_FILE),
        source: std::io::Error::other(e.to_string()),
    })?;
    let existing = history::run_dirs(root)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let html = render(&entries, &warnings, &existing)?;
    let path = root.join("index.html");
    std::fs::write(&path, html).map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })?;
    Ok((path, warnings))
}

fn recent(entries: &[HistoryEntry], n: usize) -> &[HistoryEntry] {
    &entries[entries.len().saturating_sub(n)..]
}

fn run_row(e: &HistoryEntry, existing: &BTreeSet<String>) -> RunRow {
    RunRow {
        run_id: e.run_id.clone(),
        href: existing
            .contains(&e.run_id)
            .then(|| format!("{}/index.html", e.run_id)),
        started: e.started_at.replace('T', " ").replace('Z', " UTC"),
        verdict: if e.verdict == "passed" {
            "passed".into()
        } else {
            "failed".into()
        },
        passed: e.passed,
        failed: e.failed,
        skipped: e.skipped,
        undefined: e.undefined,
        duration: human_duration(std::time::Duration::from_secs_f64(
            e.duration_ms.max(0.0) / 1000.0,
        )),
        stack: e.stack.clone(),
        digest: e
            .stack_digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect(),
        version: e.version.clone(),
        commit: e
            .git_commit
            .as_deref()
            .map(|c| c.chars().take(10).collect())
            .unwrap_or_default(),
    }
}

/// `11-28 11:03` from `20261128-110343-valueverse`.
fn short_time(run_id: &str) -> String {
    let b = run_id.as_bytes();
    if history::is_run_id(run_id) {
        format!(
            "{}-{} {}:{}",
            &run_id[4..6],
            &run_id[6..8],
            &run_id[9..11],
            &run_id[11..13]
        )
    } else {
        run_id.chars().take(b.len().min(11)).collect()
    }
}

/// `CB-2` → (`CB`, 2), so CB-10 sorts after CB-9.
fn clause_order(id: &str) -> (String, u64, String) {
    match id.rsplit_once('-') {
        Some((domain, n)) => match n.parse() {
            Ok(n) => (domain.to_string(), n, String::new()),
            Err(_) => (domain.to_string(), u64::MAX, n.to_string()),
        },
        None => (id.to_string(), 0, String::new()),
    }
}

fn clause_rows(entries: &[HistoryEntry]) -> Vec<StripRow> {
    let mut ids: Vec<&String> = entries
        .iter()
        .flat_map(|e| e.clauses.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ids.sort_by_cached_key(|id| clause_order(id));
    ids.into_iter()
        .map(|id| StripRow {
            id: id.clone(),
            cells: entries
                .iter()
                .rev()
                .map(|e| {
                    let verdict = e.clauses.get(id).map_or("absent", String::as_str);
                    let class = match verdict {
                        "passed" | "failed" | "uncovered" => verdict,
                        _ => "absent",
                    };
                    Cell {
                        class: class.to_string(),
                        title: format!("{id} in {}: {verdict}", e.run_id),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Scenarios that both passed and failed within `entries` (statuses of `--repeat` included),
/// most flips first.
fn flaky(entries: &[HistoryEntry]) -> Vec<FlakyView> {
    let mut seen: BTreeMap<&String, (usize, usize)> = BTreeMap::new();
    for e in entries {
        for (id, statuses) in &e.scenarios {
            let counts = seen.entry(id).or_default();
            counts.0 += statuses.iter().filter(|s| **s == Status::Passed).count();
            counts.1 += statuses.iter().filter(|s| **s == Status::Failed).count();
        }
    }
    let mut out: Vec<FlakyView> = seen
        .into_iter()
        .filter(|(_, (p, f))| *p > 0 && *f > 0)
        .map(|(id, (passed, failed))| FlakyView {
            scenario: id.clone(),
            passed,
            failed,
            cells: entries
                .iter()
                .map(|e| {
                    let statuses = e.scenarios.get(id);
                    let class = match statuses {
                        None => "absent",
                        Some(s) if s.contains(&Status::Failed) && s.contains(&Status::Passed) => {
                            "mixed"
                        }
                        Some(s) if s.contains(&Status::Failed) => "failed",
                        Some(s) if s.contains(&Status::Passed) => "passed",
                        Some(_) => "skipped",
                    };
                    Cell {
                        class: class.to_string(),
                        title: format!("{}: {class}", e.run_id),
                    }
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| {
        b.passed
            .min(b.failed)
            .cmp(&a.passed.min(a.failed))
            .then_with(|| a.scenario.cmp(&b.scenario))
    });
    out
}

fn p99_plots(entries: &[HistoryEntry]) -> Vec<TimePlot> {
    let names: BTreeSet<&String> = entries.iter().flat_map(|e| e.histograms.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let series: Vec<Option<f64>> = entries
                .iter()
                .map(|e| e.histograms.get(name).map(|h| h.p99_ms))
                .collect();
            time_plot(
                &format!("p99 of {name}"),
                "ms",
                entries,
                &series,
                human_millis,
            )
        })
        .collect()
}

fn duration_plot(entries: &[HistoryEntry]) -> Option<TimePlot> {
    let series: Vec<Option<f64>> = entries.iter().map(|e| Some(e.duration_ms)).collect();
    time_plot("Suite duration", "ms", entries, &series, |ms| {
        human_duration(std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    })
}

fn coord(v: f64) -> String {
    format!("{v:.1}")
}

/// A "nice" step (1, 2 or 5 × 10^k) giving about four intervals up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 4.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let nice = if residual <= 1.0 {
        1.0
    } else if residual <= 2.0 {
        2.0
    } else if residual <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// One value per run (None where the run lacks it); runs are evenly spaced on x, oldest left.
fn time_plot(
    title: &str,
    unit: &str,
    entries: &[HistoryEntry],
    series: &[Option<f64>],
    label: impl Fn(f64) -> String,
) -> Option<TimePlot> {
    series.iter().flatten().next()?;
    let max = series.iter().flatten().copied().fold(0.0_f64, f64::max);
    let step = nice_step(if max > 0.0 { max } else { 1.0 });
    let top_value = (max / step).ceil().max(1.0) * step;
    let n = series.len();
    let x = |i: usize| {
        if n <= 1 {
            (LEFT + RIGHT) / 2.0
        } else {
            LEFT + (RIGHT - LEFT) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| BOTTOM - (BOTTOM - TOP) * (v / top_value);
    let mut points = Vec::new();
    let mut polyline = Vec::new();
    for (i, (value, entry)) in series.iter().zip(entries).enumerate() {
        if let Some(v) = value {
            let (px, py) = (coord(x(i)), coord(y(*v)));
            polyline.push(format!("{px},{py}"));
            points.push(PlotPoint {
                x: px,
                y: py,
                label: format!("{}: {}", entry.run_id, label(*v)),
                failed: entry.verdict != "passed",
            });
        }
    }
    let ticks = (top_value / step).round() as usize;
    let y_ticks = (0..=ticks)
        .map(|k| {
            let v = step * k as f64;
            Tick {
                pos: coord(y(v)),
                label: label(v),
            }
        })
        .collect();
    Some(TimePlot {
        title: title.to_string(),
        unit: unit.to_string(),
        width: coord(WIDTH),
        height: coord(HEIGHT),
        left: coord(LEFT),
        right: coord(RIGHT),
        top: coord(TOP),
        bottom: coord(BOTTOM),
        polyline: polyline.join(" "),
        points,
        y_ticks,
        x_first: entries
            .first()
            .map(|e| e.run_id.clone())
            .unwrap_or_default(),
        x_last: entries.last().map(|e| e.run_id.clone()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::history::HistogramPoint;

    fn entry(i: usize, verdict: &str, scenario: Status, p99: f64) -> HistoryEntry {
        HistoryEntry {
            run_id: format!("202611{:02}-110343-valueverse", i + 1),
            started_at: format!("2026-11-{:02}T11:03:43Z", i + 1),
            version: "0.1.0".into(),
            git_commit: Some("0123456789abcdef".into()),
            stack: "valueverse".into(),
            stack_digest: "sha256:abcdef0123456789".into(),
            verdict: verdict.into(),
            duration_ms: 1000.0 + i as f64,
            seed: 7,
            passed: 1,
            failed: usize::from(verdict == "failed"),
            skipped: 0,
            undefined: 0,
            clauses: [("CB-2".to_string(), verdict.to_string())].into(),
            histograms: [(
                "reads <fast>".to_string(),
                HistogramPoint {
                    count: 100,
                    p50_ms: 1.0,
                    p99_ms: p99,
                    max_ms: 2.0 * p99,
                },
            )]
            .into(),
            scenarios: [
                ("features/a.feature:3 flips".to_string(), vec![scenario]),
                (
                    "features/a.feature:9 steady".to_string(),
                    vec![Status::Passed],
                ),
            ]
            .into(),
        }
    }

    #[test]
    fn lists_runs_newest_first_with_flaky_scenarios_and_trends() {
        let entries = vec![
            entry(0, "passed", Status::Passed, 3.0),
            entry(1, "failed", Status::Failed, 9.0),
            entry(2, "passed", Status::Passed, 4.0),
        ];
        let existing = [entries[2].run_id.clone()].into();
        let html = render(&entries, &["history.jsonl:4: bad".into()], &existing).unwrap();
        let newest = html.find("20261103-110343-valueverse").unwrap();
        let oldest = html.find("20261101-110343-valueverse").unwrap();
        assert!(newest < oldest, "newest first");
        assert!(html.contains("href=\"20261103-110343-valueverse/index.html\""));
        assert!(!html.contains("href=\"20261101-110343-valueverse/index.html\""));
        assert!(html.contains("features/a.feature:3 flips"));
        assert!(!html.contains("features/a.feature:9 steady"), "not flaky");
        assert!(
            html.contains("p99 of reads &#60;fast&#62;")
                || html.contains("p99 of reads &lt;fast&gt;")
        );
        assert!(html.contains("Suite duration"));
        assert!(html.contains("history.jsonl:4: bad"));
        assert!(
            !html.contains("<script src")
                && !html.contains("http://")
                && !html.contains("https://")
        );
    }

    #[test]
    fn an_empty_history_renders() {
        let html = render(&[], &[], &BTreeSet::new()).unwrap();
        assert!(html.contains("No runs yet"));
    }

    #[test]
    fn clauses_sort_by_domain_then_number() {
        let mut ids = vec!["CB-10", "CB-2", "ACL-1"];
        ids.sort_by_cached_key(|id| clause_order(id));
        assert_eq!(ids, ["ACL-1", "CB-2", "CB-10"]);
    }
}
