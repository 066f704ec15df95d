//! Loopback mTLS between a sidecar public listener and an upstream listener (MESH-1, MESH-2,
//! MESH-4), with certificate validity on the stack clock.
//!
//! Each test starts a TLS server with `sidecar_server_config` that reports every handshake's
//! outcome (the caller's SPIFFE ID or the error) and answers one line with the caller's identity.
//! Under TLS 1.3 a client refused by the server still sees `connect()` succeed; the alert arrives
//! on the first read, so every probe writes a line and reads the answer before deciding.

use std::sync::Arc;
use std::time::Duration;

use gauntlet::clock::StackClock;
use gauntlet::mesh::identity::{LeafCert, MeshCa};
use gauntlet::mesh::tls::{
    anonymous_client_config, identity_mismatch, peer_spiffe_id, server_name_for,
    sidecar_server_config, upstream_client_config,
};
use gauntlet::mesh::SpiffeId;
use rustls::ClientConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const LIMIT: Duration = Duration::from_secs(10);

/// A public listener on loopback; `handshakes` yields each connection's outcome.
struct Sidecar {
    addr: std::net::SocketAddr,
    handshakes: mpsc::UnboundedReceiver<Result<SpiffeId, String>>,
}

async fn sidecar(ca: &MeshCa, leaf: &LeafCert, clock: &StackClock) -> Sidecar {
    let config = sidecar_server_config(&ca.trust_bundle(), leaf, clock).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, handshakes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let id = peer_spiffe_id(tls.get_ref().1.peer_certificates());
                let _ = tx.send(id.clone().map_err(|e| e.to_string()));
                let Ok(id) = id else { return };
                let mut lines = BufReader::new(tls);
                let mut line = String::new();
                if lines.read_line(&mut line).await.is_ok() {
                    let reply = format!("hello {id}\n");
                    let _ = lines.get_mut().write_all(reply.as_bytes()).await;
                    let _ = lines.get_mut().flush().await;
                }
            });
        }
    });
    Sidecar { addr, handshakes }
}

/// Connects, writes a line, reads the answer: `Ok(answer)` only if the server accepted us.
async fn probe(
    config: ClientConfig,
    addr: std::net::SocketAddr,
    destination: &SpiffeId,
) -> Result<String, std::io::Error> {
    let connector = TlsConnector::from(Arc::new(config));
    let run = async {
        let tcp = TcpStream::connect(addr).await?;
        let tls = connector.connect(server_name_for(destination), tcp).await?;
        let mut lines = BufReader::new(tls);
        lines.get_mut().write_all(b"ping\n").await?;
        lines.get_mut().flush().await?;
        let mut answer = String::new();
        let n = lines.read_line(&mut answer).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed without an answer",
            ));
        }
        Ok(answer.trim_end().to_string())
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "probe timed out"))?
}

async fn next_handshake(side: &mut Sidecar) -> Result<SpiffeId, String> {
    tokio::time::timeout(LIMIT, side.handshakes.recv())
        .await
        .expect("the server saw a connection")
        .expect("server running")
}

struct Mesh {
    clock: StackClock,
    ca: MeshCa,
    architect: LeafCert,
    committer: LeafCert,
}

fn mesh() -> Mesh {
    let clock = StackClock::new();
    let ca = MeshCa::generate(&clock).unwrap();
    let architect = ca.issue_leaf("value-architect", &clock).unwrap();
    let committer = ca.issue_leaf("value-committer", &clock).unwrap();
    Mesh {
        clock,
        ca,
        architect,
        committer,
    }
}

#[tokio::test]
async fn an_allowed_callers_spiffe_id_is_seen_by_the_server() {
    let m = mesh();
    let mut side = sidecar(&m.ca, &m.architect, &m.clock).await;
    let dest = m.architect.spiffe_id().clone();
    let client =
        upstream_client_config(&m.ca.trust_bundle(), &m.committer, &dest, &m.clock).unwrap();
    let answer = probe(client, side.addr, &dest).await.unwrap();
    let caller = m.committer.spiffe_id();
    assert_eq!(answer, format!("hello {caller}"));
    let seen = next_handshake(&mut side).await.unwrap();
    assert_eq!(&seen, caller);
    assert_eq!(seen.service_name(), "value-committer");
    assert_eq!(seen.trust_domain(), m.ca.trust_domain());
}

#[tokio::test]
async fn a_caller_without_a_certificate_fails_the_handshake() {
    let m = mesh();
    let mut side = sidecar(&m.ca, &m.architect, &m.clock).await;
    let dest = m.architect.spiffe_id().clone();
    let client = anonymous_client_config(&m.ca.trust_bundle(), &dest, &m.clock).unwrap();
    let outcome = probe(client, side.addr, &dest).await;
    assert!(
        outcome.is_err(),
        "answered without a certificate: {outcome:?}"
    );
    let server_side = next_handshake(&mut side).await.unwrap_err();
    assert!(
        server_side.contains("no certificates") || server_side.contains("NoCertificates"),
        "{server_side}"
    );
}

