//! The inbound side of a service's sidecar: the address callers (the gateway, other services)
//! use for the service. It journals every request, applies the service's HTTP faults, then
//! passes the request to the local service. It also carries the process faults: `stop` closes
//! the port (callers get connection refused), `kill` also resets every open connection.
//!
//! ```text
//!   caller ──► public port ──► journal ──► faults ──┬─► local service (app address)
//!                                                  ├─► abort: status + body
//!                                                  ├─► hang: never answers
//!                                                  └─► reset / malformed: the connection is taken over
//! ```
//! The mesh puts mTLS and intentions in front of this stage; the stage itself does not change.
//!
//! # Stage contract
//! A fault never loses a request silently: it is in the journal with what was done to it. A
//! connection the stage takes over (reset, malformed) is never returned to HTTP serving.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::journal::Journal;
use crate::chaos::fault::{FaultSet, Terminal};
use crate::clock::StackClock;
use crate::gateway::body::{full, Body, BoxError};
use crate::server::bind_loopback;

/// Envoy's body for a fault-filter abort without a configured body.
pub const ABORT_BODY: &str = "fault filter abort";
/// Envoy's local reply when the local service refuses the connection.
pub const APP_UNREACHABLE_BODY: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
/// What a `malformed` fault writes instead of an HTTP response.
pub const MALFORMED_RESPONSE: &[u8] = b"GAUNTLET MALFORMED RESPONSE\r\n\r\n";
/// How long `stop` lets requests in flight finish before cutting them.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// How the stage's connections should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    Serving,
    /// Finish requests in flight, close idle connections.
    Draining,
    /// Reset every connection now.
    Killed,
}

/// What a request handler asks its connection to do with the socket.
#[derive(Debug, Clone, Copy)]
enum Takeover {
    Reset,
    Malformed,
}

#[derive(Debug)]
struct Listening {
    lifecycle: watch::Sender<Lifecycle>,
    /// Fires once the listener is closed.
    closed: Option<oneshot::Receiver<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// The inbound stage of one service.
#[derive(Debug)]
pub struct Inbound {
    service: String,
    /// The public port; stays the same across stop and start.
    port: u16,
    /// Where the local service listens now.
    app: RwLock<SocketAddr>,
    pub faults: FaultSet,
    pub journal: Journal,
    clock: StackClock,
    client: Client<HttpConnector, Body>,
    listening: Mutex<Option<Listening>>,
}

impl Inbound {
    /// Starts serving `listener` for `service`, passing requests to `app`. Fault choices follow
    /// `seed`.
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn start(
        service: &str,
        listener: TcpListener,
        app: SocketAddr,
        clock: StackClock,
        seed: u64,
    ) -> std::io::Result<Arc<Inbound>> {
        let port = listener.local_addr()?.port();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let inbound = Arc::new(Inbound {
            service: service.to_string(),
            port,
            app: RwLock::new(app),
            faults: FaultSet::new(seed),
            journal: Journal::default(),
            clock,
            client: Client::builder(TokioExecutor::new()).build(connector),
            listening: Mutex::new(None),
        });
        inbound.listen(listener);
        Ok(inbound)
    }

    /// The public address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Points the stage at the local service's new address (after a restart).
    pub fn set_app(&self, app: SocketAddr) {
        if let Ok(mut a) = self.app.write() {
            *a = app;
        }
    }

    /// Whether the public port is open.
    pub fn is_listening(&self) -> bool {
        self.lock().is_some()
    }

    /// Opens the public port again (after [`Inbound::close`]).
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub async fn reopen(self: &Arc<Self>) -> std::io::Result<()> {
        if self.is_listening() {
            return Ok(());
        }
        let listener = bind_loopback(self.port).await?;
        self.listen(listener);
        Ok(())
    }

