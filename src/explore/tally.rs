//! What a window's requests have shown so far, and which objectives that already settles: an
//! objective is *certain* when no outcome of the requests still unfinished can change its
//! verdict (each may yet end as a response, as slow as it likes but no faster than it has
//! already waited, or as an error).
//!
//! ```text
//!   Sample (as each request ends) ──add──► Tally (responses per latency bucket, successes)
//!   Tally + objective + unfinished requests' least latency ──certain──► Some(held) / None
//! ```
//! The explorer stops a window once an objective is certainly broken ([`super::window::Cut`]):
//! the schedule stops at its first broken window anyway, and the requests still held by a
//! throttled link would otherwise cost their whole timeout for a verdict already known.
//! The arithmetic follows exactly what [`super::window::judge`] computes on the whole window
//! (the HDR histogram's `value_at_percentile` and the success ratio's rounding), so a certain
//! verdict is the one the whole window would have given.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::hypothesis::Objective;
use crate::load::collector::{new_histogram, LOWEST_US};
use crate::load::{Outcome, Sample};
use crate::outcome::ExpectedStatuses;

/// One hypothesis's requests in one window, as they end.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Requests the window sends.
    pub planned: u64,
    /// Requests that ended (a response or an error).
    pub ended: u64,
    /// Responses with a success status (2xx/3xx).
    pub successes: u64,
    /// Response latencies in µs, each as the judge's histogram buckets it (its bucket's
    /// highest equivalent value).
    latencies: Vec<u64>,
    /// An empty histogram with the judge's bounds: it knows the buckets.
    buckets: Histogram<u64>,
    expected: ExpectedStatuses,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .max(LOWEST_US)
}

/// The rank `value_at_percentile(p)` reads among `n` values (hdrhistogram 7's rounding).
fn rank(p: f64, n: u64) -> u64 {
    let q = (p / 100.0).min(1.0);
    ((q * n as f64).ceil() as u64).max(1)
}

impl Tally {
    pub fn new(planned: u64) -> Tally {
        Tally {
            planned,
            ended: 0,
            successes: 0,
            latencies: Vec::new(),
            buckets: new_histogram(),
            expected: ExpectedStatuses::default(),
        }
    }

    /// Counts one ended request.
    pub fn add(&mut self, sample: &Sample) {
        self.ended += 1;
        if let Outcome::Status(status) = sample.outcome {
            self.latencies
                .push(self.buckets.highest_equivalent(micros(sample.latency)));
            if self.expected.is_success(status) {
                self.successes += 1;
            }
        }
    }

    /// Requests not ended yet.
    pub fn unfinished(&self) -> u64 {
        self.planned.saturating_sub(self.ended)
    }

    /// Whether a latency the histogram records as `d` is at or above `limit` once bucketed
    /// (the judge compares the bucket's highest equivalent value).
    fn slow(&self, d: Duration, limit: Duration) -> bool {
        Duration::from_micros(self.buckets.highest_equivalent(micros(d))) >= limit
    }

    /// Responses recorded below `limit` (bucketed as the judge sees them).
    fn fast_responses(&self, limit: Duration) -> u64 {
        self.latencies
            .iter()
            .filter(|v| Duration::from_micros(**v) < limit)
            .count() as u64
    }

