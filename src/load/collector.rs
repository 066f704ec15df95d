//! The one place load samples are aggregated: HDR histograms (1 µs–60 s, 3 significant digits)
//! for the whole run, per request label (route) and per status class, plus one-second interval
//! histograms for the interval log.
//!
//! ```text
//!   generator tasks ──Sample──► channel ──► Recorder::record ──► LoadResult (histograms, counts)
//! ```
//! Two views of latency are kept: `latency` (what the user waited, counted from the request's
//! intended start in the open model, so coordinated omission is not hidden) and `service_time`
//! (from the actual send, what wrk without correction reports). Both hold responses only: a
//! request that got no response is counted by error kind and timed apart (class `error`).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::hlog::HlogWriter;

/// Lowest recordable latency: 1 µs.
pub const LOWEST_US: u64 = 1;
/// Highest recordable latency: 60 s (longer values are recorded as 60 s).
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;
/// Length of one interval of the interval log.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// A new empty latency histogram with Gauntlet's bounds.
pub fn new_histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts (low ≥ 1, high ≥ 2 × low, sigfig ≤ 5).
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid constant bounds")
}

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The TCP connection could not be made (refused, unreachable).
    Connect,
    /// No complete response within the plan's timeout.
    Timeout,
    /// The connection broke before the response was complete.
    Reset,
    /// The peer answered with something that is not HTTP/1.1.
    InvalidResponse,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::InvalidResponse => "invalid response",
        }
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    Error(ErrorKind),
}

impl Outcome {
    /// The status class this outcome is recorded under (`2xx` … `5xx`, or `error`).
    pub fn class(self) -> &'static str {
        match self {
            Outcome::Status(s) if (100..200).contains(&s) => "1xx",
            Outcome::Status(s) if (200..300).contains(&s) => "2xx",
            Outcome::Status(s) if (300..400).contains(&s) => "3xx",
            Outcome::Status(s) if (400..500).contains(&s) => "4xx",
            Outcome::Status(_) => "5xx",
            Outcome::Error(_) => "error",
        }
    }
}

/// One request as the generator saw it. Offsets are from the run's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Index into the plan's templates.
    pub template: usize,
    /// When the request was actually sent.
    pub sent_at: Duration,
    /// When the response was complete (or the error happened).
    pub done_at: Duration,
    /// What the user waited: from the intended start (open model) or from the send (closed).
    pub latency: Duration,
    /// From the actual send to the end.
    pub service_time: Duration,
    pub outcome: Outcome,
}

/// Everything recorded for one run.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Labels of the plan's templates (indexes of [`Sample::template`]).
    pub labels: Vec<String>,
    pub latency: Histogram<u64>,
    pub service_time: Histogram<u64>,
    /// Latency per request label.
    pub by_label: BTreeMap<String, Histogram<u64>>,
    /// Latency per status class (`2xx`, `5xx`, `error`, …).
    pub by_class: BTreeMap<&'static str, Histogram<u64>>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// First and last actual send, for the achieved rate.
    pub first_sent: Option<Duration>,
    pub last_sent: Option<Duration>,
    /// From the start to the last response.
    pub elapsed: Duration,
    /// The latency histogram's interval log (HdrHistogram `.hlog` text).
    pub hlog: String,
    /// The target rate of an open-model run.
    pub target_rate: Option<f64>,
}

impl LoadResult {
    /// Requests that ended (with a response or an error).
    pub fn count(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }
}

/// Aggregates samples as they arrive.
pub struct Recorder {
    result: LoadResult,
    /// Latency per template index (named after the labels when finished).
    per_template: Vec<Histogram<u64>>,
    /// Interval histograms not yet written, by interval index.
    intervals: BTreeMap<u64, Histogram<u64>>,
    /// Highest interval index seen.
    latest: u64,
    hlog: HlogWriter,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .max(LOWEST_US)
}

impl Recorder {
    /// A recorder for a run with these template labels; `hlog` receives the interval log.
    pub fn new(labels: Vec<String>, target_rate: Option<f64>, hlog: HlogWriter) -> Recorder {
        Recorder {
            result: LoadResult {
                labels,
                latency: new_histogram(),
                service_time: new_histogram(),
                by_label: BTreeMap::new(),
                by_class: BTreeMap::new(),
                statuses: BTreeMap::new(),
                errors: BTreeMap::new(),
                first_sent: None,
                last_sent: None,
                elapsed: Duration::ZERO,
                hlog: String::new(),
                target_rate,
            },
            per_template: Vec::new(),
            intervals: BTreeMap::new(),
            latest: 0,
            hlog,
        }
    }

