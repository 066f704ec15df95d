//! The gateway's spans: a small builder the request carries through the pipeline
//! ([`GatewayTrace`], in the `RequestContext`), and the compact record it leaves in the store
//! ([`GatewayRecord`]), expanded into spans only when read.
//!
//! ```text
//!   gateway GET /api/v1/value-models            (server; parent: the client's span, if any)
//!   ├─ jwt, acl, rate-limiting, bulkhead, …     (one per stage configured for the request, or
//!   │                                            the one that refused it)
//!   └─ upstream value-architect                 (its id goes upstream in `traceparent`)
//!      ├─ toxics on gateway->value-architect    (when the hop had toxics or was down)
//!      └─ attempt 1, attempt 2, …               (client; retries)
//! ```
//! On the request path this costs a clock read per stage and one store push per request;
//! names, attributes and ids of the child spans are made when the spans are read.

use http::{HeaderMap, Method};

use super::context::{derived_span_id, new_span_id, TraceContext};
use super::span::{Span, SpanKind, SpanOrigin};
use super::store::{Record, TraceStore};
use crate::clock::Stopwatch;
use crate::config::gateway::PluginKind;
use crate::config::GatewayConfig;
use crate::gateway::breaker::BreakerState;
use crate::gateway::stage::STAGES;
use crate::outcome::AttemptOutcome;

const STAGE_COUNT: usize = STAGES.len();

/// The derived id of the upstream span (stages use 1..=STAGE_COUNT).
const UPSTREAM_CHILD: u64 = 1000;

/// One request's trace while the gateway handles it.
#[derive(Debug, Clone)]
pub struct GatewayTrace {
    /// The store's epoch, when recording (a copy: reading the time needs no store).
    epoch: Option<Stopwatch>,
    /// The trace (the client's, or a new one) with the client's span as parent.
    context: TraceContext,
    /// Whether the client sent a valid `traceparent` (its `tracestate` then goes on too).
    continued: bool,
    span: u64,
    start: u64,
    /// Start and end of each stage's access phase, in pipeline order.
    stages: [(u64, u64); STAGE_COUNT],
    ran: usize,
    /// The stage that refused the request.
    refused: Option<usize>,
    upstream: Option<UpstreamTiming>,
}

/// The upstream call: its span, and each attempt's end and outcome.
#[derive(Debug, Clone)]
struct UpstreamTiming {
    start: u64,
    end: u64,
    attempts: Vec<(u64, AttemptOutcome)>,
    /// What was on the hop's link (toxics, down), when it was faulted.
    toxics: Option<String>,
}

/// What the gateway decided, known once the response is made.
#[derive(Debug, Clone)]
pub struct GatewayOutcome {
    pub method: Method,
    pub path: String,
    pub route: Option<usize>,
    pub service: Option<usize>,
    pub consumer: Option<usize>,
    pub status: u16,
    pub request_id: String,
    /// Why the gateway answered itself (`Rejection::reason`), when it did.
    pub rejected: Option<&'static str>,
    pub breaker_state: Option<BreakerState>,
}

