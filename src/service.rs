//! One service of a running stack: its inbound sidecar stage on the service's public port, and behind it
//! the local service (an in-process mock, a spawned command, or an external URL). Process faults
//! (SPEC §7) act here: `stop` closes the port and stops the service, `kill` also resets every
//! open connection, `start` brings both back on the same public port; `pause` freezes the service
//! behind an open port (as `docker pause` does on the container target), `unpause` thaws it.
//!
//! ```text
//!   callers ──► public port (Inbound: journal, faults) ──► app port (mock | command) | external URL
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::StackClock;
use crate::config::topology::{ServiceDef, ServiceRuntime};
use crate::http::server::bind_loopback;
use crate::protocol::Protocol;
use crate::sidecar::{Inbound, MeshGuard};

/// How long a stopped command gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A started service. Dropping it stops what it started.
#[derive(Debug)]
pub struct ServiceHandle {
    def: ServiceDef,
    inbound: Arc<Inbound>,
    app: tokio::sync::Mutex<App>,
    /// Where this service reaches each of its upstreams (its upstream listener with a mesh, the
    /// destination's public port without), for the URLs of a (re)started mock.
    upstreams: BTreeMap<String, SocketAddr>,
    clock: StackClock,
    /// Whether the last process fault was a kill (for [`ServiceHandle::health`]).
    killed: std::sync::atomic::AtomicBool,
}

/// A service's health as the consoles show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Up,
    Stopped,
    Killed,
    /// Its port open, the service frozen: requests hang until it is unpaused.
    Paused,
}

#[derive(Debug)]
enum App {
    /// Held so the mock keeps serving; dropping it stops the mock.
    Mock(mock_services::RunningMock),
    Process(tokio::process::Child),
    External,
    Stopped,
}

/// A service that could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service {service}: {message}")]
pub struct LaunchError {
    pub service: String,
    pub message: String,
}

/// A process fault that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessFaultError {
    #[error("{service} is an external service ({url}): Gauntlet did not start it, so it cannot stop, start or kill it")]
    External { service: String, url: String },
    #[error("{service} could not be started again: {message}")]
    Restart { service: String, message: String },
    #[error("{service} is not running: only a running service can be paused (start it first)")]
    NotRunning { service: String },
}

