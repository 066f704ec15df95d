//! A mesh caller for conformance checks (MESH-2..6): connects to a service's public listener as
//! any identity — one of the stack's, a new one from the stack CA, none, or one from another
//! CA — and reports what a real caller would see.
//!
//! ```text
//!   Caller ──TCP──► public port ──TLS handshake──► HTTP request | TCP bytes ──► Outcome
//!                                    │ refused → Outcome::HandshakeRefused
//! ```
//! Under TLS 1.3 a refused client certificate surfaces on the first read, not in `connect`, so
//! every probe writes and then reads before it decides.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::identity::{LeafCert, MeshCa};
use super::runtime::{MeshError, StackMesh};
use super::tls;

/// How long a probe waits for the peer (real time: network waits).
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a tcp probe stays silent first, to see the connection is not closed before the
/// caller speaks.
const SILENCE: Duration = Duration::from_millis(100);

/// Who calls.
#[derive(Debug)]
pub enum Caller {
    /// The identity's leaf from the stack CA (a new one for a name the stack does not have).
    Identity(String),
    /// No client certificate at all.
    Anonymous,
    /// A leaf for this identity from a CA the stack does not trust.
    ForeignCa(String),
}

impl std::fmt::Display for Caller {
    /// As a person says it: `value-committer`, `a caller without a certificate`, `api-gateway
    /// (certificate from another CA)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Identity(name) => f.write_str(name),
            Caller::Anonymous => f.write_str("a caller without a certificate"),
            Caller::ForeignCa(name) => write!(f, "{name} (certificate from another CA)"),
        }
    }
}

/// What a probe sends once connected.
#[derive(Debug, Clone)]
pub enum Probe {
    Http {
        method: http::Method,
        path: String,
        headers: Vec<(String, String)>,
    },
    /// Bytes to write; the reply is read until it stops (or the peer closes).
    Tcp(Vec<u8>),
}

/// What the caller saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The TLS handshake (or the first read after it) failed.
    HandshakeRefused(String),
    Http {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
    /// The destination answered these bytes.
    TcpReply(Vec<u8>),
    /// The handshake succeeded, the connection stayed open until the caller's first byte, then
    /// it was closed without a reply.
    TcpClosed,
    /// Anything else: refused or dropped connection, no answer, a protocol error — not a TLS
    /// refusal and not an answer.
    Failed(String),
}

/// Whether `error` (or one of its causes) is a TLS error: a handshake alert or a certificate the
/// peer (or we) refused.
fn is_tls_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// A failure as the probe reports it: a TLS refusal, or another failure.
fn failure(error: &(dyn std::error::Error + 'static)) -> Outcome {
    let text = crate::http::client::error_chain(error);
    if is_tls_refusal(error) {
        Outcome::HandshakeRefused(text)
    } else {
        Outcome::Failed(text)
    }
}

/// A TLS client for `caller` towards `destination` of `mesh`.
///
/// # Errors
/// A certificate or config cannot be made.
pub fn client_for(
    mesh: &StackMesh,
    caller: &Caller,
    destination: &str,
) -> Result<Arc<ClientConfig>, MeshError> {
    let expected = mesh.spiffe_id(destination)?;
    let bundle = mesh.ca.trust_bundle();
    let clock = mesh.clock();
    let config = match caller {
        Caller::Identity(name) => {
            let leaf = match mesh.leaf(name) {
                Ok(leaf) => leaf,
                Err(_) => Arc::new(mesh.ca.issue_leaf(name, clock)?),
            };
            tls::upstream_client_config(&bundle, &leaf, &expected, clock)?
        }
        Caller::Anonymous => tls::anonymous_client_config(&bundle, &expected, clock)?,
        Caller::ForeignCa(name) => {
            let foreign = MeshCa::impostor_of(&mesh.ca, clock)?;
            let leaf: LeafCert = foreign.issue_leaf(name, clock)?;
            tls::upstream_client_config(&bundle, &leaf, &expected, clock)?
        }
    };
    Ok(Arc::new(config))
}

/// Connects to `addr` with `config`, expecting `destination`'s identity, and sends `probe`.
pub async fn call(
    mesh: &StackMesh,
    config: Arc<ClientConfig>,
    destination: &str,
    addr: SocketAddr,
    probe: &Probe,
) -> Outcome {
    let Ok(expected) = mesh.spiffe_id(destination) else {
        return Outcome::Failed(format!("{destination} is not a SPIFFE service name"));
    };
    let tcp = match tokio::time::timeout(PATIENCE, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Outcome::Failed(format!("connect: {e}")),
        Err(_) => return Outcome::Failed("connect timed out".into()),
    };
    // Without it, the handshake's last flight and the request wait on delayed ACKs (~40 ms).
    let _ = tcp.set_nodelay(true);
    let connector = tokio_rustls::TlsConnector::from(config);
    let handshake = tokio::time::timeout(
        PATIENCE,
        connector.connect(tls::server_name_for(&expected), tcp),
    )
    .await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return failure(&e),
        Err(_) => return Outcome::Failed("handshake timed out".into()),
    };
    match probe {
        Probe::Http {
            method,
            path,
            headers,
        } => http(stream, method, path, headers).await,
        Probe::Tcp(bytes) => tcp_exchange(stream, bytes).await,
    }
}

