//! Both consoles in a real browser: Debian's `chromium`, headless, loads each page from a running
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
