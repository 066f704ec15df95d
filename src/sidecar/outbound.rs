//! An upstream listener of a service's sidecar (SPEC §6): plain TCP in on loopback, mTLS out to
//! the destination's sidecar, presenting the caller's identity and accepting only the
//! destination's SPIFFE ID (MESH-4).
//!
//! ```text
//!   service ──plain──► 127.0.0.1:local_port ──mTLS (caller's leaf, expect destination ID)──► destination's public port
//! ```
//! When the destination cannot be reached, or presents another identity, an http caller gets
//! Envoy's local reply (503 `upstream connect error or disconnect/reset before headers. reset
//! reason: connection failure…`) once it has sent its request head; a tcp caller's connection
//! is closed.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::http::server::accept_loop;
use crate::link::LinkStream;
use crate::mesh::stats::{SidecarStats, UpstreamOutcome};
use crate::mesh::tls::identity_mismatch;
use crate::protocol::Protocol;
use crate::trace::sidecar::traceparent_in_head;
use crate::trace::{OutboundOutcome, OutboundTrace, TraceStore};

/// How long connecting to the destination may take (real time: a network wait).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an upstream listener sends its connections, and as whom.
#[derive(Debug, Clone)]
pub struct UpstreamTarget {
    pub destination: String,
    /// The destination's protocol: an http caller gets Envoy's 503 when the upstream fails.
    pub protocol: Protocol,
    /// The destination's public (sidecar) address.
    pub addr: SocketAddr,
    pub tls: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    /// The hop `<source>-><destination>` (SPEC §7.1), on the mTLS bytes.
    pub link: Option<Arc<crate::link::Link>>,
}

/// A running upstream listener; dropping it closes the port and every connection.
#[derive(Debug)]
pub struct Outbound {
    addr: SocketAddr,
    source: String,
    destination: String,
    task: tokio::task::JoinHandle<()>,
    /// Where each connection's span goes, once the stack names its store.
    traces: Arc<OnceLock<TraceStore>>,
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
        let traces: Arc<OnceLock<TraceStore>> = Arc::default();
        let hop = Hop {
            source: Arc::from(source),
            traces: traces.clone(),
        };
        let task = accept_loop(listener, move |stream, _| {
            relay(stream, target.clone(), stats.clone(), hop.clone())
        });
        Ok(Outbound {
            addr,
            source: source.to_string(),
            destination,
            task,
            traces,
        })
    }

    /// Records a span for every connection from now on in `traces` (once; later calls change
    /// nothing).
    pub fn record_traces_in(&self, traces: TraceStore) {
        let _ = self.traces.set(traces);
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

/// Whose listener this is, and where its spans go.
#[derive(Debug, Clone)]
struct Hop {
    source: Arc<str>,
    traces: Arc<OnceLock<TraceStore>>,
}

impl Hop {
    /// Records the connection's span: its outcome, under the first request's trace when that
    /// request has already arrived (peeked, never waited for).
    fn finish(
        &self,
        trace: Option<OutboundTrace>,
        plain: &TcpStream,
        target: &UpstreamTarget,
        outcome: &str,
    ) {
        let (Some(trace), Some(store)) = (trace, self.traces.get()) else {
            return;
        };
        let mut head = [0u8; 2048];
        let context = match target.protocol {
            Protocol::Http => plain
                .peek(&mut head)
                .now_or_never()
                .and_then(Result::ok)
                .and_then(|n| traceparent_in_head(&head[..n])),
            Protocol::Tcp => None,
        };
        trace.finish(
            store,
            OutboundOutcome {
                source: self.source.clone(),
                destination: target.destination.clone(),
                context,
                outcome: outcome.to_string(),
                error: outcome != CONNECTED,
                toxics: target.link.as_deref().and_then(crate::trace::link_faults),
            },
        );
    }
}

/// The outcome of a connection that reached the destination's sidecar.
const CONNECTED: &str = "connected (mTLS)";

async fn relay(
    mut plain: TcpStream,
    target: Arc<UpstreamTarget>,
    stats: Arc<SidecarStats>,
    hop: Hop,
) {
    let trace = hop.traces.get().and_then(OutboundTrace::begin);
    let connecting = async {
        match &target.link {
            Some(link) => LinkStream::connect(link.clone(), target.addr)
                .await
                .map(|s| Box::new(s) as Box<dyn Io>),
            None => {
                let tcp = TcpStream::connect(target.addr).await?;
                let _ = tcp.set_nodelay(true);
                Ok(Box::new(tcp) as Box<dyn Io>)
            }
        }
    };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, connecting).await;
    let Ok(Ok(tcp)) = connected else {
        stats.record_upstream_connection(&target.destination, UpstreamOutcome::Refused);
        hop.finish(trace, &plain, &target, "connection refused or timed out");
        return local_reply(&mut plain, &target, None).await;
    };
    let connector = tokio_rustls::TlsConnector::from(target.tls.clone());
    let handshake = tokio::time::timeout(
        CONNECT_TIMEOUT,
        connector.connect(target.server_name.clone(), tcp),
    )
    .await;
    let mut tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let (outcome, reason) = match identity_mismatch(&e) {
                Some(mismatch) => {
                    tracing::warn!(destination = %target.destination, %mismatch, "upstream presented the wrong identity");
                    (UpstreamOutcome::IdentityMismatch, mismatch.to_string())
                }
                None => (UpstreamOutcome::HandshakeFailed, e.to_string()),
            };
            stats.record_upstream_connection(&target.destination, outcome);
            hop.finish(trace, &plain, &target, &reason);
            return local_reply(&mut plain, &target, Some(&reason)).await;
        }
        Err(_) => {
            stats.record_upstream_connection(&target.destination, UpstreamOutcome::HandshakeFailed);
            hop.finish(trace, &plain, &target, "handshake timed out");
            return local_reply(&mut plain, &target, Some("handshake timed out")).await;
        }
    };
    stats.record_upstream_connection(&target.destination, UpstreamOutcome::Ok);
    hop.finish(trace, &plain, &target, CONNECTED);
    let _ = tokio::io::copy_bidirectional(&mut plain, &mut tls).await;
}

/// The dialled byte stream: through the hop's link, or plain.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Envoy's answer to an http caller whose upstream connection failed (mesh.md §5): 503 with
/// the reset reason, after the caller's request head has arrived (closing on unread bytes would
/// reset the connection instead). A tcp caller's connection is just closed.
async fn local_reply(plain: &mut TcpStream, target: &UpstreamTarget, tls_error: Option<&str>) {
    if target.protocol != Protocol::Http {
        return;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            match plain.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(
        tokio::time::timeout(CONNECT_TIMEOUT, read_head).await,
        Ok(true)
    ) {
        return;
    }
    let body = match tls_error {
        None => "upstream connect error or disconnect/reset before headers. reset reason: connection failure".to_string(),
        Some(e) => format!(
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: {e}"
        ),
    };
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = plain.write_all(response.as_bytes()).await;
    let _ = plain.shutdown().await;
}
