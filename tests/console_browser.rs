//! The live consoles in a real browser: Debian's `chromium`, headless, loads each page from a running
//! `gauntlet up`, runs its scripts (`--virtual-time-budget` lets the polling settle) and dumps the
//! DOM it drew. A person's checks: a denied pair is drawn denied, a stopped service's breaker is
//! drawn OPEN, a latency toxic shows in the p99 column, and the page logs no console message
//! (script errors and CSP refusals are console messages). Every host but loopback resolves to
//! nothing, so a request leaving loopback would fail and be logged.
//!
//! Without chromium the test is skipped with a notice, unless GAUNTLET_REQUIRE_CHROMIUM is set
//! (.ci/run installs chromium and sets it).

mod support;

use std::process::Command;

use serde_json::json;
use support::{gauntlet_up, get, send, stack_on_free_ports};

/// The DOM chromium drew for `url`, and the console messages it logged.
fn render(url: &str) -> Option<(String, Vec<String>)> {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=3000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if std::env::var_os("GAUNTLET_REQUIRE_CHROMIUM").is_none() => {
            eprintln!("notice: chromium not available ({e}); skipping the browser test");
            return None;
        }
        Err(e) => panic!("chromium is required (GAUNTLET_REQUIRE_CHROMIUM is set): {e}"),
    };
    assert!(
        out.status.success(),
        "chromium {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), console))
}

