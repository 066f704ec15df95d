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
    // Kong applies write_timeout while sending and read_timeout while waiting for the answer;
    // hyper does both in one future, so the attempt gets their sum (bodies here are buffered and
    // small, so sending is immediate on loopback).
    let limit = policy.write_timeout + policy.read_timeout;
    let mut request = request;
    // A pooled connection the upstream closed meanwhile hands the request back unsent; that is
    // not an attempt, so send it again on a fresh connection.
    if let Some(mut sender) = pool.checkout(addr) {
        match clock.timeout(limit, sender.try_send_request(request)).await {
            None => return Err(AttemptOutcome::ReadTimeout),
            Some(Ok(response)) => return Ok(finish(pool, addr, sender, response)),
            Some(Err(mut e)) => match e.take_message() {
                Some(unsent) => request = unsent,
                None => return Err(AttemptOutcome::SendFailed(e.into_error().to_string())),
            },
        }
    }
    let mut sender = connect(clock, addr, policy.connect_timeout).await?;
    match clock.timeout(limit, sender.send_request(request)).await {
        None => Err(AttemptOutcome::ReadTimeout),
        Some(Err(e)) => Err(AttemptOutcome::SendFailed(e.to_string())),
        Some(Ok(response)) => Ok(finish(pool, addr, sender, response)),
    }
}

/// Returns the connection to the pool (it becomes ready again once this response's body has
/// been read) and converts the body.
fn finish(
    pool: &Pool,
    addr: SocketAddr,
    sender: SendRequest<Body>,
    response: Response<Incoming>,
) -> Response<Body> {
    pool.checkin(addr, sender);
    response.map(|b: Incoming| b.map_err(Into::into).boxed())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn policy() -> CallPolicy {
        CallPolicy {
            retries: 3,
            connect_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
        }
    }

    fn parts(method: http::Method) -> http::request::Parts {
        let (parts, ()) = Request::builder()
            .method(method)
            .uri("/x")
            .body(())
            .expect("request")
            .into_parts();
        parts
    }

    /// A loopback upstream answering `status` (or never answering when `None`), counting hits.
    async fn upstream(
        status: Option<u16>,
    ) -> (SocketAddr, Arc<AtomicUsize>, crate::server::ServerHandle) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let listener = crate::server::bind_loopback(0).await.expect("bind");
        let handle = crate::server::serve(listener, move |_req, _peer| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match status {
                    Some(status) => {
                        let mut response = Response::new(full("x"));
                        *response.status_mut() =
                            http::StatusCode::from_u16(status).expect("status");
                        response
                    }
                    None => std::future::pending().await,
                }
            }
        })
        .expect("serve");
        (handle.addr(), hits, handle)
    }

    #[tokio::test]
    async fn refused_connections_are_tried_retries_plus_one_times() {
        let (addr, _, handle) = upstream(Some(200)).await;
        handle.shutdown().await;
        let result = call(
            &Pool::default(),
            &StackClock::new(),
            addr,
            &parts(http::Method::POST),
            Bytes::new(),
            policy(),
        )
        .await;
        assert_eq!(result.attempts.len(), 4);
        assert!(matches!(
            result.response,
            Err(AttemptOutcome::ConnectFailed(_))
        ));
    }

    #[tokio::test]
    async fn an_http_error_response_is_not_retried() {
        let (addr, hits, _handle) = upstream(Some(503)).await;
        let result = call(
            &Pool::default(),
            &StackClock::new(),
            addr,
            &parts(http::Method::GET),
            Bytes::new(),
            policy(),
        )
        .await;
        assert_eq!(result.response.expect("a response").status(), 503);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(result.attempts, vec![AttemptOutcome::Response(503)]);
    }

    /// Advances `clock` past every read timeout until `done` is set.
    fn keep_jumping(clock: StackClock) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                clock.advance(Duration::from_secs(61));
            }
        })
    }

    #[tokio::test]
    async fn a_get_that_times_out_is_retried_on_the_stack_clock() {
        let (addr, hits, _handle) = upstream(None).await;
        let clock = StackClock::new();
        let jumper = keep_jumping(clock.clone());
        let result = call(
            &Pool::default(),
            &clock,
            addr,
            &parts(http::Method::GET),
            Bytes::new(),
            policy(),
        )
        .await;
        jumper.abort();
        assert!(matches!(result.response, Err(AttemptOutcome::ReadTimeout)));
        assert_eq!(result.attempts.len(), 4);
        assert_eq!(hits.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_post_that_was_sent_is_not_retried_after_a_timeout() {
        let (addr, hits, _handle) = upstream(None).await;
        let clock = StackClock::new();
        let jumper = keep_jumping(clock.clone());
        let result = call(
            &Pool::default(),
            &clock,
            addr,
            &parts(http::Method::POST),
            Bytes::new(),
            policy(),
        )
        .await;
        jumper.abort();
        assert_eq!(result.attempts, vec![AttemptOutcome::ReadTimeout]);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_by_the_upstream_is_replaced_transparently() {
        let (addr, hits, handle) = upstream(Some(200)).await;
        let pool = Pool::default();
        let clock = StackClock::new();
        let first = call(
            &pool,
            &clock,
            addr,
            &parts(http::Method::POST),
            Bytes::new(),
            policy(),
        )
        .await;
        let body = first
            .response
            .expect("first response")
            .into_body()
            .collect()
            .await;
        assert!(body.is_ok());
        // Restart the upstream on the same port: the pooled connection is now dead.
        handle.shutdown().await;
        let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        let counter = hits.clone();
        let _handle = crate::server::serve(listener, move |_req, _peer| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Response::new(full("again")) }
        })
        .expect("serve");
        let second = call(
            &pool,
            &clock,
            addr,
            &parts(http::Method::POST),
            Bytes::new(),
            policy(),
        )
        .await;
        assert_eq!(second.response.expect("second response").status(), 200);
        assert_eq!(second.attempts, vec![AttemptOutcome::Response(200)]);
    }
}
