//! One service of a stack: an in-process mock, a spawned command, or an external URL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;

use tokio::net::TcpListener;

use super::StackError;
use crate::clock::StackClock;
use crate::config::topology::{MockKind, ServiceDef, ServiceRuntime};

/// A started service. Dropping it stops what it started.
#[derive(Debug)]
pub struct ServiceHandle {
    name: String,
    addr: SocketAddr,
    running: Running,
}

#[derive(Debug)]
enum Running {
    /// Held so the mock keeps serving; dropping it stops the mock.
    Mock(#[allow(dead_code)] mock_services::RunningMock),
    Process(tokio::process::Child),
    External,
}

impl ServiceHandle {
    /// Starts `def` on `listener` (absent for external services). `addrs` holds every service's
    /// address, so a service can be told where its upstreams are.
    pub(super) async fn start(
        def: &ServiceDef,
        listener: Option<TcpListener>,
        addrs: &BTreeMap<String, SocketAddr>,
        clock: &StackClock,
    ) -> Result<ServiceHandle, StackError> {
        let error = |message: String| StackError::Service {
            service: def.name.clone(),
            message,
        };
        let upstream_url = |service: &str| {
            def.upstreams
                .iter()
                .find(|u| u.service == service)
                .and_then(|u| addrs.get(&u.service))
                .map(|addr| format!("http://{addr}"))
        };
        match &def.runtime {
            ServiceRuntime::Mock(kind) => {
                let listener = listener.ok_or_else(|| error("no listener".into()))?;
                let addr = listener.local_addr().map_err(|e| error(e.to_string()))?;
                let config = mock_services::MockConfig {
                    architect_url: upstream_url("value-architect"),
                    committer_url: upstream_url("value-committer"),
                };
                let clock = clock.clone();
                let options = mock_services::MockOptions {
                    // Timestamps the mocks write follow the stack clock, jumps included.
                    wall_clock: mock_services::WallClock::from_fn(move || clock.wall()),
                    ..Default::default()
                };
                let kind = match kind {
                    MockKind::ValueArchitect => mock_services::MockKind::ValueArchitect,
                    MockKind::ValueCommitter => mock_services::MockKind::ValueCommitter,
                };
                let mock = mock_services::start_with(kind, listener, config, options).await;
                Ok(ServiceHandle {
                    name: def.name.clone(),
                    addr,
                    running: Running::Mock(mock),
                })
            }
            ServiceRuntime::Command { program, args } => {
                let listener = listener.ok_or_else(|| error("no listener".into()))?;
                let addr = listener.local_addr().map_err(|e| error(e.to_string()))?;
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
                    .map_err(|e| error(format!("cannot start `{program}`: {e}")))?;
                wait_until_listening(addr).await.map_err(|()| {
                    error(format!("`{program}` did not listen on {addr} within 10 s"))
                })?;
                Ok(ServiceHandle {
                    name: def.name.clone(),
                    addr,
                    running: Running::Process(child),
                })
            }
            ServiceRuntime::External { url } => {
                let addr = external_addr(url).ok_or_else(|| error(format!("bad url {url}")))?;
                Ok(ServiceHandle {
                    name: def.name.clone(),
                    addr,
                    running: Running::External,
                })
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the service listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the service (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        if let Running::Process(child) = &mut self.running {
            let _ = child.start_kill();
        }
    }
}

async fn wait_until_listening(addr: SocketAddr) -> Result<(), ()> {
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
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
