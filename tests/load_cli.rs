//! `gauntlet load` as a user runs it: against a loopback server it prints the percentile table
//! and the achieved rate, and `--hlog` writes a log HdrHistogram's reader accepts; a remote
//! target is refused with exit 2.

mod support;

use std::process::Command;

use gauntlet::http::server::{bind_loopback, serve};
use support::*;

async fn run_gauntlet(args: Vec<String>) -> (i32, String, String) {
    let out = tokio::process::Command::new(gauntlet_bin())
        .args(&args)
        .current_dir(root())
        .output()
        .await
        .expect("run gauntlet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_prints_percentiles_and_writes_a_readable_interval_log() {
    let listener = bind_loopback(0).await.expect("listener");
    let server = serve(listener, |_req, _peer| async {
        http::Response::new(gauntlet::http::body::full("ok"))
    })
    .expect("server");
    let dir = tempfile::tempdir().expect("temp dir");
    let hlog = dir.path().join("run.hlog");
    let url = format!("http://{}/health", server.addr());
    let (code, stdout, stderr) = run_gauntlet(vec![
        "load".into(),
        url,
        "--rate".into(),
        "200".into(),
        "--requests".into(),
        "100".into(),
        "--connections".into(),
        "4".into(),
        "--hlog".into(),
        hlog.display().to_string(),
    ])
    .await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    for row in [
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "achieved rate",
        "200: 100",
    ] {
        assert!(stdout.contains(row), "no {row:?} in:\n{stdout}");
    }
    assert!(stdout.contains("success ratio 100.00%"), "{stdout}");
    let text = std::fs::read_to_string(&hlog).expect("the log was written");
    let (_, total) = gauntlet::load::hlog::read_total(&text).expect("the log parses");
    assert_eq!(total.len(), 100);
}

#[test]
fn load_refuses_a_target_that_is_not_loopback() {
    let out = Command::new(gauntlet_bin())
        .args(["load", "http://192.0.2.10/health", "--rate", "10"])
        .output()
        .expect("run gauntlet");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("only sends traffic to loopback"),
        "{stderr}"
    );
}

#[test]
fn load_with_nothing_listening_reports_connect_errors_and_exit_1() {
    let port = free_port();
    let out = Command::new(gauntlet_bin())
        .args([
            "load",
            &format!("http://127.0.0.1:{port}/"),
            "--requests",
            "3",
            "-c",
            "1",
        ])
        .output()
        .expect("run gauntlet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("errors: connect 3"), "{stdout}");
}
