//! Kong 3.x's Prometheus exposition (the `prometheus` plugin), added to the admin API's
//! `/metrics` when `kong.yml` configures the plugin, so Kong's own Grafana dashboard and alert
//! rules can be tested against Gauntlet.
//!
//! ```text
//!   pipeline (every answered request that matched a route)
//!     └─► record(plugin instance that applies, Observation) ─► KongMetrics (counters, histograms)
//!   GET /metrics ─► render: Gauntlet's own families, then Kong's (sorted as Kong sorts them)
//! ```
//!
//! Names, labels, buckets and the text layout follow `kong/plugins/prometheus/exporter.lua` and
//! `prometheus.lua` (the commit `docs/reference/kong-fidelity.md` cites): the `kong_` prefix;
//! `http_requests_total{service,route,code,source,workspace,consumer}` (status_code_metrics),
//! `kong_latency_ms`, `upstream_latency_ms`, `request_latency_ms` histograms
//! `{service,route,workspace}` (latency_metrics), `bandwidth_bytes{service,route,direction,
//! workspace,consumer}` (bandwidth_metrics), and the node gauges `nginx_requests_total`,
//! `nginx_connections_total`, `nginx_timers`, `datastore_reachable`, `node_info`. Series are
//! printed in the order of their keys (histogram `le` zero-padded for the sort, printed bare,
//! `+Inf` last), each family's `# HELP` and `# TYPE` before its first series.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;

use uuid::Uuid;

use crate::config::gateway::PrometheusConfig;
use crate::config::GatewayConfig;
use crate::prometheus::escape;

/// `KONG_LATENCY_BUCKETS` (3.9: up to 6000).
pub const KONG_LATENCY_BUCKETS: [u32; 17] = [
    1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000,
];
/// `UPSTREAM_LATENCY_BUCKETS`, also used for `request_latency_ms`.
pub const UPSTREAM_LATENCY_BUCKETS: [u32; 13] = [
    25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000,
];

/// The Kong version Gauntlet's behaviour follows (`kong_node_info{version}`).
pub const KONG_VERSION: &str = "3.9.0";

/// Kong OSS's only workspace.
const WORKSPACE: &str = "default";

/// One answered request, as Kong's `log` phase serializes it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub service: Option<usize>,
    pub route: usize,
    pub code: u16,
    /// The response came from the upstream (`kong.response.get_source() == "service"`).
    pub from_service: bool,
    pub consumer: Option<usize>,
    /// `$request_time` in ms: from the request's arrival to its response.
    pub request_ms: f64,
    /// Kong's waiting time upstream, when the request was proxied.
    pub upstream_ms: Option<f64>,
    /// `$request_length`: request line, headers and body.
    pub ingress_bytes: u64,
    /// `$bytes_sent`: status line, headers and body.
    pub egress_bytes: u64,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[u32], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len() + 1];
        }
        let slot = bounds
            .iter()
            .position(|b| value <= f64::from(*b))
            .unwrap_or(bounds.len());
        self.counts[slot] += 1;
        self.sum += value;
    }
}

type Labels = (String, String);

