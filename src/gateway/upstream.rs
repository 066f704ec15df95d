//! Calls the service behind a route: connection pool, per-attempt timeouts on the stack clock,
//! and Kong's retry rules (last pipeline stage).
//!
//! ```text
//!   proxy request ──► attempt 1 ──(connect error / timeout, retryable)──► attempt 2 … retries+1
//!                        │                                                     │
//!                        └── response headers ──► streamed back to the client ◄┘
//! ```
//! The request body is buffered (Kong's default `request_buffering`) so a retry can resend it;
//! the response body is streamed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::body::{full, Body};
use super::outcome::AttemptOutcome;
use crate::clock::StackClock;

/// Where each service (by Kong service name) can be reached right now. The stack updates it when
/// a service restarts on another port.
#[derive(Debug, Clone, Default)]
pub struct UpstreamAddrs {
    inner: Arc<RwLock<HashMap<String, SocketAddr>>>,
}

impl UpstreamAddrs {
    pub fn set(&self, service: &str, addr: SocketAddr) {
        if let Ok(mut map) = self.inner.write() {
            map.insert(service.to_string(), addr);
        }
    }

    pub fn get(&self, service: &str) -> Option<SocketAddr> {
        self.inner.read().ok()?.get(service).copied()
    }
}

/// Timeouts and retries of one Kong service.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    pub retries: u32,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    pub read_timeout: Duration,
}

/// The result of calling an upstream: the final response or the last failed attempt, and every
/// attempt's outcome in order.
pub struct CallResult {
    pub response: Result<Response<Body>, AttemptOutcome>,
    pub attempts: Vec<AttemptOutcome>,
}

/// A keep-alive pool of HTTP/1.1 connections per upstream address.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    idle: Arc<Mutex<HashMap<SocketAddr, Vec<SendRequest<Body>>>>>,
}

const MAX_IDLE_PER_ADDR: usize = 512;

impl Pool {
    fn checkout(&self, addr: SocketAddr) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().ok()?;
        let senders = idle.get_mut(&addr)?;
        senders.retain(|s| !s.is_closed());
        let ready = senders.iter().position(|s| s.is_ready())?;
        Some(senders.swap_remove(ready))
    }

    fn checkin(&self, addr: SocketAddr, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let senders = idle.entry(addr).or_default();
            if senders.len() < MAX_IDLE_PER_ADDR {
                senders.push(sender);
            }
        }
    }

    /// Drops every pooled connection to `addr` (a service was stopped or restarted).
    pub fn forget(&self, addr: SocketAddr) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.remove(&addr);
        }
    }
}

/// Sends `parts` + `body` to `addr` with up to `policy.retries` retries.
pub async fn call(
    pool: &Pool,
    clock: &StackClock,
    addr: SocketAddr,
    parts: &http::request::Parts,
    body: Bytes,
    policy: CallPolicy,
) -> CallResult {
    let mut attempts = Vec::new();
    let max_attempts = policy.retries.saturating_add(1);
    loop {
        let request = rebuild(parts, body.clone());
        match attempt(pool, clock, addr, request, policy).await {
            Ok(response) => {
                attempts.push(AttemptOutcome::Response(response.status().as_u16()));
                return CallResult {
                    response: Ok(response),
                    attempts,
                };
            }
            Err(outcome) => {
                attempts.push(outcome.clone());
                let retry = outcome.is_retryable(&parts.method)
                    && u32::try_from(attempts.len()).unwrap_or(u32::MAX) < max_attempts;
                if !retry {
                    return CallResult {
                        response: Err(outcome),
                        attempts,
                    };
                }
            }
        }
    }
}

fn rebuild(parts: &http::request::Parts, body: Bytes) -> Request<Body> {
    let mut request = Request::new(full(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = http::Version::HTTP_11;
    *request.headers_mut() = parts.headers.clone();
    request
}

async fn attempt(
    pool: &Pool,
    clock: &StackClock,
    addr: SocketAddr,
    request: Request<Body>,
    policy: CallPolicy,
) -> Result<Response<Body>, AttemptOutcome> {
    let mut sender = match pool.checkout(addr) {
        Some(sender) => sender,
        None => connect(clock, addr, policy.connect_timeout).await?,
    };
    // Kong applies write_timeout while sending and read_timeout while waiting for the answer;
    // hyper does both in one future, so the attempt gets their sum (bodies here are buffered and
    // small, so sending is immediate on loopback).
    let limit = policy.write_timeout + policy.read_timeout;
    match clock.timeout(limit, sender.send_request(request)).await {
        None => Err(AttemptOutcome::ReadTimeout),
        Some(Err(e)) => Err(AttemptOutcome::SendFailed(e.to_string())),
        Some(Ok(response)) => {
            pool.checkin(addr, sender);
            Ok(response.map(|b: Incoming| b.map_err(Into::into).boxed()))
        }
    }
}

async fn connect(
    clock: &StackClock,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<SendRequest<Body>, AttemptOutcome> {
    let stream = match clock.timeout(timeout, TcpStream::connect(addr)).await {
        None => return Err(AttemptOutcome::ConnectTimeout),
        Some(Err(e)) => return Err(AttemptOutcome::ConnectFailed(e.to_string())),
        Some(Ok(stream)) => stream,
    };
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| AttemptOutcome::ConnectFailed(e.to_string()))?;
    tokio::spawn(async move {
        // The connection ends when the upstream closes it or the sender is dropped.
        let _ = connection.await;
    });
    Ok(sender)
}