impl GatewayTrace {
    /// Starts the gateway's span for a request with these headers: continues the client's
    /// trace when it sent a valid `traceparent`, else starts one.
    pub fn begin(store: &TraceStore, headers: &HeaderMap) -> GatewayTrace {
        let span = new_span_id();
        let client = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse);
        let epoch = store.is_recording().then(|| store.epoch());
        GatewayTrace {
            epoch,
            context: client.unwrap_or_else(|| TraceContext::start(0)),
            continued: client.is_some(),
            span,
            start: elapsed(epoch),
            stages: [(0, 0); STAGE_COUNT],
            ran: 0,
            refused: None,
            upstream: None,
        }
    }

    /// A trace that records nothing (a context made outside the gateway's request path); it
    /// draws no random id.
    pub fn off() -> GatewayTrace {
        GatewayTrace {
            epoch: None,
            context: TraceContext {
                trace_id: 1,
                parent_id: 1,
                flags: 1,
            },
            continued: false,
            span: 1,
            start: 0,
            stages: [(0, 0); STAGE_COUNT],
            ran: 0,
            refused: None,
            upstream: None,
        }
    }

    /// Now, for [`GatewayTrace::stage`] (0 when not recording).
    pub fn now(&self) -> u64 {
        elapsed(self.epoch)
    }

    /// Stage `index` of the pipeline ran from `started` until now, and refused the request or
    /// let it on.
    pub fn stage(&mut self, index: usize, started: u64, refused: bool) {
        if self.epoch.is_some() && index < STAGE_COUNT {
            self.stages[index] = (started, self.now());
            self.ran = self.ran.max(index + 1);
            if refused {
                self.refused = Some(index);
            }
        }
    }

    /// The upstream call begins; `toxics` describes the hop's faults when it has any.
    pub fn upstream_started(&mut self, toxics: Option<String>) {
        if self.epoch.is_some() {
            let now = self.now();
            self.upstream = Some(UpstreamTiming {
                start: now,
                end: now,
                attempts: Vec::new(),
                toxics,
            });
        }
    }

    /// An attempt ended with `outcome`.
    pub fn attempt(&mut self, outcome: &AttemptOutcome) {
        let now = self.now();
        if let Some(u) = &mut self.upstream {
            u.attempts.push((now, outcome.clone()));
            u.end = now;
        }
    }

    /// The trace id, as it goes upstream in `traceparent` (32 hex digits).
    pub fn trace_hex(&self) -> String {
        super::context::trace_hex(self.context.trace_id)
    }

    /// Whether the client sent a valid `traceparent`.
    pub fn continued(&self) -> bool {
        self.continued
    }

    /// The `traceparent` to send upstream: this trace, with the upstream span as parent.
    pub fn upstream_header(&self) -> String {
        self.context
            .child(derived_span_id(self.span, UPSTREAM_CHILD))
            .header()
    }

    /// Leaves the record of this request in `store`.
    pub fn finish(self, store: &TraceStore, outcome: GatewayOutcome) {
        if self.epoch.is_none() {
            return;
        }
        let end = self.now();
        store.push(Record::Gateway(Box::new(GatewayRecord {
            trace: self,
            end,
            outcome,
        })));
    }
}

fn elapsed(epoch: Option<Stopwatch>) -> u64 {
    epoch.map_or(0, |e| {
        u64::try_from(e.elapsed().as_nanos()).unwrap_or(u64::MAX)
    })
}

/// One request as the gateway recorded it.
#[derive(Debug, Clone)]
pub struct GatewayRecord {
    trace: GatewayTrace,
    end: u64,
    outcome: GatewayOutcome,
}

impl GatewayRecord {
    /// The request's trace id and when the gateway started on it.
    pub(crate) fn key(&self) -> (u128, u64) {
        (self.trace.context.trace_id, self.trace.start)
    }

