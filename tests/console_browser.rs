//! The live consoles in a real browser: Debian's `chromium`, headless (`support::chromium`), loads
//! each page from a running `gauntlet up`, runs its scripts (virtual time lets the polling settle)
//! and dumps the DOM it drew, or is driven over the DevTools protocol as a person clicks. A
//! person's checks: a denied pair is drawn denied, a paused service is drawn paused, a stopped
//! service's breaker is drawn OPEN, a latency toxic shows in the p99 column, and the page logs no
//! console message (script errors and CSP refusals are console messages). Every host but loopback resolves to
//! nothing, so a request leaving loopback would fail and be logged.
//!
//! Without chromium the test is skipped with a notice, unless GAUNTLET_REQUIRE_CHROMIUM is set
//! (.ci/run installs chromium and sets it).

mod support;

use std::time::Duration;

use serde_json::json;
use support::chromium::{Chromium, Devtools, Network};
use support::{gauntlet_up, get, send, stack_on_free_ports};

/// The DOM chromium drew for `url` after 3 s of virtual time, and the console messages it
/// logged; `None` when chromium is missing and not required.
fn render(url: &str) -> Option<(String, Vec<String>)> {
    let page = Chromium::find()?.dump_dom(url, Network::Loopback, Some(Duration::from_secs(3)));
    Some((page.dom, page.console))
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
    // postgres paused: its port open, the service frozen.
    let pause = send(
        http::Method::POST,
        &format!("{control}/services/postgres/pause"),
        &[],
        None,
    )
    .await;
    assert_eq!(pause.status, 200, "{}", pause.text());
    assert_eq!(pause.json().expect("JSON")["health"], "paused");
    let Some((dom, console)) = render(&format!("{catalog}/ui/dc1/services")) else {
        return;
    };
    assert!(console.is_empty(), "console messages: {console:#?}");
    let node = element(&dom, "g", &[r#"data-service="postgres""#])
        .unwrap_or_else(|| panic!("no postgres node drawn: {dom}"));
    assert!(
        node.contains(r#"class="node paused""#) && node.contains(r#"data-health="paused""#),
        "{node}"
    );
    let row_at = dom
        .find(r#"<tr data-service="postgres">"#)
        .unwrap_or_else(|| panic!("no postgres row: {dom}"));
    assert!(
        dom[row_at..].contains(r#"<span class="badge paused">paused</span>"#),
        "{}",
        &dom[row_at..]
    );
    let unpause = send(
        http::Method::POST,
        &format!("{control}/services/postgres/unpause"),
        &[],
        None,
    )
    .await;
    assert_eq!(unpause.json().expect("JSON")["health"], "up");
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

/// The chaos console used as a person would, through the DevTools protocol: click "stop" on
/// value-architect, send five requests, the breaker is OPEN on screen within 1 s; add a latency
/// toxic with the link's form, the p99 column shows it; pause and unpause redis from its row; a
/// bad fault shows the control API's error beside its form; no console message throughout.
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
        r#"document.querySelector('tr[data-service="value-architect"] .badge').textContent === 'stopped'"#,
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

    // Pause and unpause redis from its row: its health follows.
    for (action, health) in [("pause", "paused"), ("unpause", "up")] {
        let button = format!(
            r#"document.querySelector('button[data-act=process][data-action={action}][data-service="redis"]')"#
        );
        page.eval(&format!("{button}.click(), true"));
        page.until(
            &format!(
                r#"document.querySelector('#services tr[data-service="redis"]')?.dataset.health === '{health}'"#
            ),
            Duration::from_secs(5),
        );
    }

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
