//! Shared unit-test support: start mocks (or fake peers) on ephemeral loopback ports and call them
//! over real HTTP.

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::config::{MockConfig, MockKind, MockOptions};
use crate::server::{start, start_router, start_with, RunningMock};

/// Starts `kind` on `127.0.0.1:0` with default options.
pub(crate) async fn spawn(kind: MockKind, config: MockConfig) -> RunningMock {
    start(kind, bind().await, config).await
}

/// Starts `kind` on `127.0.0.1:0`.
pub(crate) async fn spawn_with(
    kind: MockKind,
    config: MockConfig,
    options: MockOptions,
) -> RunningMock {
    start_with(kind, bind().await, config, options).await
}

/// Serves a hand-written router (a fake peer) on `127.0.0.1:0`.
pub(crate) async fn spawn_router(app: Router) -> RunningMock {
    start_router(MockKind::ValueArchitect, bind().await, app)
}

async fn bind() -> TcpListener {
    match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(err) => panic!("cannot bind a loopback port: {err}"),
    }
}

/// A loopback address nothing listens on.
pub(crate) fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0");
    match listener.and_then(|l| l.local_addr()) {
        Ok(addr) => addr,
        Err(err) => panic!("cannot bind a loopback port: {err}"),
    }
}

/// A response read to the end.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON, `Null` when it is not JSON.
    pub json: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request and reads the whole response; panics on transport errors.
pub(crate) async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    match try_call(addr, method, path, headers, body).await {
        Ok(reply) => reply,
        Err(err) => panic!("{method} {path} on {addr} failed: {err}"),
    }
}

/// Like [`call`], returning transport errors.
pub(crate) async fn try_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply, String> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = Full::new(Bytes::from(body.unwrap_or_default().to_owned()));
    let request = request.body(body).map_err(|e| e.to_string())?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        headers,
        text,
        json,
    })
}
