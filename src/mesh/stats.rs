//! Per-sidecar counters (OBS-1) and their Prometheus text exposition, served by the sidecar
//! admin API's `GET /stats/prometheus` ([`crate::api::sidecar_admin`]).
//!
//! ```text
//!   public listener ── TLS handshake fails ──► record_tls_handshake_failure(classify(&err))
//!         │ handshake ok, intentions decide
//!         ├── http request ─────────────────► record_inbound_request(source, allowed)
//!         └── tcp connection ───────────────► record_inbound_connection(source, allowed)
//!   upstream listeners ── dial destination ──► record_upstream_connection(destination, outcome)
//!                                                   │
//!   GET /stats/prometheus ◄── render(service) ◄─────┘  (one short lock per family)
//! ```
//!
//! Recording is cheap: the TLS failures are atomics; the per-source and per-destination maps
//! take one short lock and allocate only the first time a name is seen.
//!
//! # Families
//!
//! Every series carries `service="<the sidecar's service>"`. Names follow Envoy's stats in
//! spirit (`connect_authz.rbac.{allowed,denied}`, `ssl.fail_verify_*`, `upstream_cx_*`):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `gauntlet_sidecar_rbac_allowed_total` | counter | `service`, `source`, `protocol` (`http` per request, `tcp` per connection) |
//! | `gauntlet_sidecar_rbac_denied_total` | counter | `service`, `source`, `protocol` |
//! | `gauntlet_sidecar_tls_handshake_failures_total` | counter | `service`, `reason` (`no_client_certificate`, `unknown_ca`, `bad_certificate`, `other`; all four always present) |
//! | `gauntlet_sidecar_upstream_connections_total` | counter | `service`, `destination`, `outcome` (`ok`, `refused`, `identity_mismatch`, `handshake_failed`) |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rustls::{AlertDescription, CertificateError};

use crate::prometheus::{counter, escape};
use crate::protocol::Protocol;

/// Why a TLS handshake on the public listener failed, as the stats label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    /// The caller presented no client certificate (MESH-2).
    NoClientCertificate,
    /// The caller's chain does not lead to the stack's CA (a foreign CA, MESH-2).
    UnknownCa,
    /// A certificate from the stack's CA that is unusable: expired, not yet valid, wrong key
    /// usage, no SPIFFE service ID.
    BadCertificate,
    /// Anything else: protocol errors, peers that are not TLS, i/o errors.
    Other,
}

impl TlsFailure {
    pub const ALL: [TlsFailure; 4] = [
        TlsFailure::NoClientCertificate,
        TlsFailure::UnknownCa,
        TlsFailure::BadCertificate,
        TlsFailure::Other,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsFailure::NoClientCertificate => "no_client_certificate",
            TlsFailure::UnknownCa => "unknown_ca",
            TlsFailure::BadCertificate => "bad_certificate",
            TlsFailure::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Classifies a handshake error of either side: the server's own verification errors, and
/// the alerts a peer sent.
pub fn classify(err: &rustls::Error) -> TlsFailure {
    match err {
        rustls::Error::NoCertificatesPresented => TlsFailure::NoClientCertificate,
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => TlsFailure::UnknownCa,
        rustls::Error::InvalidCertificate(_) => TlsFailure::BadCertificate,
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => TlsFailure::NoClientCertificate,
            AlertDescription::UnknownCA => TlsFailure::UnknownCa,
            AlertDescription::BadCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate => TlsFailure::BadCertificate,
            _ => TlsFailure::Other,
        },
        _ => TlsFailure::Other,
    }
}

/// Classifies the `io::Error` tokio-rustls returns from a failed handshake (the `rustls::Error`
/// travels inside it); an i/o error without one is [`TlsFailure::Other`].
pub fn classify_io(err: &std::io::Error) -> TlsFailure {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map_or(TlsFailure::Other, classify)
}

/// How a connection from one of the sidecar's upstream listeners to a destination ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamOutcome {
    /// mTLS established with the expected identity.
    Ok,
    /// The destination's sidecar could not be reached (connection refused, unreachable).
    Refused,
    /// The destination presented a valid certificate for another identity (MESH-4).
    IdentityMismatch,
    /// Any other handshake failure (foreign CA, expired, protocol).
    HandshakeFailed,
}

