//! Validated configuration of the Kong plugins that sit at the edge of real configs beside jwt:
//! `key-auth`, `cors`, `ip-restriction`, `request-size-limiting`, `correlation-id` and
//! `prometheus`. Read from `kong.yml` by `config::kong::edge_plugins` with Kong's schemas and
//! defaults (`kong/plugins/<name>/schema.lua` at the commit `docs/reference/kong-fidelity.md`
//! cites); run by `gateway::plugins`.

use std::net::IpAddr;

use serde::Serialize;

/// `key-auth` (`kong/plugins/key-auth/schema.lua`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyAuthConfig {
    pub key_names: Vec<String>,
    pub hide_credentials: bool,
    /// Consumer id or username of the anonymous consumer.
    pub anonymous: Option<String>,
    pub key_in_header: bool,
    pub key_in_query: bool,
    pub key_in_body: bool,
    pub run_on_preflight: bool,
    pub realm: Option<String>,
}

impl Default for KeyAuthConfig {
    fn default() -> Self {
        KeyAuthConfig {
            key_names: vec!["apikey".into()],
            hide_credentials: false,
            anonymous: None,
            key_in_header: true,
            key_in_query: true,
            key_in_body: false,
            run_on_preflight: true,
            realm: None,
        }
    }
}

/// A `keyauth_credentials` entry of a consumer.
#[derive(Clone)]
pub struct KeyAuthCredential {
    pub id: uuid::Uuid,
    /// The API key. Never logged or reported (see the `Debug` impl).
    pub key: String,
}

impl std::fmt::Debug for KeyAuthCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAuthCredential")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// `cors` (`kong/plugins/cors/schema.lua`).
#[derive(Debug, Clone, Serialize)]
pub struct CorsConfig {
    /// As written; empty means every origin.
    pub origins: Vec<String>,
    #[serde(skip)]
    pub matchers: Vec<OriginMatcher>,
    pub headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub methods: Vec<String>,
    pub max_age: Option<f64>,
    pub credentials: bool,
    pub private_network: bool,
    pub preflight_continue: bool,
    pub allow_origin_absent: bool,
}

/// One `origins` entry as the handler compares it (`configure_origin`).
#[derive(Debug, Clone)]
pub enum OriginMatcher {
    /// `*`.
    Any,
    /// A plain origin, normalized (`scheme://host[:port]`, default ports dropped).
    Exact { domain: String },
    /// An entry with a character outside `[A-Za-z0-9.:/-]`: a regex anchored at both ends,
    /// matched against the request origin's host when the entry has no `:`, else against the
    /// whole normalized origin.
    Regex { regex: regex::Regex, by_host: bool },
}

/// The methods `cors` allows by default (and the only ones it accepts).
pub const CORS_METHODS: [&str; 9] = [
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

/// `ip-restriction` (`kong/plugins/ip-restriction/schema.lua`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpRestrictionConfig {
    pub allow: Vec<IpRange>,
    pub deny: Vec<IpRange>,
    pub status: Option<u16>,
    pub message: Option<String>,
}

/// An IP or CIDR of `allow`/`deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpRange {
    /// Whether `ip` is inside the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == full {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl Serialize for IpRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `request-size-limiting` (`kong/plugins/request-size-limiting/schema.lua`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SizeLimitConfig {
    pub allowed_payload_size: u64,
    pub size_unit: SizeUnit,
    pub require_content_length: bool,
}

impl SizeLimitConfig {
    /// The limit in bytes.
    pub fn allowed_bytes(&self) -> u64 {
        self.allowed_payload_size
            .saturating_mul(self.size_unit.factor())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeUnit {
    Megabytes,
    Kilobytes,
    Bytes,
}

impl SizeUnit {
    /// `unit_multiplication_factor` (`handler.lua`): powers of 1024.
    pub fn factor(self) -> u64 {
        match self {
            SizeUnit::Megabytes => 1_048_576,
            SizeUnit::Kilobytes => 1024,
            SizeUnit::Bytes => 1,
        }
    }
}

/// `correlation-id` (`kong/plugins/correlation-id/schema.lua`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorrelationIdConfig {
    pub header_name: String,
    pub generator: IdGenerator,
    pub echo_downstream: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IdGenerator {
    #[serde(rename = "uuid")]
    Uuid,
    #[serde(rename = "uuid#counter")]
    UuidCounter,
    #[serde(rename = "tracker")]
    Tracker,
}

/// `prometheus` (`kong/plugins/prometheus/schema.lua`): which metric families it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PrometheusConfig {
    pub per_consumer: bool,
    pub status_code_metrics: bool,
    pub latency_metrics: bool,
    pub bandwidth_metrics: bool,
    pub upstream_health_metrics: bool,
    pub ai_metrics: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_their_addresses_only() {
        let net = IpRange {
            addr: "10.1.0.0".parse().unwrap(),
            prefix: 16,
        };
        assert!(net.contains("10.1.255.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all = IpRange {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("127.0.0.1".parse().unwrap()));
        assert_eq!(net.to_string(), "10.1.0.0/16");
    }
}
