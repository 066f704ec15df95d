//! Pass/fail criteria of a load run, as k6 states them: latency thresholds (`p99<250ms`,
//! `p(95)<200`, `max<=2s`, `avg<100ms`) on the responses' latency, and a maximum error ratio.
//! `gauntlet load` exits 1 when one is breached.
//!
//! ```text
//!   "p99<250ms" ─► Threshold ─┐
//!   LoadResult.latency ───────┼─► judge ─► Verdict { measured, passed }
//!   Summary.error_ratio() ────┘
//! ```
//! A number without a unit is milliseconds, as in k6 (`p(95)<200`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::summary::{human_latency, percentile, Summary};
use crate::units::parse_duration;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    Percentile(f64),
    Min,
    Mean,
    Max,
}

/// How the measured value must compare with the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Below,
    AtMost,
    Above,
    AtLeast,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
        }
    }

    fn holds(self, measured: Duration, limit: Duration) -> bool {
        match self {
            Comparison::Below => measured < limit,
            Comparison::AtMost => measured <= limit,
            Comparison::Above => measured > limit,
            Comparison::AtLeast => measured >= limit,
        }
    }
}

/// A latency threshold: `p99<250ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub statistic: Statistic,
    pub comparison: Comparison,
    pub limit: Duration,
    text: String,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!("`{text}` is not a threshold: {why} (e.g. p99<250ms, p(95)<200, max<=2s, avg<100ms)")
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let at = compact.find(['<', '>']).ok_or_else(|| bad("no < or >"))?;
        let (name, rest) = compact.split_at(at);
        let (comparison, limit) = if let Some(l) = rest.strip_prefix("<=") {
            (Comparison::AtMost, l)
        } else if let Some(l) = rest.strip_prefix(">=") {
            (Comparison::AtLeast, l)
        } else if let Some(l) = rest.strip_prefix('<') {
            (Comparison::Below, l)
        } else {
            (Comparison::Above, &rest[1..])
        };
        let name = name.to_ascii_lowercase();
        let statistic = match name.as_str() {
            "min" => Statistic::Min,
            "max" => Statistic::Max,
            "avg" | "mean" => Statistic::Mean,
            "med" | "median" => Statistic::Percentile(50.0),
            _ => {
                let p = name
                    .strip_prefix('p')
                    .map(|p| p.trim_start_matches('(').trim_end_matches(')'))
                    .and_then(|p| p.parse::<f64>().ok())
                    .ok_or_else(|| bad("measure p50, p(95), p99.9, min, med, avg or max"))?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(bad("a percentile is between 0 and 100"));
                }
                Statistic::Percentile(p)
            }
        };
        let limit = if !limit.is_empty() && limit.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            // k6 writes milliseconds without a unit.
            let ms: f64 = limit
                .parse()
                .map_err(|_| bad("the limit is not a number"))?;
            Duration::try_from_secs_f64(ms / 1000.0)
                .map_err(|_| bad("the limit is not a duration"))?
        } else {
            parse_duration(limit).map_err(|_| bad("the limit is not a duration"))?
        };
        Ok(Threshold {
            statistic,
            comparison,
            limit,
            text: text.trim().to_string(),
        })
    }
}

/// One criterion judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The criterion as written (`p99<250ms`, `error ratio <= 1.00%`).
    pub criterion: String,
    /// What was measured (`312 µs`, `2.00%`), or why nothing could be.
    pub measured: String,
    pub passed: bool,
}

