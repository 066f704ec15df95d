//! One sidecar's admin API (SPEC §6, OBS-1): an Envoy-shaped, read-only subset on its own
//! loopback port.
//!
//! ```text
//!   GET /ready             ──► 200 `LIVE\n` (text/plain), as Envoy answers once initialised
//!   GET /stats/prometheus  ──► SidecarStats::render(service)             (crate::mesh::stats)
//!   GET /certs             ──► Envoy's admin.v3.Certificates JSON: the stack root as `ca_cert`,
//!                              the sidecar's current leaf as `cert_chain`
//!   anything else          ──► 404 with the list of commands, as Envoy's admin does
//! ```
//!
//! `/certs` follows `envoy/admin/v3/certs.proto` in proto3 JSON: `path` is `<inline>` (Consul
//! delivers certificates inline over xDS), `serial_number` lowercase hex,
//! `subject_alt_names` `[{"uri": "spiffe://..."}]`, `days_until_expiration` a *string* (uint64
//! in proto3 JSON), whole days left on the **stack clock** (0 once expired), `valid_from` and
//! `expiration_time` RFC 3339 in UTC. The leaf is read through a lock at each request, so a
//! rotated leaf shows at once. No private key is ever part of a response.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::parse_x509_certificate;

use crate::clock::StackClock;
use crate::mesh::identity::{LeafCert, MeshCa};
use crate::mesh::stats::SidecarStats;

/// What one sidecar's admin API shows.
#[derive(Debug, Clone)]
pub struct SidecarAdminState {
    /// The service this sidecar fronts (the `service` label of every series).
    pub service: String,
    pub stats: Arc<SidecarStats>,
    pub ca: Arc<MeshCa>,
    /// The sidecar's current leaf; swapped in place when it is re-issued.
    pub leaf: Arc<RwLock<Arc<LeafCert>>>,
    pub clock: StackClock,
}

/// The admin router of one sidecar.
pub fn router(state: SidecarAdminState) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/stats/prometheus", get(stats))
        .route("/certs", get(certs))
        .fallback(not_found)
        .with_state(Arc::new(state))
}

type Shared = State<Arc<SidecarAdminState>>;

async fn ready() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        "LIVE\n",
    )
        .into_response()
}

async fn stats(State(s): Shared) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.stats.render(&s.service),
    )
        .into_response()
}

async fn certs(State(s): Shared) -> Json<Certificates> {
    let leaf = s
        .leaf
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let now = s.clock.wall();
    let ca_cert = details(&s.ca.cert_der(), s.ca.not_before(), s.ca.not_after(), now);
    let cert_chain = details(&leaf.cert_der(), leaf.not_before(), leaf.not_after(), now);
    Json(Certificates {
        certificates: vec![Certificate {
            ca_cert: vec![ca_cert],
            cert_chain: vec![cert_chain],
        }],
    })
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        "invalid path. admin commands are:\n  \
         /certs: print certs on machine\n  \
         /ready: print server state, return 200 if LIVE, otherwise return 503\n  \
         /stats/prometheus: print server stats in prometheus format\n",
    )
        .into_response()
}

/// `envoy.admin.v3.Certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificates {
    pub certificates: Vec<Certificate>,
}

/// `envoy.admin.v3.Certificate`: a validation context's CAs and a certificate chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    pub ca_cert: Vec<CertificateDetails>,
    pub cert_chain: Vec<CertificateDetails>,
}

/// `envoy.admin.v3.CertificateDetails` (no OCSP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateDetails {
    pub path: String,
    pub serial_number: String,
    pub subject_alt_names: Vec<SubjectAltName>,
    /// uint64 in proto3 JSON, hence a string.
    pub days_until_expiration: String,
    pub valid_from: String,
    pub expiration_time: String,
}

/// `envoy.admin.v3.SubjectAlternateName`: exactly one of the three is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectAltName {
    Uri(String),
    Dns(String),
    IpAddress(String),
}

fn details(
    der: &[u8],
    not_before: SystemTime,
    not_after: SystemTime,
    now: SystemTime,
) -> CertificateDetails {
    let (serial_number, subject_alt_names) = match parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let sans = match cert.subject_alternative_name() {
                Ok(Some(san)) => san
                    .value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        GeneralName::URI(u) => Some(SubjectAltName::Uri((*u).to_string())),
                        GeneralName::DNSName(d) => Some(SubjectAltName::Dns((*d).to_string())),
                        GeneralName::IPAddress(ip) => ip_text(ip).map(SubjectAltName::IpAddress),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (serial_hex(cert.raw_serial()), sans)
        }
        Err(_) => (String::from("0"), Vec::new()),
    };
    let left = not_after.duration_since(now).map_or(0, |d| d.as_secs());
    CertificateDetails {
        path: "<inline>".into(),
        serial_number,
        subject_alt_names,
        days_until_expiration: (left / 86_400).to_string(),
        valid_from: rfc3339_seconds(not_before),
        expiration_time: rfc3339_seconds(not_after),
    }
}

/// Lowercase hex of the serial's magnitude, as Envoy prints it (`BN_bn2hex`): whole bytes,
/// leading zero bytes dropped, `0` for zero.
fn serial_hex(raw: &[u8]) -> String {
    let significant: Vec<u8> = raw.iter().copied().skip_while(|b| *b == 0).collect();
    if significant.is_empty() {
        return "0".into();
    }
    significant.iter().map(|b| format!("{b:02x}")).collect()
}

