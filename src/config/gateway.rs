//! Validated gateway configuration: the domain types the gateway runs on.
//!
//! `kong.yml` is parsed into raw DTOs (`config::kong`) and validated once into these types. Every
//! value the gateway enforces comes from here; nothing is hard-coded for a particular stack.

use std::time::Duration;

use uuid::Uuid;

pub use super::edge_plugins::{
    CorrelationIdConfig, CorsConfig, IdGenerator, IpRange, IpRestrictionConfig, KeyAuthConfig,
    KeyAuthCredential, OriginMatcher, PrometheusConfig, SizeLimitConfig, SizeUnit, CORS_METHODS,
};

/// The whole gateway configuration of one stack.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    pub consumers: Vec<Consumer>,
    /// Every plugin instance at every scope (global, service, route, consumer, combinations).
    pub plugins: Vec<PluginInstance>,
}

/// A Kong service: where matched requests go and how patiently.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    /// Upstream host named by the service (`url`/`host`); matched against `stack.yml` services.
    pub host: String,
    pub port: u16,
    /// Path prefix prepended to the upstream request path (Kong's service `path`).
    pub path: Option<String>,
    pub protocol: String,
    /// Attempts = retries + 1.
    pub retries: u32,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    pub read_timeout: Duration,
}

/// A Kong route: which requests it matches and which service gets them.
#[derive(Debug, Clone)]
pub struct Route {
    pub id: Uuid,
    pub name: String,
    /// Index into `GatewayConfig::services`; `None` for a route without a service, which Kong
    /// matches, runs its plugins for, then answers 503 `no Service found with those values`.
    pub service: Option<usize>,
    /// Prefix paths (Kong 3.0 semantics: a `~` prefix marks a regex).
    pub paths: Vec<RoutePath>,
    /// Empty means every method.
    pub methods: Vec<http::Method>,
    pub strip_path: bool,
    pub preserve_host: bool,
    /// `hosts`: any one must match the request's `Host` (empty: any host).
    pub hosts: Vec<HostCriterion>,
    /// `headers`: every header must match one of its values (empty: no condition).
    pub headers: Vec<HeaderCriterion>,
    /// Orders regex routes that otherwise rank the same (Kong's `regex_priority`).
    pub regex_priority: i64,
    /// Fields that count towards Kong's route priority but that Gauntlet's plain-HTTP proxy
    /// does not match on (`snis`, `sources`, `destinations` set).
    pub unmatched_fields: u8,
    /// False when the route matches only on criteria Gauntlet does not emulate (snis,
    /// sources, destinations) or its service is disabled: such a route is never matched
    /// rather than matching everything.
    pub matchable: bool,
}

#[derive(Debug, Clone)]
pub enum RoutePath {
    Prefix(String),
    Regex(regex::Regex),
}

/// One entry of a route's `hosts` (`kong/router/transform.lua` `get_expression`): `*.x.com`
/// matches by suffix, `x.*` by prefix, anything else exactly; a `:port` also requires the
/// port the client connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCriterion {
    pub host: String,
    pub wildcard: HostWildcard,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostWildcard {
    /// `api.example.com`.
    None,
    /// `*.example.com`: `host` holds `.example.com`.
    Leading,
    /// `example.*`: `host` holds `example.`.
    Trailing,
}

/// One entry of a route's `headers`: the header (any of its instances, lower-cased) must equal
/// one of the values (lower-cased), or match one `~*` regex.
#[derive(Debug, Clone)]
pub struct HeaderCriterion {
    pub name: http::HeaderName,
    pub values: Vec<HeaderValueMatch>,
}

#[derive(Debug, Clone)]
pub enum HeaderValueMatch {
    /// Lower-cased.
    Exact(String),
    /// A `~*` value, lower-cased as Kong does before compiling it.
    Regex(regex::Regex),
}

/// A consumer with its credentials and ACL groups.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub id: Uuid,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub jwt_secrets: Vec<JwtCredential>,
    /// `keyauth_credentials` (key-auth).
    pub keyauth_credentials: Vec<KeyAuthCredential>,
    /// ACL group names, in file order.
    pub acl_groups: Vec<String>,
}

impl Consumer {
    /// The name used in steps, logs and reports: username, else custom_id, else id.
    pub fn display_name(&self) -> String {
        self.username
            .clone()
            .or_else(|| self.custom_id.clone())
            .unwrap_or_else(|| self.id.to_string())
    }
}

