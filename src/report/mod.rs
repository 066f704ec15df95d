//! Run reports (SPEC §10): one neutral model, one writer per format.
//!
//! ```text
//!   runner (cucumber events) ──builds──► RunReport ─┬─► html::render          ──► index.html
//!   each scenario's Evidence ─────────────┘         ├─► junit::render         ──► junit.xml
//!                                                   ├─► cucumber_json::render ──► cucumber.json
//!                                                   ├─► results_json::render  ──► results.json
//!                                                   └─► hlog texts            ──► histograms/*.hlog
//!   write_all(report, reports/<run-id>/)  then  refresh_latest(reports/, reports/<run-id>/)
//!   publish::publish = both, then history.jsonl (history.rs), --keep, reports/index.html (trend.rs)
//!   compare.rs: two runs' history lines + kept stack files ──► console table, compare.html
//! ```
//!
//! Redaction happens in one place ([`redact`]): the model keeps the stack's secrets in
//! [`RunReport::secrets`] (never serialised or printed), and every writer renders
//! [`RunReport::redacted`], so no secret, JWT or `Authorization` value reaches any output.

pub mod clauses;
pub mod compare;
pub mod compare_page;
pub mod cucumber_json;
pub mod diff;
pub mod evidence;
pub mod explain;
pub mod explore;
mod format;
pub mod history;
pub mod html;
pub mod invariants;
pub mod junit;
pub mod latency_time;
pub mod links;
pub mod model;
pub mod mutation;
pub mod mutation_page;
mod plot;
pub mod publish;
pub mod redact;
pub mod rerun;
pub mod results_json;
pub mod trend;
pub mod waterfall;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use clauses::{
    clause_ids, is_clause_id, is_clause_tag, scenario_anchor, ClauseDef, ClauseMatrix, ClauseRow,
    ClauseVerdict, ScenarioRef, UnknownClause,
};
pub use evidence::{
    BreakerState, BreakerTimeline, BreakerTransition, Evidence, JournalRecord, ServiceJournal,
};
pub use model::{
    Counts, Exchange, FeatureReport, HistogramReport, HttpRecord, HttpResponseRecord,
    LatencyObjective, PercentileValue, RunCounts, RunReport, ScenarioReport, Secrets, StackInfo,
    Status, StepReport, Verdict,
};
pub use redact::{redact_headers, redact_table, redact_text};

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write report file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot refresh the latest report at {}: {source}", path.display())]
    Latest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot serialise {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot render index.html: {0}")]
    Template(#[from] askama::Error),
    #[error("histogram log name {name:?} must be a plain file name (no directories)")]
    HistogramName { name: String },
}

/// Where [`write_all`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    pub dir: PathBuf,
    pub index_html: PathBuf,
    pub junit_xml: PathBuf,
    pub cucumber_json: PathBuf,
    pub results_json: PathBuf,
    /// The failed scenarios' locations, for `gauntlet run @.../rerun.txt`.
    pub rerun_txt: PathBuf,
    /// `histograms/<name>.hlog` files, one per histogram that carried a log.
    pub histograms: Vec<PathBuf>,
}

/// `YYYYMMDD-HHMMSS-<stack>` in UTC (`20261128-110343-valueverse`). Characters of the stack name
/// that do not belong in a directory name become `-`.
pub fn run_id(started: SystemTime, stack_name: &str) -> String {
    let stack: String = stack_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stack = stack.trim_matches('-');
    let stack = if stack.is_empty() { "stack" } else { stack };
    format!("{}-{stack}", format::compact_time(started))
}

/// Renders every format and writes them to `dir` (created if missing): `index.html`, `junit.xml`,
/// `cucumber.json`, `results.json`, `rerun.txt`, and `histograms/*.hlog` for histograms that
/// carry a log.
///
/// # Errors
/// A render error, a histogram log name that is not a plain file name, or an I/O error naming
/// the file. Everything is rendered before anything is written.
pub fn write_all(report: &RunReport, dir: &Path) -> Result<ReportPaths, ReportError> {
    let html = html::render(report)?;
    let junit = junit::render(report);
    let cucumber = cucumber_json::render(report)?;
    let results = results_json::render(report)?;
    let rerun = rerun::render(report);
    let mut logs = Vec::new();
    for h in report.histograms() {
        if let (Some(name), Some(text)) = (&h.hlog_file, &h.hlog) {
            if !is_plain_file_name(name) {
                return Err(ReportError::HistogramName { name: name.clone() });
            }
            logs.push((name.as_str(), text.as_str()));
        }
    }

    create_dir(dir)?;
    let paths = ReportPaths {
        dir: dir.to_path_buf(),
        index_html: write(dir.join("index.html"), &html)?,
        junit_xml: write(dir.join("junit.xml"), &junit)?,
        cucumber_json: write(dir.join("cucumber.json"), &cucumber)?,
        results_json: write(dir.join("results.json"), &results)?,
        rerun_txt: write(dir.join("rerun.txt"), &rerun)?,
        histograms: if logs.is_empty() {
            Vec::new()
        } else {
            let hist_dir = dir.join("histograms");
            create_dir(&hist_dir)?;
            let mut written = Vec::new();
            for (name, text) in logs {
                written.push(write(hist_dir.join(name), text)?);
            }
            written
        },
    };
    Ok(paths)
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && Path::new(name).file_name().is_some_and(|f| f == name)
}

