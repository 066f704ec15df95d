//! Pure summaries of a [`LoadResult`]: counts, achieved rate, percentiles (of responses; requests
//! that got none are counted apart), success and error ratios (the shared outcome classifier:
//! 2xx/3xx unless the run expects other statuses), errors by kind; the text table `gauntlet load`
//! prints; and the report's [`HistogramReport`].
//!
//! ```text
//!   LoadResult ──► summarize() ──► Summary ──► table() (CLI) · step assertions
//!              └─► histogram_report() ──► RunReport.histograms (index.html plot, results.json, .hlog)
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::collector::{ErrorKind, LoadResult};
use crate::outcome::ExpectedStatuses;
use crate::report::model::{HistogramReport, PercentileValue};

/// Percentiles of one latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    pub min: Duration,
    pub mean: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

/// Everything a person or a step wants to know about a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Requests that ended, with a response or an error.
    pub requests: u64,
    /// Responses by status, ascending.
    pub statuses: Vec<(u16, u64)>,
    /// Transport errors by kind.
    pub errors: Vec<(ErrorKind, u64)>,
    /// The statuses that count as a success (2xx, 3xx unless the run said otherwise).
    pub expected: ExpectedStatuses,
    /// Responses with an expected status.
    pub successes: u64,
    /// Successes over all requests (a request without a response is never one).
    pub success_ratio: f64,
    /// Requests started per second (from the first send to the last).
    pub achieved_rate: f64,
    /// The open model's target rate.
    pub target_rate: Option<f64>,
    /// From the start to the last response.
    pub elapsed: Duration,
    /// Latency of the responses as the user waited it (from the intended start in the open
    /// model). Requests without a response are not in it (see `by_class`, class `error`).
    pub latency: Latency,
    /// From the actual send: what a generator without coordinated-omission correction reports.
    pub service_time: Latency,
    /// Latency per status class (`2xx`, `5xx`, `error`, …).
    pub by_class: Vec<(String, u64, Latency)>,
}

impl Summary {
    /// Requests that got no response (refused, reset, timed out, not HTTP).
    pub fn error_count(&self) -> u64 {
        self.errors.iter().map(|(_, n)| n).sum()
    }

    /// Requests that got a response.
    pub fn responses(&self) -> u64 {
        self.statuses.iter().map(|(_, n)| n).sum()
    }

    /// Failed requests (an unexpected status, or no response) over all requests; 0 for none.
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            (self.requests - self.successes) as f64 / self.requests as f64
        }
    }

    /// The latency of the requests that got no response, when there were any.
    pub fn error_latency(&self) -> Option<(u64, Latency)> {
        self.by_class
            .iter()
            .find(|(class, _, _)| class == "error")
            .map(|(_, n, l)| (*n, *l))
    }

    /// Responses with this status.
    pub fn status_count(&self, status: u16) -> u64 {
        self.statuses
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// `p50 21.0 ms, p90 …, max …` for failure messages.
    pub fn latency_line(&self) -> String {
        let l = &self.latency;
        format!(
            "p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
            human_latency(l.p50),
            human_latency(l.p90),
            human_latency(l.p99),
            human_latency(l.p999),
            human_latency(l.max)
        )
    }

    /// `200: 98, 503: 2; errors: timeout 1`.
    pub fn outcomes_line(&self) -> String {
        let mut out = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        if !self.errors.is_empty() {
            let errors = self
                .errors
                .iter()
                .map(|(k, n)| format!("{} {n}", k.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            if !out.is_empty() {
                out.push_str("; ");
            }
            let _ = write!(out, "errors: {errors}");
        }
        if out.is_empty() {
            out.push_str("no requests");
        }
        out
    }
}

fn micros(us: u64) -> Duration {
    Duration::from_micros(us)
}

/// The value at percentile `p` (0–100) of `h`.
pub fn percentile(h: &Histogram<u64>, p: f64) -> Duration {
    if h.is_empty() {
        return Duration::ZERO;
    }
    micros(h.value_at_percentile(p))
}

/// Percentiles of `h` (all zero when empty).
pub fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        min: micros(h.min()),
        mean: Duration::from_secs_f64(h.mean() / 1e6),
        p50: percentile(h, 50.0),
        p90: percentile(h, 90.0),
        p99: percentile(h, 99.0),
        p999: percentile(h, 99.9),
        max: micros(h.max()),
    }
}

/// Summarises a run, counting 2xx and 3xx as successes.
pub fn summarize(result: &LoadResult) -> Summary {
    summarize_expecting(result, &ExpectedStatuses::default())
}