/// A `jwt_secrets` credential.
#[derive(Clone)]
pub struct JwtCredential {
    pub id: Uuid,
    /// The value the token's key claim (`iss` by default) must carry.
    pub key: String,
    /// The HMAC secret. Never logged or reported (see the `Debug` impl).
    pub secret: String,
    pub algorithm: JwtAlgorithm,
    /// `rsa_public_key` as written (Kong base64-decodes it too under `secret_is_base64`).
    pub rsa_public_key: Option<String>,
    /// `rsa_public_key` parsed at load (any key family, as Kong's OpenSSL loads it).
    pub public_key: Option<crate::jws::PublicKey>,
}

impl std::fmt::Debug for JwtCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCredential")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Algorithms a credential may name. Gauntlet verifies the HMAC family; a credential naming an
/// asymmetric algorithm is accepted by the loader (Kong knows it) and reported as a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    ES256,
    ES384,
    ES512,
    PS256,
    PS384,
    PS512,
    EdDSA,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::HS384 => "HS384",
            JwtAlgorithm::HS512 => "HS512",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::ES512 => "ES512",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<JwtAlgorithm> {
        ALL_ALGORITHMS.iter().copied().find(|a| a.as_str() == s)
    }

    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512
        )
    }
}

pub const ALL_ALGORITHMS: [JwtAlgorithm; 13] = [
    JwtAlgorithm::HS256,
    JwtAlgorithm::HS384,
    JwtAlgorithm::HS512,
    JwtAlgorithm::RS256,
    JwtAlgorithm::RS384,
    JwtAlgorithm::RS512,
    JwtAlgorithm::ES256,
    JwtAlgorithm::ES384,
    JwtAlgorithm::ES512,
    JwtAlgorithm::PS256,
    JwtAlgorithm::PS384,
    JwtAlgorithm::PS512,
    JwtAlgorithm::EdDSA,
];

/// Where a plugin instance applies. `None` means "any". Kong's precedence picks the most
/// specific instance of each plugin name for a request (see `PluginScope::specificity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginScope {
    /// Index into `GatewayConfig::routes`.
    pub route: Option<usize>,
    /// Index into `GatewayConfig::services`.
    pub service: Option<usize>,
    /// Index into `GatewayConfig::consumers`.
    pub consumer: Option<usize>,
}

impl PluginScope {
    /// Kong's precedence rank (higher wins): route+service+consumer > route+consumer >
    /// service+consumer > route+service > consumer > route > service > global
    /// (`kong/runloop/plugins_iterator.lua` `lookup_cfg`).
    pub fn specificity(&self) -> u8 {
        match (
            self.route.is_some(),
            self.service.is_some(),
            self.consumer.is_some(),
        ) {
            (true, true, true) => 7,
            (true, false, true) => 6,
            (false, true, true) => 5,
            (true, true, false) => 4,
            (false, false, true) => 3,
            (true, false, false) => 2,
            (false, true, false) => 1,
            (false, false, false) => 0,
        }
    }

    /// Whether this scope covers a request on `route` of `service` by `consumer`.
    pub fn applies_to(
        &self,
        route: usize,
        service: Option<usize>,
        consumer: Option<usize>,
    ) -> bool {
        self.route.is_none_or(|r| r == route)
            && self.service.is_none_or(|s| Some(s) == service)
            && self.consumer.is_none_or(|c| Some(c) == consumer)
    }
}

/// One configured plugin.
#[derive(Debug, Clone)]
pub struct PluginInstance {
    pub id: Uuid,
    pub scope: PluginScope,
    pub enabled: bool,
    pub config: PluginConfig,
}

impl PluginInstance {
    pub fn name(&self) -> &'static str {
        self.config.name()
    }

    pub fn kind(&self) -> PluginKind {
        self.config.kind()
    }
}

/// The plugins Gauntlet emulates: what the pipeline and the admin API look plugins up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginKind {
    Jwt,
    Acl,
    RateLimiting,
    CircuitBreaker,
    Bulkhead,
    KeyAuth,
    Cors,
    IpRestriction,
    RequestSizeLimiting,
    CorrelationId,
    Prometheus,
}

impl PluginKind {
    /// Every kind, in the order of [`PluginKind::index`].
    pub const ALL: [PluginKind; 11] = [
        PluginKind::Jwt,
        PluginKind::Acl,
        PluginKind::RateLimiting,
        PluginKind::CircuitBreaker,
        PluginKind::Bulkhead,
        PluginKind::KeyAuth,
        PluginKind::Cors,
        PluginKind::IpRestriction,
        PluginKind::RequestSizeLimiting,
        PluginKind::CorrelationId,
        PluginKind::Prometheus,
    ];