    /// The verdict of `objective` when no outcome of the unfinished requests can change it:
    /// `Some(true)` held, `Some(false)` broken, `None` not settled yet. `least` is the least
    /// latency an unfinished request can still end with (what it has already waited).
    pub fn certain(&self, objective: &Objective, least: Duration) -> Option<bool> {
        let out = self.unfinished();
        if out == 0 {
            return None;
        }
        match objective {
            Objective::SuccessAtLeast { ratio } => {
                let needed = (ratio * self.planned as f64 - 1e-9).ceil().max(0.0) as u64;
                if self.successes >= needed {
                    Some(true)
                } else if self.successes + out < needed {
                    Some(false)
                } else {
                    None
                }
            }
            Objective::LatencyBelow { percentile, limit } => {
                if *percentile <= 0.0 {
                    return None;
                }
                let n = self.latencies.len() as u64;
                let fast = self.fast_responses(*limit);
                // Held whatever happens: every unfinished request answering slowly still
                // leaves the percentile's rank among the fast ones.
                if fast >= rank(*percentile, n + out) {
                    return Some(true);
                }
                // Broken whatever happens: an empty histogram reads 0 (held), so at least one
                // response is needed; then either the unfinished requests can only answer
                // slowly (the fast count is final and the rank only grows), or even all of
                // them answering fast leaves the rank among the slow ones.
                if n == 0 {
                    return None;
                }
                let broken_now = fast < rank(*percentile, n);
                if self.slow(least, *limit) {
                    return broken_now.then_some(false);
                }
                (broken_now && fast + out < rank(*percentile, n + out)).then_some(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::ErrorKind;

    fn sample(ms: u64, outcome: Outcome) -> Sample {
        Sample {
            template: 0,
            sent_at: Duration::ZERO,
            done_at: Duration::from_millis(ms),
            latency: Duration::from_millis(ms),
            service_time: Duration::from_millis(ms),
            outcome,
        }
    }

    fn p99() -> Objective {
        Objective::LatencyBelow {
            percentile: 99.0,
            limit: Duration::from_millis(250),
        }
    }

    fn success() -> Objective {
        Objective::SuccessAtLeast { ratio: 0.99 }
    }

    #[test]
    fn one_slow_response_settles_a_p99_broken_when_the_window_is_small() {
        let mut t = Tally::new(40);
        for _ in 0..5 {
            t.add(&sample(5, Outcome::Status(200)));
        }
        assert_eq!(t.certain(&p99(), Duration::ZERO), None);
        t.add(&sample(900, Outcome::Status(200)));
        // Whatever the other 34 do, the 40th value of at most 40 is at least this one.
        assert_eq!(t.certain(&p99(), Duration::ZERO), Some(false));
    }

    #[test]
    fn a_p50_is_broken_only_once_the_unfinished_requests_can_no_longer_be_fast() {
        let p50 = Objective::LatencyBelow {
            percentile: 50.0,
            limit: Duration::from_millis(250),
        };
        let mut t = Tally::new(10);
        for _ in 0..3 {
            t.add(&sample(900, Outcome::Status(200)));
        }
        t.add(&sample(5, Outcome::Status(200)));
        // Six unfinished could still be fast.
        assert_eq!(t.certain(&p50, Duration::from_millis(100)), None);
        // They have waited 300 ms: an answer now is slow, an error leaves the histogram as is.
        assert_eq!(t.certain(&p50, Duration::from_millis(300)), Some(false));
    }

    #[test]
    fn an_empty_histogram_is_never_certainly_broken_for_errors_leave_it_empty() {
        let t = Tally::new(10);
        assert_eq!(t.certain(&p99(), Duration::from_secs(5)), None);
    }

    #[test]
    fn latency_is_held_for_sure_only_when_slow_answers_from_the_rest_cannot_reach_the_rank() {
        let p90 = Objective::LatencyBelow {
            percentile: 90.0,
            limit: Duration::from_millis(250),
        };
        let mut t = Tally::new(20);
        for _ in 0..19 {
            t.add(&sample(5, Outcome::Status(200)));
        }
        // rank(90, 20) = 18 ≤ 19 fast answers.
        assert_eq!(t.certain(&p90, Duration::ZERO), Some(true));
        assert_eq!(t.certain(&p99(), Duration::ZERO), None);
    }

    #[test]
    fn the_success_ratio_is_settled_by_counting_what_is_left() {
        let mut t = Tally::new(40);
        t.add(&sample(5, Outcome::Status(503)));
        // 99% of 40 needs all 40: one failure settles it.
        assert_eq!(t.certain(&success(), Duration::ZERO), Some(false));
        let mut t = Tally::new(200);
        t.add(&sample(5, Outcome::Error(ErrorKind::Reset)));
        assert_eq!(t.certain(&success(), Duration::ZERO), None);
        t.add(&sample(5, Outcome::Error(ErrorKind::Reset)));
        t.add(&sample(5, Outcome::Status(500)));
        assert_eq!(t.certain(&success(), Duration::ZERO), Some(false));
        let mut t = Tally::new(3);
        t.add(&sample(5, Outcome::Status(200)));
        t.add(&sample(5, Outcome::Status(200)));
        assert_eq!(t.certain(&success(), Duration::ZERO), None);
    }

    #[test]
    fn a_window_with_nothing_unfinished_is_left_to_the_judge() {
        let mut t = Tally::new(1);
        t.add(&sample(900, Outcome::Status(200)));
        assert_eq!(t.certain(&p99(), Duration::ZERO), None);
    }
}
