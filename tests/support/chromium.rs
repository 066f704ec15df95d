//! Headless Chromium for the browser tests (`tests/browser.rs`: the reports, offline;
//! `tests/console_browser.rs`: the live consoles of a running `up`). One way to find it, one set
//! of launch flags (a fresh profile, no extensions, no background traffic, a fixed window), one
//! confinement of the network, and the two ways the tests use a page:
//!
//! ```text
//!   Chromium::find() ──┬─► dump_dom(url, Network, virtual time) ──► the DOM drawn + console lines
//!                      └─► devtools(url, Network) ──► Devtools: eval, until, clicks; console kept
//! ```
//!
//! Missing Chromium skips the calling test with a notice, unless GAUNTLET_REQUIRE_CHROMIUM is
//! set (.ci/run installs Debian's `chromium` and sets it); then it fails.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serde_json::{json, Value};

use super::ChildGuard;

/// Where a page may send requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Nowhere (a self-contained `file://` page): every host name fails to resolve and every
    /// request goes to a closed proxy port.
    None,
    /// Loopback only (pages served by `gauntlet up`): every other host fails to resolve, so a
    /// request leaving loopback fails and is logged.
    Loopback,
}

/// An installed headless Chromium.
#[derive(Debug, Clone, Copy)]
pub struct Chromium {
    bin: &'static str,
}

/// What [`Chromium::dump_dom`] saw.
#[derive(Debug)]
pub struct DumpedPage {
    /// The DOM after the page's scripts ran.
    pub dom: String,
    /// The console messages the page logged (script errors and CSP refusals included).
    pub console: Vec<String>,
    /// Chromium's own stderr, for failure messages.
    pub stderr: String,
}

impl Chromium {
    /// Debian's `chromium-headless-shell` or `chromium`, whichever answers `--version` first.
    /// `None` (with a notice) when neither does.
    ///
    /// # Panics
    /// When neither does and GAUNTLET_REQUIRE_CHROMIUM is set.
    pub fn find() -> Option<Chromium> {
        let found = ["chromium-headless-shell", "chromium"]
            .into_iter()
            .find(|bin| {
                Command::new(bin)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        if found.is_none() {
            assert!(
                std::env::var_os("GAUNTLET_REQUIRE_CHROMIUM").is_none(),
                "headless Chromium is required (GAUNTLET_REQUIRE_CHROMIUM is set)"
            );
            eprintln!("notice: no headless Chromium; skipping the browser checks");
        }
        found.map(|bin| Chromium { bin })
    }

    /// The flags every launch shares: headless in a fresh profile, nothing running on its own,
    /// a 1280×900 window (the "first screen" of the report checks), and `network`.
    fn flags(network: Network, profile: &Path) -> Vec<String> {
        let mut flags: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--window-size=1280,900",
        ]
        .map(str::to_string)
        .to_vec();
        flags.push(format!("--user-data-dir={}", profile.display()));
        match network {
            Network::None => {
                flags.push("--proxy-server=127.0.0.1:9".into());
                flags.push("--host-resolver-rules=MAP * ~NOTFOUND".into());
            }
            Network::Loopback => {
                flags.push("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".into());
            }
        }
        flags
    }

    /// Loads `url`, lets its scripts run (for `virtual_time` of virtual time when given, so
    /// polling pages settle; else until `load`), and returns the DOM it drew and the console
    /// messages it logged.
    ///
    /// # Panics
    /// When Chromium cannot run or fails.
    pub fn dump_dom(
        &self,
        url: &str,
        network: Network,
        virtual_time: Option<Duration>,
    ) -> DumpedPage {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut command = Command::new(self.bin);
        command.args(Self::flags(network, profile.path())).args([
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ]);
        if let Some(budget) = virtual_time {
            command.arg(format!("--virtual-time-budget={}", budget.as_millis()));
        }
        let out = command
            .arg(url)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{} {url}: {stderr}", self.bin);
        DumpedPage {
            dom: String::from_utf8_lossy(&out.stdout).into_owned(),
            console: stderr
                .lines()
                .filter(|l| l.contains(":CONSOLE"))
                .map(str::to_string)
                .collect(),
            stderr,
        }
    }

    /// Opens `url` in a page driven over the DevTools protocol.
    pub fn devtools(&self, url: &str, network: Network) -> Devtools {
        Devtools::launch(self.bin, url, network)
    }
}

/// A DevTools protocol session with a headless Chromium over `--remote-debugging-pipe`
/// (messages are JSON ended by a NUL byte on fds 3 and 4), attached to one page.
pub struct Devtools {
    /// Killed (and reaped) with the session.
    _child: ChildGuard,
    input: std::process::ChildStdin,
    output: Receiver<Value>,
    session: String,
    next: u64,
    /// Console messages, log entries and uncaught exceptions the page reported.
    pub console: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Devtools {
    /// [`Chromium::find`], then a page on `url` confined to loopback; `None` when Chromium is
    /// missing and not required.
    pub fn open(url: &str) -> Option<Devtools> {
        Chromium::find().map(|c| c.devtools(url, Network::Loopback))
    }

    fn launch(bin: &str, url: &str, network: Network) -> Devtools {
        let profile = tempfile::tempdir().expect("profile dir");
        let flags: Vec<String> = Chromium::flags(network, profile.path())
            .into_iter()
            .map(|f| format!("'{f}'"))
            .collect();
        // The pipe is fds 3 (commands in) and 4 (messages out): the shell maps them to stdin and
        // stdout of this process.
        let script = format!(
            "exec {bin} {} --remote-debugging-pipe 3<&0 4>&1 >/dev/null </dev/null 2>/dev/null",
            flags.join(" ")
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn chromium");
        let input = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, output) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                message.pop();
                if let Ok(v) = serde_json::from_slice(&message) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                message.clear();
            }
        });
        let mut devtools = Devtools {
            _child: ChildGuard(child),
            input,
            output,
            session: String::new(),
            next: 0,
            console: Vec::new(),
            _profile: profile,
        };
        let target = devtools.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = devtools.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        devtools.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            devtools.page(domain, json!({}));
        }
        devtools.page("Page.navigate", json!({"url": url}));
        devtools
    }

    /// Sends one command and waits for its answer, keeping the console events met meanwhile.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        self.input.write_all(&bytes).expect("write to chromium");
        loop {
            let m = self
                .output
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("chromium did not answer {method}: {e}"));
            match m["method"].as_str() {
                Some("Runtime.consoleAPICalled") => self.console.push(m["params"].to_string()),
                Some("Runtime.exceptionThrown") => self.console.push(m["params"].to_string()),
                Some("Log.entryAdded") => self.console.push(m["params"]["entry"].to_string()),
                _ => {}
            }
            if m["id"] == id {
                assert!(m["error"].is_null(), "{method}: {m}");
                return m["result"].clone();
            }
        }
    }

    /// One command to the page's session.
    pub fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// The value of a JavaScript expression in the page (a promise is awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.page(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r["exceptionDetails"].is_null(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits (real time, at most `limit`) until `expression` is true in the page; returns how
    /// long that took.
    pub fn until(&mut self, expression: &str, limit: Duration) -> Duration {
        let started = tokio::time::Instant::now();
        loop {
            if self.eval(expression) == json!(true) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "not on screen within {limit:?}: {expression}\n{}",
                self.eval("document.querySelector('main').innerText")
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
