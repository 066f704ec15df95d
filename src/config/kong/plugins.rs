//! Strict validation of emulated plugins' `config` with Kong's defaults and Kong's error wording
//! (kong.md §1–§3): `jwt`, `acl`, `rate-limiting` here, Gauntlet's own plugins in
//! `resilience.rs`.
//!
//! ```text
//!   RawPlugin.name ─► catalogue::classify ─┬─ emulated ─► config (Value) ─► Raw*Conf ─► PluginConfig
//!                                          ├─ Kong bundled, not emulated ─► warning (attach.rs)
//!                                          └─ unknown ─► error with the closest known name
//! ```

use serde::Deserialize;
use serde_json::Value;

use super::catalogue::unknown_plugin_message;
use super::edge_plugins as edge;
use super::resilience::{bulkhead, circuit_breaker};
use super::yaml::Source;
use crate::config::gateway::{
    AclConfig, AclRule, JwtConfig, LimitBy, PluginConfig, PluginKind, RateLimitConfig, RatePeriod,
    RegisteredClaim,
};
use crate::config::ConfigError;

/// A remark about an emulated plugin's config that becomes a warning (key path, message).
pub(crate) type Note = (String, String);

/// Validates the `config` of an emulated plugin at `key` (`plugins[0]`), applying Kong's defaults.
pub(crate) fn emulated_config(
    src: &Source,
    key: &str,
    name: &str,
    config: Option<Value>,
) -> Result<(PluginConfig, Vec<Note>), ConfigError> {
    let ckey = format!("{key}.config");
    let config = match config {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v,
    };
    let mut notes = Vec::new();
    let Some(kind) = PluginKind::parse(name) else {
        return Err(src.error(format!("{key}.name"), unknown_plugin_message(name)));
    };
    let cfg = match kind {
        PluginKind::Jwt => PluginConfig::Jwt(jwt(src, &ckey, src.parse_value(&ckey, config)?)?),
        PluginKind::Acl => PluginConfig::Acl(acl(
            src,
            &ckey,
            src.parse_value(&ckey, config)?,
            &mut notes,
        )?),
        PluginKind::RateLimiting => PluginConfig::RateLimiting(rate_limiting(
            src,
            &ckey,
            src.parse_value(&ckey, config)?,
            &mut notes,
        )?),
        PluginKind::CircuitBreaker => {
            PluginConfig::CircuitBreaker(circuit_breaker(src, &ckey, config)?)
        }
        PluginKind::Bulkhead => PluginConfig::Bulkhead(bulkhead(src, &ckey, config)?),
        PluginKind::KeyAuth => PluginConfig::KeyAuth(edge::key_auth(
            src,
            &ckey,
            src.parse_value(&ckey, config)?,
            &mut notes,
        )?),
        PluginKind::Cors => {
            PluginConfig::Cors(edge::cors(src, &ckey, src.parse_value(&ckey, config)?)?)
        }
        PluginKind::IpRestriction => PluginConfig::IpRestriction(edge::ip_restriction(
            src,
            &ckey,
            src.parse_value(&ckey, config)?,
        )?),
        PluginKind::RequestSizeLimiting => PluginConfig::RequestSizeLimiting(
            edge::request_size_limiting(src, &ckey, src.parse_value(&ckey, config)?)?,
        ),
        PluginKind::CorrelationId => PluginConfig::CorrelationId(edge::correlation_id(
            src,
            &ckey,
            src.parse_value(&ckey, config)?,
        )?),
        PluginKind::Prometheus => PluginConfig::Prometheus(edge::prometheus(
            &ckey,
            src.parse_value(&ckey, edge::or_empty(config))?,
            &mut notes,
        )),
    };
    Ok((cfg, notes))
}

