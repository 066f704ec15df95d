//! rustls configurations for the two sidecar listeners (SPEC §6, MESH-1, MESH-2, MESH-4).
//!
//! ```text
//!   upstream listener (caller side)                 public listener (destination side)
//!   upstream_client_config(bundle, leaf, expected)  sidecar_server_config(bundle, leaf)
//!     presents the caller's leaf ───────── mTLS ───► client certificate REQUIRED,
//!     MeshServerVerifier:                              MeshClientVerifier: chain to the stack CA
//!       chain to the stack CA (no name check),         (EKU clientAuth) + a SPIFFE service URI SAN
//!       then URI SAN == expected SpiffeId            after the handshake: peer_spiffe_id(..)
//!       else IdentityMismatch (expected vs presented)      └─► intentions (source identity)
//! ```
//!
//! **Crypto provider.** The whole crate uses aws-lc-rs (rustls' default provider; rcgen and
//! tokio-rustls are built on it too, ring is not compiled). Every config here is built with
//! `builder_with_details(crypto_provider(), ..)`, never `ClientConfig::builder()`, so no
//! process-default provider is needed and the "two providers, no default" panic cannot happen
//! even if another dependency later compiles ring in.
//!
//! **Certificate validity follows the stack clock.** Both configs get a [`StackTimeProvider`]:
//! rustls asks it for "now" and hands that to the chain verification (webpki checks every
//! certificate's notBefore/notAfter against it). So jumping the stack clock 73 h makes a 72 h leaf
//! expired on both sides, and leaves issued after a jump (dated in the stack's future) verify.
//! Session resumption is disabled on both sides so that every connection is a full handshake that
//! re-verifies the peer's certificate at the current stack time (a resumed session would skip it).

mod verify;

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::identity::LeafCert;
use super::spiffe::{spiffe_id_of_der, SpiffeError, SpiffeId};
use crate::clock::StackClock;

pub use verify::{IdentityMismatch, MeshClientVerifier, MeshServerVerifier};

/// The one crypto provider of the crate: aws-lc-rs.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// rustls' notion of "now", read from the stack clock (SPEC §3: certificate validity reads it).
#[derive(Debug, Clone)]
pub struct StackTimeProvider {
    clock: StackClock,
}

impl StackTimeProvider {
    pub fn new(clock: &StackClock) -> Self {
        StackTimeProvider {
            clock: clock.clone(),
        }
    }
}