fn ip_text(raw: &[u8]) -> Option<String> {
    match raw.len() {
        4 => <[u8; 4]>::try_from(raw)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(raw)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

/// RFC 3339 in UTC, whole seconds (certificate times have no fraction).
fn rfc3339_seconds(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::stats::TlsFailure;
    use axum::body::Body;
    use std::time::Duration;

    struct Fixture {
        state: SidecarAdminState,
    }

    fn fixture() -> Fixture {
        let clock = StackClock::new();
        let ca = Arc::new(MeshCa::generate(&clock).unwrap());
        let leaf = Arc::new(ca.issue_leaf("value-architect", &clock).unwrap());
        Fixture {
            state: SidecarAdminState {
                service: "value-architect".into(),
                stats: Arc::new(SidecarStats::default()),
                ca,
                leaf: Arc::new(RwLock::new(leaf)),
                clock,
            },
        }
    }

    async fn get(state: &SidecarAdminState, path: &str) -> (StatusCode, String, String) {
        let request = http::Request::get(path).body(Body::empty()).unwrap();
        crate::api::call_router(router(state.clone()), request).await
    }

    fn key_body(leaf: &LeafCert) -> String {
        leaf.private_key_pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    }

    #[tokio::test]
    async fn ready_answers_live_like_envoy() {
        let f = fixture();
        let (status, content_type, body) = get(&f.state, "/ready").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert_eq!(body, "LIVE\n");
    }

    #[tokio::test]
    async fn stats_are_the_sidecars_prometheus_exposition() {
        let f = fixture();
        f.state.stats.record_inbound_request("api-gateway", false);
        f.state
            .stats
            .record_tls_handshake_failure(TlsFailure::NoClientCertificate);
        let (status, content_type, body) = get(&f.state, "/stats/prometheus").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/plain; version=0.0.4"));
        assert!(body.contains(
            "gauntlet_sidecar_rbac_denied_total{service=\"value-architect\",source=\"api-gateway\",protocol=\"http\"} 1"
        ), "{body}");
        assert!(body.contains(
            "gauntlet_sidecar_tls_handshake_failures_total{service=\"value-architect\",reason=\"no_client_certificate\"} 1"
        ));
    }

    #[tokio::test]
    async fn certs_show_the_root_and_the_leaf_in_envoys_shape() {
        let f = fixture();
        let (status, content_type, body) = get(&f.state, "/certs").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("application/json"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let certs = json["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 1);
        let ca = &certs[0]["ca_cert"][0];
        let leaf = &certs[0]["cert_chain"][0];
        let expected_leaf = f.state.leaf.read().unwrap().clone();

        assert_eq!(ca["path"], "<inline>");
        assert_eq!(ca["serial_number"], "01");
        assert_eq!(
            ca["subject_alt_names"],
            serde_json::json!([{"uri": f.state.ca.signing_id()}])
        );
        assert_eq!(
            leaf["subject_alt_names"],
            serde_json::json!([{"uri": expected_leaf.spiffe_id().to_string()}])
        );
        assert_eq!(
            leaf["serial_number"],
            format!("{:02x}", expected_leaf.serial())
        );
        // 72 h minus the one-minute backdate: two whole days left, as a proto3 uint64 string.
        assert_eq!(leaf["days_until_expiration"], "2");
        let from = OffsetDateTime::parse(leaf["valid_from"].as_str().unwrap(), &Rfc3339).unwrap();
        let to =
            OffsetDateTime::parse(leaf["expiration_time"].as_str().unwrap(), &Rfc3339).unwrap();
        assert_eq!((to - from).whole_hours(), 72);
        assert!(leaf["valid_from"].as_str().unwrap().ends_with('Z'));
        assert!(!body.contains("PRIVATE KEY"));
        assert!(!body.contains(&key_body(&expected_leaf)[..32]));
    }

    #[tokio::test]
    async fn days_until_expiration_follow_the_stack_clock() {
        let f = fixture();
        f.state.clock.advance(Duration::from_secs(30 * 3600));
        let (_, _, body) = get(&f.state, "/certs").await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["certificates"][0]["cert_chain"][0]["days_until_expiration"],
            "1"
        );
        f.state.clock.advance(Duration::from_secs(50 * 3600));
        let (_, _, body) = get(&f.state, "/certs").await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["certificates"][0]["cert_chain"][0]["days_until_expiration"], "0",
            "an expired leaf has no days left"
        );
    }

    #[tokio::test]
    async fn a_swapped_leaf_shows_at_once() {
        let f = fixture();
        let fresh = Arc::new(
            f.state
                .ca
                .issue_leaf("value-architect", &f.state.clock)
                .unwrap(),
        );
        *f.state.leaf.write().unwrap() = Arc::clone(&fresh);
        let (_, _, body) = get(&f.state, "/certs").await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["certificates"][0]["cert_chain"][0]["serial_number"],
            format!("{:02x}", fresh.serial())
        );
        assert!(!body.contains(&key_body(&fresh)[..32]));
    }

    #[tokio::test]
    async fn an_unknown_path_is_404_with_the_command_list() {
        let f = fixture();
        let (status, _, body) = get(&f.state, "/config_dump").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("/stats/prometheus"), "{body}");
    }

    #[test]
    fn serials_print_like_bn_bn2hex() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8f01");
        assert_eq!(serial_hex(&[0x02]), "02");
        assert_eq!(serial_hex(&[0x00]), "0");
    }
}
