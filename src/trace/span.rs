//! The neutral span model every reader shares (the report, the console's JSON, OTLP export),
//! and the grouping of spans into traces.
//!
//! ```text
//!   store records ──expand──► [Span] ──group()──► [Trace] (spans in tree order, newest trace first)
//! ```
//! Times are nanoseconds since the recording store's epoch (real time: a waterfall shows what
//! the request really waited, jumps of the stack clock aside); [`Span::start_unix_nanos`] adds
//! the epoch's wall time for exporters.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::context::{span_hex, trace_hex};

/// What kind of work a span is (OpenTelemetry's `SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    /// A hop receiving a request (the gateway, a sidecar's inbound).
    Server,
    /// A call to the next hop (the gateway's upstream attempts).
    Client,
    /// A step inside a hop (a pipeline stage, an intention decision, a fault).
    Internal,
}

/// One timed piece of work on one hop.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: u128,
    pub span_id: u64,
    /// The span this one is part of; `None` for a root. A hop's first span points at the
    /// sender's span (from `traceparent`), which may live in another process.
    pub parent_id: Option<u64>,
    pub name: String,
    /// Which process recorded it: `gateway`, `value-architect sidecar`.
    pub component: String,
    pub kind: SpanKind,
    /// Nanoseconds since the store's epoch.
    pub start: u64,
    pub duration: u64,
    /// The epoch's wall time, in nanoseconds since 1970.
    pub epoch_unix_nanos: u64,
    /// The span ended the request or failed (a refusal, an error status, a failed attempt).
    pub error: bool,
    /// What the span decided or saw (`http.status_code`, `outcome`, `fault`); never a secret.
    pub attributes: BTreeMap<&'static str, String>,
}

/// What every span of one hop's record shares: its trace, the process that recorded it and the
/// store's epoch.
pub(crate) struct SpanOrigin {
    pub trace_id: u128,
    pub component: String,
    pub epoch_unix_nanos: u64,
}

impl SpanOrigin {
    /// A span from `start` to `end` (nanoseconds since the epoch), not an error, with no
    /// attributes yet.
    pub fn span(
        &self,
        span_id: u64,
        parent_id: Option<u64>,
        name: String,
        kind: SpanKind,
        start: u64,
        end: u64,
    ) -> Span {
        Span {
            trace_id: self.trace_id,
            span_id,
            parent_id,
            name,
            component: self.component.clone(),
            kind,
            start,
            duration: end.saturating_sub(start),
            epoch_unix_nanos: self.epoch_unix_nanos,
            error: false,
            attributes: BTreeMap::new(),
        }
    }
}

impl Span {
    /// Start in nanoseconds since 1970 (OTLP's `start_time_unix_nano`).
    pub fn start_unix_nanos(&self) -> u64 {
        self.epoch_unix_nanos.saturating_add(self.start)
    }

    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.duration)
    }
}

/// The spans of one trace, parents before children.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub trace_id: u128,
    /// Spans in tree order (depth-first, siblings by start); `depth` of each in `depths`.
    pub spans: Vec<Span>,
    pub depths: Vec<usize>,
}

impl Trace {
    /// The earliest start.
    pub fn start(&self) -> u64 {
        self.spans.iter().map(|s| s.start).min().unwrap_or(0)
    }

    /// From the earliest start to the latest end.
    pub fn duration(&self) -> u64 {
        let end = self.spans.iter().map(Span::end).max().unwrap_or(0);
        end.saturating_sub(self.start())
    }

    /// The first root's name (`GET /api/v1/value-models`).
    pub fn name(&self) -> &str {
        self.spans.first().map_or("", |s| s.name.as_str())
    }

    /// Whether any span failed.
    pub fn error(&self) -> bool {
        self.spans.iter().any(|s| s.error)
    }