    /// The request's spans (see the module docs), appended to `out`.
    pub(crate) fn spans(&self, config: Option<&GatewayConfig>, epoch: u64, out: &mut Vec<Span>) {
        let t = &self.trace;
        let o = &self.outcome;
        let name_of = |f: &dyn Fn(&GatewayConfig) -> Option<String>| config.and_then(f);
        let origin = SpanOrigin {
            trace_id: t.context.trace_id,
            component: "gateway".to_string(),
            epoch_unix_nanos: epoch,
        };
        let span =
            |id, parent, name, kind, start, end| origin.span(id, parent, name, kind, start, end);
        let client_span = (t.continued).then_some(t.context.parent_id);
        let mut root = span(
            t.span,
            client_span,
            format!("gateway {} {}", o.method, o.path),
            SpanKind::Server,
            t.start,
            self.end,
        );
        root.error = o.status >= 500 || o.rejected.is_some();
        let a = &mut root.attributes;
        a.insert("http.request.method", o.method.to_string());
        a.insert("url.path", o.path.clone());
        a.insert("http.response.status_code", o.status.to_string());
        a.insert("kong.request_id", o.request_id.clone());
        if let Some(route) = o
            .route
            .and_then(|r| name_of(&|c| Some(c.routes.get(r)?.name.clone())))
        {
            a.insert("kong.route", route);
        }
        if let Some(service) = o.service.and_then(|s| service_name(config, s)) {
            a.insert("kong.service", service);
        }
        if let Some(consumer) = o
            .consumer
            .and_then(|i| name_of(&|c| c.consumers.get(i)?.username.clone()))
        {
            a.insert("kong.consumer", consumer);
        }
        if let Some(reason) = o.rejected {
            a.insert("kong.rejected", reason.to_string());
        }
        out.push(root);

        // The stages: those configured for this request, and the one that refused it.
        for (i, stage) in STAGES.iter().enumerate().take(t.ran) {
            let refused = t.refused == Some(i);
            let configured = match (config, o.route, PluginKind::parse(stage.name())) {
                (Some(c), Some(route), Some(kind)) => match kind {
                    PluginKind::CircuitBreaker | PluginKind::Bulkhead => o
                        .service
                        .is_some_and(|s| c.service_plugin(kind, s).is_some()),
                    _ => c
                        .resolve_plugin(kind, route, o.service, o.consumer)
                        .is_some(),
                },
                _ => false,
            };
            if !(configured || refused) {
                continue;
            }
            let (start, end) = t.stages[i];
            let mut s = span(
                derived_span_id(t.span, i as u64 + 1),
                Some(t.span),
                stage.name().to_string(),
                SpanKind::Internal,
                start,
                end,
            );
            if refused {
                s.error = true;
                s.attributes.insert(
                    "decision",
                    format!("refused ({})", o.rejected.unwrap_or_default()),
                );
                s.attributes
                    .insert("http.response.status_code", o.status.to_string());
            } else {
                s.attributes.insert("decision", "passed".to_string());
            }
            if stage.name() == PluginKind::CircuitBreaker.name() {
                if let Some(state) = o.breaker_state {
                    s.attributes.insert("breaker.state", state.to_string());
                }
            }
            out.push(s);
        }

        // The upstream call and its attempts.
        let Some(u) = &t.upstream else { return };
        let upstream_id = derived_span_id(t.span, UPSTREAM_CHILD);
        let service = o
            .service
            .and_then(|s| service_name(config, s))
            .unwrap_or_else(|| "service".to_string());
        let mut up = span(
            upstream_id,
            Some(t.span),
            format!("upstream {service}"),
            SpanKind::Internal,
            u.start,
            u.end,
        );
        up.attributes
            .insert("attempts", u.attempts.len().to_string());
        up.error = u
            .attempts
            .last()
            .is_none_or(|(_, o)| !matches!(o, AttemptOutcome::Response(s) if *s < 500));
        out.push(up);
        if let Some(toxics) = &u.toxics {
            let mut s = span(
                derived_span_id(upstream_id, 0),
                Some(upstream_id),
                format!("toxics on gateway->{service}"),
                SpanKind::Internal,
                u.start,
                u.end,
            );
            s.attributes.insert("fault", toxics.clone());
            out.push(s);
        }
        let mut from = u.start;
        for (k, (end, outcome)) in u.attempts.iter().enumerate() {
            let mut s = span(
                derived_span_id(upstream_id, k as u64 + 1),
                Some(upstream_id),
                format!("attempt {}", k + 1),
                SpanKind::Client,
                from,
                *end,
            );
            s.error = !matches!(outcome, AttemptOutcome::Response(status) if *status < 500);
            s.attributes.insert("outcome", outcome.describe());
            s.attributes.insert("peer.service", service.clone());
            out.push(s);
            from = *end;
        }
    }
}

fn service_name(config: Option<&GatewayConfig>, index: usize) -> Option<String> {
    Some(config?.services.get(index)?.name.clone())
}
