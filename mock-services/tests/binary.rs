//! The `mock-service` binary: it announces its address, serves, and refuses non-loopback hosts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mock-service");

/// Kills the child when a test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("read: {e}"));
    response
}

/// Runs the binary with `args` and returns it with the address it announced.
fn run_announced(args: &[&str]) -> (Running, String) {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    let mut child = Running(child);
    let stdout = child.0.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("read stdout: {e}"));
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    (child, addr)
}

/// Writes `request` on a fresh connection and reads until the server closes it.
fn exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("timeout: {e}"));
    stream
        .write_all(request)
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .unwrap_or_else(|e| panic!("read: {e}"));
    response
}

#[test]
fn prints_its_address_and_serves_health() {
    let (_child, addr) = run_announced(&[
        "value-committer",
        "--port",
        "0",
        "--architect-url",
        "http://127.0.0.1:9",
    ]);
    let addr = addr.as_str();

    let response = get(addr, "/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with(r#"{"status":"UP","service":"value-committer"}"#),
        "{response}"
    );
}

#[test]
fn refuses_a_non_loopback_host_with_exit_code_2() {
    let output = Command::new(BIN)
        .args(["value-architect", "--port", "0", "--host", "0.0.0.0"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("non-loopback host 0.0.0.0"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn refuses_an_unusable_upstream_url_with_exit_code_2() {
    let output = Command::new(BIN)
        .args([
            "value-committer",
            "--port",
            "0",
            "--architect-url",
            "https://x:1",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid architect_url `https://x:1`"),
        "{stderr}"
    );
}

#[test]
fn rejects_an_unknown_service_name() {
    let output = Command::new(BIN)
        .args(["value-auditor", "--port", "0"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("value-architect, value-committer, postgres or redis"),
        "{stderr}"
    );
}

#[test]
fn serves_redis_answering_pipelined_commands() {
    let (_child, addr) = run_announced(&["redis", "--port", "0"]);
    let replies = exchange(&addr, b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nQUIT\r\n");
    assert_eq!(
        String::from_utf8_lossy(&replies),
        "+PONG\r\n$2\r\nhi\r\n+OK\r\n"
    );
}

#[test]
fn serves_postgres_echoing_bytes() {
    let (_child, addr) = run_announced(&["postgres", "--port", "0"]);
    let mut stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("timeout: {e}"));
    stream
        .write_all(b"\x00\x03SELECT 1")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut echoed = [0u8; 10];
    stream
        .read_exact(&mut echoed)
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(&echoed, b"\x00\x03SELECT 1");
}
