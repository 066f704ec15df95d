//! Reports over time (SPEC §10, issue 13): one line per run in `reports/history.jsonl`, read back
//! for the history index (`trend.rs`), `gauntlet compare` and flaky detection; and the retention
//! of run directories (`--keep N`).
//!
//! ```text
//!   RunReport + Provenance ──entry()──► HistoryEntry ──append()──► reports/history.jsonl
//!   reports/history.jsonl ──load()──► (entries oldest first, warnings for corrupt lines)
//!   reports/<run-id>/ … ──prune(keep)──► the newest `keep` run directories (history is kept)
//! ```
//!
//! A corrupt or truncated line (a run killed while appending, a hand edit) is skipped with a
//! warning naming the file and line: never fatal, never lost silently. Every field added later
//! must have a serde default so old lines keep parsing.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::clauses::ClauseVerdict;
use super::format::{millis, rfc3339};
use super::model::{RunReport, Status};

/// The history file's name under the report root.
pub const HISTORY_FILE: &str = "history.jsonl";
/// `--keep` when not given: run directories kept under the report root.
pub const DEFAULT_KEEP: usize = 30;

/// Where a run came from, beyond the report itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// Gauntlet's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// `git rev-parse HEAD` of the working directory, when it is a repository.
    pub git_commit: Option<String>,
    /// [`stack_digest`] of the stack directory.
    pub stack_digest: String,
}

impl Provenance {
    /// The provenance of a run from the current directory against `stack_dir`.
    pub fn current(stack_dir: &Path) -> Provenance {
        Provenance {
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: git_commit(),
            stack_digest: stack_digest(stack_dir).unwrap_or_default(),
        }
    }
}

/// One run, as one JSON line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub run_id: String,
    /// RFC 3339 start time.
    pub started_at: String,
    #[serde(default)]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    pub stack: String,
    /// `sha256:<hex>` of the stack directory's files ([`stack_digest`]).
    #[serde(default)]
    pub stack_digest: String,
    /// `passed` or `failed`.
    pub verdict: String,
    pub duration_ms: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub passed: usize,
    #[serde(default)]
    pub failed: usize,
    #[serde(default)]
    pub skipped: usize,
    #[serde(default)]
    pub undefined: usize,
    /// Clause id → `passed`, `failed` or `uncovered`.
    #[serde(default)]
    pub clauses: BTreeMap<String, String>,
    /// Histogram name → its percentiles.
    #[serde(default)]
    pub histograms: BTreeMap<String, HistogramPoint>,
    /// `path:line name` → the statuses the scenario ended with in this run (more than one with
    /// `--repeat`), for flaky detection.
    #[serde(default)]
    pub scenarios: BTreeMap<String, Vec<Status>>,
}

/// One histogram's summary in one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistogramPoint {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `path:line name`, the key of a scenario across runs.
pub fn scenario_id(feature_path: &str, line: usize, name: &str) -> String {
    format!("{feature_path}:{line} {name}")
}

/// The history line of `report` (redacted: names and histogram labels may quote a secret).
pub fn entry(report: &RunReport, provenance: &Provenance) -> HistoryEntry {
    let report = report.redacted();
    let counts = report.scenario_counts();
    let clauses = report
        .clause_matrix()
        .rows
        .into_iter()
        .map(|row| {
            let verdict = match row.verdict {
                ClauseVerdict::Passed => "passed",
                ClauseVerdict::Failed => "failed",
                ClauseVerdict::Uncovered => "uncovered",
            };
            (row.id, verdict.to_string())
        })
        .collect();
    let histograms = report
        .histograms()
        .map(|h| {
            let at = |p: f64| {
                h.percentiles
                    .iter()
                    .find(|v| v.percentile >= p)
                    .map_or(h.max_ms, |v| v.value_ms)
            };
            let point = HistogramPoint {
                count: h.count,
                p50_ms: at(50.0),
                p99_ms: at(99.0),
                max_ms: h.max_ms,
            };
            (h.name.clone(), point)
        })
        .collect();
    let mut scenarios: BTreeMap<String, Vec<Status>> = BTreeMap::new();
    for feature in &report.features {
        for s in &feature.scenarios {
            let statuses = scenarios
                .entry(scenario_id(&feature.path, s.line, &s.name))
                .or_default();
            if s.repeats.is_empty() {
                statuses.push(s.status);
            } else {
                statuses.extend(&s.repeats);
            }
        }
    }
    HistoryEntry {
        run_id: report.run_id.clone(),
        started_at: rfc3339(report.started_at),
        version: provenance.version.clone(),
        git_commit: provenance.git_commit.clone(),
        stack: report.stack.name.clone(),
        stack_digest: provenance.stack_digest.clone(),
        verdict: report.verdict().as_str().to_string(),
        duration_ms: millis(report.duration),
        seed: report.seed,
        passed: counts.passed,
        failed: counts.failed,
        skipped: counts.skipped,
        undefined: counts.undefined,
        clauses,
        histograms,
        scenarios,
    }
}

