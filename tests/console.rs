//! The live consoles of `gauntlet up` (SPEC §14) over HTTP against a real `up` process: the pages
//! are served from the binary, the JSON they poll reflects the stack within a second, their
//! controls are the control API's endpoints (with its errors), and the API token guards the data.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{gauntlet_up, gauntlet_up_with, get, send, stack_on_free_ports};

/// One `up` at a time in this binary: each takes ten fixed ports.
static UP_PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Polls `url` until `check` holds on its JSON, for at most one second of real time.
async fn within_a_second(
    url: &str,
    headers: &[(&str, &str)],
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let r = get(url, headers).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let body = r.json().expect("JSON");
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} did not show the change within 1 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn urls(summary: &Value) -> (String, String, String) {
    let s = |v: &Value| v.as_str().expect("a URL").to_string();
    (
        s(&summary["mesh"]["catalog"]),
        s(&summary["control"]),
        s(&summary["gateway"]["proxy"]),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn both_consoles_are_served_by_the_binary_with_their_assets() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let (catalog, control, _) = urls(&summary);
    assert_eq!(
        summary["consoles"]["topology"],
        json!(format!("{catalog}/ui/dc1/services"))
    );
    assert_eq!(
        summary["consoles"]["chaos"],
        json!(format!("{control}/ui/"))
    );
    for (page, title) in [
        (format!("{catalog}/ui/"), "services and intentions"),
        (
            format!("{catalog}/ui/dc1/services"),
            "services and intentions",
        ),
        (format!("{control}/ui/"), "chaos console"),
    ] {
        let r = get(&page, &[]).await;
        assert_eq!(r.status, 200, "{page}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'self'"), "{page}: {csp}");
        let html = r.text();
        assert!(html.contains(title), "{page}");
        // Offline: nothing from another origin.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page}"
        );
        for asset in ["/ui/console.css", "/ui/common.js", "/ui/console.js"] {
            assert!(html.contains(asset), "{page} links {asset}");
            let base = page.split("/ui/").next().unwrap_or_default();
            let a = get(&format!("{base}{asset}"), &[]).await;
            assert_eq!(a.status, 200, "{base}{asset}");
            assert!(
                !a.text().contains("https://"),
                "{base}{asset} loads nothing remote"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_topology_shows_a_stopped_service_and_a_denied_intention_within_a_second() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let (catalog, control, _) = urls(&summary);
    let topology = format!("{catalog}/v1/internal/ui/topology");

    let t = get(&topology, &[]).await.json().expect("JSON");
    let names: Vec<&str> = t["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["value-architect", "value-committer", "postgres", "redis"]
    );
    let architect = &t["services"][0];
    assert_eq!(architect["health"], "up");
    assert_eq!(architect["protocol"], "http");
    assert_eq!(
        architect["sidecar"]["name"],
        "value-architect-sidecar-proxy"
    );
    assert_eq!(t["services"][2]["protocol"], "tcp");
    // The gateway's routes and the mesh upstream, all allowed by the valueverse intentions.
    let edge = |t: &Value, source: &str, destination: &str| -> Value {
        t["edges"]
            .as_array()
            .and_then(|e| {
                e.iter()
                    .find(|e| e["source"] == source && e["destination"] == destination)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no edge {source} -> {destination}: {t}"))
    };
    let route = edge(&t, "api-gateway", "value-architect");
    assert_eq!(
        (route["kind"].clone(), route["decision"].clone()),
        (json!("route"), json!("allow"))
    );
    // value-architect's own routes (and the routing and plugin labs', which send to it too);
    // none of value-committer's.
    let routes: Vec<&str> = route["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        routes[..2],
        ["value-models-read", "value-models-write"],
        "{routes:?}"
    );
    assert!(
        routes.iter().all(|r| !r.starts_with("commitments")),
        "{routes:?}"
    );
    assert_eq!(
        edge(&t, "value-committer", "value-architect")["decision"],
        "allow"
    );
    // Consul's precedence order: 9s first, the `*` → `*` default last when present.
    let precedences: Vec<u64> = t["intentions"]
        .as_array()
        .expect("intentions")
        .iter()
        .map(|i| i["precedence"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        precedences.windows(2).all(|w| w[0] >= w[1]),
        "{precedences:?}"
    );
    let pair = |t: &Value, s: &str, d: &str| {
        t["pairs"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["source"] == s && p["destination"] == d))
            .map(|p| p["decision"].clone())
    };
    // The data stores are value-committer's alone.
    assert_eq!(
        pair(&t, "value-committer", "postgres"),
        Some(json!("allow"))
    );
    assert_eq!(pair(&t, "value-architect", "postgres"), Some(json!("deny")));
    assert_eq!(pair(&t, "postgres", "value-architect"), Some(json!("deny")));

    // A stopped and a killed service.
    let stop = send(
        http::Method::POST,
        &format!("{control}/services/value-architect/stop"),
        &[],
        None,
    )
    .await;
    assert_eq!(stop.status, 200);
    within_a_second(&topology, &[], |t| t["services"][0]["health"] == "stopped").await;
    let kill = send(
        http::Method::POST,
        &format!("{control}/services/value-committer/kill"),
        &[],
        None,
    )
    .await;
    assert_eq!(kill.status, 200);
    within_a_second(&topology, &[], |t| t["services"][1]["health"] == "killed").await;
    send(
        http::Method::POST,
        &format!("{control}/services/value-architect/start"),
        &[],
        None,
    )
    .await;
    within_a_second(&topology, &[], |t| t["services"][0]["health"] == "up").await;
    // A paused service (its port open, the service frozen), then unpaused; a stopped one
    // cannot be paused (409, the control API's reason).
    for (action, health) in [("pause", "paused"), ("unpause", "up")] {
        let answer = send(
            http::Method::POST,
            &format!("{control}/services/value-architect/{action}"),
            &[],
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        within_a_second(&topology, &[], |t| t["services"][0]["health"] == health).await;
    }
    let refused = send(
        http::Method::POST,
        &format!("{control}/services/value-committer/pause"),
        &[],
        None,
    )
    .await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(refused.text().contains("not running"), "{}", refused.text());

    // A denied intention, PUT through the catalog API: the edge turns denied.
    let put = send(
        http::Method::PUT,
        &format!("{catalog}/v1/connect/intentions/exact?source=value-committer&destination=value-architect"),
        &[],
        Some(json!({"Action": "deny"})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let t = within_a_second(&topology, &[], |t| {
        edge(t, "value-committer", "value-architect")["decision"] == "deny"
    })
    .await;
    assert_eq!(
        pair(&t, "value-committer", "value-architect"),
        Some(json!("deny"))
    );
    // An L7 intention is drawn as such.
    let put = send(
        http::Method::PUT,
        &format!(
            "{catalog}/v1/connect/intentions/exact?source=api-gateway&destination=value-architect"
        ),
        &[],
        Some(json!({"Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/api"}}]})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    within_a_second(&topology, &[], |t| {
        edge(t, "api-gateway", "value-architect")["decision"] == "l7"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chaos_console_data_shows_toxics_faults_breakers_and_traffic() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let (_, control, proxy) = urls(&summary);
    let admin = format!(
        "Bearer {}",
        summary["tokens"]["admin-user"].as_str().expect("token")
    );

    // A toxic added through the Toxiproxy API shows in the list the console polls.
    let link = "gateway->value-committer";
    let add = send(
        http::Method::POST,
        // As the console sends it: encodeURIComponent("gateway->value-committer").
        &format!("{control}/proxies/gateway-%3Evalue-committer/toxics"),
        &[],
        Some(json!({"name": "slow", "type": "latency", "stream": "downstream", "attributes": {"latency": 150}})),
    )
    .await;
    assert_eq!(add.status, 200, "{}", add.text());
    within_a_second(&format!("{control}/proxies"), &[], |p| {
        p[link]["toxics"][0]["name"] == "slow"
    })
    .await;
    // The latency reaches the p99 of that route and consumer.
    for _ in 0..3 {
        let r = get(
            &format!("{proxy}/api/v1/commitments"),
            &[("Authorization", &admin)],
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let traffic = within_a_second(&format!("{control}/traffic"), &[], |t| {
        t["rows"].as_array().is_some_and(|rows| {
            rows.iter()
                .any(|r| r["route"] == "commitments-read" && r["consumer"] == "admin-user")
        })
    })
    .await;
    let row = traffic["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["route"] == "commitments-read"))
        .cloned()
        .expect("a row");
    assert_eq!(row["requests"], 3, "{row}");
    assert_eq!(row["status"]["2xx"], 3, "{row}");
    assert!(row["p99_ms"].as_f64().unwrap_or(0.0) >= 150.0, "{row}");
    assert!(row["per_second"].as_f64().unwrap_or(0.0) > 0.0, "{row}");

    // An HTTP fault shows with its id and description.
    let fault = send(
        http::Method::POST,
        &format!("{control}/services/value-architect/faults"),
        &[],
        Some(json!({"action": "abort", "status": 500})),
    )
    .await;
    assert_eq!(fault.status, 201);
    within_a_second(&format!("{control}/"), &[], |o| {
        o["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "value-architect"))
            .is_some_and(|s| {
                s["faults"][0]["id"] == 1 && s["faults"][0]["description"] == "abort 500"
            })
    })
    .await;
    // Five failures open the breaker, drawn with its transition on the stack clock.
    for _ in 0..5 {
        let r = get(
            &format!("{proxy}/api/v1/value-models"),
            &[("Authorization", &admin)],
        )
        .await;
        assert_eq!(r.status, 500);
    }
    let breakers = within_a_second(&format!("{control}/breakers"), &[], |b| {
        b["data"][0]["state"] == "OPEN"
    })
    .await;
    let transition = &breakers["data"][0]["transitions"][0];
    assert_eq!(
        (transition["from"].clone(), transition["to"].clone()),
        (json!("CLOSED"), json!("OPEN"))
    );
    let at = transition["stack_time"].as_f64().expect("stack time");
    assert!(
        at <= breakers["stack_time"].as_f64().expect("now"),
        "{breakers}"
    );
    // A clock jump moves the stack time the timeline is drawn on.
    let jump = send(
        http::Method::POST,
        &format!("{control}/clock/advance"),
        &[],
        Some(json!({"seconds": 61})),
    )
    .await;
    assert_eq!(jump.status, 200);
    let later = get(&format!("{control}/breakers"), &[])
        .await
        .json()
        .expect("JSON");
    assert!(
        later["stack_time"].as_f64().unwrap_or(0.0) >= at + 61.0,
        "{later}"
    );
}

/// Every control of the chaos console is a call of a control API endpoint; a bad input gets the
/// API's own error, which the console shows next to the control.
#[tokio::test(flavor = "multi_thread")]
async fn the_consoles_controls_are_the_control_apis_endpoints_and_errors() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let (_, control, _) = urls(&summary);
    let script = get(&format!("{control}/ui/console.js"), &[]).await.text();
    // The calls the script makes: method and path template, each an endpoint of the API.
    let calls: Vec<String> = script
        .match_indices("call(\"")
        .map(|(i, _)| script[i..].split(',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert!(calls.len() >= 9, "{calls:?}");
    let expected = [
        r#"call("GET", path)"#,
        r#"call("POST", `/services/${enc(d.service)}/${d.action}`)"#,
        r#"call("DELETE", `/services/${enc(d.service)}/faults/${enc(d.id)}`)"#,
        r#"call("POST", `/services/${enc(d.service)}/faults`"#,
        r#"call("POST", `/proxies/${enc(d.link)}`"#,
        r#"call("DELETE", `/proxies/${enc(d.link)}/toxics/${enc(d.toxic)}`)"#,
        r#"call("POST", `/proxies/${enc(d.link)}/toxics/${enc(d.toxic)}`"#,
        r#"call("POST", `/proxies/${enc(d.link)}/toxics`"#,
        r#"call("POST", "/clock/advance""#,
    ];
    for call in &calls {
        assert!(
            expected
                .iter()
                .any(|e| call.starts_with(e.trim_end_matches(')'))),
            "the console makes a call outside the control API's endpoints: {call}"
        );
    }
    assert!(
        !script.contains("fetch(") || script.matches("fetch(").count() == 0,
        "only through call()"
    );

    // The errors the controls get are the API's, with its status and message.
    let post = |path: &str, body: Value| {
        let url = format!("{control}{path}");
        async move { send(http::Method::POST, &url, &[], Some(body)).await }
    };
    let bad_fault = post(
        "/services/value-architect/faults",
        json!({"action": "abort"}),
    )
    .await;
    assert_eq!(bad_fault.status, 400);
    assert!(bad_fault.json().expect("JSON")["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("invalid fault"));
    let unknown = post("/services/nope/stop", json!({})).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("no service named nope"));
    let bad_toxic = post(
        "/proxies/gateway-%3Evalue-architect/toxics",
        json!({"type": "nope"}),
    )
    .await;
    assert_eq!(bad_toxic.status, 400, "{}", bad_toxic.text());
    assert!(
        bad_toxic.json().expect("JSON")["error"].is_string(),
        "{}",
        bad_toxic.text()
    );
    let bad_jump = post("/clock/advance", json!({"seconds": -1})).await;
    assert_eq!(bad_jump.status, 400);
    let gone = send(
        http::Method::DELETE,
        &format!("{control}/services/value-architect/faults/7"),
        &[],
        None,
    )
    .await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.json().expect("JSON")["message"],
        "value-architect has no fault 7; it has no faults"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_api_token_the_pages_load_but_their_data_needs_the_token() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let secret = "console-s3cret";
    let (_child, summary) = gauntlet_up_with(&stack, &["--api-token", secret]);
    let (catalog, control, _) = urls(&summary);
    let topology = format!("{catalog}/v1/internal/ui/topology");
    let bearer = format!("Bearer {secret}");

    for page in [
        format!("{catalog}/ui/dc1/services"),
        format!("{control}/ui/"),
    ] {
        let r = get(&page, &[]).await;
        assert_eq!(r.status, 200, "{page}");
        assert!(!r.text().contains(secret), "{page} never carries the token");
        for (_, jwt) in summary["tokens"].as_object().expect("tokens") {
            assert!(
                !r.text().contains(jwt.as_str().unwrap_or("-")),
                "{page} shows no consumer token"
            );
        }
    }
    assert_eq!(get(&topology, &[]).await.status, 403);
    assert_eq!(
        get(&topology, &[("X-Consul-Token", "wrong")]).await.text(),
        "ACL not found"
    );
    assert_eq!(
        get(&topology, &[("X-Consul-Token", secret)]).await.status,
        200
    );
    for path in ["/", "/breakers", "/traffic", "/proxies", "/clock"] {
        let url = format!("{control}{path}");
        assert_eq!(get(&url, &[]).await.status, 401, "{path}");
        assert_eq!(
            get(&url, &[("Authorization", &bearer)]).await.status,
            200,
            "{path}"
        );
    }
    let stop = send(
        http::Method::POST,
        &format!("{control}/services/redis/stop"),
        &[],
        None,
    )
    .await;
    assert_eq!(stop.status, 401);
}

/// Recent requests with their trace (issue 19 item 2): `GET /traces` on the control port serves
/// what the console draws as waterfalls — the gateway's stages and attempts, the sidecar hop
/// with its intention decision, and the fault applied — linked parent to child, continuing the
/// client's trace, with no secret in it.
#[tokio::test(flavor = "multi_thread")]
async fn recent_requests_are_served_as_traces_with_stages_attempts_hops_and_faults() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let (_, control, proxy) = urls(&summary);
    let token = summary["tokens"]["admin-user"].as_str().expect("token");
    let admin = format!("Bearer {token}");

    let fault = send(
        http::Method::POST,
        &format!("{control}/services/value-architect/faults"),
        &[],
        Some(json!({"action": "abort", "status": 503})),
    )
    .await;
    assert_eq!(fault.status, 201, "{}", fault.text());
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = get(
        &format!("{proxy}/api/v1/value-models"),
        &[
            ("Authorization", &admin),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.text());

    let traces = within_a_second(&format!("{control}/traces?limit=5"), &[], |t| {
        t["data"].as_array().is_some_and(|d| {
            d.iter().any(|t| {
                t["trace_id"] == trace_id
                    && t["spans"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|s| s["name"] == "fault: abort 503"))
            })
        })
    })
    .await;
    assert!(!traces.to_string().contains(token), "a token in {traces}");
    let trace = traces["data"]
        .as_array()
        .and_then(|d| d.iter().find(|t| t["trace_id"] == trace_id))
        .expect("the trace");
    assert_eq!(trace["error"], true, "{trace}");
    let spans = trace["spans"].as_array().expect("spans");
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))
            .unwrap_or_else(|| panic!("no span {name:?} in {trace}"))
    };
    let root = span("gateway GET /api/v1/value-models");
    assert_eq!(
        root["parent_id"], "00f067aa0ba902b7",
        "the client's span: {root}"
    );
    assert_eq!(root["attributes"]["http.response.status_code"], "503");
    assert_eq!(root["attributes"]["kong.consumer"], "admin-user");
    for stage in ["jwt", "acl", "rate-limiting", "circuit-breaker"] {
        assert_eq!(
            span(stage)["parent_id"],
            root["span_id"],
            "{stage}: {trace}"
        );
    }
    let upstream = span("upstream value-architect");
    assert_eq!(upstream["parent_id"], root["span_id"]);
    let attempt = span("attempt 1");
    assert_eq!(attempt["parent_id"], upstream["span_id"]);
    assert_eq!(attempt["attributes"]["outcome"], "status 503");
    // The sidecar's hop hangs under the span the gateway sent upstream in `traceparent`.
    let inbound = span("inbound value-architect");
    assert_eq!(inbound["parent_id"], upstream["span_id"], "{trace}");
    assert_eq!(inbound["component"], "value-architect sidecar");
    let intention = span("intention ");
    assert_eq!(intention["parent_id"], inbound["span_id"]);
    assert_eq!(intention["attributes"]["decision"], "allow");
    assert_eq!(span("fault: abort 503")["parent_id"], inbound["span_id"]);
    // Offsets place every span inside the trace.
    for s in spans {
        let end =
            s["offset_ms"].as_f64().unwrap_or(-1.0) + s["duration_ms"].as_f64().unwrap_or(0.0);
        assert!(
            end <= trace["duration_ms"].as_f64().unwrap_or(0.0) + 0.001,
            "{s} outside {trace}"
        );
    }

    // A bad limit gets the API's error.
    let bad = get(&format!("{control}/traces?limit=0"), &[]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("limit must be"), "{}", bad.text());
}