/// Judges `thresholds` on the responses' latency `histogram`, and the error ratio of `summary`
/// against `max_error_ratio`.
pub fn judge(
    thresholds: &[Threshold],
    histogram: &Histogram<u64>,
    summary: &Summary,
    max_error_ratio: f64,
) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict {
        criterion: format!("error ratio <= {:.2}%", max_error_ratio * 100.0),
        measured: format!(
            "{:.2}% ({} of {} requests failed: not {}, or no response)",
            summary.error_ratio() * 100.0,
            summary.requests - summary.successes,
            summary.requests,
            summary.expected
        ),
        passed: summary.error_ratio() <= max_error_ratio + 1e-12,
    }];
    for t in thresholds {
        if histogram.is_empty() {
            verdicts.push(Verdict {
                criterion: t.to_string(),
                measured: "no responses to measure".to_string(),
                passed: false,
            });
            continue;
        }
        let measured = match t.statistic {
            Statistic::Percentile(p) => percentile(histogram, p),
            Statistic::Min => Duration::from_micros(histogram.min()),
            Statistic::Max => Duration::from_micros(histogram.max()),
            Statistic::Mean => Duration::from_secs_f64(histogram.mean() / 1e6),
        };
        verdicts.push(Verdict {
            criterion: format!(
                "{} ({} {})",
                t,
                t.comparison.symbol(),
                human_latency(t.limit)
            ),
            measured: human_latency(measured),
            passed: t.comparison.holds(measured, t.limit),
        });
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_as_k6_writes_them_and_as_people_do() {
        let t = |s: &str| s.parse::<Threshold>().unwrap();
        assert_eq!(t("p99<250ms").statistic, Statistic::Percentile(99.0));
        assert_eq!(t("p99<250ms").limit, Duration::from_millis(250));
        assert_eq!(t("p(95)<200").limit, Duration::from_millis(200));
        assert_eq!(t("p(95)<200").statistic, Statistic::Percentile(95.0));
        assert_eq!(t("P99.9 <= 1s").comparison, Comparison::AtMost);
        assert_eq!(t("max<2s").statistic, Statistic::Max);
        assert_eq!(t("avg < 100 ms").statistic, Statistic::Mean);
        assert_eq!(t("med<10ms").statistic, Statistic::Percentile(50.0));
        assert_eq!(t("p50>1ms").comparison, Comparison::Above);
        for bad in ["p99", "p101<1s", "fast<1s", "p99<soon"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_threshold_holds_or_breaks_on_the_histogram_both_sides() {
        let mut h = crate::load::collector::new_histogram();
        for ms in 1..=100u64 {
            h.record(ms * 1000).unwrap();
        }
        let summary = Summary {
            requests: 100,
            statuses: vec![(200, 100)],
            errors: vec![],
            expected: Default::default(),
            successes: 100,
            success_ratio: 1.0,
            achieved_rate: 0.0,
            target_rate: None,
            elapsed: Duration::ZERO,
            latency: Default::default(),
            service_time: Default::default(),
            by_class: vec![],
        };
        let thresholds: Vec<Threshold> = ["p99<100ms", "p99<98ms", "max<=101ms", "min>2ms"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let verdicts = judge(&thresholds, &h, &summary, 0.0);
        let passed: Vec<bool> = verdicts.iter().map(|v| v.passed).collect();
        assert_eq!(passed, [true, true, false, true, false]);
        let empty = crate::load::collector::new_histogram();
        let none = judge(&thresholds[..1], &empty, &summary, 0.0);
        assert!(!none[1].passed && none[1].measured == "no responses to measure");
    }

    #[test]
    fn the_error_ratio_is_judged_against_its_maximum() {
        let summary = |successes: u64| Summary {
            requests: 100,
            statuses: vec![(200, successes), (401, 100 - successes)],
            errors: vec![],
            expected: Default::default(),
            successes,
            success_ratio: successes as f64 / 100.0,
            achieved_rate: 0.0,
            target_rate: None,
            elapsed: Duration::ZERO,
            latency: Default::default(),
            service_time: Default::default(),
            by_class: vec![],
        };
        let h = crate::load::collector::new_histogram();
        assert!(judge(&[], &h, &summary(100), 0.0)[0].passed);
        assert!(!judge(&[], &h, &summary(99), 0.0)[0].passed);
        assert!(judge(&[], &h, &summary(99), 0.01)[0].passed);
        assert!(!judge(&[], &h, &summary(98), 0.01)[0].passed);
    }
}
