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
use super::tally::Tally;
use crate::config::gateway::RatePeriod;
use crate::config::StackDef;
use crate::load::collector::Recorder;
use crate::load::generator::generate;
use crate::load::hlog::HlogWriter;
use crate::load::summary::{percentile, summarize, Summary};
use crate::load::{LoadPlan, LoadResult, Model, Progress, RequestTemplate, Sample, Stop};
use crate::target::ScenarioStack;

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
    /// False when the window stopped before this objective was settled (another one was
    /// certainly broken): `held` then says nothing.
    pub judged: bool,
}

impl Verdict {
    /// Whether the objective was judged and broken.
    pub fn broke(&self) -> bool {
        self.judged && !self.held
    }
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
    pub async fn make_room(
        &mut self,
        hypotheses: &[Hypothesis],
        stack: &ScenarioStack,
        window: Duration,
    ) -> Vec<RatePeriod> {
        let mut jumped = Vec::new();
        let mut need: BTreeMap<(usize, RatePeriod), (u64, u64)> = BTreeMap::new();
        for h in hypotheses {
            for (plugin, period, limit) in quotas(h, stack.def()) {
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
            let now = stack.clock().unix_seconds();
            let bucket = now / secs;
            let (used, moved) = match self.used.get(key) {
                Some((b, n)) if *b == bucket => (*n, false),
                Some(_) => (0, true),
                None => (0, false),
            };
            // A clock that follows real time may have crossed into this window while the last
            // one's requests were still arriving: how many it counted here is unknown, so the
            // clock moves on to a window that is surely empty.
            let unknown = moved && !stack.clock().stands_still();
            if used + needed > limit || unknown {
                let wall = stack
                    .clock()
                    .wall()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let jump = Duration::from_secs(secs - wall.as_secs() % secs)
                    .saturating_sub(Duration::from_nanos(u64::from(wall.subsec_nanos())));
                if stack.advance(jump).await.is_ok() {
                    jumped.push(key.1);
                }
            }
        }
        for key in keys {
            let (needed, _) = need[&key];
            let Some(secs) = period_secs(key.1) else {
                continue;
            };
            let bucket = stack.clock().unix_seconds() / secs;
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
    /// Set when the window stopped before every request ended ([`Cut`]).
    pub stopped: Option<Stopped>,
}

/// When a window may stop before every request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Never: every request ends (a run's steady-state checks, the healthy baseline).
    Never,
    /// Once any objective is certainly broken (exploring: the schedule stops at its first
    /// broken window, so the rest of this one cannot change what is reported).
    AnyBreak,
    /// Once this objective (hypothesis, objective) is certainly broken (shrinking: only it
    /// counts).
    Objective(usize, usize),
}

/// A window stopped before every request ended.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// Real time from the window's start.
    pub at: Duration,
    /// Per hypothesis, per objective: the verdict no unfinished request could change
    /// (`None`: not settled when the window stopped, so not judged).
    pub certain: Vec<Vec<Option<bool>>>,
    /// Per hypothesis: requests unfinished when the window stopped (counted as timeouts).
    pub unfinished: Vec<u64>,
}

/// Real time between two looks at the unfinished requests once the window's sending is over.
const TICK: Duration = Duration::from_millis(50);
/// How late the generator may wake for a request due at the end of the window: an unfinished
/// request has waited at least (now − end of the window − this).
const LATE_START: Duration = Duration::from_millis(100);

/// Sends one window of every hypothesis to `stack` and returns what each measured.
///
/// # Errors
/// A load plan cannot be built (a path the load engine refuses).
pub async fn run_window(
    stack: &ScenarioStack,
    hypotheses: &[Hypothesis],
    window: Duration,
    quotas: &mut Quotas,
) -> Result<WindowRun, String> {
    run_window_until(stack, hypotheses, window, quotas, Cut::Never).await
}

/// Sends one window of every hypothesis to `stack`, stopping it as `cut` allows, and returns
/// what each measured.
///
/// Every hypothesis runs on the load engine's generator, its samples arriving one by one, so
/// the window knows at any moment which objectives are settled ([`Tally::certain`]). Requests
/// unfinished when a window is cut are counted as client timeouts.
///
/// # Errors
/// A load plan cannot be built (a path the load engine refuses).
pub async fn run_window_until(
    stack: &ScenarioStack,
    hypotheses: &[Hypothesis],
    window: Duration,
    quotas: &mut Quotas,
    cut: Cut,
) -> Result<WindowRun, String> {
    let clock_to_next = quotas.make_room(hypotheses, stack, window).await;
    let target = crate::load::plan::parse_target(&stack.proxy_url()).map_err(|e| e.to_string())?;
    let start = crate::clock::real_instant();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Vec<Sample>)>();
    let mut generators = Vec::new();
    let mut recorders = Vec::new();
    let mut tallies = Vec::new();
    for (i, h) in hypotheses.iter().enumerate() {
        let plan = plan_for(h, stack, target.addr, window)?;
        let labels = plan.templates.iter().map(|t| t.label.clone()).collect();
        let log = HlogWriter::new(crate::clock::real_wall_now(), &h.name());
        recorders.push(Recorder::new(labels, Some(h.rate), log));
        tallies.push(Tally::new(requests_in(h, window)));
        let (samples, mut received) = tokio::sync::mpsc::unbounded_channel();
        // Each request's sample as soon as it ends: the window judges as it goes.
        let progress = Arc::new(Progress::live());
        generators.push(tokio::spawn(generate(
            Arc::new(plan),
            start,
            samples,
            progress,
        )));
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(batch) = received.recv().await {
                if tx.send((i, batch)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    // Slow requests (a delay) finish in real time. Requests that stop making progress (a hang)
    // end by the gateway's timeouts on the stack clock: jump over those instead of waiting,
    // but only once nothing has finished for STALL, so a merely slow request is never cut.
    let mut deadline = start + window + GRACE;
    let mut next_look = start + window;
    let mut last = u64::MAX;
    let mut jumps = 0u32;
    let mut patient = false;
    let retries = stack
        .def()
        .gateway
        .services
        .iter()
        .map(|s| s.retries)
        .max()
        .unwrap_or(0);
    let mut stopped = None;
    loop {
        let wake = match (cut, patient) {
            (Cut::Never, _) => deadline,
            (_, true) => next_look,
            (_, false) => deadline.min(next_look),
        };
        let mut fresh = None;
        tokio::select! {
            got = rx.recv() => match got {
                Some((i, batch)) => {
                    for sample in &batch {
                        recorders[i].record(sample);
                        tallies[i].add(sample);
                    }
                    fresh = Some(i);
                }
                None => break,
            },
            () = tokio::time::sleep_until(wake), if cut != Cut::Never || !patient => {}

        }
        let now = tokio::time::Instant::now();
        if cut != Cut::Never && (fresh.is_some() || now >= next_look) {
            let least = now
                .saturating_duration_since(start + window)
                .saturating_sub(LATE_START);
            if let Some(certain) = settled(hypotheses, &tallies, least, cut) {
                stopped = Some(Stopped {
                    at: now.saturating_duration_since(start),
                    certain,
                    unfinished: Vec::new(),
                });
                break;
            }
        }
        if now >= next_look {
            next_look = now + TICK;
        }
        if fresh.is_some() || patient || now < deadline {
            continue;
        }
        let ended: u64 = tallies.iter().map(|t| t.ended).sum();
        if ended != last {
            last = ended;
            deadline = now + STALL;
            continue;
        }
        if jumps > (retries + 2) * 2 {
            patient = true;
            continue;
        }
        let _ = stack
            .advance(longest_attempt(stack.def()) + Duration::from_secs(1))
            .await;
        jumps += 1;
        deadline = now + Duration::from_millis(100);
    }
    if let Some(stopped) = &mut stopped {
        // The requests still running are dropped with their connections; whatever ended
        // meanwhile is counted, the rest are client timeouts.
        for g in &generators {
            g.abort();
        }
        while let Some((i, batch)) = rx.recv().await {
            for sample in &batch {
                recorders[i].record(sample);
                tallies[i].add(sample);
            }
        }
        for (i, tally) in tallies.iter().enumerate() {
            let unfinished = tally.unfinished();
            let timeout = Sample {
                template: 0,
                sent_at: stopped.at,
                done_at: stopped.at,
                latency: stopped.at,
                service_time: Duration::ZERO,
                outcome: crate::load::Outcome::Error(crate::load::ErrorKind::Timeout),
            };
            for _ in 0..unfinished {
                recorders[i].record(&timeout);
            }
            stopped.unfinished.push(unfinished);
        }
    }
    for g in generators {
        let _ = g.await;
    }
    let measured = recorders
        .into_iter()
        .map(|r| {
            let result = r.finish();
            let summary = summarize(&result);
            Measured { result, summary }
        })
        .collect();
    Ok(WindowRun {
        measured,
        clock_to_next,
        stopped,
    })
}

/// Every objective's settled verdict, when `cut` allows the window to stop now.
fn settled(
    hypotheses: &[Hypothesis],
    tallies: &[Tally],
    least: Duration,
    cut: Cut,
) -> Option<Vec<Vec<Option<bool>>>> {
    let certain: Vec<Vec<Option<bool>>> = hypotheses
        .iter()
        .zip(tallies)
        .map(|(h, t)| h.objectives.iter().map(|o| t.certain(o, least)).collect())
        .collect();
    let stop = match cut {
        Cut::Never => false,
        Cut::AnyBreak => certain.iter().flatten().any(|c| *c == Some(false)),
        Cut::Objective(h, o) => {
            certain.get(h).and_then(|c| c.get(o)).copied().flatten() == Some(false)
        }
    };
    stop.then_some(certain)
}

fn plan_for(
    h: &Hypothesis,
    stack: &ScenarioStack,
    addr: std::net::SocketAddr,
    window: Duration,
) -> Result<LoadPlan, String> {
    let gateway = &stack.def().gateway;
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
        stack.clock().unix_seconds(),
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
                judged: true,
            });
        }
    }
    out
}