fn create_dir(dir: &Path) -> Result<(), ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

fn write(path: PathBuf, contents: &str) -> Result<PathBuf, ReportError> {
    match fs::write(&path, contents) {
        Ok(()) => Ok(path),
        Err(source) => Err(ReportError::Write { path, source }),
    }
}

/// Makes `report_root/latest` a copy of `run_dir` (a copy, not a symlink, so CI artifact
/// uploaders and Windows see real files).
///
/// The copy is built beside it under a temporary name and swapped in with renames, so a reader
/// sees either the previous complete report or the new one, never a half-copied directory (the
/// swap itself is two renames, so there is an instant where `latest` is absent).
///
/// # Errors
/// I/O errors naming the path; `run_dir` being `latest` itself is refused.
pub fn refresh_latest(report_root: &Path, run_dir: &Path) -> Result<(), ReportError> {
    let latest = report_root.join("latest");
    let latest_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Latest { path, source }
    };
    if let (Ok(a), Ok(b)) = (fs::canonicalize(run_dir), fs::canonicalize(&latest)) {
        if a == b {
            return Err(ReportError::Latest {
                path: latest,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the run directory is the latest directory itself",
                ),
            });
        }
    }
    let pid = std::process::id();
    let staging = report_root.join(format!(".latest.new-{pid}"));
    let retired = report_root.join(format!(".latest.old-{pid}"));
    for leftover in [&staging, &retired] {
        remove_any(leftover).map_err(latest_err(leftover))?;
    }

    copy_dir(run_dir, &staging)?;
    match fs::symlink_metadata(&latest) {
        Ok(_) => fs::rename(&latest, &retired).map_err(latest_err(&latest))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(latest_err(&latest)(e)),
    }
    fs::rename(&staging, &latest).map_err(latest_err(&latest))?;
    remove_any(&retired).map_err(latest_err(&retired))?;
    Ok(())
}

/// Removes a file, symlink or directory tree; absent is fine.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), ReportError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Latest { path, source }
    };
    fs::create_dir_all(to).map_err(err(to))?;
    for entry in fs::read_dir(from).map_err(err(from))? {
        let entry = entry.map_err(err(from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        if fs::metadata(&source).map_err(err(&source))?.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            fs::copy(&source, &target).map_err(err(&source))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn run_id_is_utc_time_then_a_directory_safe_stack_name() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_863_823);
        assert_eq!(run_id(t, "valueverse"), "20261128-110343-valueverse");
        assert_eq!(
            run_id(t, "../broken breaker"),
            "20261128-110343-broken-breaker"
        );
        assert_eq!(run_id(t, "//"), "20261128-110343-stack");
    }

    #[test]
    fn histogram_log_names_must_not_escape_the_directory() {
        assert!(is_plain_file_name("load.hlog"));
        assert!(!is_plain_file_name("../load.hlog"));
        assert!(!is_plain_file_name("a/b.hlog"));
        assert!(!is_plain_file_name(".."));
        assert!(!is_plain_file_name(""));
    }

    #[test]
    fn refresh_latest_replaces_the_previous_copy() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let first = root.path().join("run-1");
        let second = root.path().join("run-2");
        fs::create_dir_all(first.join("histograms"))?;
        fs::write(first.join("index.html"), "one")?;
        fs::write(first.join("histograms/a.hlog"), "a")?;
        fs::create_dir_all(&second)?;
        fs::write(second.join("index.html"), "two")?;

        refresh_latest(root.path(), &first)?;
        let latest = root.path().join("latest");
        assert_eq!(fs::read_to_string(latest.join("histograms/a.hlog"))?, "a");
        refresh_latest(root.path(), &second)?;
        assert_eq!(fs::read_to_string(latest.join("index.html"))?, "two");
        assert!(!latest.join("histograms").exists());
        let names: Vec<_> = fs::read_dir(root.path())?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        assert!(names.iter().all(|n| !n.starts_with(".latest")), "{names:?}");
        assert!(refresh_latest(root.path(), &latest).is_err());
        Ok(())
    }
}
