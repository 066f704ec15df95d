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
//! - [`gateway`], [`sidecar`] — what each hop records (cheap) and the spans it expands to;
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
pub use sidecar::{InboundOutcome, InboundTrace};
pub use span::{group, Span, SpanJson, SpanKind, Trace, TraceJson};
pub use store::TraceStore;