/// Every objective of every hypothesis judged on one window, as [`verdicts`] does; a window that
/// stopped early ([`Cut`]) keeps the settled verdicts, describes them by the requests that
/// ended, and leaves the unsettled ones unjudged.
pub fn window_verdicts(hypotheses: &[Hypothesis], run: &WindowRun) -> Vec<Verdict> {
    let mut out = verdicts(hypotheses, &run.measured);
    let Some(stopped) = &run.stopped else {
        return out;
    };
    for v in &mut out {
        let certain = stopped
            .certain
            .get(v.hypothesis)
            .and_then(|c| c.get(v.objective))
            .copied()
            .flatten();
        let unfinished = stopped.unfinished.get(v.hypothesis).copied().unwrap_or(0);
        let planned = v.requests;
        let when = format!(
            "the window stopped after {:.2} s with {unfinished} of {planned} requests unfinished",
            stopped.at.as_secs_f64()
        );
        let Some(held) = certain else {
            v.judged = false;
            v.held = true;
            v.by = String::new();
            v.detail = format!("not judged: {when}, once another objective was certainly broken");
            continue;
        };
        v.held = held;
        let objective = &hypotheses[v.hypothesis].objectives[v.objective];
        if let (Objective::SuccessAtLeast { ratio }, Some(m)) =
            (objective, run.measured.get(v.hypothesis))
        {
            let ended = planned.saturating_sub(unfinished);
            let share = if ended == 0 {
                0.0
            } else {
                m.summary.successes as f64 / ended as f64
            };
            v.measured = share;
            v.by = format!("{:+.2} points", (share - ratio) * 100.0);
            v.detail = format!(
                "success ratio was {:.2}% of the {ended} requests that ended (objective at least \
                 {:.2}%; {} succeeded; {when}, the verdict certain whatever they do)",
                share * 100.0,
                ratio * 100.0,
                m.summary.successes
            );
        } else {
            v.detail = format!(
                "{} ({when}, the verdict certain whatever they do)",
                v.detail
            );
        }
    }
    out
}
