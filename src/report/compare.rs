//! `gauntlet compare <run-a> <run-b>` (issue 13 item 2): what changed between two runs — new
//! failures, fixed, flaky, clause verdicts, per-histogram percentile deltas judged against the
//! run-to-run spread of recent history, and the diff of the two stacks' files.
//!
//! ```text
//!   reports/history.jsonl ─┐                 ┌─► console table (console_lines)
//!   <run-dir>/summary.json ┼─ resolve() ──► compare() ──► Comparison ─┤
//!   <run-dir>/stack/       ┘   (A, B)        (noise bands from the    └─► compare.html (compare_page.rs)
//!                                             runs before B)
//! ```
//!
//! A run is named by its id (`20261201-101500-valueverse`), by its directory, or not at all:
//! then B is the newest run of the history and A the newest earlier run on the same stack.
//!
//! What counts as a regression (exit 1): a scenario that fails in B and passed in A (or was not
//! in A) and was not flaky before B; or a p50/p99 that grew by more than its noise band. The
//! noise band of a percentile is the spread (max − min) of that percentile over the last
//! [`NOISE_RUNS`] runs on the same stack before B, and at least [`MIN_RELATIVE_BAND`] of A's
//! value, so a delta inside the usual run-to-run variation is reported, not failed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diff::{diff_files, FileDiff};
use super::explain::{read_files, StackFile};
use super::format::human_millis;
use super::history::{self, HistogramPoint, HistoryEntry};
use super::model::Status;

/// Reads one percentile of a histogram's summary.
type Percentile = fn(&HistogramPoint) -> f64;

/// Runs before B whose spread makes a percentile's noise band.
pub const NOISE_RUNS: usize = 10;
/// A noise band is at least this share of A's value (two runs alone cannot show the spread).
pub const MIN_RELATIVE_BAND: f64 = 0.10;
/// And at least this many milliseconds (sub-millisecond jitter is never a regression).
pub const MIN_ABSOLUTE_BAND_MS: f64 = 0.5;
/// A scenario that both passed and failed within this many runs before B is flaky.
pub const FLAKY_RUNS: usize = 10;
/// The file in a run directory holding the run's history line.
pub const SUMMARY_FILE: &str = "summary.json";
/// The folder in a run directory holding the stack's files as run (redacted).
pub const STACK_DIR: &str = "stack";

/// A run of the comparison.
#[derive(Debug, Clone)]
pub struct RunRef {
    pub entry: HistoryEntry,
    /// Its directory, when it still exists (`--keep` may have removed it).
    pub dir: Option<PathBuf>,
}

/// Why two runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    History(#[from] history::HistoryError),
}

/// Finds the two runs: `a` and `b` as given (ids or directories), or the newest run and the one
/// before it on the same stack. Returns them and the history's warnings (skipped lines).
///
/// # Errors
/// A run that is neither a directory with a `summary.json` nor an id in the history, or a
/// history without two runs on the same stack.
pub fn resolve(
    root: &Path,
    a: Option<&str>,
    b: Option<&str>,
) -> Result<(RunRef, RunRef, Vec<HistoryEntry>, Vec<String>), CompareError> {
    let (entries, warnings) = history::load(root)?;
    let find = |arg: &str| find_run(root, &entries, arg);
    let (run_a, run_b) = match (a, b) {
        (Some(a), Some(b)) => (find(a)?, find(b)?),
        (Some(_), None) | (None, Some(_)) => {
            return Err(CompareError::NotFound(
                "give two runs, or none to compare the latest with the previous one".into(),
            ))
        }
        (None, None) => {
            let newest = entries.last().ok_or_else(|| {
                CompareError::NotFound(format!(
                    "{} has no runs yet (run `gauntlet run` twice first)",
                    root.join(history::HISTORY_FILE).display()
                ))
            })?;
            let previous = entries[..entries.len() - 1]
                .iter()
                .rev()
                .find(|e| e.stack == newest.stack)
                .ok_or_else(|| {
                    CompareError::NotFound(format!(
                        "only one run on stack {} in {}: nothing to compare it with",
                        newest.stack,
                        root.join(history::HISTORY_FILE).display()
                    ))
                })?;
            (find(&previous.run_id)?, find(&newest.run_id)?)
        }
    };
    Ok((run_a, run_b, entries, warnings))
}

