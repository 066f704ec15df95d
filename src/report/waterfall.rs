//! The trace waterfall of a failing scenario (issue 13 item 4): the last requests its stack
//! saw, each drawn as one inline SVG — a row per span (gateway stages, upstream attempts,
//! sidecar hops, intention decisions, faults and toxics), indented under its parent, with a
//! bar on the trace's time axis.
//!
//! ```text
//!   Evidence.traces (TraceJson, redacted) ──waterfall_views()──► [WaterfallView] ──► templates/waterfall.html
//! ```
//! Only numbers and strings are made here; the template draws them. Passing scenarios keep no
//! traces, so a green report carries no waterfall at all.

use crate::trace::TraceJson;

/// Attributes the row's name already says, left out of its tooltip (the page stays light).
const NAMED: [&str; 3] = ["http.request.method", "url.path", "mesh.destination"];

const LABEL_WIDTH: f64 = 300.0;
const BAR_WIDTH: f64 = 420.0;
const ROW: f64 = 16.0;
const TOP: f64 = 18.0;

/// One trace, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterfallView {
    pub title: String,
    pub trace_id: String,
    pub duration: String,
    pub error: bool,
    pub width: String,
    pub height: String,
    /// Where the bars start.
    pub bars_x: String,
    pub rows: Vec<WaterfallRow>,
    /// Time-axis ticks: (x, label).
    pub ticks: Vec<(String, String)>,
}

/// One span's row.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterfallRow {
    pub y: String,
    pub text_y: String,
    pub label_x: String,
    pub label: String,
    pub x: String,
    pub w: String,
    /// `gateway`, `sidecar`, `attempt`, `fault`; `error` added when it failed.
    pub class: String,
    pub duration: String,
    /// Tooltip: component, timing and attributes, one per line.
    pub tooltip: String,
}

fn num(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `1.234 ms`, `250 µs`.
fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{:.0} µs", v * 1000.0)
    } else {
        format!("{v:.3} ms")
    }
}

/// The waterfalls a failing scenario shows, oldest first: its last request that failed
/// somewhere (an error span), and its last request when that is another one. `traces` is in
/// order, oldest first; the JSON report keeps them all.
pub fn waterfall_views(traces: &[TraceJson]) -> Vec<WaterfallView> {
    let last = traces.len().checked_sub(1);
    let last_error = traces.iter().rposition(|t| t.error);
    let mut picked: Vec<usize> = [last_error, last].into_iter().flatten().collect();
    picked.sort_unstable();
    picked.dedup();
    picked.into_iter().map(|i| view(&traces[i])).collect()
}

fn view(trace: &TraceJson) -> WaterfallView {
    let total = trace.duration_ms.max(0.001);
    let scale = BAR_WIDTH / total;
    let rows: Vec<WaterfallRow> = trace
        .spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let y = TOP + i as f64 * ROW;
            let x = LABEL_WIDTH + s.offset_ms * scale;
            let w = (s.duration_ms * scale).max(1.5);
            let class = if s.name.starts_with("fault") || s.name.starts_with("toxics") {
                "fault"
            } else if s.name.starts_with("attempt") {
                "attempt"
            } else if s.component == "gateway" {
                "gateway"
            } else {
                "sidecar"
            };
            let mut tooltip = vec![format!(
                "{} · {} · +{} for {}",
                s.name,
                s.component,
                ms(s.offset_ms),
                ms(s.duration_ms)
            )];
            tooltip.extend(
                s.attributes
                    .iter()
                    .filter(|(k, _)| !NAMED.contains(&k.as_str()))
                    .map(|(k, v)| format!("{k}: {v}")),
            );
            let label: String = s.name.chars().take(44).collect();
            WaterfallRow {
                y: num(y),
                text_y: num(y + 11.0),
                label_x: num(4.0 + 10.0 * s.depth.min(8) as f64),
                label,
                x: num(x),
                w: num(w.min(LABEL_WIDTH + BAR_WIDTH - x).max(1.5)),
                class: if s.error {
                    format!("{class} error")
                } else {
                    class.to_string()
                },
                duration: ms(s.duration_ms),
                tooltip: tooltip.join("\n"),
            }
        })
        .collect();
    let ticks = (0..=4)
        .map(|k| {
            let f = k as f64 / 4.0;
            (num(LABEL_WIDTH + f * BAR_WIDTH), ms(f * total))
        })
        .collect();
    WaterfallView {
        title: trace.name.clone(),
        trace_id: trace.trace_id.clone(),
        duration: ms(trace.duration_ms),
        error: trace.error,
        width: num(LABEL_WIDTH + BAR_WIDTH + 70.0),
        height: num(TOP + rows.len() as f64 * ROW + 4.0),
        bars_x: num(LABEL_WIDTH),
        rows,
        ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanJson, SpanKind};

    fn span(name: &str, depth: usize, offset: f64, duration: f64, error: bool) -> SpanJson {
        SpanJson {
            span_id: format!("{depth:016x}"),
            parent_id: None,
            name: name.into(),
            component: "gateway".into(),
            kind: SpanKind::Internal,
            depth,
            offset_ms: offset,
            duration_ms: duration,
            error,
            attributes: [("decision".to_string(), "passed".to_string())].into(),
        }
    }

    #[test]
    fn draws_each_span_on_the_traces_time_axis_indented_under_its_parent() {
        let trace = TraceJson {
            trace_id: "4bf9".into(),
            name: "gateway GET /x".into(),
            duration_ms: 10.0,
            error: true,
            spans: vec![
                span("gateway GET /x", 0, 0.0, 10.0, true),
                span("jwt", 1, 0.0, 0.05, false),
                span("attempt 1", 2, 5.0, 5.0, true),
            ],
        };
        let ok = TraceJson {
            error: false,
            trace_id: "ok".into(),
            ..trace.clone()
        };
        let views = waterfall_views(&[trace.clone(), trace.clone(), ok.clone()]);
        let shown: Vec<&str> = views.iter().map(|v| v.trace_id.as_str()).collect();
        assert_eq!(
            shown,
            ["4bf9", "ok"],
            "the last failed request, then the last one"
        );
        assert_eq!(waterfall_views(&[ok.clone(), trace.clone()]).len(), 1);
        assert!(waterfall_views(&[]).is_empty());
        let v = &views[0];
        assert_eq!(v.rows.len(), 3);
        assert_eq!(v.rows[0].x, "300");
        assert_eq!(v.rows[0].w, "420");
        assert_eq!(v.rows[2].x, "510");
        assert_eq!(v.rows[2].class, "attempt error");
        assert_eq!(v.rows[1].w, "2.1");
        assert_eq!(v.rows[2].label_x, "24");
        assert!(v.rows[1].tooltip.contains("decision: passed"));
        assert_eq!(v.ticks.last().map(|t| t.1.as_str()), Some("10.000 ms"));
    }
}
