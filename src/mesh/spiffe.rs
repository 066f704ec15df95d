//! SPIFFE identities of mesh services, in Consul's shape (SPEC §6, mesh.md §1).
//!
//! ```text
//!   spiffe://<cluster-uuid>.consul/ns/default/dc/dc1/svc/value-architect
//!            └── trust domain ───┘ └─ namespace ┘ └dc┘ └──── service ────┘
//! ```
//!
//! A leaf certificate carries this ID as its only URI SAN ([`super::identity`] writes it); the
//! mTLS verifiers ([`super::tls`]) read it back into a [`SpiffeId`] to name the caller (inbound)
//! or to check the destination (outbound). A non-default admin partition is written as an
//! `/ap/<partition>` prefix, as Consul does; trust domains compare case-insensitively, so they are
//! kept lowercase.

use std::fmt;
use std::str::FromStr;

/// The namespace every Consul CE service lives in.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The datacenter of every Gauntlet stack.
pub const DEFAULT_DATACENTER: &str = "dc1";

/// A service identity: `spiffe://<trust-domain>[/ap/<partition>]/ns/<ns>/dc/<dc>/svc/<service>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    trust_domain: String,
    partition: Option<String>,
    namespace: String,
    datacenter: String,
    service: String,
}

/// Why a text is not a Consul service SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeError {
    #[error("`{0}` is not a spiffe:// URI")]
    NotSpiffe(String),
    #[error("`{0}` has an empty trust domain")]
    EmptyTrustDomain(String),
    #[error("`{0}` is not a service identity (expected /ns/<ns>/dc/<dc>/svc/<service>)")]
    NotAService(String),
    #[error("invalid {what} `{value}`: use letters, digits, `.`, `-` and `_`")]
    InvalidSegment { what: &'static str, value: String },
    #[error("the certificate carries no URI SAN (no SPIFFE identity)")]
    NoUriSan,
    #[error("the certificate carries {0} URI SANs; a mesh leaf carries exactly one")]
    SeveralUriSans(usize),
    #[error("cannot parse the certificate: {0}")]
    BadCertificate(String),
}

impl SpiffeId {
    /// The ID of `service` in the default namespace and datacenter of `trust_domain`.
    ///
    /// # Errors
    /// An empty or malformed trust domain or service name.
    pub fn service(trust_domain: &str, service: &str) -> Result<SpiffeId, SpiffeError> {
        let trust_domain = trust_domain.to_ascii_lowercase();
        if trust_domain.is_empty() {
            return Err(SpiffeError::EmptyTrustDomain(String::new()));
        }
        check_segment("trust domain", &trust_domain)?;
        check_segment("service name", service)?;
        Ok(SpiffeId {
            trust_domain,
            partition: None,
            namespace: DEFAULT_NAMESPACE.into(),
            datacenter: DEFAULT_DATACENTER.into(),
            service: service.into(),
        })
    }