#[tokio::test]
async fn a_caller_with_a_foreign_ca_certificate_fails_the_handshake() {
    let m = mesh();
    let mut side = sidecar(&m.ca, &m.architect, &m.clock).await;
    let dest = m.architect.spiffe_id().clone();
    // Same trust domain, same SPIFFE ID, another key: only the chain can tell.
    let impostor_ca = MeshCa::impostor_of(&m.ca, &m.clock).unwrap();
    let unrelated_ca = MeshCa::generate(&m.clock).unwrap();
    for foreign in [&impostor_ca, &unrelated_ca] {
        let leaf = foreign.issue_leaf("value-committer", &m.clock).unwrap();
        // The caller trusts the genuine CA, so only the server's check can refuse it.
        let client = upstream_client_config(&m.ca.trust_bundle(), &leaf, &dest, &m.clock).unwrap();
        let outcome = probe(client, side.addr, &dest).await;
        assert!(outcome.is_err(), "foreign caller answered: {outcome:?}");
        let server_side = next_handshake(&mut side).await.unwrap_err();
        assert!(
            server_side.contains("invalid peer certificate"),
            "{server_side}"
        );
    }
}

#[tokio::test]
async fn a_caller_expecting_value_architect_refuses_an_impostor() {
    let m = mesh();
    // A genuine leaf of this CA, but for another service, behind the architect's address.
    let impostor = m.ca.issue_leaf("value-committer", &m.clock).unwrap();
    let mut side = sidecar(&m.ca, &impostor, &m.clock).await;
    let dest = m.ca.service_id("value-architect").unwrap();
    let client =
        upstream_client_config(&m.ca.trust_bundle(), &m.committer, &dest, &m.clock).unwrap();
    let err = probe(client, side.addr, &dest).await.unwrap_err();
    let mismatch = identity_mismatch(&err).unwrap_or_else(|| panic!("not a mismatch: {err}"));
    assert_eq!(mismatch.expected, dest);
    assert_eq!(&mismatch.presented, impostor.spiffe_id());
    let text = err.to_string();
    assert!(text.contains("/svc/value-architect"), "{text}");
    assert!(text.contains("/svc/value-committer"), "{text}");
    // The client aborts the handshake: the server never sees an identity.
    assert!(next_handshake(&mut side).await.is_err());
}

#[tokio::test]
async fn a_caller_refuses_an_upstream_from_a_foreign_ca() {
    let m = mesh();
    let foreign = MeshCa::impostor_of(&m.ca, &m.clock).unwrap();
    let fake_architect = foreign.issue_leaf("value-architect", &m.clock).unwrap();
    let side = sidecar(&m.ca, &fake_architect, &m.clock).await;
    let dest = m.architect.spiffe_id().clone();
    let client =
        upstream_client_config(&m.ca.trust_bundle(), &m.committer, &dest, &m.clock).unwrap();
    let err = probe(client, side.addr, &dest).await.unwrap_err();
    assert!(identity_mismatch(&err).is_none());
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn certificates_expire_when_the_stack_clock_passes_72_hours() {
    let m = mesh();
    let mut side = sidecar(&m.ca, &m.architect, &m.clock).await;
    let dest = m.architect.spiffe_id().clone();
    let bundle = m.ca.trust_bundle();
    let client = upstream_client_config(&bundle, &m.committer, &dest, &m.clock).unwrap();
    probe(client.clone(), side.addr, &dest).await.unwrap();
    next_handshake(&mut side).await.unwrap();

    m.clock.advance(Duration::from_secs(73 * 3600));

    // The server's leaf expired: the caller refuses it (no resumed session skips the check).
    let err = probe(client, side.addr, &dest).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
    let _ = next_handshake(&mut side).await;

    // A fresh server leaf, the caller's still expired: the server refuses the caller.
    let fresh_architect = m.ca.issue_leaf("value-architect", &m.clock).unwrap();
    let mut fresh_side = sidecar(&m.ca, &fresh_architect, &m.clock).await;
    let client = upstream_client_config(&bundle, &m.committer, &dest, &m.clock).unwrap();
    assert!(probe(client, fresh_side.addr, &dest).await.is_err());
    let server_side = next_handshake(&mut fresh_side).await.unwrap_err();
    assert!(
        server_side.to_lowercase().contains("expired"),
        "{server_side}"
    );

    // Renewed on the stack clock, both verify again.
    let renewed = m.ca.issue_leaf("value-committer", &m.clock).unwrap();
    let client = upstream_client_config(&bundle, &renewed, &dest, &m.clock).unwrap();
    probe(client, fresh_side.addr, &dest).await.unwrap();
}

#[tokio::test]
async fn leaves_issued_after_a_clock_jump_verify_on_stack_time_not_real_time() {
    let clock = StackClock::new();
    let ca = MeshCa::generate(&clock).unwrap();
    clock.advance(Duration::from_secs(100 * 3600));
    // Valid from (real now + 100 h − 1 min): "not yet valid" for a real-time verifier.
    let architect = ca.issue_leaf("value-architect", &clock).unwrap();
    let committer = ca.issue_leaf("value-committer", &clock).unwrap();
    let mut side = sidecar(&ca, &architect, &clock).await;
    let dest = architect.spiffe_id().clone();
    let client = upstream_client_config(&ca.trust_bundle(), &committer, &dest, &clock).unwrap();
    probe(client, side.addr, &dest).await.unwrap();
    assert_eq!(
        &next_handshake(&mut side).await.unwrap(),
        committer.spiffe_id()
    );
}
