//! Gateway metrics in the Prometheus text format (OBS-1), served by the admin API's `/metrics`.
//!
//! Recording is a short critical section on the request path keyed by configuration indexes (no
//! allocation); names are looked up only when the admin API is scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::breaker::{BreakerState, Breakers, Snapshot};
use super::bulkhead::Bulkheads;
use crate::config::GatewayConfig;
use crate::outcome::AttemptOutcome;
use crate::prometheus::{counter, escape, gauge};

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
    /// service → attempts after the first.
    retries: BTreeMap<usize, u64>,
    /// (service, connect_timeout | read_timeout) → count.
    timeouts: BTreeMap<(usize, &'static str), u64>,
    bulkhead_rejections: BTreeMap<usize, u64>,
    breaker_fallbacks: BTreeMap<usize, u64>,
    /// (route, consumer) → how long the gateway took to answer (to the response head), µs.
    durations: BTreeMap<(Route, ConsumerIx), Histogram<u64>>,
}

/// The request counters and durations by name, copied at one instant: what the chaos console
/// ([`crate::api::console`]) differences over a window.
#[derive(Debug, Clone, Default)]
pub struct TrafficCounters {
    /// (route, consumer, status code) → requests answered.
    pub requests: BTreeMap<(String, String, u16), u64>,
    /// (route, consumer) → durations in µs.
    pub durations: BTreeMap<(String, String), Histogram<u64>>,
}

