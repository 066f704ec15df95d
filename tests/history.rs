//! Reports over time (SPEC §10, issue 13) through the real binary: every run appends one line to
//! `history.jsonl`, `--keep` removes old run directories but never history, the history index
//! lists every run newest first, and a corrupt history line is skipped with a warning naming it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(reports: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args([
            "run",
            "features/auth/token_lifetime.feature:22",
            "--report-dir",
        ])
        .arg(reports)
        .args(extra)
        .current_dir(root())
        .output()
        .expect("run gauntlet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_dirs(reports: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("20"))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn runs_append_history_keep_n_directories_and_skip_corrupt_lines() {
    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(reports.path(), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let history = reports.path().join("history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    assert_eq!(text.lines().count(), 1);
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for field in [
        "run_id",
        "started_at",
        "version",
        "stack",
        "stack_digest",
        "verdict",
        "duration_ms",
        "clauses",
        "histograms",
        "scenarios",
    ] {
        assert!(line.get(field).is_some(), "{field} in {line}");
    }
    assert_eq!(line["verdict"], "passed");
    assert_eq!(line["clauses"]["AUTH-4"], "passed");
    assert!(line["stack_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        line["scenarios"]
            ["features/auth/token_lifetime.feature:22 A token stops working the moment it expires"],
        serde_json::json!(["passed"]),
        "{line}"
    );

    // A truncated line (a killed run) is skipped with a warning naming it, never fatal.
    std::fs::write(&history, format!("{text}{{\"run_id\": \"20261128-11")).unwrap();
    let (code, stdout, stderr) = run(reports.path(), &["--keep", "1"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("history.jsonl:2: skipped a corrupt or truncated line"),
        "{stderr}"
    );
    let (code, _, stderr) = run(reports.path(), &["--keep", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&history).unwrap();
    assert_eq!(
        text.lines().count(),
        4,
        "three runs and the corrupt line: {text}"
    );
    assert_eq!(run_dirs(reports.path()).len(), 1, "--keep 1");

    let index = std::fs::read_to_string(reports.path().join("index.html")).unwrap();
    let ids: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    let positions: Vec<usize> = ids
        .iter()
        // `{id}</`: the id as a whole, not as the prefix of a same-second run's `{id}-2`.
        .map(|id| index.find(&format!("{id}</")).unwrap())
        .collect();
    assert!(
        positions[2] < positions[0],
        "newest first: {ids:?} at {positions:?}"
    );
    let kept = &run_dirs(reports.path())[0];
    assert!(index.contains(&format!("href=\"{kept}/index.html\"")));
    assert!(index.contains("Clause verdicts across runs"));

    let (code, _, stderr) = run(reports.path(), &["--keep", "0"]);
    assert_eq!(code, 2, "{stderr}");
}
