//! Faults at a service's inbound stage and process faults, seen through the gateway the way a
//! client sees them (SPEC §7): what status comes back, how many attempts reached the service,
//! and whether the port is open.

mod support;

use std::time::Duration;

use gauntlet::chaos::fault::{Delay, FaultAction, FaultRule};
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

/// `GET path` through the gateway as admin-user, in the background.
fn spawn_admin_get(
    stack: &gauntlet::stack::Stack,
    path: &str,
) -> tokio::task::JoinHandle<gauntlet::http::client::ReceivedResponse> {
    let url = format!("{}{path}", stack.proxy_url());
    let auth = bearer(stack, "admin-user");
    tokio::spawn(async move { get(&url, &[("Authorization", &auth)]).await })
}

fn fault(stack: &gauntlet::stack::Stack, service: &str, action: FaultAction) {
    stack
        .service(service)
        .expect("service")
        .inbound()
        .faults
        .add(FaultRule::always(action))
        .expect("valid fault");
}

#[tokio::test]
async fn a_malformed_response_is_a_502_and_is_not_retried() {
    let stack = valueverse().await;
    fault(&stack, "value-architect", FaultAction::Malformed);
    let response = admin_get(&stack, "/api/v1/value-models").await;
    assert_eq!(response.status, 502);
    assert_eq!(
        response.json().unwrap()["message"],
        "An invalid response was received from the upstream server"
    );
    let journal = &stack.service("value-architect").unwrap().inbound().journal;
    assert_eq!(
        journal.count(),
        1,
        "one attempt: nginx does not retry invalid_header"
    );
    assert_eq!(
        journal.entries()[0].fault.as_deref(),
        Some("malformed response")
    );
}

#[tokio::test]
async fn an_abort_answers_envoys_fault_body_and_the_journal_keeps_no_credentials() {
    let stack = valueverse().await;
    fault(
        &stack,
        "value-architect",
        FaultAction::Abort {
            status: 503,
            body: None,
        },
    );
    let response = admin_get(&stack, "/api/v1/value-models").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.text(), "fault filter abort");
    let entry = &stack
        .service("value-architect")
        .unwrap()
        .inbound()
        .journal
        .entries()[0];
    assert_eq!(
        entry.headers.get("x-consumer-username").map(String::as_str),
        Some("admin-user")
    );
    assert!(!entry.headers.contains_key("authorization"));
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_a_service_resets_the_requests_in_flight() {
    let stack = valueverse().await;
    fault(&stack, "value-architect", FaultAction::Hang);
    let pending = spawn_admin_get(&stack, "/api/v1/value-models");
    let service = stack.service("value-architect").unwrap();
    assert_eq!(
        service
            .inbound()
            .journal
            .wait_for(1, Duration::from_secs(5))
            .await,
        1
    );
    service.kill().await.expect("kill");
    // The hung attempt is reset, the retries find the port closed: 502 at once, with no 30 s
    // read timeout (the clock never moves in this test).
    // Well under the 5 s a drain may take: a kill cuts at once.
    let response = tokio::time::timeout(Duration::from_secs(1), pending)
        .await
        .expect("answered without waiting for a timeout")
        .expect("request task");
    assert_eq!(response.status, 502);
    assert_eq!(
        service.inbound().journal.count(),
        1,
        "the retries found the port closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_lets_a_request_in_flight_finish_then_refuses_and_start_reopens_the_port() {
    let stack = valueverse().await;
    fault(
        &stack,
        "value-architect",
        FaultAction::Delay(Delay::FixedMs(200)),
    );
    let proxy = stack.proxy_url();
    let auth = bearer(&stack, "admin-user");
    let pending = spawn_admin_get(&stack, "/api/v1/value-models");
    let service = stack.service("value-architect").unwrap();
    service
        .inbound()
        .journal
        .wait_for(1, Duration::from_secs(5))
        .await;
    service.stop().await.expect("stop");
    assert_eq!(
        pending.await.unwrap().status,
        200,
        "the request in flight finished"
    );
    assert!(
        std::net::TcpStream::connect(service.addr()).is_err(),
        "port closed"
    );
    assert!(!service.is_running());

    service.start().await.expect("start");
    service.inbound().faults.clear();
    assert!(
        std::net::TcpStream::connect(service.addr()).is_ok(),
        "the same port is open again"
    );
    let models = get(
        &format!("{proxy}/api/v1/value-models"),
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(models.status, 200);
}

/// While a service is stopped its public port is refused, yet no other socket can take it: not
/// another listener, and not (through the same reservation) the local port of an outgoing
/// connection — under a concurrent suite one used to, and the start failed with `Address
/// already in use`.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_service_keeps_its_port_reserved_until_it_starts_again() {
    let stack = valueverse().await;
    let service = stack.service("value-committer").unwrap();
    let addr = service.addr();
    service.stop().await.expect("stop");
    let refused = std::net::TcpStream::connect(addr);
    assert!(
        matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "a stopped service's port refuses connections: {refused:?}"
    );
    let squatter = std::net::TcpListener::bind(addr);
    assert!(
        squatter.is_err(),
        "another listener took the stopped service's port {addr}"
    );
    let reuseaddr = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .and_then(|s| {
            s.set_reuse_address(true)?;
            s.bind(&addr.into())
        });
    assert!(
        reuseaddr.is_err(),
        "a SO_REUSEADDR socket bound the stopped service's port {addr}"
    );
    service.start().await.expect("start on the same port");
    assert_eq!(service.addr(), addr);
    assert!(std::net::TcpStream::connect(addr).is_ok(), "open again");
    service.kill().await.expect("kill");
    assert!(
        std::net::TcpListener::bind(addr).is_err(),
        "held after a kill"
    );
    service.start().await.expect("start after a kill");
    assert!(std::net::TcpStream::connect(addr).is_ok(), "open again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_sends_its_body_gets_408_after_60_seconds_of_stack_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = valueverse().await;
    let mut client = tokio::net::TcpStream::connect(stack.gateway.proxy.addr())
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/value-models HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 10\r\n\r\n",
        bearer(&stack, "admin-user")
    );
    client
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    // Let the gateway get as far as reading the body, then jump past the body timeout.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stack.clock.advance(Duration::from_secs(61));
    let mut reply = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut reply))
        .await
        .expect("answered after the jump")
        .expect("read");
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("x-circuit-breaker-state: closed"),
        "the request reached the breaker, so the answer says its state: {reply}"
    );
}