/// Summarises a run, counting the `expected` statuses as successes.
pub fn summarize_expecting(result: &LoadResult, expected: &ExpectedStatuses) -> Summary {
    let requests = result.count();
    let successes: u64 = result
        .statuses
        .iter()
        .filter(|(status, _)| expected.is_success(**status))
        .map(|(_, n)| n)
        .sum();
    let achieved_rate = match (result.first_sent, result.last_sent) {
        (Some(first), Some(last)) if last > first && requests > 1 => {
            (requests - 1) as f64 / (last - first).as_secs_f64()
        }
        _ if !result.elapsed.is_zero() => requests as f64 / result.elapsed.as_secs_f64(),
        _ => 0.0,
    };
    Summary {
        requests,
        statuses: result.statuses.iter().map(|(s, n)| (*s, *n)).collect(),
        errors: result.errors.iter().map(|(k, n)| (*k, *n)).collect(),
        expected: expected.clone(),
        successes,
        success_ratio: if requests == 0 {
            0.0
        } else {
            successes as f64 / requests as f64
        },
        achieved_rate,
        target_rate: result.target_rate,
        elapsed: result.elapsed,
        latency: latency(&result.latency),
        service_time: latency(&result.service_time),
        by_class: result
            .by_class
            .iter()
            .map(|(class, h)| (class.to_string(), h.len(), latency(h)))
            .collect(),
    }
}

/// Percentiles drawn in the report's plot and table: the usual ones, and the far tail only
/// when at least one sample lies beyond it.
const REPORT_PERCENTILES: [f64; 12] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

/// The report entry of a run's latency histogram. `hlog_file` names the interval log under
/// `histograms/`.
pub fn histogram_report(name: &str, result: &LoadResult, hlog_file: &str) -> HistogramReport {
    let h = &result.latency;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let count = h.len();
    let percentiles = REPORT_PERCENTILES
        .iter()
        .filter(|p| **p == 100.0 || (1.0 - **p / 100.0) * count as f64 >= 1.0 || **p <= 99.0)
        .map(|p| PercentileValue {
            percentile: *p,
            value_ms: ms(if *p == 0.0 {
                micros(h.min())
            } else {
                percentile(h, *p)
            }),
        })
        .collect();
    let l = latency(h);
    HistogramReport {
        name: name.to_string(),
        count,
        min_ms: ms(l.min),
        mean_ms: ms(l.mean),
        max_ms: ms(l.max),
        percentiles: if count == 0 { Vec::new() } else { percentiles },
        hlog_file: Some(hlog_file.to_string()),
        hlog: Some(result.hlog.clone()),
        objectives: Vec::new(),
        stack_start_ms: None,
    }
}

