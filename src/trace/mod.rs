//! Traces (issue 13 item 4, issue 19 item 2): spans recorded on every hop of a request —
//! the gateway's pipeline stages and upstream attempts, each sidecar's inbound hop with its
//! intention decision and the faults and toxics applied — linked parent to child through the
//! W3C `traceparent` the hops already pass on.
//!
//! ```text
//!   gateway pipeline ──GatewayTrace──┐                       ┌─► report (waterfall per failing
//!   sidecar inbound ──InboundTrace───┴─► TraceStore (ring) ──┼─► scenario, spans in results.json)
//!                                        one per stack       ├─► control API GET /traces ─► console
//!                                                            └─► OTLP over HTTP (otlp)
//! ```
//! - [`context`] — `traceparent` parsing and span ids;
//! - [`gateway`], [`sidecar`] — what each hop records (cheap) and the spans it expands to
//!   (a sidecar: its inbound requests, and its outbound connections to other services);
//! - [`store`] — the bounded store; [`span`] — the neutral span and trace model;
//! - [`otlp`] — export to an OpenTelemetry collector on loopback.
//!
//! Spans never hold a secret: no header values, no query strings, no credentials; consumers
//! appear by username.

pub mod context;
pub mod gateway;
pub mod otlp;
pub mod sidecar;
pub mod span;
pub mod store;

pub use context::TraceContext;
pub use gateway::{GatewayOutcome, GatewayTrace};
pub use sidecar::{InboundOutcome, InboundTrace, OutboundOutcome, OutboundTrace};
pub use span::{group, Span, SpanJson, SpanKind, Trace, TraceJson};
pub use store::TraceStore;

/// What a faulted link does to the bytes crossing it (its toxics, or `down`), for a span;
/// `None` on the fast path (no toxic, up: one atomic load).
pub fn link_faults(link: &crate::link::Link) -> Option<String> {
    if !link.is_active() {
        return None;
    }
    let mut what: Vec<String> = link.toxics().iter().map(|t| t.toxic.describe()).collect();
    if !link.is_enabled() {
        what.insert(0, "down".to_string());
    }
    Some(what.join("; "))
}