/// `config` of the `jwt` plugin (`kong/plugins/jwt/schema.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwtConf {
    uri_param_names: Option<Vec<String>>,
    cookie_names: Option<Vec<String>>,
    header_names: Option<Vec<String>>,
    key_claim_name: Option<String>,
    secret_is_base64: Option<bool>,
    claims_to_verify: Option<Vec<String>>,
    maximum_expiration: Option<i64>,
    run_on_preflight: Option<bool>,
    anonymous: Option<String>,
    realm: Option<String>,
}

fn jwt(src: &Source, key: &str, raw: RawJwtConf) -> Result<JwtConfig, ConfigError> {
    let d = JwtConfig::default();
    let mut claims = Vec::new();
    for (i, c) in raw.claims_to_verify.iter().flatten().enumerate() {
        let claim = match c.as_str() {
            "exp" => RegisteredClaim::Exp,
            "nbf" => RegisteredClaim::Nbf,
            _ => {
                return Err(src.error(
                    format!("{key}.claims_to_verify[{i}]"),
                    "expected one of: exp, nbf",
                ))
            }
        };
        if !claims.contains(&claim) {
            claims.push(claim);
        }
    }
    let maximum_expiration = raw.maximum_expiration.unwrap_or(0);
    if !(0..=31_536_000).contains(&maximum_expiration) {
        return Err(src.error(
            format!("{key}.maximum_expiration"),
            "value should be between 0 and 31536000",
        ));
    }
    if maximum_expiration > 0 && !claims.contains(&RegisteredClaim::Exp) {
        // Kong's entity check: maximum_expiration > 0 needs `exp` to be verified.
        return Err(src.error(
            format!("{key}.claims_to_verify"),
            "expected to contain: exp (failed conditional validation given value of field 'config.maximum_expiration')",
        ));
    }
    let key_claim_name = raw.key_claim_name.unwrap_or(d.key_claim_name);
    if key_claim_name.is_empty() {
        return Err(src.error(format!("{key}.key_claim_name"), "length must be at least 1"));
    }
    Ok(JwtConfig {
        uri_param_names: raw.uri_param_names.unwrap_or(d.uri_param_names),
        cookie_names: raw.cookie_names.unwrap_or(d.cookie_names),
        header_names: raw
            .header_names
            .map(|h| h.iter().map(|n| n.to_ascii_lowercase()).collect())
            .unwrap_or(d.header_names),
        key_claim_name,
        secret_is_base64: raw.secret_is_base64.unwrap_or(d.secret_is_base64),
        claims_to_verify: claims,
        maximum_expiration: maximum_expiration.unsigned_abs(),
        run_on_preflight: raw.run_on_preflight.unwrap_or(d.run_on_preflight),
        anonymous: raw.anonymous.filter(|a| !a.is_empty()),
        realm: raw.realm,
    })
}

/// `config` of the `acl` plugin (`kong/plugins/acl/schema.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAclConf {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    hide_groups_header: Option<bool>,
    always_use_authenticated_groups: Option<bool>,
    include_consumer_groups: Option<bool>,
}

fn acl(
    src: &Source,
    key: &str,
    raw: RawAclConf,
    notes: &mut Vec<Note>,
) -> Result<AclConfig, ConfigError> {
    let allow = raw.allow.filter(|a| !a.is_empty());
    let deny = raw.deny.filter(|d| !d.is_empty());
    let rule = match (allow, deny) {
        (Some(a), None) => AclRule::Allow(a),
        (None, Some(d)) => AclRule::Deny(d),
        (Some(_), Some(_)) => {
            return Err(src.error(
                format!("{key}.deny"),
                "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
            ))
        }
        (None, None) => {
            return Err(src.error(
                key,
                "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
            ))
        }
    };
    if raw.include_consumer_groups == Some(true) {
        notes.push((
            format!("{key}.include_consumer_groups"),
            "consumer groups (Kong Enterprise) are not emulated: only `acls` groups are checked"
                .into(),
        ));
    }
    Ok(AclConfig {
        rule,
        hide_groups_header: raw.hide_groups_header.unwrap_or(false),
        always_use_authenticated_groups: raw.always_use_authenticated_groups.unwrap_or(false),
    })
}

