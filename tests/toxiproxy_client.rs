//! Toxiproxy's own published Python client (`toxiproxy-python` from PyPI, installed by `.ci/run`)
//! drives a running stack through the control port (SPEC §7.1): `tests/toxiproxy_client/drive.py`
//! lists the stack's links, adds, reads, removes and resets toxics, takes a link down, makes an
//! extra proxy to a process outside the stack, and checks what each call does to traffic (a 502,
//! a slower route, a refused port, cut bytes) and that errors map to the client's exceptions.
//!
//! Without the client installed the test is skipped with a notice, unless
//! GAUNTLET_REQUIRE_TOXIPROXY_CLIENT is set (CI sets it).

mod support;

use std::process::Command;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The checks drive.py prints, in order; all must pass.
const CHECKS: [&str; 6] = [
    "version",
    "proxies lists the stack's links",
    "reset_peer makes the route fail and removing it heals it",
    "latency slows the route by its amount and reset removes it",
    "a disabled link refuses until enabled",
    "an extra proxy carries bytes, limit_data cuts them, disable refuses",
];

fn client_installed() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import toxiproxy"])
        .output();
    match probe {
        Ok(out) if out.status.success() => true,
        other if std::env::var_os("GAUNTLET_REQUIRE_TOXIPROXY_CLIENT").is_none() => {
            eprintln!(
                "notice: toxiproxy-python not available ({other:?}); skipping \
                 (pip install toxiproxy-python==0.1.1)"
            );
            false
        }
        other => panic!(
            "toxiproxy-python is required (GAUNTLET_REQUIRE_TOXIPROXY_CLIENT is set): {other:?}"
        ),
    }
}

/// A loopback echo server: every connection gets its bytes back until it closes its side.
async fn echo_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_python_drives_the_links_and_traffic_follows() {
    if !client_installed() {
        return;
    }
    let stack = valueverse().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let control = gauntlet::http::server::serve_router(
        listener,
        gauntlet::api::control::router(stack.control_target()),
    )
    .expect("control API");
    let echo = echo_server().await;
    let script = root().join("tests/toxiproxy_client/drive.py");
    let args = vec![
        script.display().to_string(),
        "--api".to_string(),
        control.addr().to_string(),
        "--gateway".to_string(),
        stack.proxy_url(),
        "--authorization".to_string(),
        bearer(&stack, "admin-user"),
        "--echo".to_string(),
        echo.to_string(),
    ];
    // The client is blocking; the stack keeps serving on the runtime's workers meanwhile.
    let out = tokio::task::spawn_blocking(move || Command::new("python3").args(&args).output())
        .await
        .expect("join")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drive.py failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for check in CHECKS {
        assert!(
            stdout.lines().any(|line| line == format!("ok {check}")),
            "check {check:?} did not pass\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(
        stdout.contains("ok errors map to the client's exceptions"),
        "{stdout}"
    );
}