    /// Closes the public port. With `kill`, every open connection is reset at once and this
    /// returns once the port is closed; otherwise idle connections are closed and this returns
    /// once the requests in flight have finished (at most [`DRAIN_GRACE`], then they are cut).
    pub async fn close(&self, kill: bool) {
        let Some(mut listening) = self.lock().take() else {
            return;
        };
        let _ = listening.lifecycle.send(if kill {
            Lifecycle::Killed
        } else {
            Lifecycle::Draining
        });
        if let Some(closed) = listening.closed.take() {
            let _ = closed.await;
        }
        if !kill {
            // The task ends once every connection has drained (or the grace period is over).
            let _ = (&mut listening.task).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Listening>> {
        self.listening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn listen(self: &Arc<Self>, listener: TcpListener) {
        let (lifecycle, mut watch_rx) = watch::channel(Lifecycle::Serving);
        let (closed_tx, closed_rx) = oneshot::channel();
        let inbound = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let Some(inbound) = inbound.upgrade() else { break };
                        let _ = stream.set_nodelay(true);
                        connections.spawn(inbound.connection(stream, watch_rx.clone()));
                    }
                    changed = watch_rx.changed() => {
                        if changed.is_err() || *watch_rx.borrow() != Lifecycle::Serving {
                            break;
                        }
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            drop(listener);
            let _ = closed_tx.send(());
            // Draining connections get a grace period; dropping the set aborts the rest.
            let _ = tokio::time::timeout(DRAIN_GRACE, async {
                while connections.join_next().await.is_some() {}
            })
            .await;
        });
        *self.lock() = Some(Listening {
            lifecycle,
            closed: Some(closed_rx),
            task,
        });
    }

    /// Serves one connection until it ends, is drained, killed, or taken over by a fault.
    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        mut lifecycle: watch::Receiver<Lifecycle>,
    ) {
        // A second handle on the socket, so a fault can reset it or write raw bytes once HTTP
        // serving has let go of it.
        let Ok(std_stream) = stream.into_std() else {
            return;
        };
        let Ok(spare) = std_stream.try_clone() else {
            return;
        };
        let Ok(stream) = TcpStream::from_std(std_stream) else {
            return;
        };
        let (takeover_tx, mut takeover_rx) = mpsc::channel::<Takeover>(1);
        let inbound = self.clone();
        let service = service_fn(move |request| {
            let inbound = inbound.clone();
            let takeover = takeover_tx.clone();
            async move { Ok::<_, Infallible>(inbound.handle(request, takeover).await) }
        });
        let mut conn = Box::pin(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service),
        );
        let takeover = loop {
            tokio::select! {
                _ = conn.as_mut() => return,
                Some(takeover) = takeover_rx.recv() => break takeover,
                changed = lifecycle.changed() => {
                    let state = if changed.is_ok() { *lifecycle.borrow() } else { Lifecycle::Killed };
                    match state {
                        Lifecycle::Serving => {}
                        Lifecycle::Draining => conn.as_mut().graceful_shutdown(),
                        Lifecycle::Killed => break Takeover::Reset,
                    }
                }
            }
        };
        // HTTP serving lets go of the socket; only `spare` holds it now.
        drop(conn);
        match takeover {
            Takeover::Reset => reset(spare),
            Takeover::Malformed => {
                if let Ok(mut raw) = TcpStream::from_std(spare) {
                    let _ = raw.write_all(MALFORMED_RESPONSE).await;
                    let _ = raw.shutdown().await;
                }
            }
        }
    }

    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        takeover: mpsc::Sender<Takeover>,
    ) -> Response<Body> {
        let plan = self
            .faults
            .plan(request.method().as_str(), request.uri().path());
        let fault = (!plan.applied.is_empty()).then(|| plan.applied.join(", "));
        self.journal.record(
            self.clock.now(),
            request.method(),
            request.uri(),
            request.headers(),
            fault,
        );
        if !plan.delay.is_zero() {
            // Injected latency is real time: latency steps measure it (SPEC §3).
            tokio::time::sleep(plan.delay).await;
        }
        match plan.terminal {
            None => self.forward(request).await,
            Some(Terminal::Abort { status, body }) => abort_response(status, body),
            Some(Terminal::Hang) => std::future::pending().await,
            Some(Terminal::Reset) => {
                let _ = takeover.send(Takeover::Reset).await;
                std::future::pending().await
            }
            Some(Terminal::Malformed) => {
                let _ = takeover.send(Takeover::Malformed).await;
                std::future::pending().await
            }
        }
    }

    /// Passes the request to the local service and streams its response back.
    async fn forward(&self, request: Request<Incoming>) -> Response<Body> {
        let app = self.app.read().map_or(self.addr(), |a| *a);
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let Ok(uri) = format!("http://{app}{path}").parse() else {
            return text_response(StatusCode::BAD_REQUEST, "bad request target");
        };
        parts.uri = uri;
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "upgrade",
        ] {
            parts.headers.remove(name);
        }
        let request = Request::from_parts(parts, body.map_err(BoxError::from).boxed());
        match self.client.request(request).await {
            Ok(response) => response.map(|b| b.map_err(BoxError::from).boxed()),
            Err(e) => {
                tracing::debug!(service = %self.service, error = %e, "local service unreachable");
                text_response(StatusCode::SERVICE_UNAVAILABLE, APP_UNREACHABLE_BODY)
            }
        }
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        if let Some(listening) = self.lock().take() {
            listening.task.abort();
        }
    }
}

/// Closes the socket with a TCP reset (SO_LINGER 0) instead of an orderly FIN.
fn reset(socket: std::net::TcpStream) {
    let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
    drop(socket);
}

fn abort_response(status: u16, body: Option<String>) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    match body {
        Some(body) if serde_json::from_str::<serde_json::Value>(&body).is_ok() => {
            let mut response = Response::new(full(Bytes::from(body)));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Some(body) => text_response(status, &body),
        None => text_response(status, ABORT_BODY),
    }
}

fn text_response(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}
