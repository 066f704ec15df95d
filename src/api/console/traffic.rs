//! The chaos console's traffic panel: requests/s, status classes and p50/p99 per route and
//! consumer over the last minute, differenced from the gateway's own metrics collector (the
//! counters `/metrics` exposes and its duration histograms), never from a second collector.
//!
//! ```text
//!   gateway Metrics ──(every 5 s, real time)──► samples (≤ 60 s old, ring) ─┐
//!   gateway Metrics ──(at each GET /traffic)──► now ────────────────────────┴─► now − oldest
//! ```
//!
//! Rates are real time (like injected latency, SPEC §3): a clock jump does not move them.
//!
//! Reading the gateway's counters takes the lock its requests record under and copies every
//! duration histogram, so an answer is kept for [`FRESH`] and shared by every poller in that
//! time (two consoles, or two tabs, cost one copy), and the baseline is read in place.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{json, Value};

use crate::clock::Stopwatch;
use crate::gateway::metrics::TrafficCounters;
use crate::gateway::Gateway;

/// How far back the panel looks.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How often the sampler copies the counters (the window's resolution).
const EVERY: Duration = Duration::from_secs(5);
/// How long one answer serves every poller (the consoles poll every 500 ms).
pub const FRESH: Duration = Duration::from_millis(250);

/// Samples of one gateway's counters over the last minute.
#[derive(Debug)]
pub struct Traffic {
    gateway: Arc<Gateway>,
    samples: Mutex<VecDeque<(Stopwatch, TrafficCounters)>>,
    /// The last answer and when it was made.
    answer: Mutex<Option<(Stopwatch, Value)>>,
}

impl Traffic {
    /// A window over `gateway`, with its first sample taken now.
    pub fn new(gateway: Arc<Gateway>) -> Arc<Traffic> {
        let traffic = Arc::new(Traffic {
            gateway,
            samples: Mutex::new(VecDeque::new()),
            answer: Mutex::new(None),
        });
        traffic.sample();
        traffic
    }

    /// Samples every 5 s while `self` lives (on the current tokio runtime, when there is one).
    pub fn spawn_sampler(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Traffic> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(traffic) => traffic.sample(),
                    None => return,
                }
            }
        });
    }

    fn sample(&self) {
        let now = self.gateway.metrics.traffic(&self.gateway.config);
        if let Ok(mut samples) = self.samples.lock() {
            samples.push_back((Stopwatch::start(), now));
            // Keep the newest sample at least a window old, as the baseline.
            while samples.len() > 1 && samples[1].0.elapsed() >= WINDOW {
                samples.pop_front();
            }
        }
    }

    /// `GET /traffic`: one row per route and consumer seen in the window (an answer made less
    /// than [`FRESH`] ago when there is one).
    pub fn to_json(&self) -> Value {
        let Ok(mut answer) = self.answer.lock() else {
            return self.make();
        };
        match answer.as_ref() {
            Some((made, value)) if made.elapsed() < FRESH => value.clone(),
            _ => {
                let value = self.make();
                *answer = Some((Stopwatch::start(), value.clone()));
                value
            }
        }
    }

    fn make(&self) -> Value {
        let now = self.gateway.metrics.traffic(&self.gateway.config);
        let empty = TrafficCounters::default();
        let samples = self.samples.lock();
        let (seconds, base) = samples
            .as_ref()
            .ok()
            .and_then(|samples| {
                samples
                    .iter()
                    .find(|(taken, _)| taken.elapsed() <= WINDOW + EVERY)
            })
            .map_or((0.0, &empty), |(taken, c)| {
                (taken.elapsed().as_secs_f64(), c)
            });
        json!({
            "window_seconds": seconds,
            "rows": rows(&now, base, seconds),
        })
    }
}

/// `now − base` per (route, consumer).
fn rows(now: &TrafficCounters, base: &TrafficCounters, seconds: f64) -> Vec<Value> {
    #[derive(Default)]
    struct Row {
        requests: u64,
        classes: BTreeMap<String, u64>,
    }
    let mut by: BTreeMap<(String, String), Row> = BTreeMap::new();
    for ((route, consumer, code), n) in &now.requests {
        let before = base
            .requests
            .get(&(route.clone(), consumer.clone(), *code))
            .copied()
            .unwrap_or(0);
        let delta = n.saturating_sub(before);
        if delta == 0 {
            continue;
        }
        let row = by.entry((route.clone(), consumer.clone())).or_default();
        row.requests += delta;
        *row.classes.entry(format!("{}xx", code / 100)).or_default() += delta;
    }
    by.into_iter()
        .map(|((route, consumer), row)| {
            let mut durations = now
                .durations
                .get(&(route.clone(), consumer.clone()))
                .cloned();
            if let (Some(h), Some(old)) = (
                durations.as_mut(),
                base.durations.get(&(route.clone(), consumer.clone())),
            ) {
                // The older copy is a prefix of the same counts: never fails; when it would,
                // the panel shows the whole life's percentiles rather than none.
                let _ = h.subtract(old);
            }
            let ms = |q: f64| {
                durations
                    .as_ref()
                    .filter(|h| !h.is_empty())
                    .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
            };
            json!({
                "route": route,
                "consumer": consumer,
                "requests": row.requests,
                "per_second": if seconds > 0.0 { row.requests as f64 / seconds } else { 0.0 },
                "status": row.classes,
                "p50_ms": ms(0.5),
                "p99_ms": ms(0.99),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::metrics::duration_histogram;

    fn counters(
        requests: &[(&str, &str, u16, u64)],
        durations_ms: &[(&str, &str, &[u64])],
    ) -> TrafficCounters {
        let mut c = TrafficCounters::default();
        for (route, consumer, code, n) in requests {
            c.requests
                .insert(((*route).into(), (*consumer).into(), *code), *n);
        }
        for (route, consumer, values) in durations_ms {
            let mut h = duration_histogram();
            for v in *values {
                h.record(v * 1000).expect("in range");
            }
            c.durations.insert(((*route).into(), (*consumer).into()), h);
        }
        c
    }

    #[test]
    fn a_row_counts_only_what_happened_since_the_baseline() {
        let base = counters(&[("r", "alice", 200, 10)], &[("r", "alice", &[1; 10])]);
        let now = counters(
            &[
                ("r", "alice", 200, 14),
                ("r", "alice", 503, 2),
                ("r", "bob", 401, 1),
            ],
            &[(
                "r",
                "alice",
                &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 300, 300, 300, 300, 300, 300],
            )],
        );
        let rows = rows(&now, &base, 2.0);
        assert_eq!(rows.len(), 2);
        let alice = &rows[0];
        assert_eq!(alice["consumer"], "alice");
        assert_eq!(alice["requests"], 6);
        assert_eq!(alice["per_second"], 3.0);
        assert_eq!(alice["status"], json!({"2xx": 4, "5xx": 2}));
        // The ten 1 ms answers of the baseline are gone: every answer since took 300 ms.
        let p50 = alice["p50_ms"].as_f64().expect("p50");
        assert!((299.0..=302.0).contains(&p50), "{p50}");
        assert_eq!(rows[1]["consumer"], "bob");
        assert_eq!(rows[1]["p99_ms"], Value::Null);
    }

    #[test]
    fn an_idle_route_has_no_row() {
        let c = counters(&[("r", "alice", 200, 10)], &[]);
        assert!(rows(&c, &c, 60.0).is_empty());
    }
}