/// Upper bounds (seconds) of the request duration histogram's buckets.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram of µs durations from 1 µs to an hour, 2 significant digits (a few KB).
pub fn duration_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("constant bounds are valid")
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

    /// Records how long the gateway took to answer a routed request (to the response head).
    pub fn record_duration(&self, route: Route, consumer: ConsumerIx, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut c) = self.inner.lock() {
            c.durations
                .entry((route, consumer))
                .or_insert_with(duration_histogram)
                .saturating_record(micros);
        }
    }

    /// The request counters and durations by route and consumer name, now.
    pub fn traffic(&self, config: &GatewayConfig) -> TrafficCounters {
        let Ok(c) = self.inner.lock() else {
            return TrafficCounters::default();
        };
        let route = |i: Route| {
            i.and_then(|i| config.routes.get(i))
                .map_or(String::new(), |r| r.name.clone())
        };
        let consumer = |i: ConsumerIx| {
            i.and_then(|i| config.consumers.get(i))
                .map(|c| c.display_name())
                .unwrap_or_default()
        };
        let mut out = TrafficCounters::default();
        for ((_, r, code, k, _), n) in &c.requests {
            *out.requests
                .entry((route(*r), consumer(*k), *code))
                .or_default() += n;
        }
        for ((r, k), h) in &c.durations {
            out.durations.insert((route(*r), consumer(*k)), h.clone());
        }
        out
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

    /// Records the attempts of one upstream call: each by outcome, the retries, the timeouts.
    pub fn record_upstream_call(&self, service: usize, attempts: &[AttemptOutcome]) {
        if let Ok(mut c) = self.inner.lock() {
            for attempt in attempts {
                *c.upstream_attempts
                    .entry((service, attempt.label()))
                    .or_default() += 1;
                if attempt.is_timeout() {
                    *c.timeouts.entry((service, attempt.label())).or_default() += 1;
                }
            }
            if attempts.len() > 1 {
                *c.retries.entry(service).or_default() += attempts.len() as u64 - 1;
            }
        }
    }

    pub fn record_bulkhead_rejection(&self, service: usize) {
        if let Ok(mut c) = self.inner.lock() {
            *c.bulkhead_rejections.entry(service).or_default() += 1;
        }
    }

    pub fn record_breaker_fallback(&self, service: usize) {
        if let Ok(mut c) = self.inner.lock() {
            *c.breaker_fallbacks.entry(service).or_default() += 1;
        }
    }

    /// Requests answered so far (every source, every status).
    pub fn total_requests(&self) -> u64 {
        self.inner
            .lock()
            .map(|c| c.requests.values().sum())
            .unwrap_or(0)
    }

    /// The Prometheus text exposition (version 0.0.4), with names from `config` and the live
    /// state of the breakers and bulkheads.
    pub fn render(
        &self,
        config: &GatewayConfig,
        breakers: &Breakers,
        bulkheads: &Bulkheads,
    ) -> String {
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
        counter(
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
        counter(
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
        counter(
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
        counter(
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
        let per_service = |out: &mut String, name: &str, map: &BTreeMap<usize, u64>| {
            for (s, n) in map {
                let _ = writeln!(
                    out,
                    "{name}{{service=\"{}\"}} {n}",
                    escape(service(Some(*s)))
                );
            }
        };
        counter(
            &mut out,
            "gauntlet_gateway_upstream_retries_total",
            "Upstream attempts after the first of a request (Kong's retries), by service.",
        );
        per_service(
            &mut out,
            "gauntlet_gateway_upstream_retries_total",
            &c.retries,
        );
        counter(
            &mut out,
            "gauntlet_gateway_upstream_timeouts_total",
            "Upstream attempts that timed out, by service and kind (connect_timeout, read_timeout).",
        );
        for ((s, kind), n) in &c.timeouts {
            let _ = writeln!(
                out,
                "gauntlet_gateway_upstream_timeouts_total{{service=\"{}\",kind=\"{kind}\"}} {n}",
                escape(service(Some(*s)))
            );
        }
        counter(
            &mut out,
            "gauntlet_gateway_bulkhead_rejections_total",
            "Requests refused because the service's bulkhead was full, by service.",
        );
        per_service(
            &mut out,
            "gauntlet_gateway_bulkhead_rejections_total",
            &c.bulkhead_rejections,
        );
        gauge(
            &mut out,
            "gauntlet_gateway_bulkhead_in_flight",
            "Requests in flight through the service's bulkhead, with its limit in `limit`.",
        );
        for (s, limit, in_flight) in bulkheads.usage() {
            let _ = writeln!(
                out,
                "gauntlet_gateway_bulkhead_in_flight{{service=\"{}\",limit=\"{limit}\"}} {in_flight}",
                escape(service(Some(s)))
            );
        }
        counter(
            &mut out,
            "gauntlet_gateway_circuit_breaker_fallbacks_total",
            "Requests answered with the circuit breaker's fallback, by service.",
        );
        per_service(
            &mut out,
            "gauntlet_gateway_circuit_breaker_fallbacks_total",
            &c.breaker_fallbacks,
        );
        render_durations(&mut out, &c.durations, &route, &consumer);
        drop(c);
        render_breakers(&mut out, breakers);
        out
    }
}

/// `gauntlet_gateway_request_duration_seconds`, a Prometheus histogram by route and consumer,
/// its buckets read from the HDR histograms.
fn render_durations<'a>(
    out: &mut String,
    durations: &BTreeMap<(Route, ConsumerIx), Histogram<u64>>,
    route: &dyn Fn(Route) -> &'a str,
    consumer: &dyn Fn(ConsumerIx) -> String,
) {
    let name = "gauntlet_gateway_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time the gateway took to answer a routed request (to the response head), by route and consumer."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for ((r, k), h) in durations {
        let labels = format!(
            "route=\"{}\",consumer=\"{}\"",
            escape(route(*r)),
            escape(&consumer(*k))
        );
        for le in DURATION_BUCKETS {
            let bound = (le * 1e6) as u64;
            let n = h.count_between(0, bound);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.len());
        let sum = h.mean() * h.len() as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.len());
    }
}

/// Breaker state (one series per state, 1 for the current one), consecutive failures, and
/// transitions by from/to, read from the live breakers at scrape time.
fn render_breakers(out: &mut String, breakers: &Breakers) {
    let snapshots: Vec<(String, Snapshot)> = breakers
        .iter()
        .map(|(_, b)| (escape(b.service()), b.snapshot()))
        .collect();
    gauge(
        out,
        "gauntlet_gateway_circuit_breaker_state",
        "Circuit breaker state by service: 1 for the current state, 0 for the others.",
    );
    for (service, snap) in &snapshots {
        for state in BreakerState::ALL {
            let _ = writeln!(
                out,
                "gauntlet_gateway_circuit_breaker_state{{service=\"{service}\",state=\"{state}\"}} {}",
                u8::from(snap.state == state)
            );
        }
    }
    gauge(
        out,
        "gauntlet_gateway_circuit_breaker_consecutive_failures",
        "Consecutive failed attempts counted by a CLOSED circuit breaker, by service.",
    );
    for (service, snap) in &snapshots {
        let _ = writeln!(
            out,
            "gauntlet_gateway_circuit_breaker_consecutive_failures{{service=\"{service}\"}} {}",
            snap.consecutive_failures
        );
    }
    counter(
        out,
        "gauntlet_gateway_circuit_breaker_transitions_total",
        "Circuit breaker state changes, by service, from and to.",
    );
    for (service, snap) in &snapshots {
        for &((from, to), n) in &snap.transition_totals {
            let _ = writeln!(
                out,
                "gauntlet_gateway_circuit_breaker_transitions_total{{service=\"{service}\",from=\"{from}\",to=\"{to}\"}} {n}"
            );
        }
    }
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
        let text = m.render(&config, &Breakers::default(), &Bulkheads::default());
        assert!(text.contains("# TYPE gauntlet_gateway_http_requests_total counter"));
        assert!(text.contains(
            "gauntlet_gateway_http_requests_total{service=\"value-architect\",route=\"r\\\"1\",code=\"200\",consumer=\"frontend-app\",source=\"service\"} 2"
        ));
        assert!(text
            .contains("gauntlet_gateway_auth_failures_total{plugin=\"jwt\",reason=\"expired\"} 1"));
    }
}