impl TimeProvider for StackTimeProvider {
    fn current_time(&self) -> Option<UnixTime> {
        self.clock
            .wall()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(UnixTime::since_unix_epoch)
    }
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("the mesh trust bundle is empty")]
    NoRoots,
    #[error("invalid CA certificate in the mesh trust bundle: {0}")]
    BadRoot(#[source] rustls::Error),
    #[error("cannot build the client-certificate verifier: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    #[error("cannot use the leaf certificate of {id}: {source}")]
    Leaf {
        id: String,
        #[source]
        source: rustls::Error,
    },
    #[error("unsupported TLS protocol versions: {0}")]
    Versions(#[source] rustls::Error),
}

/// Why the peer of an established connection has no usable mesh identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdentityError {
    #[error("the peer presented no certificate")]
    NoCertificate,
    #[error("the peer certificate carries no usable SPIFFE identity: {0}")]
    Spiffe(#[from] SpiffeError),
}

/// The roots a mesh peer trusts.
fn root_store(trust_bundle: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsConfigError> {
    if trust_bundle.is_empty() {
        return Err(TlsConfigError::NoRoots);
    }
    let mut roots = RootCertStore::empty();
    for cert in trust_bundle {
        roots.add(cert.clone()).map_err(TlsConfigError::BadRoot)?;
    }
    Ok(roots)
}

/// The public listener of `leaf`'s sidecar: presents `leaf`, requires a client certificate that
/// chains to `trust_bundle` at stack time and carries a SPIFFE service ID. No certificate, a
/// foreign CA, an expired leaf → the handshake fails (MESH-2).
///
/// # Errors
/// An empty or invalid bundle, or a leaf rustls cannot use.
pub fn sidecar_server_config(
    trust_bundle: &[CertificateDer<'static>],
    leaf: &LeafCert,
    clock: &StackClock,
) -> Result<ServerConfig, TlsConfigError> {
    let provider = crypto_provider();
    let roots = Arc::new(root_store(trust_bundle)?);
    let webpki = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(TlsConfigError::Verifier)?;
    let verifier = Arc::new(MeshClientVerifier::new(webpki));
    let mut config =
        ServerConfig::builder_with_details(provider, Arc::new(StackTimeProvider::new(clock)))
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::Versions)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(leaf.chain(), leaf.private_key_der())
            .map_err(|source| TlsConfigError::Leaf {
                id: leaf.spiffe_id().to_string(),
                source,
            })?;
    // Every connection re-verifies the client at the current stack time.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// An upstream listener of `leaf`'s sidecar towards `expected`: presents `leaf`, verifies the
/// server chain against `trust_bundle` at stack time, then refuses a server whose URI SAN is not
/// `expected` (MESH-4; the handshake error carries an [`IdentityMismatch`]).
///
/// # Errors
/// An empty or invalid bundle, or a leaf rustls cannot use.
pub fn upstream_client_config(
    trust_bundle: &[CertificateDer<'static>],
    leaf: &LeafCert,
    expected: &SpiffeId,
    clock: &StackClock,
) -> Result<ClientConfig, TlsConfigError> {
    let (builder, _) = client_builder(trust_bundle, expected, clock)?;
    let mut config = builder
        .with_client_auth_cert(leaf.chain(), leaf.private_key_der())
        .map_err(|source| TlsConfigError::Leaf {
            id: leaf.spiffe_id().to_string(),
            source,
        })?;
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// A client that verifies the destination like an upstream listener but presents **no**
/// certificate: the probe for "a caller without a mesh certificate is refused" (MESH-2).
///
/// # Errors
/// An empty or invalid bundle.
pub fn anonymous_client_config(
    trust_bundle: &[CertificateDer<'static>],
    expected: &SpiffeId,
    clock: &StackClock,
) -> Result<ClientConfig, TlsConfigError> {
    let (builder, _) = client_builder(trust_bundle, expected, clock)?;
    let mut config = builder.with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(config)
}

type ClientBuilder = rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>;

fn client_builder(
    trust_bundle: &[CertificateDer<'static>],
    expected: &SpiffeId,
    clock: &StackClock,
) -> Result<(ClientBuilder, Arc<MeshServerVerifier>), TlsConfigError> {
    let provider = crypto_provider();
    let roots = Arc::new(root_store(trust_bundle)?);
    let verifier = Arc::new(MeshServerVerifier::new(
        roots,
        expected.clone(),
        provider.clone(),
    ));
    let builder =
        ClientConfig::builder_with_details(provider, Arc::new(StackTimeProvider::new(clock)))
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::Versions)?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone());
    Ok((builder, verifier))
}

/// The SNI an upstream listener sends for `destination` (Consul's
/// `<svc>.<ns>.<dc>.internal.<trust-domain>`). Identity is checked on the URI SAN, never on
/// this name; when it is not a valid DNS name, no SNI is sent (loopback address).
pub fn server_name_for(destination: &SpiffeId) -> ServerName<'static> {
    ServerName::try_from(destination.sni())
        .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
}

/// The caller's identity on an established public-listener connection: pass
/// `server_connection.peer_certificates()` (tokio-rustls: `stream.get_ref().1`).
///
/// # Errors
/// No certificate, or one without a SPIFFE service ID (impossible after a
/// [`sidecar_server_config`] handshake, which refuses both).
pub fn peer_spiffe_id(
    peer_certificates: Option<&[CertificateDer<'_>]>,
) -> Result<SpiffeId, PeerIdentityError> {
    let leaf = peer_certificates
        .and_then(|certs| certs.first())
        .ok_or(PeerIdentityError::NoCertificate)?;
    Ok(spiffe_id_of_der(leaf)?)
}

/// The [`IdentityMismatch`] behind a failed upstream handshake, if that is why it failed. Accepts
/// the `io::Error` tokio-rustls returns or a bare `rustls::Error`.
pub fn identity_mismatch<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a IdentityMismatch> {
    let rustls_err = match err.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
        None => err.downcast_ref::<rustls::Error>()?,
    };
    match rustls_err {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref::<IdentityMismatch>()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::identity::MeshCa;
    use std::time::Duration;

    #[test]
    fn the_time_provider_reads_the_stack_clock() {
        let clock = StackClock::new();
        let provider = StackTimeProvider::new(&clock);
        let before = provider.current_time().unwrap().as_secs();
        clock.advance(Duration::from_secs(73 * 3600));
        let after = provider.current_time().unwrap().as_secs();
        assert!(after >= before + 73 * 3600);
    }

    #[test]
    fn configs_build_without_a_process_default_provider() {
        // No `CryptoProvider::install_default` anywhere: the builders must not need one.
        assert!(CryptoProvider::get_default().is_none());
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-committer", &clock).unwrap();
        let dest = ca.service_id("value-architect").unwrap();
        let bundle = ca.trust_bundle();
        upstream_client_config(&bundle, &leaf, &dest, &clock).unwrap();
        anonymous_client_config(&bundle, &dest, &clock).unwrap();
        sidecar_server_config(&bundle, &leaf, &clock).unwrap();
    }

    #[test]
    fn an_empty_trust_bundle_is_an_error() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-committer", &clock).unwrap();
        let err = sidecar_server_config(&[], &leaf, &clock).unwrap_err();
        assert!(matches!(err, TlsConfigError::NoRoots));
    }

    #[test]
    fn the_sni_is_consuls_internal_name() {
        let id = SpiffeId::service("abc.consul", "value-architect").unwrap();
        assert_eq!(
            format!("{:?}", server_name_for(&id)),
            format!(
                "{:?}",
                ServerName::try_from("value-architect.default.dc1.internal.abc.consul").unwrap()
            )
        );
    }

    #[test]
    fn the_peer_identity_is_read_from_the_uri_san() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-committer", &clock).unwrap();
        let chain = leaf.chain();
        assert_eq!(peer_spiffe_id(Some(&chain)).unwrap(), *leaf.spiffe_id());
        assert_eq!(
            peer_spiffe_id(None).unwrap_err(),
            PeerIdentityError::NoCertificate
        );
        let ca_only = ca.trust_bundle();
        assert!(matches!(
            peer_spiffe_id(Some(&ca_only)),
            Err(PeerIdentityError::Spiffe(SpiffeError::NotAService(_)))
        ));
    }
}