fn find_run(root: &Path, entries: &[HistoryEntry], arg: &str) -> Result<RunRef, CompareError> {
    let as_dir = Path::new(arg);
    if as_dir.is_dir() {
        if let Ok(text) = fs::read_to_string(as_dir.join(SUMMARY_FILE)) {
            let entry: HistoryEntry = serde_json::from_str(&text).map_err(|e| {
                CompareError::NotFound(format!(
                    "{}: not a run summary: {e}",
                    as_dir.join(SUMMARY_FILE).display()
                ))
            })?;
            return Ok(RunRef {
                entry,
                dir: Some(as_dir.to_path_buf()),
            });
        }
        // A run directory written before summaries: its name is its id in the history beside it.
        let name = as_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = as_dir.parent().unwrap_or(root);
        let (beside, _) = history::load(parent).unwrap_or_default();
        if let Some(entry) = beside.into_iter().rev().find(|e| e.run_id == name) {
            return Ok(RunRef {
                entry,
                dir: Some(as_dir.to_path_buf()),
            });
        }
        return Err(CompareError::NotFound(format!(
            "{arg}: not a run directory (no {SUMMARY_FILE}, and no run {name} in {})",
            parent.join(history::HISTORY_FILE).display()
        )));
    }
    let entry = entries
        .iter()
        .rev()
        .find(|e| e.run_id == arg)
        .cloned()
        .ok_or_else(|| {
            CompareError::NotFound(format!(
                "{arg}: no such run directory, and no run of that id in {}",
                root.join(history::HISTORY_FILE).display()
            ))
        })?;
    let dir = root.join(&entry.run_id);
    Ok(RunRef {
        entry,
        dir: dir.is_dir().then_some(dir),
    })
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub run_id: String,
    pub started_at: String,
    pub stack: String,
    pub stack_digest: String,
    pub verdict: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub undefined: usize,
    pub git_commit: Option<String>,
    pub version: String,
}

/// A scenario whose result changed (or that is flaky).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioChange {
    /// `path:line name`.
    pub scenario: String,
    /// Its statuses in A and in B (several with `--repeat`; none when absent).
    pub a: Vec<Status>,
    pub b: Vec<Status>,
}

/// A clause whose verdict changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseChange {
    pub clause: String,
    pub a: String,
    pub b: String,
}

/// How a percentile moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Movement {
    /// Grew by more than the noise band.
    Regression,
    /// Shrank by more than the noise band.
    Improvement,
    /// Within the noise band.
    Noise,
    /// Only in B.
    New,
    /// Only in A.
    Gone,
}

impl Movement {
    pub fn as_str(self) -> &'static str {
        match self {
            Movement::Regression => "regression",
            Movement::Improvement => "improvement",
            Movement::Noise => "within noise",
            Movement::New => "new",
            Movement::Gone => "gone",
        }
    }
}

/// One percentile of one histogram in A and B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyDelta {
    pub histogram: String,
    /// `p50` or `p99`.
    pub percentile: &'static str,
    pub a_ms: Option<f64>,
    pub b_ms: Option<f64>,
    /// The noise band (± ms) the delta is judged against.
    pub band_ms: f64,
    /// Runs of recent history whose spread made the band (0: the relative minimum alone).
    pub band_runs: usize,
    pub movement: Movement,
}

impl LatencyDelta {
    pub fn delta_ms(&self) -> Option<f64> {
        Some(self.b_ms? - self.a_ms?)
    }
}

/// Everything `compare` found.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: Side,
    pub b: Side,
    /// The runs are of different stacks (by name): said first, everywhere.
    pub different_stacks: bool,
    /// The stack files' digests differ.
    pub config_changed: bool,
    /// The files that differ, when both runs kept their stack files.
    pub config_diff: Vec<FileDiff>,
    /// Why no file diff is shown although the digests differ.
    pub config_note: Option<String>,
    pub new_failures: Vec<ScenarioChange>,
    pub fixed: Vec<ScenarioChange>,
    pub still_failing: Vec<ScenarioChange>,
    /// Passed and failed within B (`--repeat`) or within the runs before B.
    pub flaky: Vec<ScenarioChange>,
    /// In A only.
    pub removed: Vec<String>,
    pub clauses: Vec<ClauseChange>,
    pub latency: Vec<LatencyDelta>,
}

