//! The HdrHistogram interval log (`.hlog`) of a load run, in the format of the Java
//! `HistogramLogWriter` (log format 1.3, V2 compressed histograms, base64), so HdrHistogram's
//! own tools (`HistogramLogProcessor`, the Rust `IntervalLogIterator`, HdrHistogram's plotter)
//! read it.
//!
//! ```text
//!   Recorder ──(1 s interval histogram)──► HlogWriter::interval ──► text ──► --hlog FILE,
//!                                                                            reports/<run>/histograms/
//! ```
//! Values are microseconds; the `Interval_Max` column is in milliseconds (the Java writer's
//! "max value unit ratio"), which the header comment says.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Writes interval lines into a text buffer.
pub struct HlogWriter {
    text: String,
    serializer: V2DeflateSerializer,
    buffer: Vec<u8>,
    /// Intervals that could not be serialised (never expected; reported in the log itself).
    failed: usize,
}

impl Default for HlogWriter {
    /// A log whose start and base time are the Unix epoch (for tests).
    fn default() -> Self {
        HlogWriter::new(UNIX_EPOCH, "")
    }
}

fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl HlogWriter {
    /// A log for a run that started at `start` (real wall time), described by `comment`.
    /// Interval timestamps are seconds since `start` (the log's `BaseTime`).
    pub fn new(start: SystemTime, comment: &str) -> HlogWriter {
        let mut text = String::new();
        for line in comment.lines().filter(|l| !l.is_empty()) {
            let _ = writeln!(text, "#{line}");
        }
        let _ = writeln!(
            text,
            "#Latency values are microseconds; Interval_Max is in milliseconds."
        );
        let _ = writeln!(text, "#[Histogram log format version 1.3]");
        let start = epoch_seconds(start);
        let _ = writeln!(text, "#[StartTime: {start:.3} (seconds since epoch)]");
        let _ = writeln!(text, "#[BaseTime: {start:.3} (seconds since epoch)]");
        let _ = writeln!(
            text,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        );
        HlogWriter {
            text,
            serializer: V2DeflateSerializer::new(),
            buffer: Vec::new(),
            failed: 0,
        }
    }

    /// Appends one interval: `histogram` recorded from `start` (since the log's base time) for
    /// `length`.
    pub fn interval(&mut self, histogram: &Histogram<u64>, start: Duration, length: Duration) {
        self.buffer.clear();
        if self
            .serializer
            .serialize(histogram, &mut self.buffer)
            .is_err()
        {
            self.failed += 1;
            return;
        }
        let _ = write!(
            self.text,
            "{:.3},{:.3},{:.3},",
            start.as_secs_f64(),
            length.as_secs_f64(),
            histogram.max() as f64 / 1000.0
        );
        base64::engine::general_purpose::STANDARD.encode_string(&self.buffer, &mut self.text);
        self.text.push('\n');
    }

    /// The log text.
    pub fn finish(mut self) -> String {
        if self.failed > 0 {
            let _ = writeln!(
                self.text,
                "#{} interval(s) could not be serialised and are missing",
                self.failed
            );
        }
        self.text
    }
}

/// Reads an interval log back with hdrhistogram's own parser and deserializer: every interval
/// histogram added together.
///
/// # Errors
/// A line the parser rejects, or a histogram that does not decode.
pub fn read_total(text: &str) -> Result<(usize, Histogram<u64>), String> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let mut total = super::collector::new_histogram();
    let mut intervals = 0;
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(text.as_bytes()) {
        match entry {
            Ok(LogEntry::Interval(interval)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(interval.encoded_histogram())
                    .map_err(|e| format!("interval {intervals}: bad base64: {e}"))?;
                let h: Histogram<u64> = deserializer
                    .deserialize(&mut bytes.as_slice())
                    .map_err(|e| format!("interval {intervals}: {e:?}"))?;
                total
                    .add(&h)
                    .map_err(|e| format!("interval {intervals}: {e:?}"))?;
                intervals += 1;
            }
            Ok(_) => {}
            Err(e) => return Err(format!("the log does not parse: {e:?}")),
        }
    }
    Ok((intervals, total))
}

/// One interval of a log, summarised: when it started (seconds since the log's start), how many
/// requests, and its p50, p99 and max in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalStats {
    pub start_s: f64,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Every interval of the log `text`, in order (the report's latency-over-time plot).
///
/// # Errors
/// The log does not parse, or an interval's histogram does not decode.
pub fn read_intervals(text: &str) -> Result<Vec<IntervalStats>, String> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let mut out = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(text.as_bytes()) {
        match entry {
            Ok(LogEntry::Interval(interval)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(interval.encoded_histogram())
                    .map_err(|e| format!("interval {}: bad base64: {e}", out.len()))?;
                let h: Histogram<u64> = deserializer
                    .deserialize(&mut bytes.as_slice())
                    .map_err(|e| format!("interval {}: {e:?}", out.len()))?;
                // Values are microseconds.
                let ms = |us: u64| us as f64 / 1000.0;
                out.push(IntervalStats {
                    start_s: interval.start_timestamp().as_secs_f64(),
                    count: h.len(),
                    p50_ms: ms(h.value_at_quantile(0.5)),
                    p99_ms: ms(h.value_at_quantile(0.99)),
                    max_ms: ms(h.max()),
                });
            }
            Ok(_) => {}
            Err(e) => return Err(format!("the log does not parse: {e:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::collector::new_histogram;

    #[test]
    fn a_written_log_reads_back_with_hdrhistograms_own_reader() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut log = HlogWriter::new(start, "gauntlet load: GET /health");
        let mut first = new_histogram();
        for v in [100, 200, 300, 20_000] {
            first.record(v).unwrap();
        }
        let mut second = new_histogram();
        second.record(1_500_000).unwrap();
        log.interval(&first, Duration::ZERO, Duration::from_secs(1));
        log.interval(&second, Duration::from_secs(1), Duration::from_secs(1));
        let text = log.finish();

        let (intervals, total) = read_total(&text).unwrap();
        assert_eq!(intervals, 2);
        assert_eq!(total.len(), 5);
        assert!(total.equivalent(total.max(), 1_500_000));
        assert!(total.equivalent(total.value_at_quantile(0.5), 300));

        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let entries: Vec<_> = IntervalLogIterator::new(text.as_bytes())
            .map(|e| e.unwrap())
            .collect();
        assert!(entries.iter().any(|e| matches!(e, LogEntry::StartTime(_))));
        assert!(entries.iter().any(|e| matches!(e, LogEntry::BaseTime(_))));
        assert!(text.contains("1.000,1.000,1500."), "max in ms: {text}");
    }

    #[test]
    fn a_corrupt_line_is_reported() {
        let text = "#[BaseTime: 0.000 (seconds since epoch)]\n0.000,1.000,0.300,notbase64!!\n";
        assert!(read_total(text).is_err());
    }
}
