//! The Toxiproxy API in process: shapes, statuses and error bodies as Toxiproxy 2.x answers.

use std::net::SocketAddr;

use axum::body::Body;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::clock::StackClock;

fn links() -> Links {
    let links = Links::new(1, StackClock::new());
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    links.declare("gateway->value-architect", addr, addr);
    links
}

async fn call(
    links: &Links,
    method: Method,
    path: &str,
    body: &str,
) -> (StatusCode, String, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, content_type, body) =
        crate::api::call_router(router(links.clone()), request).await;
    let value = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body.trim()).expect("JSON body")
    };
    (status, content_type, value)
}

#[tokio::test]
async fn version_and_proxies_have_toxiproxy_shapes() {
    let links = links();
    let (status, content_type, body) = call(&links, Method::GET, "/version", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json;charset=utf-8");
    assert!(body["version"].as_str().expect("version").starts_with("2."));
    let (status, _, body) = call(&links, Method::GET, "/proxies", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"gateway->value-architect": {"name": "gateway->value-architect",
            "listen": "127.0.0.1:9", "upstream": "127.0.0.1:9", "enabled": true, "toxics": []}})
    );
}

#[tokio::test]
async fn toxics_are_added_listed_updated_and_removed_with_toxiproxy_statuses() {
    let links = links();
    let base = "/proxies/gateway-%3Evalue-architect/toxics";
    let (status, _, toxic) = call(
        &links,
        Method::POST,
        base,
        r#"{"name":"slow","type":"latency","attributes":{"latency":200,"jitter":20}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "Toxiproxy answers 200, not 201");
    assert_eq!(toxic["stream"], "downstream");
    let (status, _, error) = call(
        &links,
        Method::POST,
        base,
        r#"{"name":"slow","type":"timeout"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error,
        json!({"error": "toxic already exists", "status": 409})
    );
    let (status, _, listed) = call(&links, Method::GET, base, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (status, _, updated) = call(
        &links,
        Method::PATCH,
        &format!("{base}/slow"),
        r#"{"attributes":{"latency":300}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["attributes"], json!({"latency": 300, "jitter": 20}));
    let (status, _, _) = call(&links, Method::DELETE, &format!("{base}/slow"), "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, content_type, error) =
        call(&links, Method::GET, &format!("{base}/slow"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert_eq!(error, json!({"error": "toxic not found", "status": 404}));
}

#[tokio::test]
async fn bad_requests_name_the_problem_and_change_nothing() {
    let links = links();
    for (path, body, status, needle) in [
        (
            "/proxies/nowhere/toxics",
            r#"{"type":"latency"}"#,
            404,
            "proxy not found",
        ),
        (
            "/proxies/gateway-%3Evalue-architect/toxics",
            "{",
            400,
            "bad request body",
        ),
        (
            "/proxies/gateway-%3Evalue-architect/toxics",
            r#"{"type":"lag"}"#,
            400,
            "invalid toxic type",
        ),
        (
            "/proxies/gateway-%3Evalue-architect/toxics",
            r#"{"type":"latency","stream":"up"}"#,
            400,
            "stream was invalid",
        ),
        (
            "/proxies/gateway-%3Evalue-architect/toxics",
            r#"{"type":"latency","toxicity":2}"#,
            400,
            "toxicity",
        ),
        (
            "/proxies",
            r#"{"upstream":"127.0.0.1:1"}"#,
            400,
            "missing required field: name",
        ),
        (
            "/proxies",
            r#"{"name":"x","upstream":"10.0.0.1:80"}"#,
            400,
            "loopback",
        ),
        (
            "/proxies",
            r#"{"name":"gateway->value-architect","upstream":"127.0.0.1:1"}"#,
            409,
            "proxy already exists",
        ),
    ] {
        let (got, _, error) = call(&links, Method::POST, path, body).await;
        assert_eq!(got.as_u16(), status, "{path} {body}: {error}");
        assert_eq!(error["status"], status);
        assert!(
            error["error"].as_str().expect("error").contains(needle),
            "{error}"
        );
    }
    let (_, _, listed) = call(&links, Method::GET, "/proxies", "").await;
    assert_eq!(listed.as_object().map(|o| o.len()), Some(1));
    let (status, _, error) = call(
        &links,
        Method::DELETE,
        "/proxies/gateway-%3Evalue-architect",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
}

#[tokio::test]
async fn disabling_and_reset_follow_toxiproxy() {
    let links = links();
    let path = "/proxies/gateway-%3Evalue-architect";
    let (status, _, proxy) = call(&links, Method::POST, path, r#"{"enabled":false}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(proxy["enabled"], false);
    call(
        &links,
        Method::POST,
        &format!("{path}/toxics"),
        r#"{"type":"timeout"}"#,
    )
    .await;
    let (status, _, body) = call(&links, Method::POST, "/reset", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (_, _, proxy) = call(&links, Method::GET, path, "").await;
    assert_eq!(proxy["enabled"], true);
    assert_eq!(proxy["toxics"], json!([]));
}

#[tokio::test]
async fn an_extra_link_forwards_to_a_loopback_process_with_its_toxics() {
    let links = links();
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_addr = upstream.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = upstream.accept().await {
            let _ = socket.write_all(b"0123456789").await;
        }
    });
    let (status, _, proxy) = call(
        &links,
        Method::POST,
        "/proxies",
        &format!(r#"{{"name":"db","listen":"localhost:0","upstream":"{upstream_addr}"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{proxy}");
    let listen: SocketAddr = proxy["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("bound address");
    assert_ne!(listen.port(), 0);
    call(
        &links,
        Method::POST,
        "/proxies/db/toxics",
        r#"{"type":"limit_data","attributes":{"bytes":4}}"#,
    )
    .await;
    let mut client = tokio::net::TcpStream::connect(listen)
        .await
        .expect("connect");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.read_to_end(&mut got),
    )
    .await;
    assert_eq!(got, b"0123");
    let (status, _, _) = call(&links, Method::DELETE, "/proxies/db", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "the listener is closed"
    );
}
