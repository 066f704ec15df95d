//! The latency-over-time plot of a load run (issue 13 item 5): p50 and p99 of each 1 s interval
//! of the run's HdrHistogram log, the objectives checked against the run as lines, and the
//! scenario's breaker transitions as markers on the same time axis.
//!
//! ```text
//!   HistogramReport.hlog ──load::hlog::read_intervals──► [IntervalStats] ─┐
//!   HistogramReport.objectives, .stack_start_ms ─────────────────────────┼─► latency_time_plot() ──► templates/latency_time.html
//!   the scenario's BreakerTimeline (stack-clock times) ──────────────────┘
//! ```
//!
//! The x axis is seconds since the run began. Breaker transitions are on the stack clock; the
//! run's own start on that clock (`stack_start_ms`) puts them on the run's axis. Only numbers are
//! produced here; the template draws them.

use super::evidence::BreakerTimeline;
use super::model::HistogramReport;
use crate::load::hlog::{read_intervals, IntervalStats};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = WIDTH - 24.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = HEIGHT - 36.0;

/// Everything the template draws.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyTimePlot {
    pub width: String,
    pub height: String,
    pub left: String,
    pub right: String,
    pub top: String,
    pub bottom: String,
    pub p50: String,
    pub p99: String,
    pub x_ticks: Vec<(String, String)>,
    pub y_ticks: Vec<(String, String)>,
    pub objectives: Vec<Line>,
    pub transitions: Vec<Marker>,
}

/// A horizontal objective line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub y: String,
    pub label: String,
    pub class: &'static str,
}

/// A breaker transition at `x`.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub x: String,
    pub label: String,
    /// The state entered (`open`, `half-open`, `closed`) for CSS.
    pub class: &'static str,
}

fn coord(v: f64) -> String {
    format!("{v:.1}")
}

/// A "nice" step (1, 2 or 5 × 10^k) giving about four intervals up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 4.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let nice = [1.0, 2.0, 5.0]
        .into_iter()
        .find(|n| residual <= *n)
        .unwrap_or(10.0);
    nice * magnitude
}

/// The plot of `h`'s intervals, with `breakers`' transitions during the run; `None` without at
/// least two intervals (a line needs two points).
pub fn latency_time_plot(
    h: &HistogramReport,
    breakers: &[BreakerTimeline],
) -> Option<LatencyTimePlot> {
    let intervals = read_intervals(h.hlog.as_deref()?).ok()?;
    plot(&intervals, h, breakers)
}

