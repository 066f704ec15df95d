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
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::link::LinkStream;

use super::breaker::{BreakerState, Recorded};
use crate::clock::{StackClock, StackInstant};
use crate::http::body::{full, Body, BoxError};
use crate::outcome::{is_idempotent, AttemptOutcome};

/// How the gateway reaches one service: its public address and, with a mesh, the mTLS it
/// speaks there (the gateway's leaf, the service's expected SPIFFE ID).
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub tls: Option<MeshTls>,
    /// The hop `gateway-><service>` (SPEC §7.1): its toxics act on the bytes under TLS.
    pub link: Option<Arc<crate::link::Link>>,
}

/// A TLS client config for one destination, and the SNI to send.
#[derive(Debug, Clone)]
pub struct MeshTls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: rustls_pki_types::ServerName<'static>,
}

/// Where each service (by Kong service name) can be reached right now.
#[derive(Debug, Clone, Default)]
pub struct UpstreamAddrs {
    inner: Arc<RwLock<HashMap<String, Arc<Upstream>>>>,
}

impl UpstreamAddrs {
    pub fn set(&self, service: &str, upstream: Upstream) {
        if let Ok(mut map) = self.inner.write() {
            map.insert(service.to_string(), Arc::new(upstream));
        }
    }

    /// Shared, so the request path copies no TLS config or server name.
    pub fn get(&self, service: &str) -> Option<Arc<Upstream>> {
        self.inner.read().ok()?.get(service).cloned()
    }
}

/// Timeouts and retries of one Kong service. (`write_timeout` has nothing to limit: see
/// [`attempt`].)
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    pub retries: u32,
    pub connect_timeout: Duration,
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
    idle: Arc<Mutex<HashMap<SocketAddr, Vec<Idle>>>>,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<Body>,
    since: StackInstant,
}

const MAX_IDLE_PER_ADDR: usize = 512;

/// How long an unused upstream connection is kept (Kong's `upstream_keepalive_idle_timeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Pool {
    fn checkout(&self, addr: SocketAddr, now: StackInstant) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().ok()?;
        let senders = idle.get_mut(&addr)?;
        senders.retain(|i| {
            !i.sender.is_closed() && now.saturating_duration_since(i.since) < IDLE_TIMEOUT
        });
        let ready = senders.iter().position(|i| i.sender.is_ready())?;
        Some(senders.swap_remove(ready).sender)
    }

    fn checkin(&self, addr: SocketAddr, sender: SendRequest<Body>, now: StackInstant) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let senders = idle.entry(addr).or_default();
            if senders.len() < MAX_IDLE_PER_ADDR {
                senders.push(Idle { sender, since: now });
            }
        }
    }
}

/// The one retry decision: whether another attempt follows a failed one.
///
/// - Kong's `proxy_next_upstream error timeout` ([`AttemptOutcome::is_retryable`]): connection
///   errors and timeouts are retried, responses never, a non-idempotent request not once it
///   may have been sent;
/// - at most `retries` retries (`retries + 1` attempts);
/// - with a circuit breaker (SPEC §5), not once it is OPEN, nor once it has left the state the
///   request was admitted under (the retries of a request admitted while CLOSED must not
///   bypass the HALF-OPEN trial limit).
pub fn should_retry(
    outcome: &AttemptOutcome,
    method: &http::Method,
    attempts_made: usize,
    policy: &CallPolicy,
    breaker: Option<Recorded>,
) -> bool {
    let breaker_allows =
        breaker.is_none_or(|b| b.admission_current && b.state != BreakerState::Open);
    let attempts_made = u32::try_from(attempts_made).unwrap_or(u32::MAX);
    breaker_allows
        && outcome.is_retryable(method)
        && attempts_made < policy.retries.saturating_add(1)
}