/// A problem reading or writing the history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot serialise the history entry: {0}")]
    Json(#[from] serde_json::Error),
}

/// Appends `entry` as one line to `root/history.jsonl` (created if missing). A previous line
/// left without its newline (a killed run) is terminated first, so this line stays readable.
///
/// # Errors
/// I/O errors naming the file.
pub fn append(root: &Path, entry: &HistoryEntry) -> Result<PathBuf, HistoryError> {
    let path = root.join(HISTORY_FILE);
    let line = serde_json::to_string(entry)?;
    let write_err = |source| HistoryError::Write {
        path: path.clone(),
        source,
    };
    let needs_newline = match fs::read(&path) {
        Ok(bytes) => bytes.last().is_some_and(|b| *b != b'\n'),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(write_err(e)),
    };
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(write_err)?;
    let text = format!("{}{line}\n", if needs_newline { "\n" } else { "" });
    file.write_all(text.as_bytes()).map_err(write_err)?;
    Ok(path)
}

/// The runs of `root/history.jsonl`, oldest first, and one warning per line that could not be
/// read (`reports/history.jsonl:7: skipped a corrupt line: ...`). A missing file is an empty
/// history.
///
/// # Errors
/// The file exists but cannot be read.
pub fn load(root: &Path) -> Result<(Vec<HistoryEntry>, Vec<String>), HistoryError> {
    let path = root.join(HISTORY_FILE);
    let text = match fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(source) => return Err(HistoryError::Read { path, source }),
    };
    Ok(parse(&text, &path.display().to_string()))
}

/// [`load`] on text already read; `name` is used in the warnings.
pub fn parse(text: &str, name: &str) -> (Vec<HistoryEntry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<HistoryEntry>(line) {
            Ok(entry) => entries.push(entry),
            Err(e) => warnings.push(format!(
                "{name}:{}: skipped a corrupt or truncated line: {e}",
                i + 1
            )),
        }
    }
    (entries, warnings)
}

/// `sha256:<hex>` over the stack directory's files (relative path and contents, in path order),
/// so two runs on the same stack files have the same digest wherever the directory lives.
///
/// # Errors
/// The directory or one of its files cannot be read.
pub fn stack_digest(dir: &Path) -> io::Result<String> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for relative in &files {
        let bytes = fs::read(dir.join(relative))?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}

/// The stack's files as `(relative path, path)`, in path order (`kong.yml`, `stack.yml`, ...).
pub fn stack_files(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    Ok(files
        .into_iter()
        .map(|r| (r.clone(), dir.join(r)))
        .collect())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// `git rev-parse HEAD` in the current directory, when git is installed and this is a repository.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !commit.is_empty()).then_some(commit)
}

/// Whether `name` is shaped like a run id (`20261128-110343-valueverse`).
pub fn is_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
}

/// `run_id`, or `run_id-2`, `run_id-3`, ... when a run directory of that name already exists
/// under `root` or the history already records one (two runs in the same second on the same
/// stack, also when `--keep` has removed the earlier run's directory).
pub fn unique_run_id(root: &Path, run_id: &str) -> String {
    let history = fs::read_to_string(root.join(HISTORY_FILE)).unwrap_or_default();
    let taken =
        |id: &str| root.join(id).exists() || history.contains(&format!("\"run_id\":\"{id}\""));
    let mut candidate = run_id.to_string();
    let mut n = 2;
    while taken(&candidate) {
        candidate = format!("{run_id}-{n}");
        n += 1;
    }
    candidate
}

/// The run directories under `root`, oldest first: directories named like a run id that hold a
/// `results.json` (nothing else is ever touched).
pub fn run_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = match fs::read_dir(root) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| is_run_id(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .filter(|p| p.join("results.json").is_file())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    dirs.sort();
    Ok(dirs)
}

