//! Assembling a mock's router and serving it on a pre-bound listener until it is stopped. The
//! tcp mocks (postgres, redis) have their own accept loop in [`crate::tcp`]; [`RunningMock`] is
//! the same handle for both.
//!
//! ```text
//! TcpListener (bound by the harness) --start--> accept loop task --one task per connection--> router
//!                                               (tcp kinds: tcp::serve)                       (Session)
//!                                         RunningMock::stop()     abort: port closed, connections reset
//!                                         RunningMock::shutdown() stop accepting, drain, then close
//! ```
//!
//! The accept loop owns every connection task, so aborting it also resets in-flight connections:
//! a stopped mock leaves nothing listening and nothing answering.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{MockConfig, MockKind, MockOptions, MockProtocol};
use crate::{architect, committer, echo, http, tcp};

/// How long [`RunningMock::shutdown`] lets in-flight requests finish before resetting them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The complete router of one mock with default [`MockOptions`], for in-process use (e.g.
/// `tower::ServiceExt::oneshot`). Its state is fresh (seeded) on every call.
///
/// A tcp mock ([`MockKind::protocol`] is tcp) has no http routes: its router answers every
/// request with 404 `{"error":"<name> is a tcp mock and serves no http routes"}`.
pub fn router(kind: MockKind, config: &MockConfig) -> Router {
    router_with(kind, config, &MockOptions::default())
}

/// [`router`] with explicit options.
pub fn router_with(kind: MockKind, config: &MockConfig, options: &MockOptions) -> Router {
    // The service's own routes, with its in-memory state (seeded).
    let routes = match kind {
        MockKind::ValueArchitect => architect::router(config, options),
        MockKind::ValueCommitter => committer::router(config, options),
        MockKind::Postgres | MockKind::Redis => return http::tcp_only(kind),
    };
    // Unknown paths and methods get JSON errors like every other response.
    let routes = routes
        .fallback(http::no_route)
        .method_not_allowed_fallback(http::method_not_allowed);
    // The echo wraps everything, routed or not: a path ending in `/_echo` never reaches a
    // handler, so `/api/v1/value-models/_echo` is not taken for a model id.
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn_with_state(kind, echo::echo_layer))
}

/// Starts `kind` on `listener` (already bound, usually to an ephemeral loopback port) with
/// default [`MockOptions`] and returns at once; the server runs on a spawned task.
///
/// An unusable peer URL does not stop the mock from serving: the requests that need the peer
/// answer 503 naming the problem (check first with [`MockConfig::validate`]). The tcp mocks
/// (postgres, redis) use neither the config nor the options.
pub async fn start(kind: MockKind, listener: TcpListener, config: MockConfig) -> RunningMock {
    start_with(kind, listener, config, MockOptions::default()).await
}

/// [`start`] with explicit options.
pub async fn start_with(
    kind: MockKind,
    listener: TcpListener,
    config: MockConfig,
    options: MockOptions,
) -> RunningMock {
    match kind.protocol() {
        MockProtocol::Http => start_router(kind, listener, router_with(kind, &config, &options)),
        MockProtocol::Tcp => {
            let addr = listener_addr(kind, &listener);
            let (stop_tx, stop_rx) = oneshot::channel();
            let task = tokio::spawn(tcp::serve(kind, listener, stop_rx));
            RunningMock::spawned(addr, kind, stop_tx, task)
        }
    }
}

/// Serves any router like a mock (tests use it for fake peers).
pub(crate) fn start_router(kind: MockKind, listener: TcpListener, app: Router) -> RunningMock {
    let addr = listener_addr(kind, &listener);
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(serve(listener, app, stop_rx));
    RunningMock::spawned(addr, kind, stop_tx, task)
}

