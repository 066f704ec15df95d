//! One window of steady load: every hypothesis's requests sent at its rate for the window's
//! length on the load engine, then each objective judged as the load steps judge it.
//!
//! ```text
//!   Quotas::make_room (clock to the next rate-limit window when the quota would run out)
//!     ──► load::run per hypothesis, concurrently (fresh token each)
//!     ──► drain: requests still waiting once the window is over get their gateway timeouts by
//!         clock jumps (policy time is never slept)
//!     ──► Summary per hypothesis ──► Verdict per objective (held, measured, margin)
//! ```
//! The valueverse gateway allows each consumer 100 requests a minute, and a hypothesis never
//! switches that off: before a window whose requests would overrun a consumer's quota, the stack
//! clock moves to the start of the next window of that limit ("letting the clock move the
//! window", SPEC §4). A hypothesis set that needs more than one limit's worth in one window is a
//! usage error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde::Serialize;

use super::hypothesis::{quotas, Hypothesis, Objective};
use crate::config::gateway::RatePeriod;
use crate::config::StackDef;
use crate::load::summary::{percentile, summarize, Summary};
use crate::load::{self, LoadPlan, LoadResult, Model, Progress, RequestTemplate, Stop};
use crate::stack::Stack;

/// A request unanswered this long in real time is a client timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Real time the window's last requests get to finish before the clock jumps over timeouts.
const GRACE: Duration = Duration::from_millis(250);
/// Real time without a finished request after which the window's remaining requests count as
/// held by a fault, and the clock jumps over their timeouts.
const STALL: Duration = Duration::from_millis(1000);

/// How one objective fared in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Index of the hypothesis.
    pub hypothesis: usize,
    /// Index of the objective within it.
    pub objective: usize,
    pub held: bool,
    /// The measured value: milliseconds for a latency, a ratio (0–1) for the success ratio.
    pub measured: f64,
    /// The objective's bound in the same unit.
    pub bound: f64,
    pub requests: u64,
    /// `p99 was 1.2 s (objective below 250 ms)`.
    pub detail: String,
    /// How far past the bound: `+950 ms`, `-3.00 points`.
    pub by: String,
}

/// Judges one objective on a window's summary and result, exactly as the load steps do.
pub fn judge(objective: &Objective, result: &LoadResult, summary: &Summary) -> Judged {
    match objective {
        Objective::LatencyBelow {
            percentile: p,
            limit,
        } => {
            let measured = percentile(&result.latency, *p);
            let ms = measured.as_secs_f64() * 1000.0;
            let bound = limit.as_secs_f64() * 1000.0;
            Judged {
                held: measured < *limit,
                measured: ms,
                bound,
                by: format!("{:+.0} ms", ms - bound),
                detail: format!(
                    "{} was {} (objective below {})",
                    super::hypothesis::percentile_label(*p),
                    crate::load::summary::human_latency(measured),
                    crate::load::summary::human_latency(*limit)
                ),
            }
        }
        Objective::SuccessAtLeast { ratio } => {
            let n = summary.requests as f64;
            let needed = (ratio * n - 1e-9).ceil();
            Judged {
                held: summary.success_ratio * n >= needed && summary.requests > 0,
                measured: summary.success_ratio,
                bound: *ratio,
                by: format!("{:+.2} points", (summary.success_ratio - ratio) * 100.0),
                detail: format!(
                    "success ratio was {:.2}% (objective at least {:.2}%; {})",
                    summary.success_ratio * 100.0,
                    ratio * 100.0,
                    summary.outcomes_line()
                ),
            }
        }
    }
}

/// One objective judged on one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub held: bool,
    pub measured: f64,
    pub bound: f64,
    pub detail: String,
    pub by: String,
}

/// Requests each consumer's rate limits have admitted in their current windows.
#[derive(Debug, Default)]
pub struct Quotas {
    /// (plugin, period) → (window index, requests sent in it).
    used: BTreeMap<(usize, RatePeriod), (u64, u64)>,
}

fn period_secs(period: RatePeriod) -> Option<u64> {
    match period {
        RatePeriod::Second => Some(1),
        RatePeriod::Minute => Some(60),
        RatePeriod::Hour => Some(3600),
        RatePeriod::Day => Some(86_400),
        RatePeriod::Month | RatePeriod::Year => None,
    }
}

/// A set of hypotheses that cannot run within the stack's rate limits.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct QuotaError(pub String);

