//! Publishing a finished run under the report root: the run's directory, `latest/`, one line of
//! `history.jsonl`, retention (`--keep`) and the history index.
//!
//! ```text
//!   RunReport ──write_all──► <root>/<run-id>/ (+ summary.json, stack/) ──refresh_latest──► <root>/latest/
//!            └─history::entry──► <root>/history.jsonl ──prune(keep)──► trend::write_index ──► <root>/index.html
//! ```
//!
//! Writing reports never changes a run's verdict: every step is attempted, and what failed is
//! returned as a message for the console (the exit code still reflects the scenarios).

use std::path::{Path, PathBuf};

use super::history::{self, Provenance};
use super::model::RunReport;
use super::{compare, refresh_latest, trend, write_all};

/// What [`publish`] did.
#[derive(Debug, Default)]
pub struct Published {
    /// `<root>/<run-id>/`, when it was written.
    pub run_dir: Option<PathBuf>,
    /// `<root>/index.html`, when it was written.
    pub index: Option<PathBuf>,
    /// Problems that did not stop the rest (`reports/history.jsonl:7: skipped a corrupt line`).
    pub warnings: Vec<String>,
    /// Files that could not be written.
    pub errors: Vec<String>,
}

/// Writes `report` under `root` and updates the history; keeps the newest `keep` run directories.
pub fn publish(report: &RunReport, root: &Path, provenance: &Provenance, keep: usize) -> Published {
    let mut out = Published::default();
    let dir = root.join(&report.run_id);
    let entry = history::entry(report, provenance);
    match write_all(report, &dir) {
        Ok(_) => {
            // What `gauntlet compare <dir>` reads: the run's history line and its stack files.
            let files = report.redacted().explain.files;
            if let Err(e) = compare::write_run_files(&dir, &entry, &files) {
                out.errors.push(e.to_string());
            }
            if let Err(e) = refresh_latest(root, &dir) {
                out.errors.push(e.to_string());
            }
            out.run_dir = Some(dir);
        }
        Err(e) => out.errors.push(e.to_string()),
    }
    if let Err(e) = history::append(root, &entry) {
        out.errors.push(e.to_string());
    }
    match history::prune(root, keep.max(1)) {
        Ok(_) => {}
        Err(e) => out.errors.push(e.to_string()),
    }
    match trend::write_index(root) {
        Ok((path, warnings)) => {
            out.index = Some(path);
            out.warnings.extend(warnings);
        }
        Err(e) => out.errors.push(e.to_string()),
    }
    out
}
