//! Geometry of the percentile-distribution plot drawn as inline SVG in `index.html`.
//!
//! ```text
//!   percentiles (p, ms) ──► percentile_plot() ──► coordinates + ticks ──► templates/index.html <svg>
//! ```
//!
//! The x axis is the usual HdrHistogram "nines" scale: x = -log10(1 - p/100), so 0, 90, 99, 99.9
//! and 99.99 are evenly spaced and the tail gets the room it deserves. The y axis is linear
//! latency in milliseconds from 0 to a rounded maximum. Only numbers are produced here; the
//! template draws them (and escapes the labels).

use super::format::percentile_label;
use super::model::{LatencyObjective, PercentileValue};

pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = WIDTH - 32.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = HEIGHT - 44.0;
/// The scale never ends before 99.99 and never extends past 99.9999.
const MIN_NINES: f64 = 4.0;
const MAX_NINES: f64 = 6.0;

/// A labelled position on one axis (SVG user units).
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub pos: String,
    pub label: String,
}

/// One plotted percentile.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotPoint {
    pub x: String,
    pub y: String,
    /// `p99.9: 12.400 ms`, shown as the point's tooltip.
    pub label: String,
}

/// Everything the template needs to draw the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct PercentilePlot {
    pub width: String,
    pub height: String,
    pub left: String,
    pub right: String,
    pub top: String,
    pub bottom: String,
    /// Centre of the x axis, for the axis title.
    pub middle: String,
    /// `x,y x,y ...` for `<polyline points>`.
    pub polyline: String,
    pub points: Vec<PlotPoint>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    /// The objectives checked against the histogram: a line at the limit and a mark where the
    /// measured percentile sits.
    pub objectives: Vec<ObjectiveMark>,
}

/// One objective on the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveMark {
    /// Height of the limit line.
    pub y: String,
    /// The measured percentile's point.
    pub x: String,
    pub measured_y: String,
    /// `p99 < 150 ms: 398.1 ms, breached`.
    pub label: String,
    /// `met` or `breached` (CSS).
    pub class: &'static str,
}

fn coord(v: f64) -> String {
    format!("{v:.1}")
}

/// Position of percentile `p` on the nines scale, capped at `cap` (p = 100 sits at the cap).
fn nines(p: f64, cap: f64) -> f64 {
    if p >= 100.0 {
        cap
    } else {
        (-(1.0 - p.max(0.0) / 100.0).log10()).min(cap)
    }
}

/// A "nice" step (1, 2 or 5 × 10^k) giving about four intervals up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let nice = if residual <= 1.0 {
        1.0
    } else if residual <= 2.0 {
        2.0
    } else if residual <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn decimals_for(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else {
        // 0.5 → 1, 0.05 → 2, 0.2 → 1 (the epsilon absorbs 0.1 = 10^-0.99999...)
        (-step.log10() - 1e-9).ceil() as usize
    }
}