/// `config` of the `rate-limiting` plugin (`kong/plugins/rate-limiting/schema.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateConf {
    second: Option<f64>,
    minute: Option<f64>,
    hour: Option<f64>,
    day: Option<f64>,
    month: Option<f64>,
    year: Option<f64>,
    limit_by: Option<String>,
    header_name: Option<String>,
    path: Option<String>,
    policy: Option<String>,
    fault_tolerant: Option<bool>,
    hide_client_headers: Option<bool>,
    error_code: Option<f64>,
    error_message: Option<String>,
    sync_rate: Option<f64>,
    // Redis settings: accepted, unused (Gauntlet counts locally).
    #[serde(rename = "redis")]
    _redis: Option<Value>,
    #[serde(rename = "redis_host")]
    _redis_host: Option<Value>,
    #[serde(rename = "redis_port")]
    _redis_port: Option<Value>,
    #[serde(rename = "redis_username")]
    _redis_username: Option<Value>,
    #[serde(rename = "redis_password")]
    _redis_password: Option<Value>,
    #[serde(rename = "redis_ssl")]
    _redis_ssl: Option<Value>,
    #[serde(rename = "redis_ssl_verify")]
    _redis_ssl_verify: Option<Value>,
    #[serde(rename = "redis_server_name")]
    _redis_server_name: Option<Value>,
    #[serde(rename = "redis_timeout")]
    _redis_timeout: Option<Value>,
    #[serde(rename = "redis_database")]
    _redis_database: Option<Value>,
}

fn rate_limiting(
    src: &Source,
    key: &str,
    raw: RawRateConf,
    notes: &mut Vec<Note>,
) -> Result<RateLimitConfig, ConfigError> {
    let given = [
        (RatePeriod::Second, raw.second),
        (RatePeriod::Minute, raw.minute),
        (RatePeriod::Hour, raw.hour),
        (RatePeriod::Day, raw.day),
        (RatePeriod::Month, raw.month),
        (RatePeriod::Year, raw.year),
    ];
    let set: Vec<(RatePeriod, f64)> = given
        .iter()
        .filter_map(|(p, v)| v.map(|v| (*p, v)))
        .collect();
    if set.is_empty() {
        return Err(src.error(
            key,
            "at least one of these fields must be non-empty: 'config.second', 'config.minute', \
             'config.hour', 'config.day', 'config.month', 'config.year'",
        ));
    }
    for (period, v) in &set {
        let k = format!("{key}.{}", period.key());
        if !v.is_finite() || *v <= 0.0 {
            return Err(src.error(k, "value must be greater than 0"));
        }
        if v.fract() != 0.0 {
            return Err(src.error(k, "Gauntlet counts whole requests: use a whole number"));
        }
    }
    // Kong's `validate_periods_order`: the first shorter period that a longer one undercuts.
    for (i, (lower, v1)) in set.iter().enumerate() {
        if let Some((upper, v2)) = set[i + 1..].iter().find(|(_, v2)| v2 < v1) {
            return Err(src.error(
                format!("{key}.{}", upper.key()),
                format!(
                    "The limit for {}({v2:.1}) cannot be lower than the limit for {}({v1:.1})",
                    upper.key(),
                    lower.key()
                ),
            ));
        }
    }
    let limit_by = match raw.limit_by.as_deref().unwrap_or("consumer") {
        "consumer" => LimitBy::Consumer,
        "credential" => LimitBy::Credential,
        "ip" => LimitBy::Ip,
        "service" => LimitBy::Service,
        "header" => LimitBy::Header,
        "path" => LimitBy::Path,
        _ => {
            return Err(src.error(
                format!("{key}.limit_by"),
                "expected one of: consumer, credential, ip, service, header, path",
            ))
        }
    };
    if limit_by == LimitBy::Header && raw.header_name.as_deref().unwrap_or("").is_empty() {
        return Err(src.error(
            format!("{key}.header_name"),
            "required field missing (limit_by is 'header')",
        ));
    }
    if limit_by == LimitBy::Path && raw.path.as_deref().unwrap_or("").is_empty() {
        return Err(src.error(
            format!("{key}.path"),
            "required field missing (limit_by is 'path')",
        ));
    }
    if let Some(p) = raw
        .path
        .as_deref()
        .filter(|p| !p.is_empty() && !p.starts_with('/'))
    {
        return Err(src.error(
            format!("{key}.path"),
            format!("should start with: / (got `{p}`)"),
        ));
    }
    let policy = raw.policy.unwrap_or_else(|| "local".into());
    match policy.as_str() {
        "local" => {}
        "cluster" | "redis" => notes.push((
            format!("{key}.policy"),
            format!(
                "policy `{policy}` shares counters between Kong nodes; Gauntlet is one node and counts locally"
            ),
        )),
        _ => {
            return Err(src.error(
                format!("{key}.policy"),
                "expected one of: local, cluster, redis",
            ))
        }
    }
    if let Some(rate) = raw.sync_rate {
        if policy != "redis" && rate != -1.0 {
            return Err(src.error(
                format!("{key}.sync_rate"),
                "sync_rate can only be used with the redis policy",
            ));
        }
    }
    let error_code = raw.error_code.unwrap_or(429.0);
    if !(100.0..=599.0).contains(&error_code) || error_code.fract() != 0.0 {
        return Err(src.error(
            format!("{key}.error_code"),
            "value should be an HTTP status between 100 and 599",
        ));
    }
    Ok(RateLimitConfig {
        // Whole positive numbers (checked above); `as` cannot truncate them.
        limits: set.iter().map(|(p, v)| (*p, *v as u64)).collect(),
        limit_by,
        header_name: raw.header_name,
        path: raw.path,
        policy,
        fault_tolerant: raw.fault_tolerant.unwrap_or(true),
        hide_client_headers: raw.hide_client_headers.unwrap_or(false),
        error_code: error_code as u16,
        error_message: raw
            .error_message
            .unwrap_or_else(|| "API rate limit exceeded".into()),
    })
}

