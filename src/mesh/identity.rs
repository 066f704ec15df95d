//! The per-stack certificate authority and the services' leaf certificates (SPEC §6, MESH-1).
//!
//! ```text
//!   StackClock::wall() ─┐
//!   fresh cluster UUID ─┴─► MeshCa  (root: self-signed, URI SAN spiffe://<uuid>.consul)
//!                             └─ issue_leaf("value-architect") ─► LeafCert
//!                                  EC P-256, URI SAN spiffe://<uuid>.consul/ns/default/dc/dc1/svc/value-architect
//!                                  EKU clientAuth+serverAuth, no DNS SAN, no subject,
//!                                  valid [wall − 1 min, wall − 1 min + 72 h]
//!                                        │
//!                                        └─► tls::sidecar_server_config / tls::upstream_client_config
//! ```
//!
//! The shapes follow Consul's built-in CA (mesh.md §1, `provider_consul.go`): the root carries
//! the trust-domain signing ID as its URI SAN and a `pri-<uid>.consul.ca.<cluster8>.consul`
//! common name; leaves are backdated one minute for clock skew and live `LeafCertTTL` (72 h).
//! Validity is read from the **stack clock**, so a scenario that jumps the clock past 72 h sees
//! expired leaves, exactly as the verifiers in [`super::tls`] (which also read the stack clock)
//! judge them.
//!
//! Negative controls: [`MeshCa::impostor_of`] makes a *foreign* CA that claims the same trust
//! domain (a chain that must not verify), and [`MeshCa::issue_leaf_with_id`] issues a genuine
//! leaf carrying any SPIFFE ID (an impostor for MESH-4). Private keys never appear in `Debug`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use uuid::Uuid;

use super::spiffe::{SpiffeError, SpiffeId};
use crate::clock::StackClock;