#[derive(Debug, Default)]
struct Counters {
    /// (service, route, code, source, consumer).
    requests: BTreeMap<(String, String, u16, &'static str, String), u64>,
    kong_latency: BTreeMap<Labels, Histogram>,
    upstream_latency: BTreeMap<Labels, Histogram>,
    request_latency: BTreeMap<Labels, Histogram>,
    /// (service, route, direction, consumer).
    bandwidth: BTreeMap<(String, String, &'static str, String), u64>,
    /// Every request the proxy answered, matched or not (`nginx_requests_total`).
    nginx_requests: u64,
    /// Client connections that sent a request.
    connections: HashSet<SocketAddr>,
    in_flight: u64,
}

/// Kong's metrics of one gateway.
#[derive(Debug)]
pub struct KongMetrics {
    node_id: Uuid,
    inner: Mutex<Counters>,
}

impl Default for KongMetrics {
    fn default() -> Self {
        KongMetrics {
            node_id: uuid::Builder::from_random_bytes(rand::random()).into_uuid(),
            inner: Mutex::default(),
        }
    }
}

impl KongMetrics {
    /// A request arrived on the connection from `peer`.
    pub fn request_started(&self, peer: SocketAddr) {
        if let Ok(mut c) = self.inner.lock() {
            c.connections.insert(peer);
            c.in_flight += 1;
        }
    }

    /// A request was answered (whether or not a route matched).
    pub fn request_finished(&self) {
        if let Ok(mut c) = self.inner.lock() {
            c.nginx_requests += 1;
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }

    /// Requests started and not answered yet.
    pub fn in_flight(&self) -> u64 {
        self.inner.lock().map(|c| c.in_flight).unwrap_or(0)
    }

    /// Kong's `exporter.log` for a request a `prometheus` instance with `conf` applies to.
    pub fn record(&self, config: &GatewayConfig, conf: &PrometheusConfig, o: &Observation) {
        let service = o
            .service
            .and_then(|s| config.services.get(s))
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let Some(route) = config.routes.get(o.route).map(|r| r.name.clone()) else {
            return;
        };
        let consumer = match (conf.per_consumer, o.consumer) {
            (true, Some(c)) => config
                .consumers
                .get(c)
                .and_then(|c| c.username.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let Ok(mut c) = self.inner.lock() else {
            return;
        };
        if conf.bandwidth_metrics {
            for (direction, bytes) in [("ingress", o.ingress_bytes), ("egress", o.egress_bytes)] {
                if bytes > 0 {
                    *c.bandwidth
                        .entry((service.clone(), route.clone(), direction, consumer.clone()))
                        .or_default() += bytes;
                }
            }
        }
        if conf.status_code_metrics {
            let source = if o.from_service { "service" } else { "kong" };
            *c.requests
                .entry((service.clone(), route.clone(), o.code, source, consumer))
                .or_default() += 1;
        }
        if conf.latency_metrics {
            let labels = (service, route);
            c.request_latency
                .entry(labels.clone())
                .or_default()
                .observe(&UPSTREAM_LATENCY_BUCKETS, o.request_ms);
            if let Some(upstream) = o.upstream_ms {
                c.upstream_latency
                    .entry(labels.clone())
                    .or_default()
                    .observe(&UPSTREAM_LATENCY_BUCKETS, upstream);
            }
            let kong = (o.request_ms - o.upstream_ms.unwrap_or(0.0)).max(0.0);
            c.kong_latency
                .entry(labels)
                .or_default()
                .observe(&KONG_LATENCY_BUCKETS, kong);
        }
    }

    /// Kong's exposition, appended to `out`.
    pub fn render(&self, out: &mut String) {
        let Ok(c) = self.inner.lock() else {
            return;
        };
        let node = self.node_id.to_string();
        // (sort key, family, line): Kong sorts the dictionary keys, then prints.
        let mut series: Vec<(String, &'static str, String)> = Vec::new();
        let mut push = |family: &'static str, key: String, shown: String, value: String| {
            series.push((key, family, format!("kong_{shown} {value}")));
        };
        for ((s, r, d, k), n) in &c.bandwidth {
            let key = format!(
                "bandwidth_bytes{{service=\"{}\",route=\"{}\",direction=\"{d}\",workspace=\"{WORKSPACE}\",consumer=\"{}\"}}",
                escape(s),
                escape(r),
                escape(k)
            );
            push("bandwidth_bytes", key.clone(), key, n.to_string());
        }
        push(
            "datastore_reachable",
            "datastore_reachable".into(),
            "datastore_reachable".into(),
            "1".into(),
        );
        for ((s, r, code, source, k), n) in &c.requests {
            let key = format!(
                "http_requests_total{{service=\"{}\",route=\"{}\",code=\"{code}\",source=\"{source}\",workspace=\"{WORKSPACE}\",consumer=\"{}\"}}",
                escape(s),
                escape(r),
                escape(k)
            );
            push("http_requests_total", key.clone(), key, n.to_string());
        }
        for (family, bounds, map) in [
            (
                "kong_latency_ms",
                &KONG_LATENCY_BUCKETS[..],
                &c.kong_latency,
            ),
            (
                "request_latency_ms",
                &UPSTREAM_LATENCY_BUCKETS[..],
                &c.request_latency,
            ),
            (
                "upstream_latency_ms",
                &UPSTREAM_LATENCY_BUCKETS[..],
                &c.upstream_latency,
            ),
        ] {
            for ((s, r), h) in map {
                let labels = format!(
                    "service=\"{}\",route=\"{}\",workspace=\"{WORKSPACE}\"",
                    escape(s),
                    escape(r)
                );
                let width = bounds.last().map_or(1, |b| b.to_string().len());
                let mut cumulative = 0;
                for (i, count) in h.counts.iter().enumerate() {
                    cumulative += count;
                    let (padded, shown) = match bounds.get(i) {
                        Some(b) => (format!("{b:0width$}"), b.to_string()),
                        None => ("Inf".to_string(), "+Inf".to_string()),
                    };
                    push(
                        family,
                        format!("{family}_bucket{{{labels},le=\"{padded}\"}}"),
                        format!("{family}_bucket{{{labels},le=\"{shown}\"}}"),
                        cumulative.to_string(),
                    );
                }
                let count_key = format!("{family}_count{{{labels}}}");
                push(family, count_key.clone(), count_key, cumulative.to_string());
                let sum_key = format!("{family}_sum{{{labels}}}");
                push(family, sum_key.clone(), sum_key, lua_number(h.sum));
            }
        }
        let connections = c.connections.len() as u64;
        for (state, value) in [
            ("accepted", connections),
            ("handled", connections),
            ("total", c.nginx_requests),
            ("writing", c.in_flight),
        ] {
            let key = format!(
                "nginx_connections_total{{node_id=\"{node}\",subsystem=\"http\",state=\"{state}\"}}"
            );
            push(
                "nginx_connections_total",
                key.clone(),
                key,
                value.to_string(),
            );
        }
        let key = format!("nginx_requests_total{{node_id=\"{node}\",subsystem=\"http\"}}");
        push(
            "nginx_requests_total",
            key.clone(),
            key,
            c.nginx_requests.to_string(),
        );
        for state in ["pending", "running"] {
            let key = format!("nginx_timers{{state=\"{state}\"}}");
            push("nginx_timers", key.clone(), key, "0".into());
        }
        let key = format!("node_info{{node_id=\"{node}\",version=\"{KONG_VERSION}\"}}");
        push("node_info", key.clone(), key, "1".into());
        drop(c);
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let mut seen = HashSet::new();
        for (_, family, line) in series {
            if seen.insert(family) {
                let (help, kind) = family_doc(family);
                let _ = writeln!(out, "# HELP kong_{family} {help}");
                let _ = writeln!(out, "# TYPE kong_{family} {kind}");
            }
            let _ = writeln!(out, "{line}");
        }
    }
}

/// `# HELP` text and type of each family (`exporter.lua` `init`).
fn family_doc(family: &str) -> (&'static str, &'static str) {
    match family {
        "bandwidth_bytes" => (
            "Total bandwidth (ingress/egress) throughput in bytes",
            "counter",
        ),
        "datastore_reachable" => ("Datastore reachable from Kong, 0 is unreachable", "gauge"),
        "http_requests_total" => (
            "HTTP status codes per consumer/service/route in Kong",
            "counter",
        ),
        "kong_latency_ms" => (
            "Latency added by Kong and enabled plugins for each service/route in Kong",
            "histogram",
        ),
        "request_latency_ms" => (
            "Total latency incurred during requests for each service/route in Kong",
            "histogram",
        ),
        "upstream_latency_ms" => (
            "Latency added by upstream response for each service/route in Kong",
            "histogram",
        ),
        "nginx_connections_total" => ("Number of connections by subsystem", "gauge"),
        "nginx_requests_total" => ("Number of requests total", "gauge"),
        "nginx_timers" => ("Number of nginx timers", "gauge"),
        _ => ("Kong Node metadata information", "gauge"),
    }
}

/// Lua's `tostring` of a number (`%.14g`): integers without a fraction.
fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_kongs_buckets_and_render_cumulatively() {
        let mut h = Histogram::default();
        h.observe(&KONG_LATENCY_BUCKETS, 1.0);
        h.observe(&KONG_LATENCY_BUCKETS, 6.5);
        h.observe(&KONG_LATENCY_BUCKETS, 7000.0);
        assert_eq!(h.counts[0], 1, "le=1 includes 1");
        assert_eq!(h.counts[3], 1, "6.5 falls in le=7");
        assert_eq!(h.counts[17], 1, "+Inf");
        assert_eq!(lua_number(h.sum), "7007.5");
    }
}