    /// Parses `spiffe://<td>[/ap/<ap>]/ns/<ns>/dc/<dc>/svc/<service>`.
    ///
    /// # Errors
    /// Any other shape (a signing ID without a path, an agent ID, a malformed segment).
    pub fn parse(text: &str) -> Result<SpiffeId, SpiffeError> {
        let rest = text
            .strip_prefix("spiffe://")
            .ok_or_else(|| SpiffeError::NotSpiffe(text.into()))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(SpiffeError::EmptyTrustDomain(text.into()));
        }
        let segments: Vec<&str> = path.split('/').collect();
        let (partition, tail) = match segments.as_slice() {
            ["ap", ap, tail @ ..] => (Some(*ap), tail),
            tail => (None, tail),
        };
        let [ns_key, ns, dc_key, dc, svc_key, svc] = tail else {
            return Err(SpiffeError::NotAService(text.into()));
        };
        if (*ns_key, *dc_key, *svc_key) != ("ns", "dc", "svc") {
            return Err(SpiffeError::NotAService(text.into()));
        }
        let trust_domain = host.to_ascii_lowercase();
        check_segment("trust domain", &trust_domain)?;
        check_segment("namespace", ns)?;
        check_segment("datacenter", dc)?;
        check_segment("service name", svc)?;
        let partition = match partition {
            Some(ap) => {
                check_segment("partition", ap)?;
                // Consul lowercases the partition and omits the default one.
                let ap = ap.to_ascii_lowercase();
                (ap != "default").then_some(ap)
            }
            None => None,
        };
        Ok(SpiffeId {
            trust_domain,
            partition,
            namespace: (*ns).into(),
            datacenter: (*dc).into(),
            service: (*svc).into(),
        })
    }

    /// `<cluster-uuid>.consul`, lowercase.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The admin partition when it is not `default`.
    pub fn partition(&self) -> Option<&str> {
        self.partition.as_deref()
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn datacenter(&self) -> &str {
        &self.datacenter
    }

    /// The service name (`value-architect`): what intentions match on.
    pub fn service_name(&self) -> &str {
        &self.service
    }

    /// The SNI a Consul upstream cluster uses for this service:
    /// `<svc>.<ns>.<dc>.internal.<trust-domain>` (mesh.md §1, `sni.go`).
    pub fn sni(&self) -> String {
        match &self.partition {
            None => format!(
                "{}.{}.{}.internal.{}",
                self.service, self.namespace, self.datacenter, self.trust_domain
            ),
            Some(ap) => format!(
                "{}.{}.{}.{}.internal-v1.{}",
                self.service, self.namespace, ap, self.datacenter, self.trust_domain
            ),
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}", self.trust_domain)?;
        if let Some(ap) = &self.partition {
            write!(f, "/ap/{ap}")?;
        }
        write!(
            f,
            "/ns/{}/dc/{}/svc/{}",
            self.namespace, self.datacenter, self.service
        )
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeError;
    fn from_str(s: &str) -> Result<SpiffeId, SpiffeError> {
        SpiffeId::parse(s)
    }
}

/// The SPIFFE ID in a DER certificate's URI SAN: exactly one URI SAN, a service ID.
///
/// # Errors
/// An unparsable certificate, no URI SAN, several, or one that is not a service SPIFFE ID.
pub fn spiffe_id_of_der(der: &[u8]) -> Result<SpiffeId, SpiffeError> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| SpiffeError::BadCertificate(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| SpiffeError::BadCertificate(e.to_string()))?;
    let uris: Vec<&str> = san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some(*uri),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    match uris.as_slice() {
        [] => Err(SpiffeError::NoUriSan),
        [uri] => SpiffeId::parse(uri),
        many => Err(SpiffeError::SeveralUriSans(many.len())),
    }
}

fn check_segment(what: &'static str, value: &str) -> Result<(), SpiffeError> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(SpiffeError::InvalidSegment {
            what,
            value: value.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD: &str = "36cb52cd-4058-f811-0432-6798a240c5d3.consul";

    #[test]
    fn a_service_id_formats_like_consul() {
        let id = SpiffeId::service(TD, "value-architect").unwrap();
        assert_eq!(
            id.to_string(),
            format!("spiffe://{TD}/ns/default/dc/dc1/svc/value-architect")
        );
        assert_eq!(id.trust_domain(), TD);
        assert_eq!(id.service_name(), "value-architect");
        assert_eq!(id.namespace(), "default");
        assert_eq!(id.datacenter(), "dc1");
    }

    #[test]
    fn parsing_round_trips_and_lowercases_the_trust_domain() {
        let text = "spiffe://ABC.Consul/ns/default/dc/dc1/svc/web";
        let id = SpiffeId::parse(text).unwrap();
        assert_eq!(id.trust_domain(), "abc.consul");
        assert_eq!(
            id.to_string(),
            "spiffe://abc.consul/ns/default/dc/dc1/svc/web"
        );
        assert_eq!(SpiffeId::parse(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn a_partition_prefix_is_parsed_and_the_default_partition_dropped() {
        let id = SpiffeId::parse("spiffe://td.consul/ap/Finance/ns/ns1/dc/dc2/svc/db").unwrap();
        assert_eq!(id.partition(), Some("finance"));
        assert_eq!(id.namespace(), "ns1");
        assert_eq!(id.datacenter(), "dc2");
        assert_eq!(
            id.to_string(),
            "spiffe://td.consul/ap/finance/ns/ns1/dc/dc2/svc/db"
        );
        let default_ap =
            SpiffeId::parse("spiffe://td.consul/ap/default/ns/default/dc/dc1/svc/db").unwrap();
        assert_eq!(default_ap, SpiffeId::service("td.consul", "db").unwrap());
    }

    #[test]
    fn non_service_ids_are_rejected() {
        for bad in [
            "https://td.consul/ns/default/dc/dc1/svc/web",
            "spiffe://td.consul",
            "spiffe:///ns/default/dc/dc1/svc/web",
            "spiffe://td.consul/agent/client/dc/dc1/id/abc",
            "spiffe://td.consul/ns/default/dc/dc1/svc/",
            "spiffe://td.consul/ns/default/dc/dc1/svc/web/extra",
            "spiffe://td.consul/ns/default/dc/dc1/svc/we b",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn the_sni_follows_consuls_upstream_naming() {
        let id = SpiffeId::service(TD, "value-architect").unwrap();
        assert_eq!(
            id.sni(),
            format!("value-architect.default.dc1.internal.{TD}")
        );
    }
}
