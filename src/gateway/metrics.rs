//! Gateway metrics in the Prometheus text format (OBS-1), served by the admin API's `/metrics`.
//!
//! Recording is a short critical section on the request path keyed by configuration indexes (no
//! allocation); names are looked up only when the admin API is scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::config::GatewayConfig;

/// Counters of one gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

/// Indexes into `GatewayConfig::{services, routes, consumers}`; `None` when not (yet) known.
type Service = Option<usize>;
type Route = Option<usize>;
type ConsumerIx = Option<usize>;

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(Service, Route, u16, ConsumerIx, &'static str), u64>,
    rate_limited: BTreeMap<(Route, ConsumerIx), u64>,
    /// (plugin, reason) → count.
    auth_failures: BTreeMap<(&'static str, &'static str), u64>,
    /// (service, outcome) → count.
    upstream_attempts: BTreeMap<(usize, &'static str), u64>,
}

/// Who produced a response: the upstream service, or the gateway itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Service,
    Gateway,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Service => "service",
            Source::Gateway => "gateway",
        }
    }
}

impl Metrics {
    pub fn record_request(
        &self,
        service: Service,
        route: Route,
        code: u16,
        consumer: ConsumerIx,
        source: Source,
    ) {
        if let Ok(mut c) = self.inner.lock() {
            *c.requests
                .entry((service, route, code, consumer, source.label()))
                .or_default() += 1;
        }
    }

    pub fn record_rate_limited(&self, route: Route, consumer: ConsumerIx) {
        if let Ok(mut c) = self.inner.lock() {
            *c.rate_limited.entry((route, consumer)).or_default() += 1;
        }
    }

    pub fn record_auth_failure(&self, plugin: &'static str, reason: &'static str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.auth_failures.entry((plugin, reason)).or_default() += 1;
        }
    }

    pub fn record_upstream_attempt(&self, service: usize, outcome: &'static str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.upstream_attempts.entry((service, outcome)).or_default() += 1;
        }
    }

    /// Requests answered so far (every source, every status).
    pub fn total_requests(&self) -> u64 {
        self.inner
            .lock()
            .map(|c| c.requests.values().sum())
            .unwrap_or(0)
    }

    /// The Prometheus text exposition (version 0.0.4), with names from `config`.
    pub fn render(&self, config: &GatewayConfig) -> String {
        let Ok(c) = self.inner.lock() else {
            return String::new();
        };
        let service = |i: Service| {
            i.and_then(|i| config.services.get(i))
                .map_or("", |s| s.name.as_str())
        };
        let route = |i: Route| {
            i.and_then(|i| config.routes.get(i))
                .map_or("", |r| r.name.as_str())
        };
        let consumer = |i: ConsumerIx| {
            i.and_then(|i| config.consumers.get(i))
                .map(|c| c.display_name())
                .unwrap_or_default()
        };
        let mut out = String::new();
        family(
            &mut out,
            "gauntlet_gateway_http_requests_total",
            "HTTP requests answered by the gateway, by service, route, status code, consumer and source (service or gateway).",
        );
        for ((s, r, code, k, source), n) in &c.requests {
            let _ = writeln!(
                out,
                "gauntlet_gateway_http_requests_total{{service=\"{}\",route=\"{}\",code=\"{code}\",consumer=\"{}\",source=\"{source}\"}} {n}",
                escape(service(*s)),
                escape(route(*r)),
                escape(&consumer(*k))
            );
        }
        family(
            &mut out,
            "gauntlet_gateway_rate_limited_total",
            "Requests rejected by the rate-limiting plugin, by route and consumer.",
        );
        for ((r, k), n) in &c.rate_limited {
            let _ = writeln!(
                out,
                "gauntlet_gateway_rate_limited_total{{route=\"{}\",consumer=\"{}\"}} {n}",
                escape(route(*r)),
                escape(&consumer(*k))
            );
        }
        family(
            &mut out,
            "gauntlet_gateway_auth_failures_total",
            "Requests rejected by an auth plugin (jwt, acl), by plugin and reason.",
        );
        for ((plugin, reason), n) in &c.auth_failures {
            let _ = writeln!(
                out,
                "gauntlet_gateway_auth_failures_total{{plugin=\"{plugin}\",reason=\"{reason}\"}} {n}"
            );
        }
        family(
            &mut out,
            "gauntlet_gateway_upstream_attempts_total",
            "Upstream attempts (retries included), by service and outcome.",
        );
        for ((s, outcome), n) in &c.upstream_attempts {
            let _ = writeln!(
                out,
                "gauntlet_gateway_upstream_attempts_total{{service=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(service(Some(*s)))
            );
        }
        out
    }
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_help_type_and_escaped_labels() {
        let config = crate::config::kong::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/valueverse/kong.yml"
        )))
        .expect("valueverse kong.yml")
        .0;
        let mut config = config;
        config.routes[0].name = "r\"1".into();
        let m = Metrics::default();
        m.record_request(Some(0), Some(0), 200, Some(1), Source::Service);
        m.record_request(Some(0), Some(0), 200, Some(1), Source::Service);
        m.record_auth_failure("jwt", "expired");
        let text = m.render(&config);
        assert!(text.contains("# TYPE gauntlet_gateway_http_requests_total counter"));
        assert!(text.contains(
            "gauntlet_gateway_http_requests_total{service=\"value-architect\",route=\"r\\\"1\",code=\"200\",consumer=\"frontend-app\",source=\"service\"} 2"
        ));
        assert!(text
            .contains("gauntlet_gateway_auth_failures_total{plugin=\"jwt\",reason=\"expired\"} 1"));
    }
}