impl Quotas {
    /// Checks that one window of `hypotheses` fits every rate limit that applies to them.
    ///
    /// # Errors
    /// A consumer's hypotheses need more requests in one window than one of its limits allows.
    pub fn check(
        hypotheses: &[Hypothesis],
        stack: &StackDef,
        window: Duration,
    ) -> Result<(), QuotaError> {
        let mut need: BTreeMap<(usize, RatePeriod), (u64, u64, Vec<String>)> = BTreeMap::new();
        for h in hypotheses {
            for (plugin, period, limit) in quotas(h, stack) {
                let e = need
                    .entry((plugin, period))
                    .or_insert((0, limit, Vec::new()));
                e.0 += requests_in(h, window);
                e.2.push(h.location());
            }
        }
        for ((_, period), (needed, limit, at)) in need {
            if needed > limit {
                return Err(QuotaError(format!(
                    "{}: one {} window needs {needed} requests, above the rate limit of {limit} \
                     per {}: lower the rate or the window (--window), or give the load its own \
                     consumer",
                    at.join(", "),
                    crate::units::format_duration(window),
                    period.key()
                )));
            }
        }
        Ok(())
    }

    /// Moves the stack clock to the start of the next rate-limit window wherever this window's
    /// requests would overrun what is left, then counts them in. Returns the periods whose next
    /// window the clock moved to (`minute`), so a reproducer can do the same.
    pub fn make_room(
        &mut self,
        hypotheses: &[Hypothesis],
        stack: &Stack,
        window: Duration,
    ) -> Vec<RatePeriod> {
        let mut jumped = Vec::new();
        let mut need: BTreeMap<(usize, RatePeriod), (u64, u64)> = BTreeMap::new();
        for h in hypotheses {
            for (plugin, period, limit) in quotas(h, &stack.def) {
                let e = need.entry((plugin, period)).or_insert((0, limit));
                e.0 += requests_in(h, window);
            }
        }
        // Longest periods first: reaching the next hour also starts a new minute.
        let mut keys: Vec<_> = need.keys().copied().collect();
        keys.sort_by_key(|(_, p)| std::cmp::Reverse(*p));
        for key in &keys {
            let (needed, limit) = need[key];
            let Some(secs) = period_secs(key.1) else {
                continue;
            };
            let now = stack.clock.unix_seconds();
            let bucket = now / secs;
            let (used, moved) = match self.used.get(key) {
                Some((b, n)) if *b == bucket => (*n, false),
                Some(_) => (0, true),
                None => (0, false),
            };
            // A clock that follows real time may have crossed into this window while the last
            // one's requests were still arriving: how many it counted here is unknown, so the
            // clock moves on to a window that is surely empty.
            let unknown = moved && !stack.clock.stands_still();
            if used + needed > limit || unknown {
                let wall = stack
                    .clock
                    .wall()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let jump = Duration::from_secs(secs - wall.as_secs() % secs)
                    .saturating_sub(Duration::from_nanos(u64::from(wall.subsec_nanos())));
                if stack.clock.try_advance(jump).is_ok() {
                    jumped.push(key.1);
                }
            }
        }
        for key in keys {
            let (needed, _) = need[&key];
            let Some(secs) = period_secs(key.1) else {
                continue;
            };
            let bucket = stack.clock.unix_seconds() / secs;
            let entry = self.used.entry(key).or_insert((bucket, 0));
            if entry.0 != bucket {
                *entry = (bucket, 0);
            }
            entry.1 += needed;
        }
        jumped.sort();
        jumped.dedup();
        jumped.reverse();
        jumped
    }
}

/// Requests one hypothesis sends in one window.
pub fn requests_in(h: &Hypothesis, window: Duration) -> u64 {
    ((h.rate * window.as_secs_f64()).round() as u64).max(1)
}

/// Connections for an open-model load: one per 5 requests/s, between 2 and 50 (as the load steps).
fn connections(rate: f64) -> usize {
    ((rate / 5.0).ceil() as usize).clamp(2, 50)
}

/// What one window measured for one hypothesis.
#[derive(Debug, Clone)]
pub struct Measured {
    pub result: LoadResult,
    pub summary: Summary,
}

/// The longest a gateway attempt can wait on the stack clock (connect + read timeout).
fn longest_attempt(def: &StackDef) -> Duration {
    def.gateway
        .services
        .iter()
        .map(|s| s.connect_timeout.max(s.write_timeout) + s.read_timeout)
        .max()
        .unwrap_or(Duration::from_secs(60))
}