impl ServiceHandle {
    /// Starts `def`'s local service and its inbound stage on `public` (behind `mesh` when the
    /// stack has one). `upstreams` says where the service reaches each upstream; `seed` drives
    /// the service's random fault choices.
    pub async fn launch(
        def: &ServiceDef,
        public: TcpListener,
        upstreams: BTreeMap<String, SocketAddr>,
        clock: &StackClock,
        seed: u64,
        mesh: Option<MeshGuard>,
    ) -> Result<ServiceHandle, LaunchError> {
        let error = |message: String| LaunchError {
            service: def.name.clone(),
            message,
        };
        let (app, app_addr) = start_app(def, &upstreams, clock, 0).await.map_err(error)?;
        let inbound = Inbound::start(
            &def.name,
            def.protocol,
            public,
            app_addr,
            clock.clone(),
            seed,
            mesh,
        )
        .map_err(|e| error(e.to_string()))?;
        Ok(ServiceHandle {
            def: def.clone(),
            inbound,
            app: tokio::sync::Mutex::new(app),
            upstreams,
            clock: clock.clone(),
            killed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The service's public address (its inbound stage).
    pub fn addr(&self) -> SocketAddr {
        self.inbound.addr()
    }

    /// Where callers reach the service: `http://` (or `https://` behind the mesh's mTLS) for an
    /// http service, `tcp://` (or `tls://`) for a tcp one.
    pub fn url(&self) -> String {
        let scheme = match (self.def.protocol, self.inbound.mesh().is_some()) {
            (Protocol::Http, false) => "http",
            (Protocol::Http, true) => "https",
            (Protocol::Tcp, false) => "tcp",
            (Protocol::Tcp, true) => "tls",
        };
        format!("{scheme}://{}", self.addr())
    }

    /// Where the local service itself listens (behind its inbound stage).
    pub fn app_addr(&self) -> SocketAddr {
        self.inbound.app_addr()
    }

    /// The inbound stage: faults and journal.
    pub fn inbound(&self) -> &Arc<Inbound> {
        &self.inbound
    }

    /// Whether the service is up (not stopped or killed).
    pub fn is_running(&self) -> bool {
        self.inbound.is_listening()
    }

    /// Up, paused, or down by the last process fault (stop or kill).
    pub fn health(&self) -> Health {
        if self.is_running() {
            if self.inbound.is_paused() {
                Health::Paused
            } else {
                Health::Up
            }
        } else if self.killed.load(std::sync::atomic::Ordering::Relaxed) {
            Health::Killed
        } else {
            Health::Stopped
        }
    }

    /// Stops the service: its port closes (callers get connection refused), requests in flight
    /// may finish, then the local service stops.
    ///
    /// # Errors
    /// [`ProcessFaultError::External`] for an external service.
    pub async fn stop(&self) -> Result<(), ProcessFaultError> {
        self.refuse_external()?;
        // Held for the whole fault, so stop, kill and start never interleave.
        let mut guard = self.app.lock().await;
        self.killed
            .store(false, std::sync::atomic::Ordering::Relaxed);
        // A paused service is thawed to stop, so the requests it held can drain.
        self.inbound.resume();
        self.inbound.close(false).await;
        let app = std::mem::replace(&mut *guard, App::Stopped);
        match app {
            App::Mock(mock) => mock.shutdown().await,
            App::Process(child) => terminate(child).await,
            App::External | App::Stopped => {}
        }
        Ok(())
    }

    /// Kills the service: its port closes and every open connection is reset at once.
    ///
    /// # Errors
    /// [`ProcessFaultError::External`] for an external service.
    pub async fn kill(&self) -> Result<(), ProcessFaultError> {
        self.refuse_external()?;
        let mut guard = self.app.lock().await;
        self.killed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.inbound.close(true).await;
        self.inbound.resume();
        let app = std::mem::replace(&mut *guard, App::Stopped);
        match app {
            App::Mock(mock) => mock.stop().await,
            App::Process(mut child) => {
                let _ = child.kill().await;
            }
            App::External | App::Stopped => {}
        }
        Ok(())
    }

    /// Whether the service is frozen by [`ServiceHandle::pause`].
    pub fn is_paused(&self) -> bool {
        self.inbound.is_paused()
    }

    /// Starts a stopped or killed service again on the same public port, and the service itself
    /// on the port it had (a fresh process: a mock starts from its seed data; only when another
    /// process took that port meanwhile does it get a new one). Starting a running service does
    /// nothing but unpause it when it is paused.
    ///
    /// # Errors
    /// An external service, or the service or its port cannot be started.
    pub async fn start(&self) -> Result<(), ProcessFaultError> {
        self.refuse_external()?;
        let mut app = self.app.lock().await;
        if self.inbound.is_listening() {
            self.inbound.resume();
            return Ok(());
        }
        let restart_error = |message: String| ProcessFaultError::Restart {
            service: self.def.name.clone(),
            message,
        };
        if matches!(*app, App::Stopped) {
            let previous = self.app_addr().port();
            let (started, addr) = start_app(&self.def, &self.upstreams, &self.clock, previous)
                .await
                .map_err(restart_error)?;
            *app = started;
            self.inbound.set_app(addr);
        }
        // When the port cannot be reopened the service stays down (and `start` may be retried).
        self.inbound
            .reopen()
            .await
            .map_err(|e| restart_error(format!("port {}: {e}", self.addr().port())))
    }

    /// Pauses the service: its port stays open and accepts, but the service is frozen, so
    /// requests hang (journalled, faults applied) until [`ServiceHandle::unpause`]; then they
    /// go on. The same as `docker pause` on the container target, where the sidecar stays up
    /// and the service's container is frozen.
    ///
    /// # Errors
    /// An external service, or a service that is stopped or killed.
    pub async fn pause(&self) -> Result<(), ProcessFaultError> {
        self.refuse_external()?;
        let _guard = self.app.lock().await;
        if !self.inbound.is_listening() {
            return Err(ProcessFaultError::NotRunning {
                service: self.def.name.clone(),
            });
        }
        self.inbound.pause();
        Ok(())
    }

    /// Unpauses the service: every request and byte that waited goes on. Unpausing a service
    /// that is not paused does nothing.
    ///
    /// # Errors
    /// An external service.
    pub async fn unpause(&self) -> Result<(), ProcessFaultError> {
        self.refuse_external()?;
        let _guard = self.app.lock().await;
        self.inbound.resume();
        Ok(())
    }

    fn refuse_external(&self) -> Result<(), ProcessFaultError> {
        match &self.def.runtime {
            ServiceRuntime::External { url } => Err(ProcessFaultError::External {
                service: self.def.name.clone(),
                url: url.clone(),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        // Connections still open (a hung request) hold the inbound stage: end them with it.
        self.inbound.abort();
        if let App::Process(child) = self.app.get_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Starts the local service of `def` on loopback `port` (a fresh port when 0, or when `port` is
/// taken); returns it and its address.
async fn start_app(
    def: &ServiceDef,
    upstreams: &BTreeMap<String, SocketAddr>,
    clock: &StackClock,
    port: u16,
) -> Result<(App, SocketAddr), String> {
    let upstream_url = |service: &str| upstreams.get(service).map(|addr| format!("http://{addr}"));
    match &def.runtime {
        ServiceRuntime::Mock(kind) => {
            let listener = bind_app_port(port).await?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let config = mock_services::MockConfig {
                architect_url: upstream_url("value-architect"),
                committer_url: upstream_url("value-committer"),
                // value-committer's data stores, raw tcp through the same listeners.
                redis_url: upstreams.get("redis").map(|addr| format!("tcp://{addr}")),
                postgres_url: upstreams
                    .get("postgres")
                    .map(|addr| format!("tcp://{addr}")),
            };
            let clock = clock.clone();
            let options = mock_services::MockOptions {
                // Timestamps the mocks write follow the stack clock, jumps included.
                wall_clock: mock_services::WallClock::from_fn(move || clock.wall()),
                ..Default::default()
            };
            let kind = mock_services::MockKind::from(*kind);
            let mock = mock_services::start_with(kind, listener, config, options).await;
            Ok((App::Mock(mock), addr))
        }
        ServiceRuntime::Command { program, args } => {
            let listener = bind_app_port(port).await?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            // Free the port for the child; it binds the same one.
            drop(listener);
            let args: Vec<String> = args
                .iter()
                .map(|a| a.replace("{port}", &addr.port().to_string()))
                .collect();
            let child = tokio::process::Command::new(program)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start `{program}`: {e}"))?;
            wait_until_listening(addr)
                .await
                .map_err(|()| format!("`{program}` did not listen on {addr} within 10 s"))?;
            Ok((App::Process(child), addr))
        }
        ServiceRuntime::External { url } => {
            let addr = external_addr(url).ok_or_else(|| format!("bad url {url}"))?;
            Ok((App::External, addr))
        }
        ServiceRuntime::Image { reference, .. } => Err(format!(
            "{} is the container image {reference}: images run only with --target docker",
            def.name
        )),
    }
}

/// A loopback listener on `port`, or on a fresh port when `port` is 0 or taken.
async fn bind_app_port(port: u16) -> Result<TcpListener, String> {
    if port != 0 {
        if let Ok(listener) = bind_loopback(port).await {
            return Ok(listener);
        }
    }
    bind_loopback(0).await.map_err(|e| e.to_string())
}

/// SIGTERM, then SIGKILL if the process has not exited within [`STOP_GRACE`].
async fn terminate(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        // `kill -TERM` keeps this crate free of unsafe signal calls.
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

async fn wait_until_listening(addr: SocketAddr) -> Result<(), ()> {
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(())
}

fn external_addr(url: &str) -> Option<SocketAddr> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let port = uri.port_u16().unwrap_or(80);
    format!("{host}:{port}")
        .parse()
        .ok()
        .or_else(|| format!("[{host}]:{port}").parse().ok())
}
