//! A sidecar's spans: each request its inbound stage serves (SPEC §6), with the intention it
//! decided and the fault it applied.
//!
//! ```text
//!   inbound value-architect            (server; parent: the caller's span from `traceparent`:
//!   │                                   the gateway's upstream span, or the calling
//!   │                                   service's own inbound span)
//!   ├─ intention value-committer → value-architect   (allowed / denied)
//!   └─ fault: abort 503 / delay 200ms / hang / reset …
//! ```
//! The request passed to the local service carries this span as parent, so the service's own
//! calls through the mesh become its children.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderMap, Method};

use super::context::{derived_span_id, new_span_id, TraceContext};
use super::span::{Span, SpanKind, SpanOrigin};
use super::store::{Record, TraceStore};
use crate::clock::Stopwatch;

/// One request's trace while a sidecar's inbound stage serves it.
#[derive(Debug, Clone)]
pub struct InboundTrace {
    epoch: Stopwatch,
    context: TraceContext,
    continued: bool,
    span: u64,
    start: u64,
    /// When the intention was decided (start, end) and whether it allowed the request.
    decided: Option<(u64, u64, bool)>,
    /// The faults applied (as the journal writes them), from when to when.
    fault: Option<(String, u64, u64)>,
}

/// What the inbound stage did with the request.
#[derive(Debug, Clone)]
pub struct InboundOutcome {
    pub service: Arc<str>,
    /// The caller's mesh identity, when the stack has a mesh.
    pub source: Option<Arc<str>>,
    pub method: Method,
    pub path: String,
    /// The status answered; `None` when a fault took the connection (hang, reset, malformed).
    pub status: Option<u16>,
}

impl InboundTrace {
    /// Starts the span of a request with these headers, when `store` records.
    pub fn begin(store: &TraceStore, headers: &HeaderMap) -> Option<InboundTrace> {
        if !store.is_recording() {
            return None;
        }
        let caller = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse);
        let epoch = store.epoch();
        Some(InboundTrace {
            epoch,
            context: caller.unwrap_or_else(|| TraceContext::start(0)),
            continued: caller.is_some(),
            span: new_span_id(),
            start: nanos(epoch),
            decided: None,
            fault: None,
        })
    }

    pub fn now(&self) -> u64 {
        nanos(self.epoch)
    }

    /// The intention check ran from `started` until now.
    pub fn decided(&mut self, started: u64, allowed: bool) {
        self.decided = Some((started, self.now(), allowed));
    }

    /// Faults `applied` act from `started` until `until`.
    pub fn fault(&mut self, applied: String, started: u64, until: u64) {
        self.fault = Some((applied, started, until));
    }

    /// The `traceparent` for the local service: this trace, this span as parent.
    pub fn local_header(&self) -> String {
        self.context.child(self.span).header()
    }

    /// Leaves the record in `store`.
    pub fn finish(self, store: &TraceStore, outcome: InboundOutcome) {
        let end = self.now();
        store.push(Record::Inbound(Box::new(InboundRecord {
            trace: self,
            end,
            outcome,
        })));
    }
}

fn nanos(epoch: Stopwatch) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One request as a sidecar recorded it.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    trace: InboundTrace,
    end: u64,
    outcome: InboundOutcome,
}

impl InboundRecord {
    /// The request's trace id and when the sidecar started on it.
    pub(crate) fn key(&self) -> (u128, u64) {
        (self.trace.context.trace_id, self.trace.start)
    }

    pub(crate) fn spans(&self, epoch: u64, out: &mut Vec<Span>) {
        let t = &self.trace;
        let o = &self.outcome;
        let origin = SpanOrigin {
            trace_id: t.context.trace_id,
            component: format!("{} sidecar", o.service),
            epoch_unix_nanos: epoch,
        };
        let span =
            |id, parent, name, kind, start, end| origin.span(id, parent, name, kind, start, end);
        let mut root = span(
            t.span,
            t.continued.then_some(t.context.parent_id),
            format!("inbound {} {} {}", o.service, o.method, o.path),
            SpanKind::Server,
            t.start,
            self.end,
        );
        let a = &mut root.attributes;
        a.insert("http.request.method", o.method.to_string());
        a.insert("url.path", o.path.clone());
        if let Some(source) = &o.source {
            a.insert("mesh.source", source.to_string());
        }
        a.insert("mesh.destination", o.service.to_string());
        match o.status {
            Some(status) => {
                a.insert("http.response.status_code", status.to_string());
                root.error = status >= 500;
            }
            None => {
                a.insert("outcome", "connection taken by a fault".to_string());
                root.error = true;
            }
        }
        out.push(root);
        if let Some((start, end, allowed)) = t.decided {
            let source = o.source.as_deref().unwrap_or("?");
            let mut s = span(
                derived_span_id(t.span, 1),
                Some(t.span),
                format!("intention {source} → {}", o.service),
                SpanKind::Internal,
                start,
                end,
            );
            s.error = !allowed;
            s.attributes.insert(
                "decision",
                if allowed { "allow" } else { "deny" }.to_string(),
            );
            out.push(s);
        }
        if let Some((applied, start, end)) = &t.fault {
            let mut s = span(
                derived_span_id(t.span, 2),
                Some(t.span),
                format!("fault: {applied}"),
                SpanKind::Internal,
                *start,
                *end,
            );
            s.error = true;
            s.attributes.insert("fault", applied.clone());
            out.push(s);
        }
    }
}