/// Loads one plugin's config from YAML text, for the tests of every plugin module.
#[cfg(test)]
pub(super) mod test_support {
    use super::*;

    pub fn check(name: &str, config: &str) -> Result<(PluginConfig, Vec<Note>), ConfigError> {
        let text = format!("plugins:\n  - name: {name}\n    config:\n{config}");
        let src = Source {
            file: "kong.yml".into(),
            text: text.clone(),
        };
        let doc: Value = serde_saphyr::from_str(&text).map_err(|e| src.error("", e.to_string()))?;
        let value = doc["plugins"][0]["config"].clone();
        emulated_config(&src, "plugins[0]", name, Some(value))
    }

    pub fn err(name: &str, config: &str) -> String {
        match check(name, config) {
            Ok(_) => String::from("<no error>"),
            Err(e) => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{check, err};
    use super::*;

    #[test]
    fn jwt_defaults_follow_kong_schema() {
        let Ok((PluginConfig::Jwt(c), _)) = check("jwt", "      realm: x\n") else {
            panic!("jwt did not load");
        };
        assert_eq!(c.uri_param_names, vec!["jwt"]);
        assert_eq!(c.header_names, vec!["authorization"]);
        assert!(c.claims_to_verify.is_empty());
        assert!(c.run_on_preflight);
        assert_eq!(c.realm.as_deref(), Some("x"));
    }

    #[test]
    fn jwt_lowercases_header_names() {
        let Ok((PluginConfig::Jwt(c), _)) = check("jwt", "      header_names: [X-Token]\n") else {
            panic!("jwt did not load");
        };
        assert_eq!(c.header_names, vec!["x-token"]);
    }

    #[test]
    fn jwt_rejects_maximum_expiration_without_exp_claim() {
        let e = err(
            "jwt",
            "      maximum_expiration: 60\n      claims_to_verify: [nbf]\n",
        );
        assert!(e.contains("plugins[0].config.claims_to_verify"), "{e}");
        assert!(e.contains("expected to contain: exp"), "{e}");
        assert!(e.starts_with("kong.yml:5:"), "{e}");
    }

    #[test]
    fn jwt_rejects_maximum_expiration_out_of_range() {
        let e = err(
            "jwt",
            "      maximum_expiration: 31536001\n      claims_to_verify: [exp]\n",
        );
        assert!(e.contains("between 0 and 31536000"), "{e}");
    }

    #[test]
    fn jwt_rejects_unknown_claims_and_keys() {
        assert!(err("jwt", "      claims_to_verify: [iat]\n").contains("expected one of: exp, nbf"));
        let e = err("jwt", "      clams_to_verify: [exp]\n");
        assert!(e.contains("did you mean `claims_to_verify`"), "{e}");
    }

    #[test]
    fn acl_needs_exactly_one_of_allow_and_deny() {
        let both = err("acl", "      allow: [a]\n      deny: [b]\n");
        assert!(
            both.contains("exactly one of these fields must be non-empty"),
            "{both}"
        );
        let none = err("acl", "      hide_groups_header: true\n");
        assert!(
            none.contains("at least one of these fields must be non-empty"),
            "{none}"
        );
        let Ok((PluginConfig::Acl(c), _)) = check("acl", "      deny: [b]\n      allow: []\n")
        else {
            panic!("acl did not load");
        };
        assert_eq!(c.rule, AclRule::Deny(vec!["b".into()]));
    }

    #[test]
    fn rate_limiting_rejects_a_longer_period_with_a_lower_limit_in_kong_words() {
        let e = err("rate-limiting", "      minute: 100\n      hour: 10\n");
        assert!(
            e.contains("The limit for hour(10.0) cannot be lower than the limit for minute(100.0)"),
            "{e}"
        );
        assert!(e.contains("plugins[0].config.hour"), "{e}");
    }

    #[test]
    fn rate_limiting_needs_a_limit_and_positive_values() {
        assert!(err("rate-limiting", "      policy: local\n").contains("at least one of"));
        assert!(err("rate-limiting", "      minute: 0\n").contains("greater than 0"));
    }

    #[test]
    fn rate_limiting_header_and_path_need_their_keys() {
        assert!(
            err("rate-limiting", "      minute: 5\n      limit_by: header\n")
                .contains("config.header_name: required field missing")
        );
        assert!(
            err("rate-limiting", "      minute: 5\n      limit_by: path\n")
                .contains("config.path: required field missing")
        );
        assert!(
            err("rate-limiting", "      minute: 5\n      limit_by: cookie\n")
                .contains("expected one of: consumer")
        );
    }

    #[test]
    fn rate_limiting_applies_kong_defaults_and_notes_shared_policies() {
        let Ok((PluginConfig::RateLimiting(c), notes)) = check(
            "rate-limiting",
            "      hour: 10\n      second: 1\n      policy: redis\n      redis_host: r\n      sync_rate: 1\n",
        ) else {
            panic!("rate-limiting did not load");
        };
        assert_eq!(
            c.limits,
            vec![(RatePeriod::Second, 1), (RatePeriod::Hour, 10)]
        );
        assert_eq!(c.limit_by, LimitBy::Consumer);
        assert_eq!(c.error_code, 429);
        assert_eq!(c.error_message, "API rate limit exceeded");
        assert!(c.fault_tolerant);
        assert_eq!(notes.len(), 1);
        assert!(
            err("rate-limiting", "      minute: 5\n      sync_rate: 1\n")
                .contains("sync_rate can only be used with the redis policy")
        );
    }
}
