//! The inbound side of a service's sidecar: the address callers (the gateway, other services)
//! use for the service. With a mesh it terminates mTLS (the caller's identity is the URI SAN of
//! its certificate) and enforces the intentions; then it journals every request, applies the
//! service's faults, and passes the request to the local service. It also carries the process
//! faults: `stop` closes the port (callers get connection refused), `kill` also resets every
//! open connection, `pause` freezes the local service (see [`Inbound::pause`]).
//!
//! ```text
//!   caller ──► public port ──► [mTLS: source identity] ──► [intentions: 403 RBAC / close]
//!                 ──► journal ──► faults ──┬─► local service (app address)
//!                                          ├─► abort: status + body
//!                                          ├─► hang: never answers
//!                                          └─► reset / malformed: the connection is taken over
//! ```
//! An http service is served request by request (L7 intentions per request, HTTP faults); a tcp
//! service connection by connection (L4 intention decided when the connection is accepted, from
//! the intentions of that moment; a denied caller is closed on its first byte).
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::io::{reset, Socket, Takeable};
use super::journal::Journal;
use crate::chaos::fault::{FaultSet, Terminal};
use crate::clock::StackClock;
use crate::http::body::{full, Body, BoxError};
use crate::http::server::{bind_loopback, PortHold};
use crate::mesh::identity::LeafCert;
use crate::mesh::intentions::{HttpRequestView, IntentionStore};
use crate::mesh::stats::{classify_io, SidecarStats};
use crate::mesh::tls::peer_spiffe_id;
use crate::protocol::Protocol;
use crate::trace::{InboundOutcome, InboundTrace, TraceStore};

/// Envoy's body for a fault-filter abort without a configured body.
pub const ABORT_BODY: &str = "fault filter abort";
/// Envoy's local reply when the local service refuses the connection.
pub const APP_UNREACHABLE_BODY: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
/// What a `malformed` fault writes instead of an HTTP response.
pub const MALFORMED_RESPONSE: &[u8] = b"GAUNTLET MALFORMED RESPONSE\r\n\r\n";
/// How long `stop` lets requests in flight finish before cutting them.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Envoy's body for a request the intentions deny (SPEC §6).
pub const RBAC_DENIED_BODY: &str = "RBAC: access denied";
/// How long a caller has to complete the TLS handshake (real time: a network wait).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The mesh side of a sidecar's public listener: its TLS config (swappable, to present another
/// identity), the live intentions, and its counters.
#[derive(Debug)]
pub struct MeshGuard {
    /// This service's mesh name: the destination of every intention check here.
    pub identity: String,
    /// The certificate the listener presents (the admin API's `/certs` reads it too).
    pub leaf: Arc<RwLock<Arc<LeafCert>>>,
    pub tls: RwLock<Arc<rustls::ServerConfig>>,
    pub intentions: Arc<IntentionStore>,
    pub stats: Arc<SidecarStats>,
}

impl MeshGuard {
    /// Whether the intentions of this moment let `source` in (with the request, for L7).
    pub fn allows(&self, source: &str, request: Option<&HttpRequestView<'_>>) -> bool {
        self.intentions
            .decide(source, &self.identity, request)
            .allowed()
    }

    /// From the next connection on, the listener presents `leaf` with `config` (an impostor
    /// certificate, or a renewed one).
    pub fn present(&self, leaf: Arc<LeafCert>, config: Arc<rustls::ServerConfig>) {
        if let Ok(mut l) = self.leaf.write() {
            *l = leaf;
        }
        if let Ok(mut t) = self.tls.write() {
            *t = config;
        }
    }
}

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
    protocol: Protocol,
    /// mTLS and intentions in front of the stage, when the stack has a mesh.
    mesh: Option<MeshGuard>,
    /// The public port; stays the same across stop and start.
    port: u16,
    /// The address it listens on: loopback, or every interface in a container's pod.
    ip: std::net::IpAddr,
    /// Keeps an ephemeral public port reserved while the service is stopped.
    hold: Option<PortHold>,
    /// Where the local service listens now.
    app: RwLock<SocketAddr>,
    pub faults: FaultSet,
    pub journal: Journal,
    clock: StackClock,
    client: Client<HttpConnector, Body>,
    listening: Mutex<Option<Listening>>,
    /// The local service is frozen (pause): nothing it would answer comes back until unpause.
    paused: watch::Sender<bool>,
    /// Where this hop's spans go, once the stack names its store ([`Inbound::record_traces_in`]).
    traces: std::sync::OnceLock<TraceStore>,
    /// The service's name, shared by every span.
    trace_name: Arc<str>,
}

