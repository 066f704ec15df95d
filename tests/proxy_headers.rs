//! What the gateway adds to and removes from proxied requests and responses (Kong's behaviour
//! for an untrusted client).

mod support;

use std::time::Duration;

use gauntlet::stack::Stack;
use support::get;

fn bearer(stack: &Stack, consumer: &str) -> String {
    let (_, c) = stack
        .def
        .gateway
        .consumer_by_name(consumer)
        .expect("consumer");
    let credential = &c.jwt_secrets[0];
    let token = gauntlet::token::issue(
        &credential.key,
        &credential.secret,
        stack.clock.unix_seconds(),
        Duration::from_secs(600),
    );
    format!("Bearer {token}")
}

#[tokio::test]
async fn forwarded_headers_are_the_gateways_own_not_the_clients() {
    let stack = support::valueverse().await;
    let auth = bearer(&stack, "admin-user");
    let response = get(
        &format!("{}/api/v1/value-models/_echo", stack.proxy_url()),
        &[
            ("Authorization", &auth),
            ("Host", "Client.Example:8080"),
            ("X-Forwarded-Port", "1"),
            ("X-Forwarded-Prefix", "/evil"),
            ("X-Forwarded-For", "10.9.9.9"),
        ],
    )
    .await;
    assert_eq!(response.status, 200);
    let echo = response.json().expect("echo JSON");
    let seen = |name: &str| echo["headers"][name].clone();
    let port = stack.gateway.proxy.addr().port().to_string();
    assert_eq!(seen("x-forwarded-port"), port.as_str());
    assert_eq!(seen("x-forwarded-prefix"), serde_json::Value::Null);
    assert_eq!(seen("x-forwarded-host"), "client.example");
    assert_eq!(
        seen("x-forwarded-for"),
        "10.9.9.9, 127.0.0.1",
        "appended, as Kong does"
    );
    assert_eq!(seen("x-real-ip"), "127.0.0.1");
    assert_eq!(
        seen("x-kong-request-id").as_str(),
        response.header("x-kong-request-id"),
        "the upstream and the client see the same X-Kong-Request-Id"
    );
    assert_eq!(
        seen("host"),
        "value-architect:8080",
        "strip_path routes do not preserve the host"
    );
    assert_eq!(response.header("via"), Some("1.1 gauntlet"));
    for name in ["x-kong-upstream-latency", "x-kong-proxy-latency"] {
        let value = response.header(name).unwrap_or_else(|| panic!("{name}"));
        assert!(value.parse::<u64>().is_ok(), "{name}: {value}");
    }
    assert_eq!(response.header("x-kong-response-latency"), None);
    assert_eq!(
        response.header("server"),
        None,
        "the service's own Server header, if any, is kept"
    );
}

#[tokio::test]
async fn responses_the_gateway_makes_name_it_in_server_not_via() {
    let stack = support::valueverse().await;
    let response = get(&format!("{}/api/v1/value-models", stack.proxy_url()), &[]).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.header("server"), Some("gauntlet"));
    assert_eq!(response.header("via"), None);
    let none = get(&format!("{}/nowhere", stack.proxy_url()), &[]).await;
    assert_eq!(none.status, 404);
    assert_eq!(
        none.header("x-kong-request-id"),
        none.json().unwrap()["request_id"].as_str(),
        "Kong's 404 names its request id in the body and the header"
    );
    let latency = none
        .header("x-kong-response-latency")
        .expect("X-Kong-Response-Latency");
    assert!(latency.parse::<u64>().is_ok(), "{latency}");
    assert_eq!(none.header("x-kong-upstream-latency"), None);
    assert_eq!(
        none.json().unwrap()["message"],
        "no Route matched with those values"
    );
}
