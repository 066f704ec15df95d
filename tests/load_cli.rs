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
    // Failed connects are not latencies: no percentiles of them.
    assert!(
        stdout.contains("no responses: nothing to measure"),
        "{stdout}"
    );
    assert!(!stdout.contains("p99.9"), "{stdout}");
}

/// A loopback server answering every request with `status` after `delay`.
async fn answering(
    status: u16,
    delay: std::time::Duration,
) -> gauntlet::http::server::ServerHandle {
    let listener = bind_loopback(0).await.expect("listener");
    serve(listener, move |_req, _peer| async move {
        tokio::time::sleep(delay).await;
        let mut response = http::Response::new(gauntlet::http::body::full("{}"));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        response
    })
    .expect("server")
}

/// The run: every request refused with 401 (an expired token) is a failed run, not
/// "success ratio 100%", unless the run says it expects 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_401s_fails_unless_401_is_expected() {
    let server = answering(401, std::time::Duration::ZERO).await;
    let url = format!("http://{}/api/v1/value-models", server.addr());
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = ["load", &url, "--rate", "200", "--requests", "30"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let (code, stdout, _) = run_gauntlet(args(&[])).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("outcomes      401: 30"), "{stdout}");
    assert!(
        stdout.contains("success ratio 0.00% (0 of 30 got 2xx, 3xx)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("BREACHED error ratio <= 0.00%: 100.00%"),
        "{stdout}"
    );
    let (code, stdout, _) = run_gauntlet(args(&["--expect", "401"])).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("success ratio 100.00% (30 of 30 got 401)"),
        "{stdout}"
    );
    let (code, stdout, _) = run_gauntlet(args(&["--max-error-ratio", "100%"])).await;
    assert_eq!(code, 0, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_threshold_breached_exits_1_and_one_met_exits_0() {
    let server = answering(200, std::time::Duration::from_millis(20)).await;
    let url = format!("http://{}/health", server.addr());
    let run = |threshold: &str| {
        run_gauntlet(
            [
                "load",
                &url,
                "--rate",
                "100",
                "--requests",
                "20",
                "--threshold",
                threshold,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        )
    };
    let (code, stdout, _) = run("p99<5ms").await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("BREACHED p99<5ms"), "{stdout}");
    let (code, stdout, _) = run("p(99)<5000").await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("all 2 checks held"), "{stdout}");
    let (code, _, stderr) = run("p99 fast").await;
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a threshold"), "{stderr}");
}