/// A latency for people: `312 µs`, `4.21 ms`, `21.0 ms`, `1.25 s`.
pub fn human_latency(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us} µs")
    } else if us < 10_000 {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    } else if us < 1_000_000 {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// The table `gauntlet load` prints.
pub fn table(s: &Summary) -> String {
    let mut out = String::new();
    let responses = s.responses();
    let _ = writeln!(
        out,
        "requests      {} in {:.2} s ({} responses, {} without a response)",
        s.requests,
        s.elapsed.as_secs_f64(),
        responses,
        s.error_count()
    );
    match s.target_rate {
        Some(target) => {
            let off = (s.achieved_rate - target) / target * 100.0;
            let _ = writeln!(
                out,
                "achieved rate {:.1}/s (target {target}/s, {off:+.2}%)",
                s.achieved_rate
            );
        }
        None => {
            let _ = writeln!(out, "achieved rate {:.1}/s", s.achieved_rate);
        }
    }
    let _ = writeln!(
        out,
        "success ratio {:.2}% ({} of {} got {})",
        s.success_ratio * 100.0,
        s.successes,
        s.requests,
        s.expected
    );
    let _ = writeln!(out, "error ratio   {:.2}%", s.error_ratio() * 100.0);
    let _ = writeln!(out, "outcomes      {}", s.outcomes_line());
    if responses == 0 {
        let _ = writeln!(
            out,
            "
latency       no responses: nothing to measure"
        );
    } else {
        let corrected = s.target_rate.is_some();
        let _ = writeln!(
            out,
            "
latency       {}",
            if corrected {
                "from intended start   service time (uncorrected)"
            } else {
                "from send"
            }
        );
        let rows = [
            ("p50", s.latency.p50, s.service_time.p50),
            ("p90", s.latency.p90, s.service_time.p90),
            ("p99", s.latency.p99, s.service_time.p99),
            ("p99.9", s.latency.p999, s.service_time.p999),
            ("max", s.latency.max, s.service_time.max),
        ];
        for (name, value, service) in rows {
            if corrected {
                let _ = writeln!(
                    out,
                    "  {name:<11} {:>20}   {:>12}",
                    human_latency(value),
                    human_latency(service)
                );
            } else {
                let _ = writeln!(out, "  {name:<11} {:>9}", human_latency(value));
            }
        }
    }
    if let Some((n, l)) = s.error_latency() {
        let _ = writeln!(
            out,
            "
without a response ({n}, not in the percentiles): gave up after p50 {}, max {}",
            human_latency(l.p50),
            human_latency(l.max)
        );
    }
    let classes: Vec<&(String, u64, Latency)> =
        s.by_class.iter().filter(|(c, _, _)| c != "error").collect();
    if classes.len() > 1 {
        let _ = writeln!(
            out,
            "
by status class"
        );
        for (class, count, l) in classes {
            let _ = writeln!(
                out,
                "  {class:<6} {count:>8}   p50 {}   p99 {}   max {}",
                human_latency(l.p50),
                human_latency(l.p99),
                human_latency(l.max)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::collector::{Outcome, Recorder, Sample};
    use crate::load::hlog::HlogWriter;

    fn result(latencies_ms: &[(u64, Outcome)]) -> LoadResult {
        let mut r = Recorder::new(vec!["GET /".into()], Some(100.0), HlogWriter::default());
        for (i, (ms, outcome)) in latencies_ms.iter().enumerate() {
            let at = Duration::from_millis(10 * i as u64);
            r.record(&Sample {
                template: 0,
                sent_at: at,
                done_at: at + Duration::from_millis(*ms),
                latency: Duration::from_millis(*ms),
                service_time: Duration::from_millis(*ms),
                outcome: *outcome,
            });
        }
        r.finish()
    }

    #[test]
    fn only_2xx_and_3xx_are_successes_unless_the_run_expects_other_statuses() {
        let r = result(&[
            (1, Outcome::Status(200)),
            (1, Outcome::Status(404)),
            (1, Outcome::Status(429)),
            (1, Outcome::Status(503)),
            (1, Outcome::Error(ErrorKind::Reset)),
        ]);
        let s = summarize(&r);
        assert_eq!(s.requests, 5);
        assert!((s.success_ratio - 0.2).abs() < 1e-9, "{}", s.success_ratio);
        assert!((s.error_ratio() - 0.8).abs() < 1e-9, "{}", s.error_ratio());
        let expected = ExpectedStatuses::new(vec!["4xx".parse().unwrap()]);
        let s4 = summarize_expecting(&r, &expected);
        assert!(
            (s4.success_ratio - 0.4).abs() < 1e-9,
            "{}",
            s4.success_ratio
        );
        assert!(
            table(&s4).contains("success ratio 40.00% (2 of 5 got 4xx)"),
            "{}",
            table(&s4)
        );
        assert_eq!(s.errors, vec![(ErrorKind::Reset, 1)]);
        assert_eq!(
            s.outcomes_line(),
            "200: 1, 404: 1, 429: 1, 503: 1; errors: reset 1"
        );
    }

    #[test]
    fn the_achieved_rate_counts_request_starts() {
        let samples: Vec<(u64, Outcome)> = (0..101).map(|_| (2, Outcome::Status(200))).collect();
        // 101 starts 10 ms apart: 100 intervals in 1 s.
        let s = summarize(&result(&samples));
        assert!(
            (s.achieved_rate - 100.0).abs() < 0.01,
            "{}",
            s.achieved_rate
        );
    }

    #[test]
    fn percentiles_come_from_the_histogram_within_its_precision() {
        let mut samples: Vec<(u64, Outcome)> = (0..90).map(|_| (2, Outcome::Status(200))).collect();
        samples.extend((0..10).map(|_| (40, Outcome::Status(200))));
        let s = summarize(&result(&samples));
        assert!(
            s.latency.p50 >= Duration::from_micros(1995)
                && s.latency.p50 <= Duration::from_micros(2005)
        );
        assert!(
            s.latency.p99 >= Duration::from_micros(39_900),
            "{:?}",
            s.latency.p99
        );
        assert!(table(&s).contains("p99.9"));
    }

    #[test]
    fn the_report_entry_carries_the_log_and_no_tail_beyond_the_samples() {
        let samples: Vec<(u64, Outcome)> =
            (0..100).map(|i| (i + 1, Outcome::Status(200))).collect();
        let r = result(&samples);
        let report = histogram_report("s: GET /", &r, "s-1.hlog");
        assert_eq!(report.count, 100);
        let ps: Vec<f64> = report.percentiles.iter().map(|p| p.percentile).collect();
        assert_eq!(ps, [0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 100.0]);
        assert!(report
            .hlog
            .as_deref()
            .is_some_and(|t| t.contains("StartTime")));
        assert!((report.max_ms - 100.0).abs() < 0.1);
    }
}