fn listener_addr(kind: MockKind, listener: &TcpListener) -> SocketAddr {
    listener.local_addr().unwrap_or_else(|err| {
        // getsockname on a bound socket does not fail in practice; keep serving regardless.
        tracing::error!(service = kind.name(), error = %err, "cannot read listener address");
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

impl RunningMock {
    /// The handle of a server task whose graceful stop is signalled on `stop_tx`.
    fn spawned(
        addr: SocketAddr,
        kind: MockKind,
        stop_tx: oneshot::Sender<()>,
        task: JoinHandle<()>,
    ) -> Self {
        RunningMock {
            addr,
            kind,
            stop_tx: Some(stop_tx),
            task: Some(task),
        }
    }
}

/// A mock serving on [`RunningMock::addr`]. Dropping it aborts the server like
/// [`RunningMock::stop`], without waiting for the port to close.
#[derive(Debug)]
pub struct RunningMock {
    /// The address it listens on.
    pub addr: SocketAddr,
    kind: MockKind,
    stop_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningMock {
    /// Which service this is.
    pub fn kind(&self) -> MockKind {
        self.kind
    }

    /// `http://<addr>`, the base URL other components use (`tcp://<addr>` for a tcp mock).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.kind.protocol(), self.addr)
    }

    /// Whether the server task is still running.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// Stops at once, like a killed process: the port is closed (new connections are refused) and
    /// in-flight connections are reset. Returns once the port is closed.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // A cancelled task reports `JoinError::Cancelled`; either way it has ended and its
            // listener is dropped.
            let _ = task.await;
        }
    }

    /// Stops gracefully: the port is closed at once, in-flight requests get up to
    /// [`SHUTDOWN_GRACE`] to finish, idle keep-alive connections are closed. Returns when done.
    /// A tcp mock answers what each connection has fully received, then closes it (a connection
    /// holding half a command may finish it within the grace).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop_tx.take() {
            // The receiver is gone only if the task already ended.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The accept loop: one task per connection, all owned by a `JoinSet` so that aborting this
/// future resets them too.
async fn serve(listener: TcpListener, app: Router, mut stop: oneshot::Receiver<()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small JSON responses: do not let Nagle + delayed ACK add 40 ms to them.
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    let watched = graceful.watch(connection);
                    connections.spawn(async move {
                        // A connection error (client reset, bad request line) ends only it.
                        let _ = watched.await;
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "mock accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut stop => break,
        }
    }
    // Close the port first, then let in-flight requests finish within the grace period.
    drop(listener);
    let drain = async {
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    // Dropping `connections` aborts whatever is still running.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{call, spawn, try_call};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn answers_health_naming_the_service() {
        for kind in [MockKind::ValueArchitect, MockKind::ValueCommitter] {
            let mock = spawn(kind, MockConfig::default()).await;
            let reply = call(mock.addr, "GET", "/health", &[], None).await;
            assert_eq!(
                (reply.status, reply.json),
                (200, json!({"status": "UP", "service": kind.name()}))
            );
        }
    }

    #[tokio::test]
    async fn the_router_of_a_tcp_mock_says_it_has_no_http_routes() {
        let app = router(MockKind::Redis, &MockConfig::default());
        let mock = start_router(MockKind::Redis, bind_loopback().await, app);
        let reply = call(mock.addr, "GET", "/health", &[], None).await;
        assert_eq!(
            (reply.status, reply.json),
            (
                404,
                json!({"error": "redis is a tcp mock and serves no http routes"})
            )
        );
    }

    async fn bind_loopback() -> TcpListener {
        match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => panic!("cannot bind: {err}"),
        }
    }

    #[tokio::test]
    async fn answers_unknown_paths_and_methods_with_json_errors() {
        let mock = spawn(MockKind::ValueCommitter, MockConfig::default()).await;
        let missing = call(mock.addr, "GET", "/api/v2/nothing", &[], None).await;
        assert_eq!(
            (missing.status, missing.json),
            (404, json!({"error": "no route for GET /api/v2/nothing"}))
        );
        let wrong = call(mock.addr, "DELETE", "/api/v1/commitments", &[], None).await;
        assert_eq!(
            (wrong.status, wrong.json),
            (
                405,
                json!({"error": "method DELETE not allowed on /api/v1/commitments"})
            )
        );
    }

    #[tokio::test]
    async fn refuses_an_oversized_body_with_413() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let big = format!(
            r#"{{"name":"{}"}}"#,
            "x".repeat(crate::http::MAX_BODY_BYTES)
        );
        let reply = call(mock.addr, "POST", "/api/v1/value-models", &[], Some(&big)).await;
        assert_eq!(reply.status, 413, "{}", reply.text);
    }

    #[tokio::test]
    async fn stopping_closes_the_port() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let addr = mock.addr;
        assert_eq!(call(addr, "GET", "/health", &[], None).await.status, 200);
        mock.stop().await;
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "port {addr} still accepts connections");
        assert!(try_call(addr, "GET", "/health", &[], None).await.is_err());
    }

    #[tokio::test]
    async fn stopping_resets_an_open_connection() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let mut stream = match tokio::net::TcpStream::connect(mock.addr).await {
            Ok(stream) => stream,
            Err(err) => panic!("connect failed: {err}"),
        };
        // Let the accept loop take the connection before stopping.
        let request = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n";
        assert!(stream.write_all(request).await.is_ok());
        let mut buf = [0u8; 1024];
        assert!(stream.read(&mut buf).await.is_ok_and(|n| n > 0));
        mock.stop().await;
        // The keep-alive connection is gone: the read sees EOF or a reset, never a hang.
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }

    #[tokio::test]
    async fn shutting_down_closes_the_port_and_idle_connections() {
        let mock = spawn(MockKind::ValueCommitter, MockConfig::default()).await;
        let addr = mock.addr;
        assert_eq!(call(addr, "GET", "/health", &[], None).await.status, 200);
        assert!(mock.is_running());
        tokio::time::timeout(Duration::from_secs(2), mock.shutdown())
            .await
            .unwrap_or_else(|_| panic!("shutdown did not finish"));
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn a_stopped_port_can_be_served_again() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let addr = mock.addr;
        mock.stop().await;
        let listener = match TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(err) => panic!("cannot rebind {addr}: {err}"),
        };
        let again = start(MockKind::ValueArchitect, listener, MockConfig::default()).await;
        assert_eq!(again.addr, addr);
        assert_eq!(call(addr, "GET", "/health", &[], None).await.status, 200);
    }
}