    /// The plugin's name in `kong.yml` and the admin API.
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Jwt => "jwt",
            PluginKind::Acl => "acl",
            PluginKind::RateLimiting => "rate-limiting",
            PluginKind::CircuitBreaker => "circuit-breaker",
            PluginKind::Bulkhead => "bulkhead",
            PluginKind::KeyAuth => "key-auth",
            PluginKind::Cors => "cors",
            PluginKind::IpRestriction => "ip-restriction",
            PluginKind::RequestSizeLimiting => "request-size-limiting",
            PluginKind::CorrelationId => "correlation-id",
            PluginKind::Prometheus => "prometheus",
        }
    }

    /// The kind a `kong.yml` name stands for, when Gauntlet emulates it.
    pub fn parse(name: &str) -> Option<PluginKind> {
        PluginKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A dense index (0..ALL.len()), for tables keyed by kind.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The plugins Gauntlet emulates, with their validated configuration.
#[derive(Debug, Clone)]
pub enum PluginConfig {
    Jwt(JwtConfig),
    Acl(AclConfig),
    RateLimiting(RateLimitConfig),
    CircuitBreaker(CircuitBreakerConfig),
    Bulkhead(BulkheadConfig),
    KeyAuth(KeyAuthConfig),
    Cors(CorsConfig),
    IpRestriction(IpRestrictionConfig),
    RequestSizeLimiting(SizeLimitConfig),
    CorrelationId(CorrelationIdConfig),
    Prometheus(PrometheusConfig),
}

impl PluginConfig {
    pub fn kind(&self) -> PluginKind {
        match self {
            PluginConfig::Jwt(_) => PluginKind::Jwt,
            PluginConfig::Acl(_) => PluginKind::Acl,
            PluginConfig::RateLimiting(_) => PluginKind::RateLimiting,
            PluginConfig::CircuitBreaker(_) => PluginKind::CircuitBreaker,
            PluginConfig::Bulkhead(_) => PluginKind::Bulkhead,
            PluginConfig::KeyAuth(_) => PluginKind::KeyAuth,
            PluginConfig::Cors(_) => PluginKind::Cors,
            PluginConfig::IpRestriction(_) => PluginKind::IpRestriction,
            PluginConfig::RequestSizeLimiting(_) => PluginKind::RequestSizeLimiting,
            PluginConfig::CorrelationId(_) => PluginKind::CorrelationId,
            PluginConfig::Prometheus(_) => PluginKind::Prometheus,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// Kong `jwt` plugin configuration (`kong/plugins/jwt/schema.lua`), defaults as Kong's.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtConfig {
    pub uri_param_names: Vec<String>,
    pub cookie_names: Vec<String>,
    /// Lower-cased header names.
    pub header_names: Vec<String>,
    pub key_claim_name: String,
    pub secret_is_base64: bool,
    pub claims_to_verify: Vec<RegisteredClaim>,
    /// Zero disables the check.
    pub maximum_expiration: u64,
    pub run_on_preflight: bool,
    /// Consumer id or username of the anonymous consumer.
    pub anonymous: Option<String>,
    pub realm: Option<String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            uri_param_names: vec!["jwt".into()],
            cookie_names: vec![],
            header_names: vec!["authorization".into()],
            key_claim_name: "iss".into(),
            secret_is_base64: false,
            claims_to_verify: vec![],
            maximum_expiration: 0,
            run_on_preflight: true,
            anonymous: None,
            realm: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisteredClaim {
    Exp,
    Nbf,
}

/// Kong `acl` plugin configuration: exactly one of allow or deny.
#[derive(Debug, Clone, PartialEq)]
pub struct AclConfig {
    pub rule: AclRule,
    pub hide_groups_header: bool,
    pub always_use_authenticated_groups: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AclRule {
    Allow(Vec<String>),
    Deny(Vec<String>),
}

/// Kong `rate-limiting` plugin configuration (`kong/plugins/rate-limiting/schema.lua`).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Configured limits, shortest period first.
    pub limits: Vec<(RatePeriod, u64)>,
    pub limit_by: LimitBy,
    pub header_name: Option<String>,
    pub path: Option<String>,
    pub policy: String,
    pub fault_tolerant: bool,
    pub hide_client_headers: bool,
    pub error_code: u16,
    pub error_message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RatePeriod {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl RatePeriod {
    pub const ALL: [RatePeriod; 6] = [
        RatePeriod::Second,
        RatePeriod::Minute,
        RatePeriod::Hour,
        RatePeriod::Day,
        RatePeriod::Month,
        RatePeriod::Year,
    ];

    /// The config key (`minute`).
    pub fn key(self) -> &'static str {
        match self {
            RatePeriod::Second => "second",
            RatePeriod::Minute => "minute",
            RatePeriod::Hour => "hour",
            RatePeriod::Day => "day",
            RatePeriod::Month => "month",
            RatePeriod::Year => "year",
        }
    }

    /// The header suffix (`Minute` in `X-RateLimit-Limit-Minute`).
    pub fn header_suffix(self) -> &'static str {
        match self {
            RatePeriod::Second => "Second",
            RatePeriod::Minute => "Minute",
            RatePeriod::Hour => "Hour",
            RatePeriod::Day => "Day",
            RatePeriod::Month => "Month",
            RatePeriod::Year => "Year",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitBy {
    Consumer,
    Credential,
    Ip,
    Service,
    Header,
    Path,
}

/// Gauntlet's `circuit-breaker` plugin (SPEC §4); applied by the resilience issue.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreakerConfig {
    pub failure_threshold: u32,
    pub open_timeout: Duration,
    pub half_open_successes: u32,
    pub half_open_max_concurrent: u32,
    pub failure_statuses: Vec<u16>,
    pub fallback: Fallback,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    pub status: u16,
    /// JSON body; `None` means the default body naming the service.
    pub body: Option<serde_json::Value>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 5,
            open_timeout: Duration::from_secs(60),
            half_open_successes: 3,
            half_open_max_concurrent: 3,
            failure_statuses: vec![500, 502, 503, 504],
            fallback: Fallback {
                status: 503,
                body: None,
            },
        }
    }
}

/// Gauntlet's `bulkhead` plugin (SPEC §4); applied by the resilience issue.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkheadConfig {
    pub max_concurrent_requests: u32,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent_requests: 100,
        }
    }
}

impl GatewayConfig {
    /// The most specific enabled instance of plugin `kind` for a request (Kong's precedence).
    pub fn resolve_plugin(
        &self,
        kind: PluginKind,
        route: usize,
        service: Option<usize>,
        consumer: Option<usize>,
    ) -> Option<&PluginInstance> {
        self.plugins
            .iter()
            .filter(|p| {
                p.enabled && p.kind() == kind && p.scope.applies_to(route, service, consumer)
            })
            .max_by_key(|p| p.scope.specificity())
    }

    /// The enabled instance of a per-service plugin (`circuit-breaker`, `bulkhead`) that covers
    /// service `service`: the service's own, else the global one. Such plugins are never scoped
    /// to a route or consumer (the loader refuses that).
    pub fn service_plugin(&self, kind: PluginKind, service: usize) -> Option<&PluginConfig> {
        self.plugins
            .iter()
            .filter(|p| {
                p.enabled
                    && p.kind() == kind
                    && p.scope.route.is_none()
                    && p.scope.consumer.is_none()
                    && p.scope.service.is_none_or(|s| s == service)
            })
            .max_by_key(|p| p.scope.specificity())
            .map(|p| &p.config)
    }

    pub fn service_by_name(&self, name: &str) -> Option<(usize, &Service)> {
        self.services
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// The shortest `maximum_expiration` of any jwt plugin, if one caps token lifetimes.
    pub fn max_token_lifetime(&self) -> Option<Duration> {
        self.plugins
            .iter()
            .filter_map(|p| match &p.config {
                PluginConfig::Jwt(c) if c.maximum_expiration > 0 => Some(c.maximum_expiration),
                _ => None,
            })
            .min()
            .map(Duration::from_secs)
    }

    /// `wanted`, shortened to what the jwt plugin accepts (`maximum_expiration`).
    pub fn usable_token_lifetime(&self, wanted: Duration) -> Duration {
        self.max_token_lifetime()
            .map_or(wanted, |cap| cap.min(wanted))
    }

    /// Every jwt secret of every consumer: what reports and logs must never show.
    pub fn jwt_secrets(&self) -> Vec<String> {
        self.consumers
            .iter()
            .flat_map(|c| c.jwt_secrets.iter().map(|j| j.secret.clone()))
            .collect()
    }

    pub fn consumer_by_name(&self, name: &str) -> Option<(usize, &Consumer)> {
        self.consumers.iter().enumerate().find(|(_, c)| {
            c.username.as_deref() == Some(name) || c.custom_id.as_deref() == Some(name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_precedence_follows_kong_lookup_order() {
        let rank = |route: bool, service: bool, consumer: bool| {
            PluginScope {
                route: route.then_some(0usize),
                service: service.then_some(0usize),
                consumer: consumer.then_some(0usize),
            }
            .specificity()
        };
        let order = [
            rank(true, true, true),
            rank(true, false, true),
            rank(false, true, true),
            rank(true, true, false),
            rank(false, false, true),
            rank(true, false, false),
            rank(false, true, false),
            rank(false, false, false),
        ];
        assert!(order.windows(2).all(|w| w[0] > w[1]), "{order:?}");
    }
}