/// The plot for a histogram's percentiles, or `None` when there is nothing to draw.
pub fn percentile_plot(
    values: &[PercentileValue],
    objectives: &[LatencyObjective],
) -> Option<PercentilePlot> {
    let mut values: Vec<PercentileValue> = values
        .iter()
        .copied()
        .filter(|v| v.percentile.is_finite() && v.value_ms.is_finite() && v.value_ms >= 0.0)
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.percentile.total_cmp(&b.percentile));

    let tail = values
        .iter()
        .filter(|v| v.percentile < 100.0)
        .map(|v| nines(v.percentile, MAX_NINES))
        .fold(0.0, f64::max);
    // 99.99 sits at 4.000000000000005: do not let rounding noise add an empty decade.
    let x_max = (tail - 1e-6).ceil().clamp(MIN_NINES, MAX_NINES);
    let y_top = values
        .iter()
        .map(|v| v.value_ms)
        .chain(objectives.iter().map(|o| o.below_ms))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (y_max, y_step) = if y_top <= 0.0 {
        (1.0, 0.25)
    } else {
        let step = nice_step(y_top);
        ((y_top / step).ceil() * step, step)
    };

    let x_at = |p: f64| LEFT + (RIGHT - LEFT) * nines(p, x_max) / x_max;
    let y_at = |ms: f64| BOTTOM - (BOTTOM - TOP) * (ms / y_max);

    let points: Vec<PlotPoint> = values
        .iter()
        .map(|v| PlotPoint {
            x: coord(x_at(v.percentile)),
            y: coord(y_at(v.value_ms)),
            label: format!("p{}: {:.3} ms", percentile_label(v.percentile), v.value_ms),
        })
        .collect();
    let polyline = points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");

    let mut x_ticks = vec![
        Tick {
            pos: coord(x_at(0.0)),
            label: "0%".into(),
        },
        Tick {
            pos: coord(x_at(50.0)),
            label: "50%".into(),
        },
    ];
    let mut p = 90.0;
    for _ in 0..(x_max as usize) {
        x_ticks.push(Tick {
            pos: coord(x_at(p)),
            label: format!("{}%", percentile_label(p)),
        });
        p = 100.0 - (100.0 - p) / 10.0;
    }

    let decimals = decimals_for(y_step);
    let steps = (y_max / y_step).round() as usize;
    let y_ticks = (0..=steps)
        .map(|i| {
            let ms = y_step * i as f64;
            Tick {
                pos: coord(y_at(ms)),
                label: format!("{ms:.decimals$}"),
            }
        })
        .collect();

    let objectives = objectives
        .iter()
        .filter(|o| o.below_ms.is_finite() && o.measured_ms.is_finite())
        .map(|o| ObjectiveMark {
            y: coord(y_at(o.below_ms)),
            x: coord(x_at(o.percentile)),
            measured_y: coord(y_at(o.measured_ms.min(y_max))),
            label: format!(
                "p{} < {:.1} ms: {:.1} ms, {}",
                percentile_label(o.percentile),
                o.below_ms,
                o.measured_ms,
                if o.met { "met" } else { "breached" }
            ),
            class: if o.met { "met" } else { "breached" },
        })
        .collect();

    Some(PercentilePlot {
        width: coord(WIDTH),
        height: coord(HEIGHT),
        left: coord(LEFT),
        right: coord(RIGHT),
        top: coord(TOP),
        bottom: coord(BOTTOM),
        middle: coord((LEFT + RIGHT) / 2.0),
        polyline,
        points,
        x_ticks,
        y_ticks,
        objectives,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(percentile: f64, value_ms: f64) -> PercentileValue {
        PercentileValue {
            percentile,
            value_ms,
        }
    }

    #[test]
    fn spaces_the_nines_evenly() {
        let plot = percentile_plot(
            &[pv(0.0, 1.0), pv(90.0, 2.0), pv(99.0, 3.0), pv(99.9, 4.0)],
            &[],
        )
        .expect("plot");
        let xs: Vec<f64> = plot
            .points
            .iter()
            .map(|p| p.x.parse().expect("number"))
            .collect();
        let step = xs[1] - xs[0];
        assert!((xs[2] - xs[1] - step).abs() < 0.2 && (xs[3] - xs[2] - step).abs() < 0.2);
        let labels: Vec<_> = plot.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0%", "50%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn rounds_the_latency_axis_up_to_a_nice_value() {
        let plot = percentile_plot(&[pv(50.0, 3.0), pv(100.0, 43.0)], &[]).expect("plot");
        let labels: Vec<_> = plot.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "20", "40", "60"]);
        let plot = percentile_plot(&[pv(50.0, 0.12), pv(99.0, 0.31)], &[]).expect("plot");
        let labels: Vec<_> = plot.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.1", "0.2", "0.3", "0.4"]);
    }

    #[test]
    fn an_objective_is_a_line_at_its_limit_and_a_mark_at_the_measured_percentile() {
        let objective = LatencyObjective {
            percentile: 99.0,
            below_ms: 150.0,
            measured_ms: 398.1,
            met: false,
        };
        let plot = percentile_plot(&[pv(50.0, 31.0), pv(99.0, 398.1)], &[objective]).expect("plot");
        let mark = &plot.objectives[0];
        assert_eq!(mark.class, "breached");
        assert_eq!(mark.label, "p99 < 150.0 ms: 398.1 ms, breached");
        assert_eq!(
            (&mark.x, &mark.measured_y),
            (&plot.points[1].x, &plot.points[1].y)
        );
        let (limit, top): (f64, f64) = (mark.y.parse().unwrap(), plot.points[1].y.parse().unwrap());
        assert!(
            limit > top,
            "the limit line lies below the breaching point (SVG y grows down)"
        );
        // A limit above every value still fits on the axis.
        let plot = percentile_plot(
            &[pv(99.0, 3.0)],
            &[LatencyObjective {
                met: true,
                measured_ms: 3.0,
                ..objective
            }],
        )
        .unwrap();
        let top: f64 = plot.objectives[0].y.parse().unwrap();
        assert!(top >= TOP, "{top}");
    }

    #[test]
    fn draws_nothing_without_finite_values() {
        assert!(percentile_plot(&[], &[]).is_none());
        assert!(percentile_plot(&[pv(f64::NAN, 1.0)], &[]).is_none());
    }
}
