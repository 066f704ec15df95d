//! Gateway metrics in the Prometheus text format (OBS-1), served by the admin API's `/metrics`.
//!
//! Recording is a short critical section on the request path; rendering happens only when the
//! admin API is scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Counters of one gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// (service, route, code, consumer, source) → count.
    requests: BTreeMap<(String, String, u16, String, &'static str), u64>,
    /// (route, consumer) → count.
    rate_limited: BTreeMap<(String, String), u64>,
    /// (plugin, reason) → count.
    auth_failures: BTreeMap<(&'static str, &'static str), u64>,
    /// (service, outcome) → count.
    upstream_attempts: BTreeMap<(String, &'static str), u64>,
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
        service: &str,
        route: &str,
        code: u16,
        consumer: &str,
        source: Source,
    ) {
        if let Ok(mut c) = self.inner.lock() {
            *c.requests
                .entry((
                    service.to_string(),
                    route.to_string(),
                    code,
                    consumer.to_string(),
                    source.label(),
                ))
                .or_default() += 1;
        }
    }

    pub fn record_rate_limited(&self, route: &str, consumer: &str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.rate_limited
                .entry((route.to_string(), consumer.to_string()))
                .or_default() += 1;
        }
    }

    pub fn record_auth_failure(&self, plugin: &'static str, reason: &'static str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.auth_failures.entry((plugin, reason)).or_default() += 1;
        }
    }

    pub fn record_upstream_attempt(&self, service: &str, outcome: &'static str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.upstream_attempts
                .entry((service.to_string(), outcome))
                .or_default() += 1;
        }
    }

    /// Requests answered so far (every source, every status).
    pub fn total_requests(&self) -> u64 {
        self.inner
            .lock()
            .map(|c| c.requests.values().sum())
            .unwrap_or(0)
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let Ok(c) = self.inner.lock() else {
            return String::new();
        };
        let mut out = String::new();
        family(
            &mut out,
            "gauntlet_gateway_http_requests_total",
            "HTTP requests answered by the gateway, by service, route, status code, consumer and source (service or gateway).",
        );
        for ((service, route, code, consumer, source), n) in &c.requests {
            let _ = writeln!(
                out,
                "gauntlet_gateway_http_requests_total{{service=\"{}\",route=\"{}\",code=\"{code}\",consumer=\"{}\",source=\"{source}\"}} {n}",
                escape(service),
                escape(route),
                escape(consumer)
            );
        }
        family(
            &mut out,
            "gauntlet_gateway_rate_limited_total",
            "Requests rejected by the rate-limiting plugin, by route and consumer.",
        );
        for ((route, consumer), n) in &c.rate_limited {
            let _ = writeln!(
                out,
                "gauntlet_gateway_rate_limited_total{{route=\"{}\",consumer=\"{}\"}} {n}",
                escape(route),
                escape(consumer)
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
        for ((service, outcome), n) in &c.upstream_attempts {
            let _ = writeln!(
                out,
                "gauntlet_gateway_upstream_attempts_total{{service=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(service)
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
        let m = Metrics::default();
        m.record_request("svc", "r\"1", 200, "alice", Source::Service);
        m.record_request("svc", "r\"1", 200, "alice", Source::Service);
        m.record_auth_failure("jwt", "expired");
        let text = m.render();
        assert!(text.contains("# TYPE gauntlet_gateway_http_requests_total counter"));
        assert!(text.contains(
            "gauntlet_gateway_http_requests_total{service=\"svc\",route=\"r\\\"1\",code=\"200\",consumer=\"alice\",source=\"service\"} 2"
        ));
        assert!(text
            .contains("gauntlet_gateway_auth_failures_total{plugin=\"jwt\",reason=\"expired\"} 1"));
    }
}