/// Removes all but the newest `keep` run directories under `root` (`--keep N`; the history
/// file and `latest/` stay). Returns the removed directories.
///
/// # Errors
/// I/O errors naming the directory.
pub fn prune(root: &Path, keep: usize) -> Result<Vec<PathBuf>, HistoryError> {
    let dirs = run_dirs(root).map_err(|source| HistoryError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let excess = dirs.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for dir in dirs.into_iter().take(excess) {
        fs::remove_dir_all(&dir).map_err(|source| HistoryError::Write {
            path: dir.clone(),
            source,
        })?;
        removed.push(dir);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_named(run_id: &str, verdict: &str) -> HistoryEntry {
        HistoryEntry {
            run_id: run_id.into(),
            started_at: "2026-11-28T11:03:43Z".into(),
            version: "0.1.0".into(),
            git_commit: None,
            stack: "valueverse".into(),
            stack_digest: "sha256:00".into(),
            verdict: verdict.into(),
            duration_ms: 1.0,
            seed: 1,
            passed: 1,
            failed: 0,
            skipped: 0,
            undefined: 0,
            clauses: BTreeMap::new(),
            histograms: BTreeMap::new(),
            scenarios: BTreeMap::new(),
        }
    }

    #[test]
    fn corrupt_and_truncated_lines_are_skipped_with_a_warning_naming_the_line() {
        let good = serde_json::to_string(&entry_named("20261128-110343-v", "passed")).unwrap();
        let text = format!("{good}\nnot json\n\n{good}\n{}", &good[..good.len() / 2]);
        let (entries, warnings) = parse(&text, "reports/history.jsonl");
        assert_eq!(entries.len(), 2);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("reports/history.jsonl:2: "),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("reports/history.jsonl:5: "),
            "{warnings:?}"
        );
    }

    #[test]
    fn append_terminates_a_truncated_last_line_before_writing(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        fs::write(root.path().join(HISTORY_FILE), "{\"run_id\": \"trunc")?;
        append(root.path(), &entry_named("20261128-110343-v", "failed"))?;
        let (entries, warnings) = load(root.path())?;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].verdict, "failed");
        assert_eq!(warnings.len(), 1);
        Ok(())
    }

    #[test]
    fn the_stack_digest_follows_contents_not_location() -> Result<(), Box<dyn std::error::Error>> {
        let a = tempfile::tempdir()?;
        let b = tempfile::tempdir()?;
        for dir in [a.path(), b.path()] {
            fs::write(dir.join("kong.yml"), "_format_version: \"3.0\"\n")?;
            fs::write(dir.join("stack.yml"), "services: {}\n")?;
        }
        assert_eq!(stack_digest(a.path())?, stack_digest(b.path())?);
        fs::write(b.path().join("kong.yml"), "_format_version: \"3.1\"\n")?;
        assert_ne!(stack_digest(a.path())?, stack_digest(b.path())?);
        assert!(stack_digest(a.path())?.starts_with("sha256:"));
        Ok(())
    }

    #[test]
    fn prune_keeps_the_newest_run_directories_and_nothing_else_is_touched(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        for id in [
            "20261128-110343-v",
            "20261129-110343-v",
            "20261130-110343-v",
        ] {
            fs::create_dir_all(root.path().join(id))?;
            fs::write(root.path().join(id).join("results.json"), "{}")?;
        }
        fs::create_dir_all(root.path().join("latest"))?;
        fs::create_dir_all(root.path().join("20261127-110343-notes"))?;
        fs::write(root.path().join(HISTORY_FILE), "")?;
        let removed = prune(root.path(), 2)?;
        assert_eq!(removed, [root.path().join("20261128-110343-v")]);
        assert!(root.path().join("20261130-110343-v").exists());
        assert!(root.path().join("latest").exists());
        assert!(root.path().join("20261127-110343-notes").exists());
        assert!(root.path().join(HISTORY_FILE).exists());
        Ok(())
    }

    #[test]
    fn a_second_run_in_the_same_second_gets_its_own_directory(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let id = "20261128-110343-v";
        assert_eq!(unique_run_id(root.path(), id), id);
        fs::create_dir_all(root.path().join(id))?;
        assert_eq!(unique_run_id(root.path(), id), "20261128-110343-v-2");
        Ok(())
    }

    #[test]
    fn run_ids_are_recognised() {
        assert!(is_run_id("20261128-110343-valueverse"));
        assert!(!is_run_id("latest"));
        assert!(!is_run_id("20261128-110343-"));
    }
}
