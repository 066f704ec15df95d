//! Links on a running stack (SPEC §7.1): every hop is named, and a toxic on one changes what the
//! gateway's clients see, through the same API Toxiproxy's clients use.

mod support;

use std::time::Duration;

use gauntlet::clock::Stopwatch;
use support::*;

async fn admin_get(
    stack: &gauntlet::stack::Stack,
    path: &str,
) -> gauntlet::http::client::ReceivedResponse {
    get(
        &format!("{}{path}", stack.proxy_url()),
        &[("Authorization", &bearer(stack, "admin-user"))],
    )
    .await
}

#[tokio::test]
async fn every_hop_of_the_stack_is_a_named_link() {
    let stack = valueverse().await;
    assert_eq!(
        stack.links.names(),
        [
            "client->gateway",
            "gateway->value-architect",
            "gateway->value-committer",
            "value-committer->postgres",
            "value-committer->redis",
            "value-committer->value-architect",
        ]
    );
}

#[tokio::test]
async fn a_latency_toxic_on_a_gateway_hop_delays_only_that_service() {
    let stack = valueverse().await;
    assert_eq!(admin_get(&stack, "/api/v1/value-models").await.status, 200);
    stack
        .links
        .get("gateway->value-architect")
        .expect("link")
        .add_toxic_json(br#"{"type":"latency","attributes":{"latency":300}}"#)
        .expect("toxic");
    let watch = Stopwatch::start();
    assert_eq!(admin_get(&stack, "/api/v1/value-models").await.status, 200);
    let slowed = watch.elapsed();
    assert!(slowed >= Duration::from_millis(300), "{slowed:?}");
    let watch = Stopwatch::start();
    assert_eq!(admin_get(&stack, "/api/v1/commitments").await.status, 200);
    assert!(
        watch.elapsed() < Duration::from_millis(300),
        "value-committer is not slowed"
    );
}

#[tokio::test]
async fn reset_peer_on_a_gateway_hop_is_a_connection_failure_that_never_reaches_the_service() {
    let stack = valueverse().await;
    stack
        .links
        .get("gateway->value-architect")
        .expect("link")
        .add_toxic_json(br#"{"type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}"#)
        .expect("toxic");
    let response = admin_get(&stack, "/api/v1/value-models").await;
    assert_eq!(response.status, 502, "{}", response.text());
    let journal = &stack
        .service("value-architect")
        .expect("service")
        .inbound()
        .journal;
    assert_eq!(journal.count(), 0, "the request never reached the service");
}

#[tokio::test]
async fn a_disabled_gateway_hop_refuses_and_recovers_when_enabled() {
    let stack = valueverse().await;
    let link = stack.links.get("gateway->value-architect").expect("link");
    assert_eq!(admin_get(&stack, "/api/v1/value-models").await.status, 200);
    link.set_enabled(false);
    assert_eq!(admin_get(&stack, "/api/v1/value-models").await.status, 502);
    link.set_enabled(true);
    assert_eq!(admin_get(&stack, "/api/v1/value-models").await.status, 200);
}

#[tokio::test]
async fn a_timeout_toxic_ends_in_504_after_the_read_timeout_on_the_stack_clock() {
    let stack = valueverse().await;
    stack
        .links
        .get("gateway->value-architect")
        .expect("link")
        .add_toxic_json(br#"{"type":"timeout","attributes":{"timeout":0}}"#)
        .expect("toxic");
    let request = {
        let url = format!("{}/api/v1/value-models", stack.proxy_url());
        let auth = bearer(&stack, "admin-user");
        tokio::spawn(async move { get(&url, &[("Authorization", &auth)]).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!request.is_finished(), "held by the toxic");
    // Each attempt's 60 s read timeout passes on the stack clock.
    for _ in 0..8 {
        stack.clock.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(100)).await;
        if request.is_finished() {
            break;
        }
    }
    let response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("answered")
        .expect("task");
    assert_eq!(response.status, 504, "{}", response.text());
}

#[tokio::test]
async fn a_latency_on_a_mesh_hop_slows_the_caller_of_that_upstream() {
    let stack = valueverse().await;
    let link = stack
        .links
        .get("value-committer->value-architect")
        .expect("link");
    link.add_toxic_json(br#"{"type":"latency","attributes":{"latency":300}}"#)
        .expect("toxic");
    let body = serde_json::json!({
        "value_model_id": mock_services::SUPPLY_CHAIN_MODEL_ID,
        "owner": "finance-team",
        "target_date": "2026-03-31",
        "amount": 10.0,
    });
    let watch = Stopwatch::start();
    let response = send(
        http::Method::POST,
        &format!("{}/api/v1/commitments", stack.proxy_url()),
        &[("Authorization", &bearer(&stack, "admin-user"))],
        Some(body),
    )
    .await;
    let took = watch.elapsed();
    assert_eq!(response.status, 201, "{}", response.text());
    assert!(
        link.connections_opened() > 0,
        "the committer called through the link"
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn a_disabled_client_link_refuses_new_connections_at_the_port_until_enabled() {
    let stack = valueverse().await;
    let link = stack.links.get("client->gateway").expect("link");
    let addr = stack.gateway.proxy.addr();
    // A keep-alive connection opened before: the link closes it.
    let mut open = tokio::net::TcpStream::connect(addr).await.expect("connect");
    link.set_enabled(false);
    // Refused at the TCP level (the port is closed), not accepted and then closed.
    let mut refused = false;
    for _ in 0..100 {
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert!(refused, "a disabled client->gateway link still accepts");
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut open, &mut buf),
    )
    .await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the open connection is closed: {read:?}"
    );
    link.set_enabled(true);
    let mut status = 0;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            status = admin_get(&stack, "/api/v1/value-models").await.status;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, 200, "the same port serves again once enabled");
}