    pub fn record(&mut self, sample: &Sample) {
        let latency = micros(sample.latency);
        let r = &mut self.result;
        // A request with no response (refused, reset, timed out) has no latency to speak of: it
        // is counted and kept apart (class `error`), never in the percentiles or the log.
        let responded = matches!(sample.outcome, Outcome::Status(_));
        if responded {
            r.latency.saturating_record(latency);
            r.service_time
                .saturating_record(micros(sample.service_time));
            if self.per_template.len() <= sample.template {
                self.per_template
                    .resize_with(sample.template + 1, new_histogram);
            }
            self.per_template[sample.template].saturating_record(latency);
        }
        r.by_class
            .entry(sample.outcome.class())
            .or_insert_with(new_histogram)
            .saturating_record(latency);
        match sample.outcome {
            Outcome::Status(s) => *r.statuses.entry(s).or_insert(0) += 1,
            Outcome::Error(kind) => *r.errors.entry(kind).or_insert(0) += 1,
        }
        r.first_sent = Some(
            r.first_sent
                .map_or(sample.sent_at, |f| f.min(sample.sent_at)),
        );
        r.last_sent = Some(
            r.last_sent
                .map_or(sample.sent_at, |l| l.max(sample.sent_at)),
        );
        r.elapsed = r.elapsed.max(sample.done_at);
        if !responded {
            return;
        }

        // Interval log: by completion time. Batches from different workers arrive a little out
        // of order, so an interval is written once a later one is two intervals ahead; a sample
        // later than that (a worker that waited long for its next request) joins the oldest
        // interval still open. Totals are exact either way.
        let mut index = sample.done_at.as_secs() / INTERVAL.as_secs().max(1);
        if let Some((&oldest, _)) = self.intervals.first_key_value() {
            index = index.max(oldest);
        }
        self.intervals
            .entry(index)
            .or_insert_with(new_histogram)
            .saturating_record(latency);
        self.latest = self.latest.max(index);
        while let Some((&oldest, _)) = self.intervals.first_key_value() {
            if oldest + 2 > self.latest {
                break;
            }
            self.flush_interval(oldest);
        }
    }

    fn flush_interval(&mut self, index: u64) {
        let Some(histogram) = self.intervals.remove(&index) else {
            return;
        };
        let start = INTERVAL * u32::try_from(index).unwrap_or(u32::MAX);
        self.hlog.interval(&histogram, start, INTERVAL);
    }

    /// The finished result.
    pub fn finish(mut self) -> LoadResult {
        let open: Vec<u64> = self.intervals.keys().copied().collect();
        for index in open {
            self.flush_interval(index);
        }
        for (i, h) in std::mem::take(&mut self.per_template)
            .into_iter()
            .enumerate()
        {
            if h.is_empty() {
                continue;
            }
            let label = self.result.labels.get(i).cloned();
            let label = label.unwrap_or_else(|| format!("request {i}"));
            match self.result.by_label.get_mut(&label) {
                // Two templates with one label (one route, two consumers) share a histogram.
                Some(existing) => {
                    let _ = existing.add(&h);
                }
                None => {
                    self.result.by_label.insert(label, h);
                }
            }
        }
        self.result.hlog = self.hlog.finish();
        self.result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, outcome: Outcome, at_ms: u64) -> Sample {
        Sample {
            template: 0,
            sent_at: Duration::from_millis(at_ms),
            done_at: Duration::from_millis(at_ms + ms),
            latency: Duration::from_millis(ms),
            service_time: Duration::from_millis(ms),
            outcome,
        }
    }

    #[test]
    fn samples_are_split_by_status_class_and_counted() {
        let mut r = Recorder::new(vec!["GET /".into()], None, HlogWriter::default());
        r.record(&sample(5, Outcome::Status(200), 0));
        r.record(&sample(7, Outcome::Status(503), 10));
        r.record(&sample(30_000, Outcome::Error(ErrorKind::Timeout), 20));
        let result = r.finish();
        assert_eq!(result.count(), 3);
        assert_eq!(result.by_class["2xx"].len(), 1);
        assert_eq!(result.by_class["5xx"].len(), 1);
        assert_eq!(result.errors[&ErrorKind::Timeout], 1);
        assert_eq!(result.last_sent, Some(Duration::from_millis(20)));
    }

    #[test]
    fn requests_without_a_response_stay_out_of_the_percentiles_and_the_log() {
        let mut r = Recorder::new(vec!["GET /".into()], None, HlogWriter::default());
        r.record(&sample(5, Outcome::Status(200), 0));
        r.record(&sample(7, Outcome::Status(401), 10));
        r.record(&sample(30_000, Outcome::Error(ErrorKind::Timeout), 20));
        r.record(&sample(1, Outcome::Error(ErrorKind::Connect), 30));
        let result = r.finish();
        assert_eq!(result.count(), 4);
        assert_eq!(result.latency.len(), 2);
        assert_eq!(result.service_time.len(), 2);
        assert_eq!(result.by_label["GET /"].len(), 2);
        assert!(
            result.latency.max() < 8_000,
            "the timeout is not the slowest response: {}",
            result.latency.max()
        );
        assert_eq!(result.by_class["error"].len(), 2);
        let (_, logged) = crate::load::hlog::read_total(&result.hlog).unwrap();
        assert_eq!(logged.len(), 2);
    }

    #[test]
    fn latencies_beyond_sixty_seconds_are_kept_at_the_top_of_the_range() {
        let mut r = Recorder::new(vec!["GET /".into()], None, HlogWriter::default());
        r.record(&sample(120_000, Outcome::Status(200), 0));
        r.record(&sample(120_000, Outcome::Error(ErrorKind::Timeout), 0));
        let result = r.finish();
        assert_eq!(result.latency.len(), 1);
        assert!(result.latency.max() >= 59_000_000);
        assert!(result.by_class["error"].max() >= 59_000_000);
    }

    #[test]
    fn one_interval_per_second_reaches_the_log() {
        let mut r = Recorder::new(vec!["GET /".into()], None, HlogWriter::default());
        for at in [0, 400, 1_200, 2_500, 2_600] {
            r.record(&sample(3, Outcome::Status(200), at));
        }
        let log = r.finish().hlog;
        let lines = log
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('"'));
        assert_eq!(lines.count(), 3, "{log}");
    }
}