/// Sends `parts` + `body` to `addr`, retrying as [`should_retry`] decides.
///
/// `record` sees every attempt's outcome as it happens and returns what the circuit breaker
/// made of it, if the request has one.
pub async fn call(
    pool: &Pool,
    clock: &StackClock,
    upstream: &Upstream,
    parts: &http::request::Parts,
    body: Bytes,
    policy: CallPolicy,
    mut record: impl FnMut(&AttemptOutcome) -> Option<Recorded>,
) -> CallResult {
    let mut attempts = Vec::new();
    loop {
        match attempt(pool, clock, upstream, parts, &body, policy).await {
            Ok(response) => {
                let outcome = AttemptOutcome::Response(response.status().as_u16());
                record(&outcome);
                attempts.push(outcome);
                return CallResult {
                    response: Ok(response),
                    attempts,
                };
            }
            Err(outcome) => {
                let breaker = record(&outcome);
                attempts.push(outcome.clone());
                if !should_retry(&outcome, &parts.method, attempts.len(), &policy, breaker) {
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

/// One attempt: a pooled connection if one is ready, else a new one.
///
/// `read_timeout` limits the wait for the response headers and then every wait for the next
/// piece of the body (nginx's "between two successive read operations"). The request body is
/// buffered, so writing it to a loopback socket never waits and `write_timeout` has nothing to
/// limit.
async fn attempt(
    pool: &Pool,
    clock: &StackClock,
    upstream: &Upstream,
    parts: &http::request::Parts,
    body: &Bytes,
    policy: CallPolicy,
) -> Result<Response<Body>, AttemptOutcome> {
    let addr = upstream.addr;
    let limit = policy.read_timeout;
    if let Some(mut sender) = pool.checkout(addr, clock.now()) {
        let request = rebuild(parts, body.clone());
        match clock.timeout(limit, sender.try_send_request(request)).await {
            None => return Err(AttemptOutcome::ReadTimeout),
            Some(Ok(response)) => return Ok(finish(pool, clock, addr, sender, response, limit)),
            Some(Err(mut e)) => {
                let unsent = e.take_message().is_some();
                let error = e.into_error();
                // A kept-alive connection the upstream closed meanwhile: like nginx with a cached
                // connection, that try does not count; send again on a fresh connection. A POST
                // only when it was provably not sent.
                let stale = unsent
                    || (is_idempotent(&parts.method)
                        && (error.is_incomplete_message() || error.is_canceled()));
                if !stale {
                    return Err(classify(&error));
                }
            }
        }
    }
    let mut sender = connect(clock, upstream, policy.connect_timeout).await?;
    match clock
        .timeout(limit, sender.send_request(rebuild(parts, body.clone())))
        .await
    {
        None => Err(AttemptOutcome::ReadTimeout),
        Some(Err(e)) => Err(classify(&e)),
        Some(Ok(response)) => Ok(finish(pool, clock, addr, sender, response, limit)),
    }
}

/// A response nginx cannot parse is `invalid_header` (not retried by default); anything else
/// after connecting is a broken connection.
fn classify(error: &hyper::Error) -> AttemptOutcome {
    if error.is_parse() || error.is_parse_status() || error.is_parse_too_large() {
        AttemptOutcome::InvalidResponse(error.to_string())
    } else {
        AttemptOutcome::SendFailed(error.to_string())
    }
}

/// Returns the connection to the pool (it becomes ready again once this response's body has
/// been read) and puts the read timeout on the body.
fn finish(
    pool: &Pool,
    clock: &StackClock,
    addr: SocketAddr,
    sender: SendRequest<Body>,
    response: Response<Incoming>,
    read_timeout: Duration,
) -> Response<Body> {
    pool.checkin(addr, sender, clock.now());
    let clock = clock.clone();
    response.map(|inner| {
        TimedBody {
            inner,
            clock,
            read_timeout,
            waiting: None,
        }
        .boxed()
    })
}

/// A streamed upstream body whose every read must complete within `read_timeout` of stack time;
/// a stalled upstream ends the body with an error (the client sees the connection cut).
struct TimedBody {
    inner: Incoming,
    clock: StackClock,
    read_timeout: Duration,
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = None;
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let waiting = this.waiting.get_or_insert_with(|| {
                    let clock = this.clock.clone();
                    let limit = this.read_timeout;
                    Box::pin(async move { clock.sleep(limit).await })
                });
                match waiting.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                        "upstream body stalled for more than read_timeout ({} ms)",
                        this.read_timeout.as_millis()
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A new connection: TCP, then (with a mesh) the mTLS handshake, both within `timeout` of stack
/// time. A destination presenting another identity fails the handshake here: a connection
/// failure, retried like a refused connection. (A sidecar refusing *our* certificate shows only
/// on the first read under TLS 1.3, as a broken connection.)
async fn connect(
    clock: &StackClock,
    upstream: &Upstream,
    timeout: Duration,
) -> Result<SendRequest<Body>, AttemptOutcome> {
    let connecting = async {
        let stream: Box<dyn Io> = match &upstream.link {
            None => {
                let stream = TcpStream::connect(upstream.addr)
                    .await
                    .map_err(|e| AttemptOutcome::ConnectFailed(e.to_string()))?;
                let _ = stream.set_nodelay(true);
                Box::new(stream)
            }
            Some(link) => Box::new(
                LinkStream::connect(link.clone(), upstream.addr)
                    .await
                    .map_err(|e| AttemptOutcome::ConnectFailed(e.to_string()))?,
            ),
        };
        match &upstream.tls {
            None => Ok(stream),
            Some(tls) => tokio_rustls::TlsConnector::from(tls.config.clone())
                .connect(tls.server_name.clone(), stream)
                .await
                .map(|s| Box::new(s) as Box<dyn Io>)
                .map_err(|e| AttemptOutcome::ConnectFailed(format!("mesh TLS handshake: {e}"))),
        }
    };
    let io = match clock.timeout(timeout, connecting).await {
        None => return Err(AttemptOutcome::ConnectTimeout),
        Some(result) => result?,
    };
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| AttemptOutcome::ConnectFailed(e.to_string()))?;
    tokio::spawn(async move {
        // The connection ends when the upstream closes it or the sender is dropped.
        let _ = connection.await;
    });
    Ok(sender)
}

/// A byte stream to an upstream: plain TCP or mTLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn policy() -> CallPolicy {
        CallPolicy {
            retries: 3,
            connect_timeout: Duration::from_secs(30),
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

    /// One call to `addr` with the test policy.
    async fn call_with(
        pool: &Pool,
        clock: &StackClock,
        addr: SocketAddr,
        method: http::Method,
    ) -> CallResult {
        call(
            pool,
            clock,
            &Upstream {
                addr,
                tls: None,
                link: None,
            },
            &parts(method),
            Bytes::new(),
            policy(),
            |_| None,
        )
        .await
    }

    /// A loopback upstream answering `status` (or never answering when `None`), counting hits.
    async fn upstream(
        status: Option<u16>,
    ) -> (
        SocketAddr,
        Arc<AtomicUsize>,
        crate::http::server::ServerHandle,
    ) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let listener = crate::http::server::bind_loopback(0).await.expect("bind");
        let handle = crate::http::server::serve(listener, move |_req, _peer| {
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
        let result = call_with(
            &Pool::default(),
            &StackClock::new(),
            addr,
            http::Method::POST,
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
        let result = call_with(
            &Pool::default(),
            &StackClock::new(),
            addr,
            http::Method::GET,
        )
        .await;
        assert_eq!(result.response.expect("a response").status(), 503);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(result.attempts, vec![AttemptOutcome::Response(503)]);
    }

    /// Keeps advancing `clock` by 31 s: past the 30 s read timeout, not past write + read.
    fn keep_jumping(clock: StackClock) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                clock.advance(Duration::from_secs(31));
            }
        })
    }

    /// A raw TCP upstream that writes `reply` to every connection and then holds it open.
    async fn raw_upstream(
        reply: &'static [u8],
    ) -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = crate::http::server::bind_loopback(0).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(reply).await;
                    std::future::pending::<()>().await;
                    drop(stream);
                });
            }
        });
        (addr, hits, task)
    }

    #[tokio::test]
    async fn a_malformed_response_is_one_attempt_and_not_retried() {
        let (addr, hits, task) = raw_upstream(b"garbage that is not http\r\n\r\n").await;
        let result = call_with(
            &Pool::default(),
            &StackClock::new(),
            addr,
            http::Method::GET,
        )
        .await;
        task.abort();
        assert!(
            matches!(result.response, Err(AttemptOutcome::InvalidResponse(_))),
            "{:?}",
            result.attempts
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_that_stalls_longer_than_read_timeout_is_cut() {
        let (addr, _, task) =
            raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n7 bytes").await;
        let clock = StackClock::new();
        let result = call_with(&Pool::default(), &clock, addr, http::Method::GET).await;
        let response = result.response.expect("headers arrive");
        let jumper = keep_jumping(clock.clone());
        let body =
            tokio::time::timeout(Duration::from_secs(5), response.into_body().collect()).await;
        jumper.abort();
        task.abort();
        let error = body
            .expect("the body ends within 5 real seconds")
            .expect_err("a stalled body is an error");
        assert!(error.to_string().contains("read_timeout"), "{error}");
    }

    #[tokio::test]
    async fn a_get_that_times_out_is_retried_on_the_stack_clock() {
        let (addr, hits, _handle) = upstream(None).await;
        let clock = StackClock::new();
        let jumper = keep_jumping(clock.clone());
        let result = call_with(&Pool::default(), &clock, addr, http::Method::GET).await;
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
        let result = call_with(&Pool::default(), &clock, addr, http::Method::POST).await;
        jumper.abort();
        assert_eq!(result.attempts, vec![AttemptOutcome::ReadTimeout]);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_by_the_upstream_is_replaced_transparently() {
        let (addr, hits, handle) = upstream(Some(200)).await;
        let pool = Pool::default();
        let clock = StackClock::new();
        let first = call_with(&pool, &clock, addr, http::Method::POST).await;
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
        let _handle = crate::http::server::serve(listener, move |_req, _peer| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Response::new(full("again")) }
        })
        .expect("serve");
        let second = call_with(&pool, &clock, addr, http::Method::POST).await;
        assert_eq!(second.response.expect("second response").status(), 200);
        assert_eq!(second.attempts, vec![AttemptOutcome::Response(200)]);
    }
}