impl Inbound {
    /// Starts serving `listener` for `service`, passing requests to `app`. Fault choices follow
    /// `seed`.
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn start(
        service: &str,
        protocol: Protocol,
        listener: TcpListener,
        app: SocketAddr,
        clock: StackClock,
        seed: u64,
        mesh: Option<MeshGuard>,
    ) -> std::io::Result<Arc<Inbound>> {
        let port = listener.local_addr()?.port();
        let ip = listener.local_addr()?.ip();
        let hold = PortHold::of(&listener)?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let inbound = Arc::new(Inbound {
            service: service.to_string(),
            protocol,
            mesh,
            port,
            ip,
            hold,
            app: RwLock::new(app),
            faults: FaultSet::new(seed),
            journal: Journal::default(),
            clock,
            client: Client::builder(TokioExecutor::new()).build(connector),
            listening: Mutex::new(None),
            paused: watch::Sender::new(false),
            traces: std::sync::OnceLock::new(),
            trace_name: Arc::from(service),
        });
        inbound.listen(listener);
        Ok(inbound)
    }

    /// Records a span for every request served from now on in `traces` (once; later calls
    /// change nothing).
    pub fn record_traces_in(&self, traces: TraceStore) {
        let _ = self.traces.set(traces);
    }

    /// The public address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, self.port))
    }

    /// The mesh side of the listener, when the stack has a mesh.
    pub fn mesh(&self) -> Option<&MeshGuard> {
        self.mesh.as_ref()
    }

    /// Where the local service listens now.
    pub fn app_addr(&self) -> SocketAddr {
        self.app.read().map_or(self.addr(), |a| *a)
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
        let listener = if let Some(hold) = &self.hold {
            hold.listen()?
        } else if self.ip.is_loopback() {
            bind_loopback(self.port).await?
        } else {
            tokio::net::TcpListener::bind((self.ip, self.port)).await?
        };
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

    /// Freezes the local service, as `docker pause` freezes a container: the public port stays
    /// open and the stage still accepts, journals and applies faults, but nothing reaches the
    /// service and nothing comes back from it. An http request waits before it is passed on; a
    /// tcp connection waits before it is opened, and an open one carries no byte either way.
    /// Callers see connections that open and requests that hang (their timeouts decide).
    /// [`Inbound::resume`] lets everything that waited go on, in order.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    /// Unfreezes the local service after [`Inbound::pause`].
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Whether the local service is frozen.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Returns at once unless the service is paused, else once it is resumed.
    async fn thawed(&self) {
        thawed(self.paused.subscribe()).await;
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
                        connections.spawn(inbound.accept(stream, watch_rx.clone()));
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

    /// Terminates mTLS when there is a mesh (the caller's identity is the URI SAN of its
    /// certificate), then serves the connection by the service's protocol.
    async fn accept(self: Arc<Self>, stream: TcpStream, lifecycle: watch::Receiver<Lifecycle>) {
        let Some(mesh) = &self.mesh else {
            return self.serve(stream, None, lifecycle).await;
        };
        let config = mesh
            .tls
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(service = %self.service, error = %e, "mesh handshake refused");
                mesh.stats.record_tls_handshake_failure(classify_io(&e));
                return;
            }
            Err(_) => return,
        };
        match peer_spiffe_id(tls.get_ref().1.peer_certificates()) {
            Ok(id) => {
                let source: Arc<str> = Arc::from(id.service_name());
                self.serve(tls, Some(source), lifecycle).await;
            }
            Err(e) => tracing::debug!(service = %self.service, error = %e, "no mesh identity"),
        }
    }

    async fn serve<S: Socket>(
        self: Arc<Self>,
        io: S,
        source: Option<Arc<str>>,
        lifecycle: watch::Receiver<Lifecycle>,
    ) {
        match self.protocol {
            Protocol::Http => self.http_connection(io, source, lifecycle).await,
            Protocol::Tcp => self.tcp_connection(io, source, lifecycle).await,
        }
    }

    /// Serves one HTTP connection until it ends, is drained, killed, or taken over by a fault.
    async fn http_connection<S: Socket>(
        self: Arc<Self>,
        io: S,
        source: Option<Arc<str>>,
        mut lifecycle: watch::Receiver<Lifecycle>,
    ) {
        // HTTP serving borrows the stream; a fault can take it back to reset it or write raw
        // bytes.
        let io = Takeable::new(io);
        let taken = io.clone();
        let (takeover_tx, mut takeover_rx) = mpsc::channel::<Takeover>(1);
        let inbound = self.clone();
        let service = service_fn(move |request| {
            let inbound = inbound.clone();
            let takeover = takeover_tx.clone();
            let source = source.clone();
            async move {
                let response = inbound
                    .clone()
                    .handle(request, source.clone(), takeover)
                    .await;
                if let (Some(mesh), Some(source)) = (&inbound.mesh, &source) {
                    mesh.stats
                        .record_response(source, response.status().as_u16());
                }
                Ok::<_, Infallible>(response)
            }
        });
        let mut conn = Box::pin(
            hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service),
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
        // HTTP serving lets go of the stream; only `taken` holds it now.
        drop(conn);
        let Some(mut io) = taken.take_back() else {
            return;
        };
        match takeover {
            Takeover::Reset => reset(io),
            Takeover::Malformed => {
                let _ = io.write_all(MALFORMED_RESPONSE).await;
                let _ = io.shutdown().await;
            }
        }
    }

    /// Serves one TCP connection: the L4 intention decided on the caller's first byte (as
    /// Envoy's network RBAC filter does), then the bytes both ways. Of the faults, a delay holds
    /// the connection before it is passed on, hang holds it forever, reset resets it, and abort
    /// or malformed close it. Stop closes the connection at once (TCP has no request to finish).
    async fn tcp_connection<S: Socket>(
        self: Arc<Self>,
        mut io: S,
        source: Option<Arc<str>>,
        mut lifecycle: watch::Receiver<Lifecycle>,
    ) {
        let ended = |l: &Lifecycle| *l != Lifecycle::Serving;
        let mut first = [0u8; 1];
        let read = tokio::select! {
            read = io.read(&mut first) => read,
            _ = lifecycle.wait_for(ended) => return,
        };
        let Ok(1) = read else { return };
        if let (Some(mesh), Some(source)) = (&self.mesh, &source) {
            let allowed = mesh.allows(source, None);
            mesh.stats.record_inbound_connection(source, allowed);
            if !allowed {
                // Consul/Envoy: the handshake succeeded; the connection is closed on the first
                // byte the caller sends.
                return;
            }
        }
        let plan = self.faults.plan("TCP", "");
        let fault = (!plan.applied.is_empty()).then(|| plan.applied.join(", "));
        self.journal
            .record_connection(self.clock.now(), source.as_deref(), fault);
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        match plan.terminal {
            None => {}
            Some(Terminal::Hang) => {
                let _ = lifecycle.wait_for(ended).await;
                return reset(io);
            }
            Some(Terminal::Reset) => return reset(io),
            Some(Terminal::Abort { .. } | Terminal::Malformed) => return,
        }
        // A paused service opens no connection (its caller's first byte waits with it).
        let connected = tokio::select! {
            connected = async {
                self.thawed().await;
                TcpStream::connect(self.app_addr()).await
            } => connected,
            state = lifecycle.wait_for(ended) => {
                if state.map_or(true, |l| *l == Lifecycle::Killed) {
                    reset(io);
                }
                return;
            }
        };
        let Ok(mut upstream) = connected else {
            return;
        };
        if upstream.write_all(&first).await.is_err() {
            return;
        }
        let killed = tokio::select! {
            _ = pump_both(&mut io, &mut upstream, &self.paused) => false,
            state = lifecycle.wait_for(ended) => state.map_or(true, |l| *l == Lifecycle::Killed),
        };
        if killed {
            reset(io);
        }
    }

    async fn handle(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        source: Option<Arc<str>>,
        takeover: mpsc::Sender<Takeover>,
    ) -> Response<Body> {
        // The hop's span (crate::trace::sidecar); its outcome is written when the answer is.
        let mut trace = self
            .traces
            .get()
            .and_then(|store| InboundTrace::begin(store, request.headers()));
        let traced_request = trace
            .as_ref()
            .map(|_| (request.method().clone(), request.uri().path().to_string()));
        let outcome = |status: Option<u16>| {
            let (method, path) = traced_request.clone().unwrap_or_default();
            InboundOutcome {
                service: self.trace_name.clone(),
                source: source.clone(),
                method,
                path,
                status,
            }
        };
        if let (Some(mesh), Some(source)) = (&self.mesh, &source) {
            let started = trace.as_ref().map_or(0, InboundTrace::now);
            let view = HttpRequestView {
                method: request.method().as_str(),
                path: request.uri().path_and_query().map_or("/", |p| p.as_str()),
                headers: request.headers(),
            };
            let allowed = mesh.allows(source, Some(&view));
            mesh.stats.record_inbound_request(source, allowed);
            if let Some(t) = &mut trace {
                t.decided(started, allowed);
            }
            if !allowed {
                if let (Some(t), Some(store)) = (trace, self.traces.get()) {
                    t.finish(store, outcome(Some(403)));
                }
                // Envoy's RBAC filter: 403, text/plain, and the connection stays open.
                return text_response(StatusCode::FORBIDDEN, RBAC_DENIED_BODY);
            }
        }
        let plan = self
            .faults
            .plan(request.method().as_str(), request.uri().path());
        let fault = (!plan.applied.is_empty()).then(|| plan.applied.join(", "));
        if let Some(t) = &mut trace {
            if let Some(applied) = &fault {
                let now = t.now();
                let delay = u64::try_from(plan.delay.as_nanos()).unwrap_or(u64::MAX);
                t.fault(applied.clone(), now, now.saturating_add(delay));
            }
        }
        self.journal.record(
            self.clock.now(),
            source.as_deref(),
            request.method(),
            request.uri(),
            request.headers(),
            fault,
        );
        // The local service's calls through the mesh become children of this hop's span (the
        // journal keeps the `traceparent` that arrived).
        if let Some(value) = trace
            .as_ref()
            .and_then(|t| HeaderValue::from_str(&t.local_header()).ok())
        {
            request.headers_mut().insert("traceparent", value);
        }
        if !plan.delay.is_zero() {
            // Injected latency is real time: latency steps measure it (SPEC §3).
            tokio::time::sleep(plan.delay).await;
        }
        let finish = |answered: Option<u16>| {
            if let (Some(t), Some(store)) = (trace, self.traces.get()) {
                t.finish(store, outcome(answered));
            }
        };
        match plan.terminal {
            None => {
                let response = self.forward(request).await;
                finish(Some(response.status().as_u16()));
                response
            }
            Some(Terminal::Abort { status, body }) => {
                let response = abort_response(status, body);
                finish(Some(response.status().as_u16()));
                response
            }
            Some(Terminal::Hang) => {
                finish(None);
                std::future::pending().await
            }
            Some(Terminal::Reset) => {
                finish(None);
                let _ = takeover.send(Takeover::Reset).await;
                std::future::pending().await
            }
            Some(Terminal::Malformed) => {
                finish(None);
                let _ = takeover.send(Takeover::Malformed).await;
                std::future::pending().await
            }
        }
    }

    /// Passes the request to the local service (once it is not paused) and streams its response
    /// back.
    async fn forward(&self, request: Request<Incoming>) -> Response<Body> {
        self.thawed().await;
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

impl Inbound {
    /// Closes the port and cuts every connection at once, synchronously (the stack is going
    /// away).
    pub fn abort(&self) {
        if let Some(listening) = self.lock().take() {
            listening.task.abort();
        }
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Returns once `paused` says the service is not paused.
async fn thawed(mut paused: watch::Receiver<bool>) {
    let _ = paused.wait_for(|p| !*p).await;
}

/// Copies bytes both ways between the caller and the local service until both directions have
/// ended (as `copy_bidirectional`), holding each chunk while the service is paused.
async fn pump_both<A: Socket>(caller: &mut A, app: &mut TcpStream, paused: &watch::Sender<bool>) {
    let (caller_read, caller_write) = tokio::io::split(caller);
    let (app_read, app_write) = app.split();
    tokio::join!(
        pump(caller_read, app_write, paused.subscribe()),
        pump(app_read, caller_write, paused.subscribe()),
    );
}

/// One direction of [`pump_both`]: read a chunk, wait while paused, write it; at EOF (or an
/// error) the write side is shut down.
async fn pump<R, W>(mut from: R, mut to: W, paused: watch::Receiver<bool>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; 8 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if *paused.borrow() {
            thawed(paused.clone()).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ends of a loopback connection.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.expect("connect"), accepted.expect("accept").0)
    }

    #[tokio::test]
    async fn a_paused_pump_holds_bytes_both_ways_and_passes_them_on_once_resumed() {
        let (mut caller, mut caller_end) = pair().await;
        let (mut app_end, mut app) = pair().await;
        let paused = watch::Sender::new(false);
        let pumping = {
            let paused = paused.clone();
            tokio::spawn(async move { pump_both(&mut caller_end, &mut app_end, &paused).await })
        };
        let mut buffer = [0u8; 16];
        caller.write_all(b"ping").await.expect("write");
        let n = app.read(&mut buffer).await.expect("read");
        assert_eq!(&buffer[..n], b"ping");

        paused.send_replace(true);
        caller.write_all(b"held").await.expect("write");
        app.write_all(b"held too").await.expect("write");
        let wait = Duration::from_millis(200);
        assert!(
            tokio::time::timeout(wait, app.read(&mut buffer))
                .await
                .is_err(),
            "a byte reached the paused service"
        );
        assert!(
            tokio::time::timeout(wait, caller.read(&mut buffer))
                .await
                .is_err(),
            "a byte came back from the paused service"
        );

        paused.send_replace(false);
        let n = app.read(&mut buffer).await.expect("read");
        assert_eq!(&buffer[..n], b"held");
        let n = caller.read(&mut buffer).await.expect("read");
        assert_eq!(&buffer[..n], b"held too");

        // EOF passes on each way, and the pump ends once both have.
        drop(caller);
        assert_eq!(app.read(&mut buffer).await.expect("read"), 0);
        drop(app);
        tokio::time::timeout(Duration::from_secs(5), pumping)
            .await
            .expect("the pump ends")
            .expect("no panic");
    }
}