impl Comparison {
    pub fn latency_regressions(&self) -> usize {
        self.latency
            .iter()
            .filter(|d| d.movement == Movement::Regression)
            .count()
    }

    /// New failures plus latency regressions.
    pub fn regressions(&self) -> usize {
        self.new_failures.len() + self.latency_regressions()
    }

    pub fn is_regression(&self) -> bool {
        self.regressions() > 0
    }
}

fn side(e: &HistoryEntry) -> Side {
    Side {
        run_id: e.run_id.clone(),
        started_at: e.started_at.clone(),
        stack: e.stack.clone(),
        stack_digest: e.stack_digest.clone(),
        verdict: e.verdict.clone(),
        passed: e.passed,
        failed: e.failed,
        skipped: e.skipped,
        undefined: e.undefined,
        git_commit: e.git_commit.clone(),
        version: e.version.clone(),
    }
}

fn failed(statuses: &[Status]) -> bool {
    statuses.iter().any(|s| s.is_failure())
}

fn passed(statuses: &[Status]) -> bool {
    statuses.contains(&Status::Passed)
}

/// Compares `a` with `b`; `history` (oldest first) gives the noise bands and the flaky window:
/// the runs on B's stack before B.
pub fn compare(a: &RunRef, b: &RunRef, history: &[HistoryEntry]) -> Comparison {
    let (ea, eb) = (&a.entry, &b.entry);
    let before_b: Vec<&HistoryEntry> = {
        let end = history
            .iter()
            .rposition(|e| e.run_id == eb.run_id)
            .unwrap_or(history.len());
        history[..end]
            .iter()
            .filter(|e| e.stack == eb.stack)
            .collect()
    };
    let recent = |n: usize| &before_b[before_b.len().saturating_sub(n)..];

    // Scenarios.
    let flaky_before: BTreeSet<&str> = {
        let mut seen: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for e in recent(FLAKY_RUNS) {
            for (id, statuses) in &e.scenarios {
                let s = seen.entry(id).or_default();
                s.0 |= passed(statuses);
                s.1 |= failed(statuses);
            }
        }
        seen.into_iter()
            .filter(|(_, (p, f))| *p && *f)
            .map(|(id, _)| id)
            .collect()
    };
    let (mut new_failures, mut fixed, mut still_failing, mut flaky) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, sb) in &eb.scenarios {
        let sa = ea.scenarios.get(id).cloned().unwrap_or_default();
        let change = ScenarioChange {
            scenario: id.clone(),
            a: sa.clone(),
            b: sb.clone(),
        };
        let flaky_now = passed(sb) && failed(sb);
        if flaky_now || (failed(sb) && flaky_before.contains(id.as_str())) {
            flaky.push(change);
        } else if failed(sb) && failed(&sa) {
            still_failing.push(change);
        } else if failed(sb) {
            new_failures.push(change);
        } else if failed(&sa) && passed(sb) {
            fixed.push(change);
        }
    }
    let removed = ea
        .scenarios
        .keys()
        .filter(|id| !eb.scenarios.contains_key(*id))
        .cloned()
        .collect();

    // Clauses.
    let ids: BTreeSet<&String> = ea.clauses.keys().chain(eb.clauses.keys()).collect();
    let clauses = ids
        .into_iter()
        .filter_map(|id| {
            let va = ea.clauses.get(id).map_or("absent", String::as_str);
            let vb = eb.clauses.get(id).map_or("absent", String::as_str);
            (va != vb).then(|| ClauseChange {
                clause: id.clone(),
                a: va.to_string(),
                b: vb.to_string(),
            })
        })
        .collect();

    // Latency.
    let names: BTreeSet<&String> = ea.histograms.keys().chain(eb.histograms.keys()).collect();
    let mut latency = Vec::new();
    for name in names {
        let (ha, hb) = (ea.histograms.get(name), eb.histograms.get(name));
        let window: Vec<&HistogramPoint> = recent(NOISE_RUNS)
            .iter()
            .filter_map(|e| e.histograms.get(name))
            .collect();
        let pick: [(&'static str, Percentile); 2] = [("p50", |h| h.p50_ms), ("p99", |h| h.p99_ms)];
        for (label, value) in pick {
            latency.push(judge(
                name,
                label,
                ha.map(value),
                hb.map(value),
                &window.iter().map(|h| value(h)).collect::<Vec<_>>(),
            ));
        }
    }

    // Config.
    let config_changed = ea.stack_digest != eb.stack_digest;
    let stack_files = |r: &RunRef| {
        r.dir
            .as_ref()
            .map(|d| d.join(STACK_DIR))
            .filter(|d| d.is_dir())
            .and_then(|d| read_files(&d).ok())
    };
    let (config_diff, config_note) = match (stack_files(a), stack_files(b)) {
        (Some(fa), Some(fb)) => {
            let diff = diff_files(&fa, &fb);
            let note = (config_changed && diff.is_empty())
                .then(|| "the digests differ but the kept (redacted) files are equal".to_string());
            (diff, note)
        }
        _ if config_changed => (
            Vec::new(),
            Some(format!(
                "the stack files differ ({} → {}), but a run directory with its stack/ copy is missing (removed by --keep?)",
                short_digest(&ea.stack_digest),
                short_digest(&eb.stack_digest)
            )),
        ),
        _ => (Vec::new(), None),
    };

    Comparison {
        a: side(ea),
        b: side(eb),
        different_stacks: ea.stack != eb.stack,
        config_changed,
        config_diff,
        config_note,
        new_failures,
        fixed,
        still_failing,
        flaky,
        removed,
        clauses,
        latency,
    }
}

/// Judges one percentile: B − A against the spread of `window` (the same percentile in recent
/// runs), with the relative and absolute minimums.
fn judge(
    histogram: &str,
    percentile: &'static str,
    a: Option<f64>,
    b: Option<f64>,
    window: &[f64],
) -> LatencyDelta {
    let spread = if window.len() >= 2 {
        let max = window.iter().copied().fold(f64::MIN, f64::max);
        let min = window.iter().copied().fold(f64::MAX, f64::min);
        max - min
    } else {
        0.0
    };
    let band = spread
        .max(a.unwrap_or(0.0) * MIN_RELATIVE_BAND)
        .max(MIN_ABSOLUTE_BAND_MS);
    let movement = match (a, b) {
        (Some(a), Some(b)) if b - a > band => Movement::Regression,
        (Some(a), Some(b)) if a - b > band => Movement::Improvement,
        (Some(_), Some(_)) => Movement::Noise,
        (None, _) => Movement::New,
        (Some(_), None) => Movement::Gone,
    };
    LatencyDelta {
        histogram: histogram.to_string(),
        percentile,
        a_ms: a,
        b_ms: b,
        band_ms: band,
        band_runs: if window.len() >= 2 { window.len() } else { 0 },
        movement,
    }
}

/// `sha256:0123456789ab`.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

fn statuses(s: &[Status]) -> String {
    if s.is_empty() {
        return "absent".to_string();
    }
    s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

fn signed_ms(ms: f64) -> String {
    if ms >= 0.0 {
        format!("+{}", human_millis(ms))
    } else {
        format!("−{}", human_millis(-ms))
    }
}

/// The comparison for a terminal or a CI log; the last line is the verdict.
pub fn console_lines(c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    if c.different_stacks {
        out.push(format!(
            "note: the runs are from different stacks ({} vs {}): differences may be the stacks', not a regression",
            c.a.stack, c.b.stack
        ));
    }
    out.push(format!(
        "A  {}  {}  {} passed, {} failed",
        c.a.run_id, c.a.verdict, c.a.passed, c.a.failed
    ));
    out.push(format!(
        "B  {}  {}  {} passed, {} failed",
        c.b.run_id, c.b.verdict, c.b.passed, c.b.failed
    ));
    if c.config_changed {
        out.push(format!(
            "stack files changed: {} → {}",
            short_digest(&c.a.stack_digest),
            short_digest(&c.b.stack_digest)
        ));
        for d in &c.config_diff {
            out.push(format!("  {}", d.summary()));
            for line in d.unified(&c.a.run_id, &c.b.run_id).lines().skip(2) {
                out.push(format!("    {line}"));
            }
        }
        if let Some(note) = &c.config_note {
            out.push(format!("  {note}"));
        }
    } else {
        out.push(format!(
            "stack files: same ({})",
            short_digest(&c.b.stack_digest)
        ));
    }
    let groups: [(&str, &Vec<ScenarioChange>); 4] = [
        ("new failures", &c.new_failures),
        ("fixed", &c.fixed),
        ("flaky (not counted as regressions)", &c.flaky),
        ("still failing", &c.still_failing),
    ];
    for (title, list) in groups {
        out.push(format!("{title}: {}", list.len()));
        for s in list {
            out.push(format!(
                "  {}  [{} → {}]",
                s.scenario,
                statuses(&s.a),
                statuses(&s.b)
            ));
        }
    }
    if !c.removed.is_empty() {
        out.push(format!("not run in B: {}", c.removed.len()));
    }
    if !c.clauses.is_empty() {
        out.push("clause verdicts changed:".to_string());
        for cl in &c.clauses {
            out.push(format!("  {:<10} {} → {}", cl.clause, cl.a, cl.b));
        }
    }
    if !c.latency.is_empty() {
        out.push(format!(
            "latency (noise band: spread of the last {NOISE_RUNS} runs, at least {:.0}% and {MIN_ABSOLUTE_BAND_MS} ms):",
            MIN_RELATIVE_BAND * 100.0
        ));
        let width = c
            .latency
            .iter()
            .map(|d| d.histogram.chars().count())
            .max()
            .unwrap_or(9)
            .max(9);
        out.push(format!(
            "  {:<width$}  pct  {:>10}  {:>10}  {:>11}  {:>11}  verdict",
            "histogram", "A", "B", "Δ", "band"
        ));
        for d in &c.latency {
            let show = |v: Option<f64>| v.map_or("-".to_string(), human_millis);
            out.push(format!(
                "  {:<width$}  {}  {:>10}  {:>10}  {:>11}  {:>11}  {}",
                d.histogram,
                d.percentile,
                show(d.a_ms),
                show(d.b_ms),
                d.delta_ms().map_or("-".to_string(), signed_ms),
                format!("±{}", human_millis(d.band_ms)),
                d.movement.as_str()
            ));
        }
    }
    out.push(if c.is_regression() {
        format!(
            "REGRESSION: {} new failure(s), {} latency regression(s)",
            c.new_failures.len(),
            c.latency_regressions()
        )
    } else {
        "no regression".to_string()
    });
    out
}

/// Writes `<run-dir>/summary.json` (the run's history line) and `<run-dir>/stack/` (its stack
/// files, redacted), which `compare` reads when given a directory.
///
/// # Errors
/// I/O errors naming the path.
pub fn write_run_files(
    dir: &Path,
    entry: &HistoryEntry,
    files: &[StackFile],
) -> Result<(), super::ReportError> {
    let err = |path: PathBuf| move |source| super::ReportError::Write { path, source };
    let json = serde_json::to_string_pretty(entry).map_err(|source| super::ReportError::Json {
        what: SUMMARY_FILE,
        source,
    })?;
    fs::write(dir.join(SUMMARY_FILE), json).map_err(err(dir.join(SUMMARY_FILE)))?;
    for file in files {
        let path = dir.join(STACK_DIR).join(&file.name);
        // Names come from walking the stack directory: relative, without `..`.
        if file.name.split('/').any(|p| p == ".." || p.is_empty()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(err(parent.to_path_buf()))?;
        }
        fs::write(&path, &file.text).map_err(err(path.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, scenarios: &[(&str, &[Status])], p99: Option<f64>) -> HistoryEntry {
        HistoryEntry {
            run_id: id.into(),
            started_at: "2026-12-01T10:00:00Z".into(),
            version: "0.1.0".into(),
            git_commit: None,
            stack: "valueverse".into(),
            stack_digest: "sha256:aa".into(),
            verdict: "passed".into(),
            duration_ms: 1.0,
            seed: 1,
            passed: 0,
            failed: 0,
            skipped: 0,
            undefined: 0,
            clauses: BTreeMap::new(),
            histograms: p99
                .map(|p| {
                    (
                        "read".to_string(),
                        HistogramPoint {
                            count: 100,
                            p50_ms: 1.0,
                            p99_ms: p,
                            max_ms: p * 2.0,
                        },
                    )
                })
                .into_iter()
                .collect(),
            scenarios: scenarios
                .iter()
                .map(|(id, s)| (id.to_string(), s.to_vec()))
                .collect(),
        }
    }

    fn run(e: &HistoryEntry) -> RunRef {
        RunRef {
            entry: e.clone(),
            dir: None,
        }
    }

    use Status::{Failed as F, Passed as P};

    #[test]
    fn sorts_scenarios_into_new_failures_fixed_flaky_and_still_failing() {
        let a = entry(
            "a",
            &[
                ("s1", &[P]),
                ("s2", &[F]),
                ("s3", &[F]),
                ("s4", &[P]),
                ("gone", &[P]),
            ],
            None,
        );
        let b = entry(
            "b",
            &[
                ("s1", &[F]),
                ("s2", &[P]),
                ("s3", &[F]),
                ("s4", &[P, F]),
                ("s5", &[F]),
            ],
            None,
        );
        let c = compare(&run(&a), &run(&b), &[a.clone(), b.clone()]);
        let ids = |l: &[ScenarioChange]| l.iter().map(|s| s.scenario.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&c.new_failures), ["s1", "s5"]);
        assert_eq!(ids(&c.fixed), ["s2"]);
        assert_eq!(ids(&c.still_failing), ["s3"]);
        assert_eq!(ids(&c.flaky), ["s4"]);
        assert_eq!(c.removed, ["gone"]);
        assert!(c.is_regression());
    }

    #[test]
    fn a_failure_of_a_scenario_flaky_in_recent_history_is_not_a_new_failure() {
        let h: Vec<HistoryEntry> = [P, F, P, P]
            .iter()
            .enumerate()
            .map(|(i, s)| entry(&format!("r{i}"), &[("s", &[*s])], None))
            .collect();
        let b = entry("b", &[("s", &[F])], None);
        let mut all = h.clone();
        all.push(b.clone());
        let c = compare(&run(&h[3]), &run(&b), &all);
        assert!(c.new_failures.is_empty(), "{c:?}");
        assert_eq!(c.flaky.len(), 1);
        // Without the earlier failure it is a new failure.
        let steady: Vec<HistoryEntry> = (0..4)
            .map(|i| entry(&format!("r{i}"), &[("s", &[P])], None))
            .collect();
        let mut all = steady.clone();
        all.push(b.clone());
        let c = compare(&run(&steady[3]), &run(&b), &all);
        assert_eq!(c.new_failures.len(), 1);
    }

    #[test]
    fn a_latency_delta_inside_the_recent_spread_is_noise_and_outside_it_a_regression() {
        // Recent p99s spread 20..30 ms: a 10 ms band.
        let h: Vec<HistoryEntry> = [20.0, 30.0, 25.0, 22.0]
            .iter()
            .enumerate()
            .map(|(i, p)| entry(&format!("r{i}"), &[], Some(*p)))
            .collect();
        let within = entry("b", &[], Some(31.0));
        let mut all = h.clone();
        all.push(within.clone());
        let c = compare(&run(&h[3]), &run(&within), &all);
        let p99 = c.latency.iter().find(|d| d.percentile == "p99").unwrap();
        assert_eq!(p99.movement, Movement::Noise, "{p99:?}");
        assert_eq!((p99.band_ms, p99.band_runs), (10.0, 4));
        assert!(!c.is_regression());

        let beyond = entry("b", &[], Some(40.0));
        all.pop();
        all.push(beyond.clone());
        let c = compare(&run(&h[3]), &run(&beyond), &all);
        let p99 = c.latency.iter().find(|d| d.percentile == "p99").unwrap();
        assert_eq!(p99.movement, Movement::Regression);
        assert!(c.is_regression());
        assert!(console_lines(&c).last().unwrap().starts_with("REGRESSION"));

        // No history: the relative minimum (10% of A) decides.
        let a = entry("a", &[], Some(20.0));
        let c = compare(&run(&a), &run(&entry("b", &[], Some(21.5))), &[]);
        assert_eq!(c.latency[1].movement, Movement::Noise);
        let c = compare(&run(&a), &run(&entry("b", &[], Some(15.0))), &[]);
        assert_eq!(c.latency[1].movement, Movement::Improvement);
    }

    #[test]
    fn runs_of_different_stacks_say_so() {
        let a = entry("a", &[], None);
        let mut b = entry("b", &[], None);
        b.stack = "broken-breaker".into();
        b.stack_digest = "sha256:bb".into();
        let c = compare(&run(&a), &run(&b), &[]);
        assert!(c.different_stacks && c.config_changed);
        let lines = console_lines(&c);
        assert!(
            lines[0].contains("different stacks (valueverse vs broken-breaker)"),
            "{lines:?}"
        );
        assert!(c.config_note.is_some());
    }
}