    /// The console's and the report's JSON: ids in hex, times in milliseconds from the trace's
    /// start.
    pub fn to_json(&self) -> TraceJson {
        let start = self.start();
        TraceJson {
            trace_id: trace_hex(self.trace_id),
            name: self.name().to_string(),
            duration_ms: millis(self.duration()),
            error: self.error(),
            spans: self
                .spans
                .iter()
                .zip(&self.depths)
                .map(|(s, &depth)| SpanJson {
                    span_id: span_hex(s.span_id),
                    parent_id: s.parent_id.map(span_hex),
                    name: s.name.clone(),
                    component: s.component.clone(),
                    kind: s.kind,
                    depth,
                    offset_ms: millis(s.start.saturating_sub(start)),
                    duration_ms: millis(s.duration),
                    error: s.error,
                    attributes: s
                        .attributes
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Milliseconds with microsecond precision.
fn millis(nanos: u64) -> f64 {
    (nanos / 1000) as f64 / 1000.0
}

/// A trace as JSON (`GET /traces`, `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceJson {
    pub trace_id: String,
    pub name: String,
    pub duration_ms: f64,
    pub error: bool,
    pub spans: Vec<SpanJson>,
}

/// A span as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanJson {
    pub span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub name: String,
    pub component: String,
    pub kind: SpanKind,
    /// Nesting in the waterfall (0 for a root).
    pub depth: usize,
    /// Milliseconds since the trace's first span started.
    pub offset_ms: f64,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub error: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Groups spans by trace, newest trace (by first start) first; in each, parents before their
/// children. A span whose parent is not among the spans (the client's, another process's) is a
/// root of the waterfall.
pub fn group(spans: Vec<Span>) -> Vec<Trace> {
    let mut by_trace: HashMap<u128, Vec<Span>> = HashMap::new();
    for span in spans {
        by_trace.entry(span.trace_id).or_default().push(span);
    }
    let mut traces: Vec<Trace> = by_trace
        .into_iter()
        .map(|(trace_id, spans)| tree_order(trace_id, spans))
        .collect();
    traces.sort_by_key(|t| std::cmp::Reverse(t.start()));
    traces
}

fn tree_order(trace_id: u128, mut spans: Vec<Span>) -> Trace {
    spans.sort_by_key(|s| (s.start, s.span_id));
    let ids: std::collections::HashSet<u64> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_id.filter(|p| ids.contains(p) && *p != s.span_id) {
            Some(p) => children.entry(p).or_default().push(i),
            None => roots.push(i),
        }
    }
    let mut order = Vec::with_capacity(spans.len());
    let mut seen = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push((i, depth));
        if let Some(kids) = children.get(&spans[i].span_id) {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    // A cycle of parent links leaves spans unvisited: show them as roots.
    for (i, s) in seen.iter().enumerate() {
        if !s {
            order.push((i, 0));
        }
    }
    let depths = order.iter().map(|&(_, d)| d).collect();
    let mut slots: Vec<Option<Span>> = spans.into_iter().map(Some).collect();
    Trace {
        trace_id,
        spans: order.iter().filter_map(|&(i, _)| slots[i].take()).collect(),
        depths,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u128, id: u64, parent: Option<u64>, start: u64, duration: u64) -> Span {
        Span {
            trace_id: trace,
            span_id: id,
            parent_id: parent,
            name: format!("s{id}"),
            component: "gateway".into(),
            kind: SpanKind::Internal,
            start,
            duration,
            epoch_unix_nanos: 0,
            error: false,
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn groups_by_trace_newest_first_with_parents_before_children() {
        let traces = group(vec![
            span(1, 3, Some(2), 30, 5),
            span(1, 2, Some(99), 10, 50),
            span(1, 4, Some(2), 20, 5),
            span(2, 7, None, 100, 1),
        ]);
        assert_eq!(traces.len(), 2);
        assert_eq!(traces[0].trace_id, 2);
        let names: Vec<&str> = traces[1].spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s2", "s4", "s3"]);
        assert_eq!(traces[1].depths, [0, 1, 1]);
        assert_eq!(traces[1].duration(), 50);
        let json = traces[1].to_json();
        assert_eq!(json.spans[1].offset_ms, 0.0);
        assert_eq!(json.spans[0].parent_id.as_deref(), Some("0000000000000063"));
    }

    #[test]
    fn a_parent_cycle_still_shows_every_span() {
        let traces = group(vec![span(1, 1, Some(2), 0, 1), span(1, 2, Some(1), 1, 1)]);
        assert_eq!(traces[0].spans.len(), 2);
    }
}