async fn http(
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    method: &http::Method,
    path: &str,
    headers: &[(String, String)],
) -> Outcome {
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(TokioIo::new(stream))
            .await
        {
            Ok(pair) => pair,
            Err(e) => return failure(&e),
        };
    // The connection's own error says why (a TLS alert); the request only sees it cancelled.
    let mut connection = tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header("host", "mesh-probe");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let Ok(request) = request.body(Empty::new()) else {
        return Outcome::Failed("invalid request".into());
    };
    let response = match tokio::time::timeout(PATIENCE, sender.send_request(request)).await {
        Ok(Ok(response)) => response,
        // A client certificate the server refused shows here under TLS 1.3.
        Ok(Err(e)) => {
            return match tokio::time::timeout(PATIENCE, &mut connection).await {
                Ok(Ok(Err(cause))) => failure(&cause),
                _ => failure(&e),
            }
        }
        Err(_) => return Outcome::Failed("no answer".into()),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match response.into_body().collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(e) => return failure(&e),
    };
    Outcome::Http {
        status,
        content_type,
        body,
    }
}

/// Checks the connection stays open while the caller is silent, then writes `bytes` and reads
/// the reply: a reply, or a close on the first byte (the tcp deny surface).
async fn tcp_exchange(
    mut stream: tokio_rustls::client::TlsStream<TcpStream>,
    bytes: &[u8],
) -> Outcome {
    let mut reply = vec![0u8; 4096];
    // A refused client certificate (TLS 1.3) arrives here as an alert; a connection closed
    // before the caller spoke is not the deny surface.
    match tokio::time::timeout(SILENCE, stream.read(&mut reply)).await {
        Err(_) => {}
        Ok(Ok(0)) => return Outcome::Failed("closed before the caller sent anything".into()),
        Ok(Ok(_)) => return Outcome::Failed("the service spoke first".into()),
        Ok(Err(e)) => return failure(&e),
    }
    // A TLS stream may keep written bytes in its session until flushed (when the socket was not
    // writable at that moment): without the flush, the service would never see them and the
    // probe would wait for an answer to bytes never sent.
    if let Err(e) = send(&mut stream, bytes).await {
        return failure(&e);
    }
    match tokio::time::timeout(PATIENCE, stream.read(&mut reply)).await {
        Ok(Ok(0)) => Outcome::TcpClosed,
        Ok(Ok(n)) => {
            reply.truncate(n);
            Outcome::TcpReply(reply)
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Outcome::TcpClosed,
        Ok(Err(e)) => failure(&e),
        Err(_) => Outcome::Failed("no answer".into()),
    }
}

/// Writes `bytes` and flushes them out of the TLS session onto the socket.
async fn send(
    stream: &mut tokio_rustls::client::TlsStream<TcpStream>,
    bytes: &[u8],
) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// An open mesh connection to a tcp service, kept to show it survives an intention change.
pub struct OpenConnection {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
}

impl std::fmt::Debug for OpenConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenConnection")
    }
}

impl OpenConnection {
    /// Connects like [`call`] and keeps the connection.
    ///
    /// # Errors
    /// The connection or handshake failed.
    pub async fn open(
        mesh: &StackMesh,
        config: Arc<ClientConfig>,
        destination: &str,
        addr: SocketAddr,
    ) -> Result<OpenConnection, String> {
        let expected = mesh.spiffe_id(destination).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(tls::server_name_for(&expected), tcp)
            .await
            .map_err(|e| e.to_string())?;
        Ok(OpenConnection { stream })
    }

    /// Writes `bytes` and reads the reply on the kept connection.
    pub async fn exchange(&mut self, bytes: &[u8]) -> Outcome {
        if let Err(e) = send(&mut self.stream, bytes).await {
            return failure(&e);
        }
        let mut reply = vec![0u8; 4096];
        match tokio::time::timeout(PATIENCE, self.stream.read(&mut reply)).await {
            Ok(Ok(0)) => Outcome::TcpClosed,
            Ok(Ok(n)) => {
                reply.truncate(n);
                Outcome::TcpReply(reply)
            }
            Ok(Err(e)) => failure(&e),
            Err(_) => Outcome::Failed("no answer".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Caller;

    #[test]
    fn a_caller_reads_as_a_person_would_say_it() {
        assert_eq!(
            Caller::Identity("value-architect".into()).to_string(),
            "value-architect"
        );
        assert_eq!(
            Caller::Anonymous.to_string(),
            "a caller without a certificate"
        );
        assert_eq!(
            Caller::ForeignCa("api-gateway".into()).to_string(),
            "api-gateway (certificate from another CA)"
        );
    }
}
