//! The two certificate verifiers of the mesh, used by [`super`]'s configs.
//!
//! ```text
//!   MeshServerVerifier (upstream side):  chain to the stack roots at stack time (webpki, EKU
//!                                        serverAuth, no DNS-name check) ─► URI SAN == expected
//!   MeshClientVerifier (public side):    webpki client verifier (chain, EKU clientAuth, stack
//!                                        time) ─► the leaf must carry a SPIFFE service ID
//! ```
//!
//! Mesh leaves have no DNS SAN and no subject, so rustls' stock server verifier (which matches
//! the server name against DNS SANs) would refuse every one of them: identity is the URI SAN.
//! Like Envoy's RBAC principal match, the public side does not compare trust domains: the chain
//! to the stack's own roots already proves the leaf comes from this stack.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, RootCertStore,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::mesh::spiffe::{spiffe_id_of_der, SpiffeError, SpiffeId};

/// An upstream presented a valid mesh certificate for another service (MESH-4).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("upstream presented identity {presented}, expected {expected}")]
pub struct IdentityMismatch {
    pub expected: SpiffeId,
    pub presented: SpiffeId,
}

impl fmt::Debug for IdentityMismatch {
    /// rustls prints certificate errors with `Debug`: keep it as readable as `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn invalid_certificate(err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(err))))
}

fn spiffe_of(end_entity: &CertificateDer<'_>) -> Result<SpiffeId, Error> {
    spiffe_id_of_der(end_entity).map_err(|e: SpiffeError| invalid_certificate(e))
}

/// Verifies an upstream's certificate: chain to the stack roots at stack time, then the
/// expected SPIFFE ID.
#[derive(Debug)]
pub struct MeshServerVerifier {
    roots: Arc<RootCertStore>,
    expected: SpiffeId,
    provider: Arc<CryptoProvider>,
}

impl MeshServerVerifier {
    pub fn new(
        roots: Arc<RootCertStore>,
        expected: SpiffeId,
        provider: Arc<CryptoProvider>,
    ) -> Self {
        MeshServerVerifier {
            roots,
            expected,
            provider,
        }
    }

    /// The identity this verifier insists on.
    pub fn expected(&self) -> &SpiffeId {
        &self.expected
    }
}

impl ServerCertVerifier for MeshServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        // `now` comes from the config's StackTimeProvider: validity follows the stack clock.
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let presented = spiffe_of(end_entity)?;
        if presented != self.expected {
            return Err(invalid_certificate(IdentityMismatch {
                expected: self.expected.clone(),
                presented,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Verifies a caller's certificate: rustls' webpki client verifier (mandatory client auth,
/// chain to the stack roots, stack time), then a SPIFFE service ID in the URI SAN, so that every
/// accepted connection has a source identity for the intentions.
#[derive(Debug)]
pub struct MeshClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl MeshClientVerifier {
    pub fn new(inner: Arc<dyn ClientCertVerifier>) -> Self {
        MeshClientVerifier { inner }
    }
}

impl ClientCertVerifier for MeshClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        spiffe_of(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::StackClock;
    use crate::mesh::identity::MeshCa;
    use crate::mesh::tls::{crypto_provider, StackTimeProvider};
    use rustls::time_provider::TimeProvider;

    fn server_verifier(ca: &MeshCa, expected: &str) -> MeshServerVerifier {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der()).unwrap();
        MeshServerVerifier::new(
            Arc::new(roots),
            ca.service_id(expected).unwrap(),
            crypto_provider(),
        )
    }

    fn now(clock: &StackClock) -> UnixTime {
        StackTimeProvider::new(clock).current_time().unwrap()
    }

    #[test]
    fn the_expected_upstream_is_accepted_without_any_dns_name() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-architect", &clock).unwrap();
        let name = ServerName::try_from("unrelated.example").unwrap();
        server_verifier(&ca, "value-architect")
            .verify_server_cert(&leaf.cert_der(), &[], &name, &[], now(&clock))
            .unwrap();
    }

    #[test]
    fn a_wrong_identity_names_expected_and_presented() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-committer", &clock).unwrap();
        let name = ServerName::try_from("x.example").unwrap();
        let err = server_verifier(&ca, "value-architect")
            .verify_server_cert(&leaf.cert_der(), &[], &name, &[], now(&clock))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("expected spiffe://"), "{text}");
        assert!(text.contains("/svc/value-architect"), "{text}");
        assert!(text.contains("presented identity spiffe://"), "{text}");
        assert!(text.contains("/svc/value-committer"), "{text}");
        assert!(crate::mesh::tls::identity_mismatch(&err).is_some());
    }

    #[test]
    fn a_foreign_chain_is_refused_before_the_identity_is_looked_at() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let foreign = MeshCa::impostor_of(&ca, &clock).unwrap();
        let leaf = foreign.issue_leaf("value-architect", &clock).unwrap();
        let name = ServerName::try_from("x.example").unwrap();
        let err = server_verifier(&ca, "value-architect")
            .verify_server_cert(&leaf.cert_der(), &[], &name, &[], now(&clock))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(
                    CertificateError::UnknownIssuer | CertificateError::BadSignature
                )
            ),
            "{err:?}"
        );
    }

    #[test]
    fn validity_is_judged_at_the_time_rustls_passes_in() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-architect", &clock).unwrap();
        let name = ServerName::try_from("x.example").unwrap();
        clock.advance(std::time::Duration::from_secs(72 * 3600));
        let err = server_verifier(&ca, "value-architect")
            .verify_server_cert(&leaf.cert_der(), &[], &name, &[], now(&clock))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            ),
            "{err:?}"
        );
    }
}
