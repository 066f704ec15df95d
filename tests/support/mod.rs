//! Shared support for the integration tests: temporary stacks on free ports, the gauntlet
//! binary as a child process, and an HTTP client.

#![allow(dead_code)] // each test binary uses a different part

pub mod chromium;
pub mod engine;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use gauntlet::http::client::{HttpClient, OutgoingRequest, ReceivedResponse};

/// Path of the built `gauntlet` binary.
pub fn gauntlet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gauntlet")
}

/// The repository root (tests run there, but be explicit).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free loopback ports below Linux's ephemeral range (32768–60999), so that the
/// stacks other tests start on ephemeral ports meanwhile can never take one of them. Every
/// listener is held until all are chosen, so no port is handed out twice.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    while held.len() < n {
        let port = reserve(1);
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    held.iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// The next `n` ports of this test binary's walk, taken at once: tests that run concurrently in
/// one binary never interleave within a block.
fn reserve(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Spread the tests of different binaries apart; within one binary, walk upwards.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    if NEXT.load(Ordering::Relaxed) == 0 {
        let spread = u16::try_from(std::process::id() % 400).unwrap_or(0) * 25;
        let _ = NEXT.compare_exchange(0, 20_000 + spread, Ordering::Relaxed, Ordering::Relaxed);
    }
    let first = NEXT.fetch_add(n, Ordering::Relaxed);
    assert!(first + n <= 32_000, "ran out of fixed test ports");
    first
}

/// The first of `n` consecutive free loopback ports (the sidecar admin ports are a base + i):
/// a block of the walk whose every port binds.
pub fn free_consecutive(n: u16) -> u16 {
    for _ in 0..100 {
        let first = reserve(n);
        let bound: Vec<_> = (first..first + n)
            .map_while(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok())
            .collect();
        if bound.len() == usize::from(n) {
            return first;
        }
    }
    panic!("no {n} consecutive free loopback ports");
}

/// A copy of `scenarios/<name>` in a temp dir whose stack.yml uses free fixed ports.
pub fn stack_on_free_ports(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let stack = dir.path().join(name);
    std::fs::create_dir_all(&stack).expect("stack dir");
    let source = root().join("scenarios").join(name);
    std::fs::copy(source.join("kong.yml"), stack.join("kong.yml")).expect("copy kong.yml");
    for intentions in ["intentions.hcl", "intentions.json"] {
        if source.join(intentions).is_file() {
            std::fs::copy(source.join(intentions), stack.join(intentions))
                .expect("copy the intentions");
        }
    }
    let original = std::fs::read_to_string(source.join("stack.yml")).expect("read stack.yml");
    let ports_at = original.find("\nports:").expect("stack.yml has ports");
    let p = free_ports(10);
    // Every service of the stack gets a free port (postgres and redis too, not 9003/9004), and
    // the three upstream listeners (value-committer's) consecutive ones; the sections before
    // `ports:` (services, `mesh:`) are kept as they are.
    let ports = format!(
        "\nports:\n  gateway_proxy: {}\n  gateway_admin: {}\n  catalog: {}\n  control: {}\n  sidecar_admin_base: {}\n  upstream_base: {}\n  services:\n    value-architect: {}\n    value-committer: {}\n    postgres: {}\n    redis: {}\n",
        p[0], p[1], p[2], p[3], free_consecutive(4), free_consecutive(3), p[5], p[6], p[8], p[9]
    );
    let text = original[..ports_at].to_string() + &ports;
    std::fs::write(stack.join("stack.yml"), text).expect("write stack.yml");
    (dir, stack)
}

/// A child process killed when dropped, so a failing assertion never leaves it running (and
/// holding the test harness's output pipe).
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `gauntlet up --json` on `stack`; returns the child and the JSON summary it printed.
/// The mesh certificates go to `certs` beside the stack folder (see [`certs_dir`]).
pub fn gauntlet_up(stack: &Path) -> (ChildGuard, serde_json::Value) {
    gauntlet_up_with(stack, &[])
}

/// [`gauntlet_up`] with more arguments.
pub fn gauntlet_up_with(stack: &Path, args: &[&str]) -> (ChildGuard, serde_json::Value) {
    let mut child = Command::new(gauntlet_bin())
        .args(["up", "--json", "--stack"])
        .arg(stack)
        .arg("--certs-dir")
        .arg(certs_dir(stack))
        .args(args)
        // Hermetic: a token set for the machine's own stacks must not guard the test's.
        .env_remove("GAUNTLET_API_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn gauntlet up");
    let stdout = child.stdout.take().expect("stdout");
    let mut child = ChildGuard(child);
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut line).expect("read the summary line");
    // Kept open, so what `up` prints later (fresh tokens after a clock jump) can be read, and
    // never meets a closed pipe. The summary was all it had printed.
    child.0.stdout = Some(reader.into_inner());
    let summary =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("up --json printed {line:?}: {e}"));
    (child, summary)
}

/// Where [`gauntlet_up`] has the mesh certificates written: `certs/` beside the stack folder.
pub fn certs_dir(stack: &Path) -> PathBuf {
    stack.parent().unwrap_or(stack).join("certs")
}

/// Sends SIGINT (Ctrl-C) to a child and waits for it.
pub fn interrupt(child: &mut ChildGuard) -> std::process::ExitStatus {
    send_signal(child, "INT")
}

/// Sends a signal (`INT`, `TERM`, `HUP`) to a child and waits for it.
pub fn send_signal(child: &mut ChildGuard, signal: &str) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &child.0.id().to_string()])
        .status();
    child.0.wait().expect("wait for child")
}

/// The valueverse stack, in-process on ephemeral ports.
pub async fn valueverse() -> gauntlet::stack::Stack {
    let def = gauntlet::config::StackDef::load(&root().join("scenarios/valueverse"))
        .expect("valueverse loads");
    gauntlet::stack::Stack::start(
        std::sync::Arc::new(def),
        gauntlet::stack::PortPlan::Ephemeral,
        1,
    )
    .await
    .expect("stack starts")
}

pub async fn get(url: &str, headers: &[(&str, &str)]) -> ReceivedResponse {
    send(http::Method::GET, url, headers, None).await
}

pub async fn send(
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> ReceivedResponse {
    let mut request = OutgoingRequest::new(method, url);
    for (name, value) in headers {
        request = request.header(name, value).expect("valid header");
    }
    if let Some(body) = body {
        request = request.json_body(&body);
    }
    HttpClient::default()
        .send(&request)
        .await
        .expect("a response")
}

/// `Bearer <token>` for `consumer` of the stack, valid for an hour of stack time.
pub fn bearer(stack: &gauntlet::stack::Stack, consumer: &str) -> String {
    let (_, c) = stack
        .def
        .gateway
        .consumer_by_name(consumer)
        .expect("a consumer of the stack");
    let credential = c.jwt_secrets.first().expect("a jwt credential");
    let token = gauntlet::token::issue(
        &credential.key,
        &credential.secret,
        stack.clock.unix_seconds(),
        std::time::Duration::from_secs(3600),
    );
    format!("Bearer {token}")
}

/// Held by every test that starts `gauntlet up` on fixed ports, so two of them never race for
/// the ports they picked (a picked port is free only until something binds it).
pub static UP_PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
