//! Strict validation of the edge plugins' `config` (`key-auth`, `cors`, `ip-restriction`,
//! `request-size-limiting`, `correlation-id`, `prometheus`) with Kong's defaults and error
//! wording (`kong/plugins/<name>/schema.lua`). Unknown keys are errors naming file, line and
//! key, as for every emulated plugin (`plugins.rs`).

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use super::plugins::Note;
use super::yaml::Source;
use crate::config::gateway::{
    CorrelationIdConfig, CorsConfig, IdGenerator, IpRange, IpRestrictionConfig, KeyAuthConfig,
    OriginMatcher, PrometheusConfig, SizeLimitConfig, SizeUnit, CORS_METHODS,
};
use crate::config::ConfigError;

/// Kong's `typedefs.header_name`: `[A-Za-z0-9_-]+` (the key-auth schema says so too).
fn check_header_name(src: &Source, key: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(src.error(
            key,
            format!("bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeyAuthConf {
    key_names: Option<Vec<String>>,
    hide_credentials: Option<bool>,
    anonymous: Option<String>,
    key_in_header: Option<bool>,
    key_in_query: Option<bool>,
    key_in_body: Option<bool>,
    run_on_preflight: Option<bool>,
    realm: Option<String>,
}

pub(crate) fn key_auth(
    src: &Source,
    key: &str,
    raw: RawKeyAuthConf,
    notes: &mut Vec<Note>,
) -> Result<KeyAuthConfig, ConfigError> {
    let d = KeyAuthConfig::default();
    let key_names = raw.key_names.unwrap_or(d.key_names);
    if key_names.is_empty() {
        return Err(src.error(format!("{key}.key_names"), "length must be at least 1"));
    }
    for (i, name) in key_names.iter().enumerate() {
        check_header_name(src, &format!("{key}.key_names[{i}]"), name)?;
    }
    let key_in_body = raw.key_in_body.unwrap_or(d.key_in_body);
    if key_in_body {
        notes.push((
            format!("{key}.key_in_body"),
            "`key_in_body` is not emulated: Gauntlet looks for the key in headers and the query only"
                .into(),
        ));
    }
    Ok(KeyAuthConfig {
        key_names,
        hide_credentials: raw.hide_credentials.unwrap_or(d.hide_credentials),
        anonymous: raw.anonymous.filter(|a| !a.is_empty()),
        key_in_header: raw.key_in_header.unwrap_or(d.key_in_header),
        key_in_query: raw.key_in_query.unwrap_or(d.key_in_query),
        key_in_body,
        run_on_preflight: raw.run_on_preflight.unwrap_or(d.run_on_preflight),
        realm: raw.realm,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCorsConf {
    origins: Option<Vec<String>>,
    headers: Option<Vec<String>>,
    exposed_headers: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    max_age: Option<f64>,
    credentials: Option<bool>,
    private_network: Option<bool>,
    preflight_continue: Option<bool>,
    allow_origin_absent: Option<bool>,
}

pub(crate) fn cors(src: &Source, key: &str, raw: RawCorsConf) -> Result<CorsConfig, ConfigError> {
    let origins = raw.origins.unwrap_or_default();
    let mut matchers = Vec::new();
    for (i, entry) in origins.iter().enumerate() {
        matchers.push(
            origin_matcher(entry)
                .map_err(|message| src.error(format!("{key}.origins[{i}]"), message))?,
        );
    }
    let methods = raw
        .methods
        .unwrap_or_else(|| CORS_METHODS.iter().map(|m| m.to_string()).collect());
    for (i, m) in methods.iter().enumerate() {
        if !CORS_METHODS.contains(&m.as_str()) {
            return Err(src.error(
                format!("{key}.methods[{i}]"),
                format!("expected one of: {}", CORS_METHODS.join(", ")),
            ));
        }
    }
    Ok(CorsConfig {
        origins,
        matchers,
        headers: raw.headers.unwrap_or_default(),
        exposed_headers: raw.exposed_headers.unwrap_or_default(),
        methods,
        max_age: raw.max_age,
        credentials: raw.credentials.unwrap_or(false),
        private_network: raw.private_network.unwrap_or(false),
        preflight_continue: raw.preflight_continue.unwrap_or(false),
        allow_origin_absent: raw.allow_origin_absent.unwrap_or(true),
    })
}

/// How the handler compares one `origins` entry (`configure_origin`): `*`; a plain origin
/// (only `[A-Za-z0-9.:/-]`), normalized; anything else a regex, `$` appended and a leading `^`
/// dropped, matched anchored (`re_find(..., "ajo")`), against the host when the entry has no
/// `:`. The schema refuses an entry that is neither `*` nor a valid regex.
pub fn origin_matcher(entry: &str) -> Result<OriginMatcher, String> {
    if entry == "*" {
        return Ok(OriginMatcher::Any);
    }
    let plain = entry
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".:/-".contains(&b));
    if regex::Regex::new(entry).is_err() {
        return Err(format!("'{entry}' is not a valid regex"));
    }
    if plain {
        return Ok(OriginMatcher::Exact {
            domain: normalize_origin(entry).0,
        });
    }
    let mut pattern = entry.to_string();
    if !pattern.ends_with('$') {
        pattern.push('$');
    }
    if let Some(rest) = pattern.strip_prefix('^') {
        pattern = rest.to_string();
    }
    let regex = regex::Regex::new(&format!("^(?:{pattern})"))
        .map_err(|_| format!("'{entry}' is not a valid regex"))?;
    Ok(OriginMatcher::Regex {
        regex,
        by_host: !entry.contains(':'),
    })
}

/// `normalize_origin` (cors `handler.lua`, LuaSocket's `url.parse`): `(domain, host)`, the
/// domain `scheme://host[:port]` without a default port; a value without a host is itself.
pub fn normalize_origin(origin: &str) -> (String, String) {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return (origin.to_string(), origin.to_string());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (authority, None),
    };
    if host.is_empty() {
        return (origin.to_string(), origin.to_string());
    }
    let port = match (scheme, port) {
        ("http", Some("80")) | ("https", Some("443")) => None,
        (_, p) => p,
    };
    let domain = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    (domain, host.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpRestrictionConf {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    status: Option<f64>,
    message: Option<String>,
}

pub(crate) fn ip_restriction(
    src: &Source,
    key: &str,
    raw: RawIpRestrictionConf,
) -> Result<IpRestrictionConfig, ConfigError> {
    let ranges = |field: &str, list: Option<Vec<String>>| -> Result<Vec<IpRange>, ConfigError> {
        let mut out = Vec::new();
        for (i, text) in list.into_iter().flatten().enumerate() {
            out.push(parse_ip_or_cidr(&text).ok_or_else(|| {
                src.error(
                    format!("{key}.{field}[{i}]"),
                    format!("invalid ip or cidr range: '{text}'"),
                )
            })?);
        }
        Ok(out)
    };
    let allow = ranges("allow", raw.allow)?;
    let deny = ranges("deny", raw.deny)?;
    if allow.is_empty() && deny.is_empty() {
        return Err(src.error(
            key,
            "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
        ));
    }
    let status = match raw.status {
        None => None,
        Some(s) if s.fract() == 0.0 && (100.0..=599.0).contains(&s) => Some(s as u16),
        Some(s) => {
            return Err(src.error(
                format!("{key}.status"),
                format!("`{s}` is not an HTTP status Gauntlet can send (100..599)"),
            ))
        }
    };
    Ok(IpRestrictionConfig {
        allow,
        deny,
        status,
        message: raw.message,
    })
}

/// `typedefs.ip_or_cidr`: an IPv4/IPv6 address, optionally `/prefix`.
pub fn parse_ip_or_cidr(text: &str) -> Option<IpRange> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(full);
    (prefix <= full).then_some(IpRange { addr, prefix })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSizeLimitConf {
    allowed_payload_size: Option<f64>,
    size_unit: Option<String>,
    require_content_length: Option<bool>,
}

pub(crate) fn request_size_limiting(
    src: &Source,
    key: &str,
    raw: RawSizeLimitConf,
) -> Result<SizeLimitConfig, ConfigError> {
    let size = raw.allowed_payload_size.unwrap_or(128.0);
    if size.fract() != 0.0 || size < 0.0 {
        return Err(src.error(format!("{key}.allowed_payload_size"), "expected an integer"));
    }
    let size_unit = match raw.size_unit.as_deref() {
        None | Some("megabytes") => SizeUnit::Megabytes,
        Some("kilobytes") => SizeUnit::Kilobytes,
        Some("bytes") => SizeUnit::Bytes,
        Some(_) => {
            return Err(src.error(
                format!("{key}.size_unit"),
                "expected one of: megabytes, kilobytes, bytes",
            ))
        }
    };
    Ok(SizeLimitConfig {
        allowed_payload_size: size as u64,
        size_unit,
        require_content_length: raw.require_content_length.unwrap_or(false),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCorrelationIdConf {
    header_name: Option<String>,
    generator: Option<String>,
    echo_downstream: Option<bool>,
}

pub(crate) fn correlation_id(
    src: &Source,
    key: &str,
    raw: RawCorrelationIdConf,
) -> Result<CorrelationIdConfig, ConfigError> {
    let header_name = raw.header_name.unwrap_or_else(|| "Kong-Request-ID".into());
    if http::HeaderName::from_bytes(header_name.as_bytes()).is_err() {
        return Err(src.error(
            format!("{key}.header_name"),
            format!("`{header_name}` is not a valid header name"),
        ));
    }
    let generator = match raw.generator.as_deref() {
        None | Some("uuid#counter") => IdGenerator::UuidCounter,
        Some("uuid") => IdGenerator::Uuid,
        Some("tracker") => IdGenerator::Tracker,
        Some(_) => {
            return Err(src.error(
                format!("{key}.generator"),
                "expected one of: uuid, uuid#counter, tracker",
            ))
        }
    };
    Ok(CorrelationIdConfig {
        header_name,
        generator,
        echo_downstream: raw.echo_downstream.unwrap_or(false),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrometheusConf {
    per_consumer: Option<bool>,
    status_code_metrics: Option<bool>,
    latency_metrics: Option<bool>,
    bandwidth_metrics: Option<bool>,
    upstream_health_metrics: Option<bool>,
    ai_metrics: Option<bool>,
    wasm_metrics: Option<bool>,
}

pub(crate) fn prometheus(
    key: &str,
    raw: RawPrometheusConf,
    notes: &mut Vec<Note>,
) -> PrometheusConfig {
    for (field, on, why) in [
        (
            "upstream_health_metrics",
            raw.upstream_health_metrics,
            "Gauntlet has no Kong upstreams (ring balancers) to report on",
        ),
        (
            "ai_metrics",
            raw.ai_metrics,
            "Gauntlet proxies no AI traffic",
        ),
        (
            "wasm_metrics",
            raw.wasm_metrics,
            "Gauntlet runs no Wasm filters",
        ),
    ] {
        if on == Some(true) {
            notes.push((
                format!("{key}.{field}"),
                format!("`{field}` is not emulated: {why}"),
            ));
        }
    }
    PrometheusConfig {
        per_consumer: raw.per_consumer.unwrap_or(false),
        status_code_metrics: raw.status_code_metrics.unwrap_or(false),
        latency_metrics: raw.latency_metrics.unwrap_or(false),
        bandwidth_metrics: raw.bandwidth_metrics.unwrap_or(false),
        upstream_health_metrics: raw.upstream_health_metrics.unwrap_or(false),
        ai_metrics: raw.ai_metrics.unwrap_or(false),
    }
}

/// `config: {}` for a plugin whose fields are all optional: an absent value is an empty map.
pub(crate) fn or_empty(config: Value) -> Value {
    match config {
        Value::Null => Value::Object(Default::default()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_like_luasocket_parses_them() {
        assert_eq!(
            normalize_origin("http://example.com:80").0,
            "http://example.com"
        );
        assert_eq!(
            normalize_origin("https://example.com:8443").0,
            "https://example.com:8443"
        );
        assert_eq!(normalize_origin("example.com").0, "example.com");
        assert!(matches!(origin_matcher("*"), Ok(OriginMatcher::Any)));
        let Ok(OriginMatcher::Regex { regex, by_host }) = origin_matcher(r"(.*)\.example\.com")
        else {
            panic!("a regex origin");
        };
        assert!(
            by_host && regex.is_match("app.example.com") && !regex.is_match("app.example.com.evil")
        );
        assert!(origin_matcher("(").is_err());
    }

    #[test]
    fn ip_ranges_parse_like_kongs_ip_or_cidr() {
        assert_eq!(parse_ip_or_cidr("10.0.0.0/8").map(|r| r.prefix), Some(8));
        assert_eq!(parse_ip_or_cidr("::1").map(|r| r.prefix), Some(128));
        assert!(parse_ip_or_cidr("10.0.0.0/33").is_none());
        assert!(parse_ip_or_cidr("not-an-ip").is_none());
    }
}