/// `gauntlet up` prints where each service itself listens (behind its sidecar): after a stop or
/// a kill and a start, that address is still the right one.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_service_keeps_its_own_port_as_well_as_its_public_one() {
    let stack = valueverse().await;
    for name in ["value-architect", "redis"] {
        let service = stack.service(name).unwrap();
        let (public, own) = (service.addr(), service.app_addr());
        service.stop().await.expect("stop");
        service.start().await.expect("start");
        assert_eq!(
            (service.addr(), service.app_addr()),
            (public, own),
            "{name}"
        );
        service.kill().await.expect("kill");
        service.start().await.expect("start");
        assert_eq!(
            (service.addr(), service.app_addr()),
            (public, own),
            "{name}"
        );
        assert!(
            std::net::TcpStream::connect(own).is_ok(),
            "{name} answers on {own}"
        );
    }
}

/// Pause freezes a service behind its open port (SPEC §7, as `docker pause` does on the
/// container target): its port still accepts, requests are journalled and then hang, for an
/// http service and a tcp store alike; unpause lets them go on and they succeed. A stopped
/// service cannot be paused; stopping a paused one drains what it held.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_service_holds_requests_behind_an_open_port_until_it_is_unpaused() {
    use gauntlet::service::{Health, ProcessFaultError};
    let stack = valueverse().await;
    let architect = stack.service("value-architect").unwrap();
    architect.pause().await.expect("pause");
    assert_eq!(architect.health(), Health::Paused);
    assert!(
        std::net::TcpStream::connect(architect.addr()).is_ok(),
        "a paused service's port stays open"
    );
    let held = spawn_admin_get(&stack, "/api/v1/value-models");
    architect
        .inbound()
        .journal
        .wait_for(1, Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "a paused service answers nothing");
    architect.unpause().await.expect("unpause");
    assert_eq!(architect.health(), Health::Up);
    let answer = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("answered once unpaused")
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());

    // A tcp store: value-committer's read of a commitment goes to redis, which waits.
    let redis = stack.service("redis").unwrap();
    redis.pause().await.expect("pause redis");
    let before = redis.inbound().journal.count();
    let held = spawn_admin_get(
        &stack,
        &format!(
            "/api/v1/commitments/{}",
            mock_services::SEEDED_COMMITMENT_ID
        ),
    );
    redis
        .inbound()
        .journal
        .wait_for(before + 1, Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "a paused redis answers nothing");
    redis.unpause().await.expect("unpause redis");
    let answer = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("answered once redis is unpaused")
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());

    // Stop drains what a paused service held; a stopped service cannot be paused.
    architect.pause().await.expect("pause again");
    let held = spawn_admin_get(&stack, "/api/v1/value-models");
    architect
        .inbound()
        .journal
        .wait_for(2, Duration::from_secs(5))
        .await;
    architect.stop().await.expect("stop");
    assert_eq!(architect.health(), Health::Stopped);
    assert_eq!(held.await.unwrap().status, 200, "drained by the stop");
    assert!(matches!(
        architect.pause().await,
        Err(ProcessFaultError::NotRunning { .. })
    ));
}

/// Partition through the control API cuts every link to or from the service; heal restores
/// them.
#[tokio::test(flavor = "multi_thread")]
async fn partition_cuts_every_link_of_a_service_and_heal_restores_them() {
    let stack = valueverse().await;
    let listener = gauntlet::http::server::bind_loopback(0).await.unwrap();
    let control = listener.local_addr().unwrap();
    let _server = gauntlet::http::server::serve_router(
        listener,
        gauntlet::api::control::router(stack.control_target()),
    )
    .unwrap();
    let act = |action: &str| {
        let url = format!("http://{control}/services/value-architect/{action}");
        async move { send(http::Method::POST, &url, &[], None).await }
    };
    let partitioned = act("partition").await;
    assert_eq!(partitioned.status, 200);
    let answer = partitioned.json().unwrap();
    let links: Vec<String> = serde_json::from_value(answer["links"].clone()).unwrap();
    assert!(
        links.contains(&"gateway->value-architect".to_string()),
        "{links:?}"
    );
    assert!(
        links.iter().all(|l| l.contains("value-architect")),
        "{links:?}"
    );
    let cut = admin_get(&stack, "/api/v1/value-models").await;
    assert!(cut.status >= 500, "partitioned: {}", cut.status);
    assert_eq!(act("heal").await.status, 200);
    stack
        .service("value-architect")
        .unwrap()
        .inbound()
        .faults
        .clear();
    let healed = admin_get(&stack, "/api/v1/value-models").await;
    assert!(
        healed.status == 200 || healed.header("x-circuit-breaker-state") == Some("OPEN"),
        "healed: {}",
        healed.status
    );
}
