//! `config` validation of Gauntlet's own resilience plugins, `circuit-breaker` and `bulkhead`
//! (SPEC §4, §5): not in Kong OSS, configured like any plugin on a service or globally.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::yaml::Source;
use crate::config::gateway::{BulkheadConfig, CircuitBreakerConfig, Fallback};
use crate::config::ConfigError;

/// Longest `open_timeout` accepted: a week (a breaker that never half-opens is a typo).
const MAX_OPEN_TIMEOUT_SECS: u64 = 7 * 86_400;

/// `config` of Gauntlet's `circuit-breaker` plugin (SPEC §4).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakerConf {
    failure_threshold: Option<i64>,
    /// Seconds.
    open_timeout: Option<f64>,
    half_open_successes: Option<i64>,
    half_open_max_concurrent: Option<i64>,
    failure_statuses: Option<Vec<i64>>,
    fallback: Option<RawFallback>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFallback {
    status: Option<i64>,
    body: Option<serde_json::Value>,
}

fn at_least_one(
    src: &Source,
    key: String,
    v: Option<i64>,
    default: u32,
) -> Result<u32, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => u32::try_from(v)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| src.error(key, format!("value should be between 1 and {}", u32::MAX))),
    }
}

fn status(src: &Source, key: String, v: i64) -> Result<u16, ConfigError> {
    u16::try_from(v)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| src.error(key, "value should be an HTTP status between 100 and 599"))
}

pub(super) fn circuit_breaker(
    src: &Source,
    key: &str,
    config: Value,
) -> Result<CircuitBreakerConfig, ConfigError> {
    let raw: RawBreakerConf = src.parse_value(key, config)?;
    let d = CircuitBreakerConfig::default();
    let open_timeout = match raw.open_timeout {
        None => d.open_timeout,
        Some(secs) => Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero() && d.as_secs() <= MAX_OPEN_TIMEOUT_SECS)
            .ok_or_else(|| {
                src.error(
                    format!("{key}.open_timeout"),
                    format!("value should be between 0 and {MAX_OPEN_TIMEOUT_SECS} (seconds)"),
                )
            })?,
    };
    let failure_statuses = match raw.failure_statuses {
        None => d.failure_statuses,
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, s)| status(src, format!("{key}.failure_statuses[{i}]"), *s))
            .collect::<Result<_, _>>()?,
    };
    let fallback = match raw.fallback {
        None => d.fallback,
        Some(f) => Fallback {
            status: match f.status {
                None => d.fallback.status,
                Some(s) => status(src, format!("{key}.fallback.status"), s)?,
            },
            body: f.body,
        },
    };
    Ok(CircuitBreakerConfig {
        failure_threshold: at_least_one(
            src,
            format!("{key}.failure_threshold"),
            raw.failure_threshold,
            d.failure_threshold,
        )?,
        open_timeout,
        half_open_successes: at_least_one(
            src,
            format!("{key}.half_open_successes"),
            raw.half_open_successes,
            d.half_open_successes,
        )?,
        half_open_max_concurrent: at_least_one(
            src,
            format!("{key}.half_open_max_concurrent"),
            raw.half_open_max_concurrent,
            d.half_open_max_concurrent,
        )?,
        failure_statuses,
        fallback,
    })
}

/// `config` of Gauntlet's `bulkhead` plugin (SPEC §4).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBulkheadConf {
    max_concurrent_requests: Option<i64>,
}

pub(super) fn bulkhead(
    src: &Source,
    key: &str,
    config: Value,
) -> Result<BulkheadConfig, ConfigError> {
    let raw: RawBulkheadConf = src.parse_value(key, config)?;
    Ok(BulkheadConfig {
        max_concurrent_requests: at_least_one(
            src,
            format!("{key}.max_concurrent_requests"),
            raw.max_concurrent_requests,
            BulkheadConfig::default().max_concurrent_requests,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::plugins::test_support::{check, err};
    use crate::config::gateway::PluginConfig;
    use std::time::Duration;

    #[test]
    fn circuit_breaker_validates_ranges_and_keeps_any_fallback_body() {
        assert!(err("circuit-breaker", "      failure_threshold: 0\n").contains("between 1 and"));
        assert!(
            err("circuit-breaker", "      failure_statuses: [500, 600]\n")
                .contains("failure_statuses[1]")
        );
        assert!(
            err("circuit-breaker", "      fallback: {status: 99}\n").contains("fallback.status")
        );
        let Ok((PluginConfig::CircuitBreaker(c), _)) = check(
            "circuit-breaker",
            "      open_timeout: 30\n      fallback:\n        status: 503\n        body: {error: down, codes: [1, 2]}\n",
        ) else {
            panic!("circuit-breaker did not load");
        };
        assert_eq!(c.open_timeout, Duration::from_secs(30));
        assert_eq!(c.failure_threshold, 5);
        assert_eq!(
            c.fallback.body,
            Some(serde_json::json!({"error": "down", "codes": [1, 2]}))
        );
    }

    #[test]
    fn bulkhead_defaults_to_one_hundred() {
        let Ok((PluginConfig::Bulkhead(c), _)) = check("bulkhead", "") else {
            panic!("bulkhead did not load");
        };
        assert_eq!(c.max_concurrent_requests, 100);
        assert!(err("bulkhead", "      max_concurrent_requests: -1\n").contains("between 1 and"));
    }
}