/// What one window of load measured, and the rate-limit windows the clock moved to first.
#[derive(Debug, Clone)]
pub struct WindowRun {
    pub measured: Vec<Measured>,
    pub clock_to_next: Vec<RatePeriod>,
}

/// Sends one window of every hypothesis to `stack` and returns what each measured.
///
/// # Errors
/// A load plan cannot be built (a path the load engine refuses) or the collector failed.
pub async fn run_window(
    stack: &Stack,
    hypotheses: &[Hypothesis],
    window: Duration,
    quotas: &mut Quotas,
) -> Result<WindowRun, String> {
    let clock_to_next = quotas.make_room(hypotheses, stack, window);
    let target = crate::load::plan::parse_target(&stack.proxy_url()).map_err(|e| e.to_string())?;
    let mut tasks = Vec::new();
    let mut progress = Vec::new();
    for h in hypotheses {
        let plan = plan_for(h, stack, target.addr, window)?;
        let description = h.name();
        let p = Arc::new(Progress::default());
        progress.push(p.clone());
        tasks.push(tokio::spawn(async move {
            load::run(plan, &description, p).await
        }));
    }
    let done = || -> u64 {
        progress
            .iter()
            .map(|p| p.done.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    };
    let all = futures::future::join_all(tasks);
    tokio::pin!(all);
    // Slow requests (a delay) finish in real time. Requests that stop making progress (a hang)
    // end by the gateway's timeouts on the stack clock: jump over those instead of waiting,
    // but only once nothing has finished for STALL, so a merely slow request is never cut.
    let mut deadline = tokio::time::Instant::now() + window + GRACE;
    let mut last = u64::MAX;
    let mut jumps = 0u32;
    let retries = stack
        .def
        .gateway
        .services
        .iter()
        .map(|s| s.retries)
        .max()
        .unwrap_or(0);
    let results = loop {
        tokio::select! {
            r = &mut all => break r,
            () = tokio::time::sleep_until(deadline) => {}
        }
        let now_done = done();
        if now_done != last {
            last = now_done;
            deadline = tokio::time::Instant::now() + STALL;
            continue;
        }
        if jumps > (retries + 2) * 2 {
            break all.await;
        }
        let _ = stack
            .clock
            .try_advance(longest_attempt(&stack.def) + Duration::from_secs(1));
        jumps += 1;
        deadline = tokio::time::Instant::now() + Duration::from_millis(100);
    };
    let mut out = Vec::new();
    for r in results {
        let result = r
            .map_err(|e| format!("a load task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let summary = summarize(&result);
        out.push(Measured { result, summary });
    }
    Ok(WindowRun {
        measured: out,
        clock_to_next,
    })
}

fn plan_for(
    h: &Hypothesis,
    stack: &Stack,
    addr: std::net::SocketAddr,
    window: Duration,
) -> Result<LoadPlan, String> {
    let gateway = &stack.def.gateway;
    let (_, consumer) = gateway
        .consumer_by_name(&h.consumer)
        .ok_or_else(|| format!("no consumer {:?}", h.consumer))?;
    let credential = consumer
        .jwt_secrets
        .first()
        .ok_or_else(|| format!("consumer {:?} has no jwt_secrets credential", h.consumer))?;
    let lifetime = gateway.usable_token_lifetime(Duration::from_secs(3600));
    let token = crate::token::issue(
        &credential.key,
        &credential.secret,
        stack.clock.unix_seconds(),
        lifetime,
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?,
    );
    if h.body.is_some() {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let template = RequestTemplate {
        method: h.method.clone(),
        path_and_query: h.path.clone(),
        headers,
        body: h.body.clone().unwrap_or_default().into(),
        label: format!("{} {}", h.method, h.path),
    };
    LoadPlan::new(
        addr,
        vec![template],
        Model::Open { rate: h.rate },
        Stop::Requests(requests_in(h, window)),
        connections(h.rate),
        REQUEST_TIMEOUT,
    )
    .map_err(|e| e.to_string())
}

/// Every objective of every hypothesis judged on one window.
pub fn verdicts(hypotheses: &[Hypothesis], measured: &[Measured]) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (hi, (h, m)) in hypotheses.iter().zip(measured).enumerate() {
        for (oi, objective) in h.objectives.iter().enumerate() {
            let j = judge(objective, &m.result, &m.summary);
            out.push(Verdict {
                hypothesis: hi,
                objective: oi,
                held: j.held,
                measured: j.measured,
                bound: j.bound,
                requests: m.summary.requests,
                detail: j.detail,
                by: j.by,
            });
        }
    }
    out
}