/// The opening tag of the first element carrying every one of `attributes`.
fn element<'a>(dom: &'a str, tag: &str, attributes: &[&str]) -> Option<&'a str> {
    dom.match_indices(&format!("<{tag} "))
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').unwrap_or(0)])
        .find(|e| attributes.iter().all(|a| e.contains(a)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_sees_a_denied_pair_an_open_breaker_and_a_slow_link() {
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let catalog = summary["mesh"]["catalog"].as_str().expect("catalog");
    let control = summary["control"].as_str().expect("control");
    let proxy = summary["gateway"]["proxy"].as_str().expect("proxy");
    let admin = format!(
        "Bearer {}",
        summary["tokens"]["admin-user"].as_str().expect("token")
    );

    // The topology: deny value-committer → value-architect, then look.
    let put = send(
        http::Method::PUT,
        &format!("{catalog}/v1/connect/intentions/exact?source=value-committer&destination=value-architect"),
        &[],
        Some(json!({"Action": "deny"})),
    )
    .await;
    assert_eq!(put.status, 200);
    let Some((dom, console)) = render(&format!("{catalog}/ui/dc1/services")) else {
        return;
    };
    assert!(console.is_empty(), "console messages: {console:#?}");
    let edge = element(
        &dom,
        "path",
        &[
            r#"data-source="value-committer""#,
            r#"data-destination="value-architect""#,
        ],
    )
    .unwrap_or_else(|| panic!("no edge value-committer -> value-architect drawn: {dom}"));
    assert!(
        edge.contains(r#"class="edge deny""#) && edge.contains(r#"data-decision="deny""#),
        "{edge}"
    );
    let allowed = element(
        &dom,
        "path",
        &[
            r#"data-source="api-gateway""#,
            r#"data-destination="value-architect""#,
        ],
    )
    .expect("the gateway's route edge");
    assert!(allowed.contains(r#"class="edge allow""#), "{allowed}");
    assert!(element(
        &dom,
        "tr",
        &[
            r#"data-source="value-committer""#,
            r#"data-destination="value-architect""#,
            r#"data-decision="deny""#
        ]
    )
    .is_some());

    // The chaos console: value-architect stopped, five requests, its breaker drawn OPEN; a
    // latency toxic on the committer's link, its p99 drawn above the latency.
    let stop = send(
        http::Method::POST,
        &format!("{control}/services/value-architect/stop"),
        &[],
        None,
    )
    .await;
    assert_eq!(stop.status, 200);
    for _ in 0..5 {
        get(
            &format!("{proxy}/api/v1/value-models"),
            &[("Authorization", &admin)],
        )
        .await;
    }
    let toxic = send(
        http::Method::POST,
        &format!("{control}/proxies/gateway-%3Evalue-committer/toxics"),
        &[],
        Some(json!({"type": "latency", "attributes": {"latency": 120}})),
    )
    .await;
    assert_eq!(toxic.status, 200, "{}", toxic.text());
    for _ in 0..3 {
        let r = get(
            &format!("{proxy}/api/v1/commitments"),
            &[("Authorization", &admin)],
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let (dom, console) = render(&format!("{control}/ui/")).expect("chromium ran before");
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        element(
            &dom,
            "tr",
            &[r#"data-service="value-architect""#, r#"data-state="OPEN""#]
        )
        .is_some(),
        "the breaker is not drawn OPEN: {dom}"
    );
    let row_at = dom
        .find(r#"data-route="commitments-read" data-consumer="admin-user""#)
        .unwrap_or_else(|| panic!("no traffic row: {dom}"));
    let p99 = dom[row_at..]
        .split("data-p99=\"\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no p99 cell: {}", &dom[row_at..]));
    assert!(p99 >= 120.0, "p99 {p99} ms");
    assert!(
        dom.contains(r#"id="status" class="ok">live<"#),
        "the page polls live"
    );
}

/// A DevTools protocol session with a headless chromium over `--remote-debugging-pipe`
/// (messages are JSON ended by a NUL byte on fds 3 and 4), attached to one page.
struct Devtools {
    child: support::ChildGuard,
    input: std::process::ChildStdin,
    output: std::sync::mpsc::Receiver<serde_json::Value>,
    session: String,
    next: u64,
    /// Console messages and uncaught exceptions the page reported.
    console: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Devtools {
    fn open(url: &str) -> Option<Devtools> {
        use std::io::BufRead;
        let profile = tempfile::tempdir().expect("profile dir");
        let script = format!(
            "exec chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
             --disable-background-networking '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1' \
             --user-data-dir='{}' --remote-debugging-pipe 3<&0 4>&1 >/dev/null </dev/null 2>/dev/null",
            profile.path().display()
        );
        if Command::new("chromium").arg("--version").output().is_err() {
            if std::env::var_os("GAUNTLET_REQUIRE_CHROMIUM").is_some() {
                panic!("chromium is required (GAUNTLET_REQUIRE_CHROMIUM is set)");
            }
            eprintln!("notice: chromium not available; skipping the DevTools test");
            return None;
        }
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
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
            child: support::ChildGuard(child),
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
        Some(devtools)
    }

    /// Sends one command and waits for its answer, keeping the console events met meanwhile.
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        use std::io::Write;
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

    fn page(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> serde_json::Value {
        let r = self.page(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r["exceptionDetails"].is_null(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits (real time, at most `limit`) until `expression` is true in the page.
    fn until(&mut self, expression: &str, limit: Duration) -> Duration {
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

impl Drop for Devtools {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
    }
}

use std::time::Duration;

/// The chaos console used as a person would, through the DevTools protocol: click "stop" on
/// value-architect, send five requests, the breaker is OPEN on screen within 1 s; add a latency
/// toxic with the link's form, the p99 column shows it; a bad fault shows the control API's
/// error beside its form; no console message throughout.
#[tokio::test(flavor = "multi_thread")]
async fn clicking_the_chaos_console_stops_a_service_and_adds_a_toxic() {
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let control = summary["control"].as_str().expect("control").to_string();
    let proxy = summary["gateway"]["proxy"]
        .as_str()
        .expect("proxy")
        .to_string();
    let admin = format!(
        "Bearer {}",
        summary["tokens"]["admin-user"].as_str().expect("token")
    );
    let Some(mut page) = Devtools::open(&format!("{control}/ui/")) else {
        return;
    };
    let stop = r#"document.querySelector('button[data-act=process][data-action=stop][data-service="value-architect"]')"#;
    page.until(&format!("!!{stop}"), Duration::from_secs(10));
    page.eval(&format!("{stop}.click(), true"));
    page.until(
        r#"document.querySelector('tr[data-service="value-architect"] .badge').textContent === 'down'"#,
        Duration::from_secs(5),
    );
    for _ in 0..5 {
        get(
            &format!("{proxy}/api/v1/value-models"),
            &[("Authorization", &admin)],
        )
        .await;
    }
    let took = page.until(
        r#"document.querySelector('#breakers tr[data-service="value-architect"]').dataset.state === 'OPEN'"#,
        Duration::from_secs(1),
    );
    eprintln!("breaker OPEN on screen {took:?} after the fifth request");

    let form =
        r#"document.querySelector('form[data-act=toxic][data-link="gateway->value-committer"]')"#;
    page.eval(&format!(
        r#"(() => {{ const f = {form}; f.querySelector('[name=type]').value = 'latency';
            f.querySelector('[name=attributes]').value = '{{"latency":120}}'; f.requestSubmit(); return true; }})()"#
    ));
    page.until(
        r#"[...document.querySelectorAll('tr[data-link="gateway->value-committer"] form[data-act=retoxic]')].length === 1"#,
        Duration::from_secs(5),
    );
    for _ in 0..3 {
        let r = get(
            &format!("{proxy}/api/v1/commitments"),
            &[("Authorization", &admin)],
        )
        .await;
        assert_eq!(r.status, 200);
    }
    page.until(
        r#"Number(document.querySelector('tr[data-route="commitments-read"][data-consumer="admin-user"] [data-p99]')?.textContent) >= 120"#,
        Duration::from_secs(2),
    );

    let fault = r#"document.querySelector('form[data-act=fault][data-service="value-committer"]')"#;
    page.eval(&format!(
        r#"(() => {{ const f = {fault}; f.querySelector('[name=rule]').value = '{{"action":"abort"}}'; f.requestSubmit(); return true; }})()"#
    ));
    page.until(
        &format!("{fault}.querySelector('.msg').textContent.startsWith('400 invalid fault')"),
        Duration::from_secs(5),
    );
    // The one failed request is the bad fault's own 400, which the page showed beside its form.
    let unexpected: Vec<&String> = page
        .console
        .iter()
        .filter(|m| {
            !(m.contains("status of 400") && m.contains("/services/value-committer/faults"))
        })
        .collect();
    assert!(unexpected.is_empty(), "console messages: {unexpected:#?}");
}

/// The chaos console's recent requests as a person sees them: a request that a fault aborts
/// shows as a failed row whose waterfall has the gateway's stages, the attempt, the sidecar
/// hop and the fault, each bar placed on the trace's time axis; no console message.
#[tokio::test(flavor = "multi_thread")]
async fn the_chaos_console_draws_a_faulted_request_as_a_trace_waterfall() {
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let control = summary["control"].as_str().expect("control").to_string();
    let proxy = summary["gateway"]["proxy"]
        .as_str()
        .expect("proxy")
        .to_string();
    let admin = format!(
        "Bearer {}",
        summary["tokens"]["admin-user"].as_str().expect("token")
    );
    let fault = send(
        http::Method::POST,
        &format!("{control}/services/value-architect/faults"),
        &[],
        Some(json!({"action": "abort", "status": 503})),
    )
    .await;
    assert_eq!(fault.status, 201);
    let Some(mut page) = Devtools::open(&format!("{control}/ui/")) else {
        return;
    };
    page.until(
        "!!document.querySelector('#traces')",
        Duration::from_secs(10),
    );
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = get(
        &format!("{proxy}/api/v1/value-models"),
        &[
            ("Authorization", &admin),
            ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
        ],
    )
    .await;
    assert_eq!(r.status, 503);
    let row = format!(r#"document.querySelector('#traces tr[data-trace="{trace}"]')"#);
    let took = page.until(
        &format!("!!{row} && {row}.dataset.error === 'true'"),
        Duration::from_secs(1),
    );
    eprintln!("the request's trace on screen {took:?} after its answer");
    page.eval(&format!("{row}.querySelector('details').open = true, true"));
    for name in [
        "jwt",
        "upstream value-architect",
        "attempt 1",
        "fault: abort 503",
    ] {
        page.until(
            &format!(r#"!!{row}.querySelector('.span-row[data-span="{name}"]')"#),
            Duration::from_secs(1),
        );
    }
    page.until(
        &format!(r#"[...{row}.querySelectorAll('.span-name')].some(n => n.textContent.startsWith('inbound value-architect'))"#),
        Duration::from_secs(1),
    );
    // Bars are placed: each has a width, the attempt starts after the trace does.
    page.until(
        &format!(
            r#"[...{row}.querySelectorAll('.span-bar')].every(b => b.style.width.endsWith('%')) && {row}.querySelector('.span-row[data-span="attempt 1"] .span-bar').getBoundingClientRect().width > 0"#
        ),
        Duration::from_secs(1),
    );
    assert!(
        page.console.is_empty(),
        "console messages: {:#?}",
        page.console
    );
}