impl UpstreamOutcome {
    pub const ALL: [UpstreamOutcome; 4] = [
        UpstreamOutcome::Ok,
        UpstreamOutcome::Refused,
        UpstreamOutcome::IdentityMismatch,
        UpstreamOutcome::HandshakeFailed,
    ];

    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamOutcome::Ok => "ok",
            UpstreamOutcome::Refused => "refused",
            UpstreamOutcome::IdentityMismatch => "identity_mismatch",
            UpstreamOutcome::HandshakeFailed => "handshake_failed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Decisions per source: `[http allowed, http denied, tcp allowed, tcp denied]`.
type RbacCounts = [u64; 4];

fn rbac_index(protocol: Protocol, allowed: bool) -> usize {
    let base = match protocol {
        Protocol::Http => 0,
        Protocol::Tcp => 2,
    };
    base + usize::from(!allowed)
}

/// The counters of one sidecar. Share it as `Arc<SidecarStats>` between the listeners and the
/// admin API.
#[derive(Debug, Default)]
pub struct SidecarStats {
    rbac: Mutex<BTreeMap<String, RbacCounts>>,
    tls_failures: [AtomicU64; 4],
    upstream: Mutex<BTreeMap<String, [u64; 4]>>,
    /// source → status code → HTTP responses the public listener sent.
    responses: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
}

/// Adds one to `map[key][index]`, allocating the key only the first time.
fn bump(map: &Mutex<BTreeMap<String, [u64; 4]>>, key: &str, index: usize) {
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match map.get_mut(key) {
        Some(counts) => counts[index] += 1,
        None => {
            let mut counts = [0; 4];
            counts[index] = 1;
            map.insert(key.to_owned(), counts);
        }
    }
}

fn read(map: &Mutex<BTreeMap<String, [u64; 4]>>, key: &str, index: usize) -> u64 {
    let map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.get(key).map_or(0, |counts| counts[index])
}

fn snapshot(map: &Mutex<BTreeMap<String, [u64; 4]>>) -> BTreeMap<String, [u64; 4]> {
    map.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

impl SidecarStats {
    /// An intention decision on the public listener: per request for http destinations, per
    /// connection (on its first byte) for tcp ones.
    pub fn record_rbac(&self, source: &str, protocol: Protocol, allowed: bool) {
        bump(&self.rbac, source, rbac_index(protocol, allowed));
    }

    /// An inbound HTTP request from `source`, allowed or denied (403 `RBAC: access denied`).
    pub fn record_inbound_request(&self, source: &str, allowed: bool) {
        self.record_rbac(source, Protocol::Http, allowed);
    }

    /// An inbound TCP connection from `source`, allowed or denied (closed on the first byte).
    pub fn record_inbound_connection(&self, source: &str, allowed: bool) {
        self.record_rbac(source, Protocol::Tcp, allowed);
    }

    /// An HTTP response the public listener sent to `source` (RBAC denials, faults and the
    /// service's own answers alike).
    pub fn record_response(&self, source: &str, status: u16) {
        let mut map = self
            .responses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Allocates the source only the first time it is seen.
        let codes = match map.get_mut(source) {
            Some(codes) => codes,
            None => map.entry(source.to_owned()).or_default(),
        };
        *codes.entry(status).or_default() += 1;
    }

    /// A failed TLS handshake on the public listener.
    pub fn record_tls_handshake_failure(&self, reason: TlsFailure) {
        self.tls_failures[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection from an upstream listener to `destination`'s sidecar.
    pub fn record_upstream_connection(&self, destination: &str, outcome: UpstreamOutcome) {
        bump(&self.upstream, destination, outcome.index());
    }

    /// Decisions counted so far for `source` (for step assertions).
    pub fn rbac_count(&self, source: &str, protocol: Protocol, allowed: bool) -> u64 {
        read(&self.rbac, source, rbac_index(protocol, allowed))
    }

    /// Handshake failures counted so far for `reason`.
    pub fn tls_handshake_failures(&self, reason: TlsFailure) -> u64 {
        self.tls_failures[reason.index()].load(Ordering::Relaxed)
    }

    /// Upstream connections counted so far to `destination` with `outcome`.
    pub fn upstream_connections(&self, destination: &str, outcome: UpstreamOutcome) -> u64 {
        read(&self.upstream, destination, outcome.index())
    }

    /// The Prometheus text exposition (version 0.0.4), every series labelled with
    /// `service="<service>"`.
    pub fn render(&self, service: &str) -> String {
        let service = escape(service);
        let rbac = snapshot(&self.rbac);
        let upstream = snapshot(&self.upstream);
        let responses = self
            .responses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let mut out = String::new();
        counter(
            &mut out,
            "gauntlet_sidecar_http_responses_total",
            "HTTP responses the public listener sent, by source identity and status code.",
        );
        for (source, code, n) in responses
            .iter()
            .flat_map(|(source, codes)| codes.iter().map(move |(code, n)| (source, code, n)))
        {
            let _ = writeln!(
                out,
                "gauntlet_sidecar_http_responses_total{{service=\"{service}\",source=\"{}\",code=\"{code}\"}} {n}",
                escape(source)
            );
        }
        for (allowed, name, help) in [
            (
                true,
                "gauntlet_sidecar_rbac_allowed_total",
                "Intention decisions that allowed traffic on the public listener, by source and protocol (http: per request, tcp: per connection).",
            ),
            (
                false,
                "gauntlet_sidecar_rbac_denied_total",
                "Intention decisions that denied traffic on the public listener, by source and protocol (http: 403 per request, tcp: connection closed on its first byte).",
            ),
        ] {
            counter(&mut out, name, help);
            for (source, counts) in &rbac {
                for protocol in Protocol::ALL {
                    let n = counts[rbac_index(protocol, allowed)];
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "{name}{{service=\"{service}\",source=\"{}\",protocol=\"{}\"}} {n}",
                            escape(source),
                            Protocol::name(protocol)
                        );
                    }
                }
            }
        }
        let name = "gauntlet_sidecar_tls_handshake_failures_total";
        counter(
            &mut out,
            name,
            "TLS handshakes refused on the public listener, by reason (no_client_certificate, unknown_ca, bad_certificate, other).",
        );
        for reason in TlsFailure::ALL {
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",reason=\"{}\"}} {}",
                reason.as_str(),
                self.tls_handshake_failures(reason)
            );
        }
        let name = "gauntlet_sidecar_upstream_connections_total";
        counter(
            &mut out,
            name,
            "Connections from the sidecar's upstream listeners to a destination's sidecar, by destination and outcome (ok, refused, identity_mismatch, handshake_failed).",
        );
        for (destination, counts) in &upstream {
            for outcome in UpstreamOutcome::ALL {
                let n = counts[outcome.index()];
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "{name}{{service=\"{service}\",destination=\"{}\",outcome=\"{}\"}} {n}",
                        escape(destination),
                        outcome.as_str()
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Runs `promtool check metrics` when promtool is installed.
    pub(crate) fn check_with_promtool(exposition: &str) {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let Ok(mut child) = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("notice: promtool not available; skipping `promtool check metrics`");
            return;
        };
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(exposition.as_bytes()).unwrap();
        }
        let checked = child.wait_with_output().unwrap();
        assert!(
            checked.status.success(),
            "promtool check metrics: {}{}\n{exposition}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }

    #[test]
    fn counts_decisions_by_source_and_protocol() {
        let stats = SidecarStats::default();
        stats.record_inbound_request("api-gateway", true);
        stats.record_inbound_request("api-gateway", true);
        stats.record_inbound_request("value-committer", false);
        stats.record_inbound_connection("value-committer", false);
        assert_eq!(stats.rbac_count("api-gateway", Protocol::Http, true), 2);
        assert_eq!(stats.rbac_count("api-gateway", Protocol::Http, false), 0);
        assert_eq!(
            stats.rbac_count("value-committer", Protocol::Http, false),
            1
        );
        assert_eq!(stats.rbac_count("value-committer", Protocol::Tcp, false), 1);
        assert_eq!(stats.rbac_count("nobody", Protocol::Tcp, true), 0);

        let text = stats.render("value-architect");
        assert!(text.contains(
            "gauntlet_sidecar_rbac_allowed_total{service=\"value-architect\",source=\"api-gateway\",protocol=\"http\"} 2\n"
        ), "{text}");
        assert!(text.contains(
            "gauntlet_sidecar_rbac_denied_total{service=\"value-architect\",source=\"value-committer\",protocol=\"tcp\"} 1\n"
        ), "{text}");
        assert!(
            !text.contains("source=\"api-gateway\",protocol=\"tcp\""),
            "no zero series per source: {text}"
        );
    }

    #[test]
    fn renders_help_type_and_every_handshake_reason() {
        let stats = SidecarStats::default();
        stats.record_tls_handshake_failure(TlsFailure::UnknownCa);
        stats.record_response("api-gateway", 503);
        let text = stats.render("postgres");
        assert!(text.contains(
            "gauntlet_sidecar_http_responses_total{service=\"postgres\",source=\"api-gateway\",code=\"503\"} 1\n"
        ), "{text}");
        for family in [
            "gauntlet_sidecar_http_responses_total",
            "gauntlet_sidecar_rbac_allowed_total",
            "gauntlet_sidecar_rbac_denied_total",
            "gauntlet_sidecar_tls_handshake_failures_total",
            "gauntlet_sidecar_upstream_connections_total",
        ] {
            assert!(text.contains(&format!("# HELP {family} ")), "{text}");
            assert!(
                text.contains(&format!("# TYPE {family} counter\n")),
                "{text}"
            );
        }
        assert!(text.contains(
            "gauntlet_sidecar_tls_handshake_failures_total{service=\"postgres\",reason=\"unknown_ca\"} 1\n"
        ));
        assert!(text.contains(
            "gauntlet_sidecar_tls_handshake_failures_total{service=\"postgres\",reason=\"no_client_certificate\"} 0\n"
        ));
        check_with_promtool(&text);
    }

    #[test]
    fn counts_upstream_connections_by_destination_and_outcome() {
        let stats = SidecarStats::default();
        stats.record_upstream_connection("value-committer", UpstreamOutcome::Ok);
        stats.record_upstream_connection("value-committer", UpstreamOutcome::IdentityMismatch);
        stats.record_upstream_connection("redis", UpstreamOutcome::Refused);
        assert_eq!(
            stats.upstream_connections("value-committer", UpstreamOutcome::Ok),
            1
        );
        let text = stats.render("value-architect");
        assert!(text.contains(
            "gauntlet_sidecar_upstream_connections_total{service=\"value-architect\",destination=\"value-committer\",outcome=\"identity_mismatch\"} 1\n"
        ));
        assert!(text.contains(
            "gauntlet_sidecar_upstream_connections_total{service=\"value-architect\",destination=\"redis\",outcome=\"refused\"} 1\n"
        ));
        check_with_promtool(&text);
    }

    #[test]
    fn escapes_label_values_and_passes_promtool() {
        let stats = SidecarStats::default();
        stats.record_inbound_request("we\"ird\\na\nme", false);
        let text = stats.render("svc\"1");
        assert!(
            text.contains("service=\"svc\\\"1\",source=\"we\\\"ird\\\\na\\nme\""),
            "{text}"
        );
        check_with_promtool(&text);
    }

    #[test]
    fn classifies_rustls_errors_into_the_four_reasons() {
        use rustls::Error;
        let cases = [
            (
                Error::NoCertificatesPresented,
                TlsFailure::NoClientCertificate,
            ),
            (
                Error::AlertReceived(AlertDescription::CertificateRequired),
                TlsFailure::NoClientCertificate,
            ),
            (
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                TlsFailure::UnknownCa,
            ),
            (
                Error::InvalidCertificate(CertificateError::BadSignature),
                TlsFailure::UnknownCa,
            ),
            (
                Error::AlertReceived(AlertDescription::UnknownCA),
                TlsFailure::UnknownCa,
            ),
            (
                Error::InvalidCertificate(CertificateError::Expired),
                TlsFailure::BadCertificate,
            ),
            (
                Error::AlertReceived(AlertDescription::BadCertificate),
                TlsFailure::BadCertificate,
            ),
            (
                Error::AlertReceived(AlertDescription::HandshakeFailure),
                TlsFailure::Other,
            ),
            (Error::General("boom".into()), TlsFailure::Other),
        ];
        for (err, expected) in cases {
            assert_eq!(classify(&err), expected, "{err:?}");
        }
    }

    #[test]
    fn classifies_the_io_error_tokio_rustls_returns() {
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::NoCertificatesPresented,
        );
        assert_eq!(classify_io(&wrapped), TlsFailure::NoClientCertificate);
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(classify_io(&plain), TlsFailure::Other);
    }

    #[test]
    fn recording_is_safe_from_many_threads() {
        let stats = Arc::new(SidecarStats::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let stats = Arc::clone(&stats);
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        stats.record_inbound_request("a", true);
                        stats.record_tls_handshake_failure(TlsFailure::Other);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(stats.rbac_count("a", Protocol::Http, true), 1000);
        assert_eq!(stats.tls_handshake_failures(TlsFailure::Other), 1000);
    }
}