/// Consul's default `LeafCertTTL`.
pub const LEAF_TTL: Duration = Duration::from_secs(72 * 3600);
/// Consul backdates every leaf by one minute for clock skew.
pub const LEAF_BACKDATE: Duration = Duration::from_secs(60);
/// Consul's default `RootCertTTL` (87 600 h, ten years).
pub const ROOT_TTL: Duration = Duration::from_secs(87_600 * 3600);

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid mesh identity: {0}")]
    Spiffe(#[from] SpiffeError),
    #[error("mesh certificate or key: {0}")]
    Pem(String),
    #[error("cannot generate the {what}: {source}")]
    Rcgen {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
}

/// A stack's certificate authority: one self-signed root per stack, with its own trust domain.
pub struct MeshCa {
    cluster_id: Uuid,
    trust_domain: String,
    common_name: String,
    /// Kept to build an [`Issuer`] for each leaf.
    params: CertificateParams,
    key: KeyPair,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    not_before: SystemTime,
    not_after: SystemTime,
    next_serial: AtomicU64,
}

impl fmt::Debug for MeshCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeshCa")
            .field("trust_domain", &self.trust_domain)
            .field("common_name", &self.common_name)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl MeshCa {
    /// A new CA for a new stack: a fresh cluster UUID, trust domain `<uuid>.consul`.
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn generate(clock: &StackClock) -> Result<MeshCa, IdentityError> {
        MeshCa::with_cluster_id(Uuid::new_v4(), clock)
    }

    /// A CA for the cluster `cluster_id` (trust domain `<cluster_id>.consul`).
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn with_cluster_id(cluster_id: Uuid, clock: &StackClock) -> Result<MeshCa, IdentityError> {
        let trust_domain = format!("{cluster_id}.consul").to_ascii_lowercase();
        MeshCa::build(cluster_id, trust_domain, clock)
    }

    /// A *foreign* CA claiming `genuine`'s trust domain with its own key: its leaves carry the
    /// very SPIFFE IDs of the genuine stack but must never verify against it (MESH-2).
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn impostor_of(genuine: &MeshCa, clock: &StackClock) -> Result<MeshCa, IdentityError> {
        MeshCa::build(genuine.cluster_id, genuine.trust_domain.clone(), clock)
    }

    fn build(
        cluster_id: Uuid,
        trust_domain: String,
        clock: &StackClock,
    ) -> Result<MeshCa, IdentityError> {
        let rcgen_err = |source| IdentityError::Rcgen {
            what: "mesh CA",
            source,
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?;
        // `pri-<uid8>.consul.ca.<cluster8>.consul`, as Consul's common_names.go names roots.
        let uid8: String = Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(8)
            .collect();
        let cluster8: String = cluster_id.simple().to_string().chars().take(8).collect();
        let common_name = format!("pri-{uid8}.consul.ca.{cluster8}.consul");
        // Backdated like the leaves, so a leaf is never older than its root.
        let not_before = clock.wall() - LEAF_BACKDATE;
        let not_after = not_before + ROOT_TTL;

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.clone());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let signing_id = format!("spiffe://{trust_domain}");
        params.subject_alt_names = vec![SanType::URI(signing_id.try_into().map_err(rcgen_err)?)];
        params.not_before = OffsetDateTime::from(not_before);
        params.not_after = OffsetDateTime::from(not_after);
        params.serial_number = Some(SerialNumber::from(1u64));
        let cert = params.self_signed(&key).map_err(rcgen_err)?;
        Ok(MeshCa {
            cluster_id,
            trust_domain,
            common_name,
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            params,
            key,
            not_before,
            not_after,
            next_serial: AtomicU64::new(2),
        })
    }

    /// The CA a running stack exported ([`super::bundle`]): the same certificate and key,
    /// rebuilt in another process (a container of the same stack).
    ///
    /// # Errors
    /// A key or certificate that does not parse.
    pub(crate) fn from_parts(
        cluster_id: Uuid,
        common_name: String,
        cert_pem: String,
        key_pem: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<MeshCa, IdentityError> {
        let rcgen_err = |source| IdentityError::Rcgen {
            what: "mesh CA",
            source,
        };
        let trust_domain = format!("{cluster_id}.consul").to_ascii_lowercase();
        let key = KeyPair::from_pem(key_pem).map_err(rcgen_err)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.clone());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let signing_id = format!("spiffe://{trust_domain}");
        params.subject_alt_names = vec![SanType::URI(signing_id.try_into().map_err(rcgen_err)?)];
        params.not_before = OffsetDateTime::from(not_before);
        params.not_after = OffsetDateTime::from(not_after);
        let cert_der = pem_certificate(&cert_pem)?;
        Ok(MeshCa {
            cluster_id,
            trust_domain,
            common_name,
            cert_pem,
            cert_der,
            params,
            key,
            not_before,
            not_after,
            next_serial: AtomicU64::new(1_000),
        })
    }

    /// The CA's private key (PEM), for [`super::bundle`] only.
    pub(crate) fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The cluster UUID the trust domain is made of.
    pub fn cluster_id(&self) -> Uuid {
        self.cluster_id
    }

    /// `<cluster-uuid>.consul`.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The root's signing ID, `spiffe://<trust-domain>` (its URI SAN).
    pub fn signing_id(&self) -> String {
        format!("spiffe://{}", self.trust_domain)
    }

    /// The root's subject common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// The root certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The roots a peer of this stack trusts (one active root; no rotation yet).
    pub fn trust_bundle(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der()]
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The SPIFFE ID of `service` in this stack's trust domain.
    ///
    /// # Errors
    /// A service name that cannot be a SPIFFE path segment.
    pub fn service_id(&self, service: &str) -> Result<SpiffeId, IdentityError> {
        Ok(SpiffeId::service(&self.trust_domain, service)?)
    }

    /// A leaf for `service`, valid 72 h from the stack clock's wall time, backdated 1 minute.
    ///
    /// # Errors
    /// An invalid service name, or key generation or signing failed.
    pub fn issue_leaf(&self, service: &str, clock: &StackClock) -> Result<LeafCert, IdentityError> {
        let id = self.service_id(service)?;
        self.issue_leaf_with_id(id, clock)
    }

    /// A leaf signed by this CA carrying `id`, whatever it is (another service, another trust
    /// domain): the impostor of MESH-4 is a genuine leaf with the wrong identity.
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn issue_leaf_with_id(
        &self,
        id: SpiffeId,
        clock: &StackClock,
    ) -> Result<LeafCert, IdentityError> {
        let rcgen_err = |source| IdentityError::Rcgen {
            what: "leaf certificate",
            source,
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?;
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let not_before = clock.wall() - LEAF_BACKDATE;
        let not_after = not_before + LEAF_TTL;

        let mut params = CertificateParams::default();
        // Current Consul leaves carry no subject at all.
        params.distinguished_name = DistinguishedName::new();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::DataEncipherment,
            KeyUsagePurpose::KeyAgreement,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.subject_alt_names =
            vec![SanType::URI(id.to_string().try_into().map_err(rcgen_err)?)];
        params.use_authority_key_identifier_extension = true;
        params.not_before = OffsetDateTime::from(not_before);
        params.not_after = OffsetDateTime::from(not_after);
        params.serial_number = Some(SerialNumber::from(serial));
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(rcgen_err)?;
        Ok(LeafCert {
            id,
            serial,
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key: LeafKey {
                pem: key.serialize_pem(),
                der: key.serialize_der(),
            },
            not_before,
            not_after,
        })
    }
}

/// The DER of a PEM certificate.
fn pem_certificate(pem: &str) -> Result<CertificateDer<'static>, IdentityError> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| IdentityError::Pem(e.to_string()))
}

/// A service's leaf certificate and private key.
#[derive(Clone)]
pub struct LeafCert {
    id: SpiffeId,
    serial: u64,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: LeafKey,
    not_before: SystemTime,
    not_after: SystemTime,
}

/// PKCS#8 private key material; deliberately without `Debug`.
#[derive(Clone)]
struct LeafKey {
    pem: String,
    der: Vec<u8>,
}

impl fmt::Debug for LeafCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCert")
            .field("id", &self.id.to_string())
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl LeafCert {
    /// A leaf a running stack exported ([`super::bundle`]).
    ///
    /// # Errors
    /// A certificate, key or SPIFFE ID that does not parse.
    pub(crate) fn from_parts(
        id: &str,
        serial: u64,
        cert_pem: String,
        key_pem: String,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<LeafCert, IdentityError> {
        use rustls_pki_types::pem::PemObject;
        let cert_der = pem_certificate(&cert_pem)?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| IdentityError::Pem(e.to_string()))?
            .secret_pkcs8_der()
            .to_vec();
        Ok(LeafCert {
            id: SpiffeId::parse(id)?,
            serial,
            cert_pem,
            cert_der,
            key: LeafKey { pem: key_pem, der },
            not_before,
            not_after,
        })
    }

    /// The SPIFFE ID in the certificate's URI SAN.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.id
    }

    /// Serial number (monotonic per CA, as Consul's raft counter).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM. A secret: never log it.
    pub fn private_key_pem(&self) -> &str {
        &self.key.pem
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The chain a peer presents: the leaf alone (no intermediates under a single root).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der()]
    }

    /// The private key for rustls. A secret: never log it.
    pub fn private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.der.clone()))
    }

    /// Start of validity (issue time on the stack clock minus one minute).
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of validity (`not_before` + 72 h).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::*;

    fn unix(t: SystemTime) -> i64 {
        OffsetDateTime::from(t).unix_timestamp()
    }

    fn uri_sans(cert: &X509Certificate<'_>) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::URI(u) = name {
                    out.push(u.to_string());
                }
            }
        }
        out
    }

    fn has_dns_san(cert: &X509Certificate<'_>) -> bool {
        matches!(cert.subject_alternative_name(), Ok(Some(san))
            if san.value.general_names.iter().any(|n| matches!(n, GeneralName::DNSName(_))))
    }

    #[test]
    fn a_leaf_has_exactly_the_consul_shape() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-architect", &clock).unwrap();
        let der = leaf.cert_der();
        let ca_der = ca.cert_der();
        let (_, cert) = parse_x509_certificate(&der).unwrap();

        let expected = format!(
            "spiffe://{}/ns/default/dc/dc1/svc/value-architect",
            ca.trust_domain()
        );
        assert_eq!(uri_sans(&cert), vec![expected.clone()]);
        assert_eq!(leaf.spiffe_id().to_string(), expected);
        assert!(!has_dns_san(&cert), "leaves carry no DNS SAN");
        assert_eq!(cert.subject().iter_attributes().count(), 0, "no subject");

        // EC P-256 key, ECDSA-SHA256 signature.
        let spki = cert.public_key();
        assert_eq!(
            spki.algorithm.algorithm,
            x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        );
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .unwrap();
        assert_eq!(curve, x509_parser::oid_registry::OID_EC_P256);
        assert_eq!(
            cert.signature_algorithm.algorithm,
            x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256
        );

        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && eku.server_auth);
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert!(!bc.ca);
        assert_eq!(
            cert.issuer(),
            parse_x509_certificate(&ca_der).unwrap().1.subject()
        );
        assert!(cert.extensions().iter().any(|e| matches!(
            e.parsed_extension(),
            ParsedExtension::AuthorityKeyIdentifier(_)
        )));
    }

    #[test]
    fn a_leaf_lives_72_hours_from_the_stack_clock_backdated_one_minute() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        // Jump ten days: validity must follow the stack clock, not the real one.
        clock.advance(Duration::from_secs(10 * 24 * 3600));
        let wall = unix(clock.wall());
        let leaf = ca.issue_leaf("value-committer", &clock).unwrap();
        let der = leaf.cert_der();
        let (_, cert) = parse_x509_certificate(&der).unwrap();
        let nb = cert.validity().not_before.timestamp();
        let na = cert.validity().not_after.timestamp();
        assert!(
            (nb - (wall - 60)).abs() <= 1,
            "not_before {nb} vs wall {wall}"
        );
        assert_eq!(na - nb, 72 * 3600);
        assert_eq!(unix(leaf.not_before()), nb);
        assert_eq!(unix(leaf.not_after()), na);
    }

    #[test]
    fn the_root_is_a_ca_named_after_its_trust_domain() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let der = ca.cert_der();
        let (_, cert) = parse_x509_certificate(&der).unwrap();
        assert!(cert.basic_constraints().unwrap().unwrap().value.ca);
        assert_eq!(uri_sans(&cert), vec![ca.signing_id()]);
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && ku.digital_signature());
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), ca.common_name());
        let cluster8 = &ca.cluster_id().simple().to_string()[..8];
        assert!(ca.common_name().starts_with("pri-"));
        assert!(ca
            .common_name()
            .ends_with(&format!(".consul.ca.{cluster8}.consul")));
        assert_eq!(unix(ca.not_after()) - unix(ca.not_before()), 87_600 * 3600);
    }

    #[test]
    fn every_stack_gets_a_fresh_lowercase_trust_domain() {
        let clock = StackClock::new();
        let a = MeshCa::generate(&clock).unwrap();
        let b = MeshCa::generate(&clock).unwrap();
        assert_ne!(a.trust_domain(), b.trust_domain());
        assert_eq!(a.trust_domain(), format!("{}.consul", a.cluster_id()));
        assert_eq!(a.trust_domain(), a.trust_domain().to_ascii_lowercase());
    }

    #[test]
    fn an_impostor_ca_claims_the_same_trust_domain_with_another_key() {
        let clock = StackClock::new();
        let genuine = MeshCa::generate(&clock).unwrap();
        let foreign = MeshCa::impostor_of(&genuine, &clock).unwrap();
        assert_eq!(foreign.trust_domain(), genuine.trust_domain());
        assert_ne!(foreign.cert_der(), genuine.cert_der());
        let leaf = foreign.issue_leaf("value-committer", &clock).unwrap();
        assert_eq!(
            leaf.spiffe_id(),
            &genuine.service_id("value-committer").unwrap()
        );
    }

    #[test]
    fn serials_increase_per_ca() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let a = ca.issue_leaf("a", &clock).unwrap();
        let b = ca.issue_leaf("b", &clock).unwrap();
        assert!(b.serial() > a.serial());
        let der = b.cert_der();
        let (_, cert) = parse_x509_certificate(&der).unwrap();
        let raw = cert
            .raw_serial()
            .iter()
            .fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        assert_eq!(raw, b.serial());
    }

    #[test]
    fn private_keys_never_appear_in_debug_output() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let leaf = ca.issue_leaf("value-architect", &clock).unwrap();
        let key_body: String = leaf
            .private_key_pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert!(leaf.private_key_pem().contains("PRIVATE KEY"));
        for shown in [format!("{leaf:?}"), format!("{ca:?}"), format!("{leaf:#?}")] {
            assert!(!shown.contains("PRIVATE KEY"), "{shown}");
            assert!(!shown.contains(&key_body[..32]), "{shown}");
            assert!(shown.contains("<redacted>"));
        }
    }

    #[test]
    fn an_invalid_service_name_is_refused() {
        let clock = StackClock::new();
        let ca = MeshCa::generate(&clock).unwrap();
        let err = ca.issue_leaf("value/architect", &clock).unwrap_err();
        assert!(err.to_string().contains("value/architect"), "{err}");
    }
}