/// One connection a sidecar's upstream listener opens to another service (SPEC §6): from the
/// service's connect to the end of the mTLS handshake with the destination's sidecar.
///
/// ```text
///   outbound value-committer → value-architect   (client; parent: the committer's inbound
///   │                                             span, from the first request's traceparent)
///   └─ toxics on value-committer->value-architect (when the hop's link is faulted)
/// ```
/// The listener relays bytes (L4): it sees the `traceparent` of the first request on the
/// connection only, so later requests on a kept-alive connection have their destination's
/// inbound span (which names the source) but no outbound span of their own.
#[derive(Debug, Clone)]
pub struct OutboundTrace {
    epoch: Stopwatch,
    span: u64,
    start: u64,
}

/// How an outbound connection went.
#[derive(Debug, Clone)]
pub struct OutboundOutcome {
    pub source: Arc<str>,
    pub destination: String,
    /// The first request's trace context, when it had one and had arrived.
    pub context: Option<TraceContext>,
    /// `connected (mTLS)`, `connection refused`, the identity mismatch, …
    pub outcome: String,
    pub error: bool,
    /// What was on the hop's link, when it was faulted.
    pub toxics: Option<String>,
}

impl OutboundTrace {
    /// Starts the span of a connection, when `store` records.
    pub fn begin(store: &TraceStore) -> Option<OutboundTrace> {
        if !store.is_recording() {
            return None;
        }
        let epoch = store.epoch();
        Some(OutboundTrace {
            epoch,
            span: new_span_id(),
            start: nanos(epoch),
        })
    }

    /// Leaves the record in `store`.
    pub fn finish(self, store: &TraceStore, outcome: OutboundOutcome) {
        let end = nanos(self.epoch);
        store.push(Record::Outbound(Box::new(OutboundRecord {
            trace: self,
            end,
            outcome,
        })));
    }
}

/// The `traceparent` in an HTTP/1.1 request head (the bytes a connection starts with).
pub fn traceparent_in_head(head: &[u8]) -> Option<TraceContext> {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    String::from_utf8_lossy(&head[..end])
        .lines()
        .skip(1)
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("traceparent")
                .then(|| TraceContext::parse(value))?
        })
}

/// One outbound connection as a sidecar recorded it.
#[derive(Debug, Clone)]
pub struct OutboundRecord {
    trace: OutboundTrace,
    end: u64,
    outcome: OutboundOutcome,
}

impl OutboundRecord {
    /// The connection's trace id and when it started: a connection without a traced request
    /// gets a trace of its own, derived from its span so every read gives the same id.
    pub(crate) fn key(&self) -> (u128, u64) {
        let t = &self.trace;
        let trace_id = self.outcome.context.map_or_else(
            || u128::from(t.span) << 64 | u128::from(derived_span_id(t.span, 7)),
            |c| c.trace_id,
        );
        (trace_id, t.start)
    }

    pub(crate) fn spans(&self, epoch: u64, out: &mut Vec<Span>) {
        let t = &self.trace;
        let o = &self.outcome;
        let context = o.context;
        let (trace_id, _) = self.key();
        let mut attributes = BTreeMap::new();
        attributes.insert("outcome", o.outcome.clone());
        attributes.insert("mesh.source", o.source.to_string());
        attributes.insert("mesh.destination", o.destination.clone());
        let origin = SpanOrigin {
            trace_id,
            component: format!("{} sidecar", o.source),
            epoch_unix_nanos: epoch,
        };
        out.push(Span {
            error: o.error,
            attributes,
            ..origin.span(
                t.span,
                context.map(|c| c.parent_id),
                format!("outbound {} → {}", o.source, o.destination),
                SpanKind::Client,
                t.start,
                self.end,
            )
        });
        if let Some(toxics) = &o.toxics {
            out.push(Span {
                attributes: [("fault", toxics.clone())].into_iter().collect(),
                ..origin.span(
                    derived_span_id(t.span, 1),
                    Some(t.span),
                    format!("toxics on {}->{}", o.source, o.destination),
                    SpanKind::Internal,
                    t.start,
                    self.end,
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_traceparent_of_a_request_head() {
        let head = b"GET /x HTTP/1.1\r\nHost: a\r\nTraceParent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\nbody traceparent: no";
        let ctx = traceparent_in_head(head).expect("found");
        assert_eq!(ctx.parent_id, 0x00f067aa0ba902b7);
        assert_eq!(
            traceparent_in_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            None
        );
        assert_eq!(traceparent_in_head(b"\x16\x03\x01 binary"), None);
    }

    #[test]
    fn an_outbound_connection_hangs_under_the_callers_span() {
        let store = TraceStore::new();
        let trace = OutboundTrace::begin(&store).expect("recording");
        let caller = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        trace.finish(
            &store,
            OutboundOutcome {
                source: Arc::from("value-committer"),
                destination: "value-architect".into(),
                context: caller,
                outcome: "connection refused".into(),
                error: true,
                toxics: Some("slow: latency 100ms ±0ms downstream".into()),
            },
        );
        let spans = store.spans();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].name, "outbound value-committer → value-architect");
        assert_eq!(spans[0].parent_id, Some(0x00f067aa0ba902b7));
        assert_eq!(spans[0].trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert!(spans[0].error);
        assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    }
}
