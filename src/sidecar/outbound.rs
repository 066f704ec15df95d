//! An upstream listener of a service's sidecar (SPEC §6): plain TCP in on loopback, mTLS out to
//! the destination's sidecar, presenting the caller's identity and accepting only the
//! destination's SPIFFE ID (MESH-4).
//!
//! ```text
//!   service ──plain──► 127.0.0.1:local_port ──mTLS (caller's leaf, expect destination ID)──► destination's public port
//! ```
//! A destination that cannot be reached, or presents another identity, gets the caller's
//! connection closed: the service sees its upstream fail, as behind Envoy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::mesh::stats::{SidecarStats, UpstreamOutcome};
use crate::mesh::tls::identity_mismatch;

/// How long connecting to the destination may take (real time: a network wait).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an upstream listener sends its connections, and as whom.
#[derive(Debug, Clone)]
pub struct UpstreamTarget {
    pub destination: String,
    /// The destination's public (sidecar) address.
    pub addr: SocketAddr,
    pub tls: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// A running upstream listener; dropping it closes the port and every connection.
#[derive(Debug)]
pub struct Outbound {
    addr: SocketAddr,
    source: String,
    destination: String,
    task: tokio::task::JoinHandle<()>,
}

impl Outbound {
    /// Serves `listener` towards `target`, counting connections in `stats`.
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn start(
        listener: TcpListener,
        source: &str,
        target: UpstreamTarget,
        stats: Arc<SidecarStats>,
    ) -> std::io::Result<Outbound> {
        let addr = listener.local_addr()?;
        let destination = target.destination.clone();
        let target = Arc::new(target);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        connections.spawn(relay(stream, target.clone(), stats.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Outbound {
            addr,
            source: source.to_string(),
            destination,
            task,
        })
    }

    /// The loopback address the service calls.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service whose listener this is.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The service it leads to.
    pub fn destination(&self) -> &str {
        &self.destination
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut plain: TcpStream, target: Arc<UpstreamTarget>, stats: Arc<SidecarStats>) {
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr)).await;
    let Ok(Ok(tcp)) = connected else {
        stats.record_upstream_connection(&target.destination, UpstreamOutcome::Refused);
        return;
    };
    let _ = tcp.set_nodelay(true);
    let connector = tokio_rustls::TlsConnector::from(target.tls.clone());
    let handshake = tokio::time::timeout(
        CONNECT_TIMEOUT,
        connector.connect(target.server_name.clone(), tcp),
    )
    .await;
    let mut tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let outcome = match identity_mismatch(&e) {
                Some(mismatch) => {
                    tracing::warn!(destination = %target.destination, %mismatch, "upstream presented the wrong identity");
                    UpstreamOutcome::IdentityMismatch
                }
                None => UpstreamOutcome::HandshakeFailed,
            };
            stats.record_upstream_connection(&target.destination, outcome);
            return;
        }
        Err(_) => {
            stats.record_upstream_connection(&target.destination, UpstreamOutcome::HandshakeFailed);
            return;
        }
    };
    stats.record_upstream_connection(&target.destination, UpstreamOutcome::Ok);
    let _ = tokio::io::copy_bidirectional(&mut plain, &mut tls).await;
}