fn plot(
    intervals: &[IntervalStats],
    h: &HistogramReport,
    breakers: &[BreakerTimeline],
) -> Option<LatencyTimePlot> {
    let intervals: Vec<&IntervalStats> = intervals.iter().filter(|i| i.count > 0).collect();
    if intervals.len() < 2 {
        return None;
    }
    // Each point sits at the end of its interval (when its numbers were known).
    let ends: Vec<f64> = intervals.iter().map(|i| i.start_s + 1.0).collect();
    let x_max = ends.iter().copied().fold(1.0, f64::max);
    let y_top = intervals
        .iter()
        .map(|i| i.p99_ms)
        .chain(h.objectives.iter().map(|o| o.below_ms))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y_step = nice_step(y_top.max(0.001));
    let y_max = (y_top / y_step).ceil().max(1.0) * y_step;
    let x_at = |s: f64| LEFT + (RIGHT - LEFT) * (s / x_max).clamp(0.0, 1.0);
    let y_at = |ms: f64| BOTTOM - (BOTTOM - TOP) * (ms / y_max).clamp(0.0, 1.0);
    let line = |pick: fn(&IntervalStats) -> f64| {
        intervals
            .iter()
            .zip(&ends)
            .map(|(i, s)| format!("{},{}", coord(x_at(*s)), coord(y_at(pick(i)))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let x_step = nice_step(x_max);
    let x_ticks = (0..=((x_max / x_step).floor() as usize))
        .map(|k| {
            let s = x_step * k as f64;
            (coord(x_at(s)), format!("{s:.0} s"))
        })
        .collect();
    let decimals = if y_step >= 1.0 { 0 } else { 2 };
    let y_ticks = (0..=((y_max / y_step).round() as usize))
        .map(|k| {
            let ms = y_step * k as f64;
            (coord(y_at(ms)), format!("{ms:.decimals$}"))
        })
        .collect();
    let objectives = h
        .objectives
        .iter()
        .map(|o| Line {
            y: coord(y_at(o.below_ms)),
            label: format!(
                "p{} < {:.1} ms",
                super::format::percentile_label(o.percentile),
                o.below_ms
            ),
            class: if o.met { "met" } else { "breached" },
        })
        .collect();
    let transitions = match h.stack_start_ms {
        None => Vec::new(),
        Some(start_ms) => breakers
            .iter()
            .flat_map(|b| b.transitions.iter().map(move |t| (b, t)))
            .filter_map(|(b, t)| {
                let s = (t.at.as_secs_f64() * 1000.0 - start_ms) / 1000.0;
                (0.0..=x_max).contains(&s).then(|| Marker {
                    x: coord(x_at(s)),
                    label: format!(
                        "{}: {} → {} at {s:.1} s ({})",
                        b.service,
                        t.from.as_str(),
                        t.to.as_str(),
                        t.reason
                    ),
                    class: t.to.class(),
                })
            })
            .collect(),
    };
    Some(LatencyTimePlot {
        width: coord(WIDTH),
        height: coord(HEIGHT),
        left: coord(LEFT),
        right: coord(RIGHT),
        top: coord(TOP),
        bottom: coord(BOTTOM),
        p50: line(|i| i.p50_ms),
        p99: line(|i| i.p99_ms),
        x_ticks,
        y_ticks,
        objectives,
        transitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::evidence::{BreakerState, BreakerTransition};
    use crate::report::model::LatencyObjective;
    use std::time::Duration;

    fn interval(start_s: f64, p99_ms: f64) -> IntervalStats {
        IntervalStats {
            start_s,
            count: 10,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            max_ms: p99_ms,
        }
    }

    #[test]
    fn draws_each_interval_the_objective_and_the_transitions_inside_the_run() {
        let h = HistogramReport {
            objectives: vec![LatencyObjective {
                percentile: 99.0,
                below_ms: 50.0,
                measured_ms: 80.0,
                met: false,
            }],
            stack_start_ms: Some(10_000.0),
            ..HistogramReport::default()
        };
        let breakers = vec![BreakerTimeline {
            service: "value-architect".into(),
            transitions: [
                (11_500, BreakerState::Open),
                (60_000, BreakerState::HalfOpen),
            ]
            .into_iter()
            .map(|(ms, to)| BreakerTransition {
                from: BreakerState::Closed,
                to,
                at: Duration::from_millis(ms),
                reason: "5 consecutive failures".into(),
            })
            .collect(),
        }];
        let plot = plot(
            &[
                interval(0.0, 20.0),
                interval(1.0, 80.0),
                interval(2.0, 30.0),
            ],
            &h,
            &breakers,
        )
        .expect("a plot");
        assert_eq!(plot.p99.split(' ').count(), 3);
        assert_eq!(plot.objectives[0].class, "breached");
        // Only the transition 1.5 s into the run; the one 50 s later is past its end.
        assert_eq!(plot.transitions.len(), 1);
        assert_eq!(plot.transitions[0].class, "open");
        assert!(
            plot.transitions[0].label.contains("at 1.5 s"),
            "{}",
            plot.transitions[0].label
        );
        let x: f64 = plot.transitions[0].x.parse().unwrap();
        assert!((x - (LEFT + (RIGHT - LEFT) * 1.5 / 3.0)).abs() < 0.2, "{x}");
        assert!(plot.y_ticks.last().unwrap().1 == "80", "{:?}", plot.y_ticks);
    }

    #[test]
    fn one_interval_is_no_line() {
        assert!(plot(&[interval(0.0, 1.0)], &HistogramReport::default(), &[]).is_none());
    }
}
