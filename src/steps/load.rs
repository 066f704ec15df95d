//! Load steps (SPEC LAT-1): send many requests through the gateway on the load engine, then
//! state latency objectives, the success ratio and the achieved rate in Gherkin.
//!
//! ```text
//!   "I send 100 GET requests to … at 50 per second" ──► load::run ──► World.load_runs
//!   "the p99 latency is below 50 ms" ──────────────────────────────────┘ (the last run)
//!   runner after-hook ──► histogram_reports() ──► RunReport.histograms (plot, table, .hlog)
//! ```
//! Requests carry the scenario's token(s) and headers, exactly as `I send a GET request` does.
//!
//! # Rate limits
//! The valueverse gateway allows each consumer 100 requests a minute, and a load step never
//! switches that off. A load step that gets any 429 fails and says so: keep a scenario's load
//! within the consumer's quota (e.g. 100 requests in a minute window, started with
//! `the clock reaches the start of the next minute`), or move the clock to the next window
//! between load steps. A stack that declares a consumer-scoped rate-limiting override for a
//! dedicated load consumer (Kong's plugin precedence) can carry more.

use std::sync::Arc;
use std::time::Duration;

use cucumber::{then, when};
use http::HeaderMap;

use super::http::build_request;
use super::params::{DurationParam, LatencyParam, MethodParam, PercentParam, PercentileParam};
use super::world::{GauntletWorld, StepError, StepResult};
use crate::load::summary::{self, human_latency, summarize, Summary};
use crate::load::{self, plan, LoadPlan, LoadResult, Model, Progress, RequestTemplate, Stop};
use crate::report::model::{HistogramReport, LatencyObjective};

/// A request still unanswered after this long is a timeout error (the histograms' range).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// One load step's result, kept for the assertions that follow it and for the report.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Stack-clock time (since the stack started) at which the run began.
    pub stack_start: Option<Duration>,
    /// The latency objectives steps checked against this run, for the report's plot.
    pub objectives: Vec<LatencyObjective>,
    /// `GET /api/v1/value-models, open model at 50/s, 100 requests over 10 connections`.
    pub description: String,
    pub result: LoadResult,
    pub summary: Summary,
}

/// Connections for an open-model step: enough that a connection is rarely busy when its next
/// request is due (one per 5 requests/s), between 2 and 50.
fn open_connections(rate: u64) -> usize {
    usize::try_from(rate.div_ceil(5)).unwrap_or(50).clamp(2, 50)
}

async fn run_load(
    world: &mut GauntletWorld,
    method: http::Method,
    path: &str,
    model: Model,
    stop: Stop,
    connections: usize,
) -> StepResult {
    run_load_with(world, method, path, None, model, stop, connections).await
}

async fn run_load_with(
    world: &mut GauntletWorld,
    method: http::Method,
    path: &str,
    json: Option<&serde_json::Value>,
    model: Model,
    stop: Stop,
    connections: usize,
) -> StepResult {
    let mut request = build_request(world, method.clone(), path).await?;
    if let Some(json) = json {
        request = request.json_body(json);
    }
    let target = plan::parse_target(&request.url).map_err(|e| StepError::new(e.to_string()))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        headers.append(name.clone(), value.clone());
    }
    let template = RequestTemplate {
        method: method.clone(),
        path_and_query: target.path_and_query.clone(),
        headers,
        body: request.body.clone(),
        label: format!("{method} {path}"),
    };
    let plan = LoadPlan::new(
        target.addr,
        vec![template],
        model,
        stop,
        connections,
        REQUEST_TIMEOUT,
    )
    .map_err(|e| StepError::new(e.to_string()))?;
    let description = format!("{method} {path}, {}", plan.describe());
    // Where the run sits on the stack clock, so the report can draw breaker transitions on the
    // run's time axis.
    let stack_start = world.started_stack().map(|s| s.clock().now().since_start());
    let gateway_before = gateway_answered_if_alone(world, target.addr);
    let result = load::run(plan, &description, Arc::new(Progress::default()))
        .await
        .map_err(|e| StepError::new(e.to_string()))?;
    let summary = summarize(&result);
    if let (Some(before), Some(stack)) = (gateway_before, in_process_stack(world)) {
        let after = stack.gateway.state.metrics.total_requests();
        world
            .client_counts
            .push(crate::explore::invariants::ClientCount {
                what: format!("load step {description}"),
                sent: summary.requests,
                responses: summary.responses(),
                errors: summary.error_count(),
                gateway_answered: after.saturating_sub(before),
            });
    }
    let refused = summary.status_count(429);
    world.load_runs.push(LoadRun {
        objectives: Vec::new(),
        stack_start,
        description,
        result,
        summary,
    });
    if refused > 0 {
        let total = world.load_runs.last().map_or(0, |r| r.summary.requests);
        return Err(StepError::new(format!(
            "{refused} of the {total} load requests were refused with 429 (rate limited): a load \
             step never switches the consumer's rate limit off (valueverse: 100 requests a \
             minute); keep the scenario's load within the quota, or let the clock reach the \
             next minute between load steps"
        )));
    }
    Ok(())
}

/// The requests the gateway has answered so far, when a load to `addr` will be the only thing
/// reaching it: the load goes to the gateway's proxy, no request of the scenario runs in the
/// background and the gateway has none in flight. Then what the gateway answers during the
/// load is the load's own (INV-8 compares the two).
pub fn gateway_answered_if_alone(world: &GauntletWorld, addr: std::net::SocketAddr) -> Option<u64> {
    if !world.in_flight.is_empty() {
        return None;
    }
    let stack = in_process_stack(world)?;
    let proxy = plan::parse_target(&stack.proxy_url()).ok()?;
    let gateway = &stack.gateway.state;
    (proxy.addr == addr && gateway.kong_metrics.in_flight() == 0)
        .then(|| gateway.metrics.total_requests())
}

/// The scenario's stack when it runs in process: the gateway's own counters, which INV-8
/// compares with the client's, are read from its objects (the container target does not count
/// them for the host).
pub fn in_process_stack(world: &GauntletWorld) -> Option<&crate::stack::Stack> {
    world
        .started_stack()?
        .in_process("the gateway's counters")
        .ok()
}

/// The last load run of the scenario.
fn last_run(world: &GauntletWorld) -> Result<&LoadRun, StepError> {
    world
        .load_runs
        .last()
        .ok_or_else(|| StepError::new("no load was sent yet: use a load step first"))
}

fn percentile_of(run: &LoadRun, p: f64) -> Duration {
    summary::percentile(&run.result.latency, p)
}

fn label(p: f64) -> String {
    let s = format!("{p:.3}");
    format!("p{}", s.trim_end_matches('0').trim_end_matches('.'))
}

/// `over 100 requests (p50 …, max …; 200: 100)`, the context every failure message carries.
fn context(run: &LoadRun) -> String {
    format!(
        "over {} requests of {} ({}; {})",
        run.summary.requests,
        run.description,
        run.summary.latency_line(),
        run.summary.outcomes_line()
    )
}

#[when(expr = "I send {int} {method} requests to {string} at {int} per second")]
async fn send_at_rate(
    world: &mut GauntletWorld,
    count: u64,
    method: MethodParam,
    path: String,
    rate: u64,
) -> StepResult {
    let model = Model::Open { rate: rate as f64 };
    let stop = Stop::Requests(count);
    run_load(world, method.0, &path, model, stop, open_connections(rate)).await
}

#[when(expr = "I send {int} {method} requests to {string} at {int} per second with JSON:")]
async fn send_at_rate_json(
    world: &mut GauntletWorld,
    count: u64,
    method: MethodParam,
    path: String,
    rate: u64,
    step: &cucumber::gherkin::Step,
) -> StepResult {
    let text = step.docstring.as_deref().ok_or_else(|| {
        StepError::new(
            "this step needs the request body as a JSON docstring (\"\"\" … \"\"\") below it",
        )
    })?;
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| StepError::new(format!("the docstring is not valid JSON: {e}")))?;
    let model = Model::Open { rate: rate as f64 };
    let stop = Stop::Requests(count);
    run_load_with(
        world,
        method.0,
        &path,
        Some(&json),
        model,
        stop,
        open_connections(rate),
    )
    .await
}

#[when(expr = "I send {method} requests to {string} at {int} per second for {duration}")]
async fn send_at_rate_for(
    world: &mut GauntletWorld,
    method: MethodParam,
    path: String,
    rate: u64,
    duration: DurationParam,
) -> StepResult {
    let model = Model::Open { rate: rate as f64 };
    let stop = Stop::Duration(duration.0);
    run_load(world, method.0, &path, model, stop, open_connections(rate)).await
}

#[when(expr = "{int} concurrent clients send {int} {method} requests to {string}")]
async fn closed_clients(
    world: &mut GauntletWorld,
    clients: usize,
    count: u64,
    method: MethodParam,
    path: String,
) -> StepResult {
    let stop = Stop::Requests(count);
    run_load(world, method.0, &path, Model::Closed, stop, clients).await
}

#[then(expr = "the {percentile} latency is below {latency}")]
async fn latency_below(
    world: &mut GauntletWorld,
    p: PercentileParam,
    limit: LatencyParam,
) -> StepResult {
    let run = last_run(world)?;
    let measured = percentile_of(run, p.0);
    let met = measured < limit.0;
    let context = context(run);
    // The report draws the objective on the run's plot, met or breached.
    if let Some(run) = world.load_runs.last_mut() {
        run.objectives.push(LatencyObjective {
            percentile: p.0,
            below_ms: limit.0.as_secs_f64() * 1000.0,
            measured_ms: measured.as_secs_f64() * 1000.0,
            met,
        });
    }
    if met {
        return Ok(());
    }
    Err(StepError::new(format!(
        "the {} latency was {}, objective: below {} ({})",
        label(p.0),
        human_latency(measured),
        human_latency(limit.0),
        context
    )))
}

#[then(expr = "the {percentile} latency is between {latency} and {latency}")]
async fn latency_between(
    world: &mut GauntletWorld,
    p: PercentileParam,
    low: LatencyParam,
    high: LatencyParam,
) -> StepResult {
    let run = last_run(world)?;
    let measured = percentile_of(run, p.0);
    if (low.0..=high.0).contains(&measured) {
        return Ok(());
    }
    Err(StepError::new(format!(
        "the {} latency was {}, expected between {} and {} ({})",
        label(p.0),
        human_latency(measured),
        human_latency(low.0),
        human_latency(high.0),
        context(run)
    )))
}

#[then(expr = "the {percentile} latency objective of {latency} is missed by at least {latency}")]
async fn objective_missed(
    world: &mut GauntletWorld,
    p: PercentileParam,
    objective: LatencyParam,
    margin: LatencyParam,
) -> StepResult {
    let run = last_run(world)?;
    let measured = percentile_of(run, p.0);
    let wanted = objective.0 + margin.0;
    if measured >= wanted {
        return Ok(());
    }
    let verdict = if measured < objective.0 {
        format!("it met the {} objective", human_latency(objective.0))
    } else {
        format!(
            "it missed the {} objective by only {}",
            human_latency(objective.0),
            human_latency(measured - objective.0)
        )
    };
    Err(StepError::new(format!(
        "the {} latency was {}: {verdict}, expected a miss of at least {} ({})",
        label(p.0),
        human_latency(measured),
        human_latency(margin.0),
        context(run)
    )))
}

#[then(expr = "the success ratio is at least {percent}")]
async fn success_ratio(world: &mut GauntletWorld, at_least: PercentParam) -> StepResult {
    let run = last_run(world)?;
    let ratio = run.summary.success_ratio;
    // Compare in whole requests, so "99%" of 100 requests accepts exactly 99.
    let needed = (at_least.0 * run.summary.requests as f64 - 1e-9).ceil();
    if ratio * run.summary.requests as f64 >= needed {
        return Ok(());
    }
    Err(StepError::new(format!(
        "the success ratio was {:.2}% (2xx and 3xx responses), expected at least {:.2}% ({})",
        ratio * 100.0,
        at_least.0 * 100.0,
        context(run)
    )))
}

#[then(expr = "the achieved rate is within {percent} of {int} per second")]
async fn achieved_rate(
    world: &mut GauntletWorld,
    tolerance: PercentParam,
    rate: u64,
) -> StepResult {
    let run = last_run(world)?;
    let achieved = run.summary.achieved_rate;
    let target = rate as f64;
    let off = (achieved - target).abs() / target;
    if off <= tolerance.0 {
        return Ok(());
    }
    Err(StepError::new(format!(
        "the achieved rate was {achieved:.1} requests per second, {:.1}% off {rate}, expected \
         within {:.1}% ({})",
        off * 100.0,
        tolerance.0 * 100.0,
        context(run)
    )))
}

#[then(expr = "every load response has status {int}")]
async fn every_status(world: &mut GauntletWorld, status: u16) -> StepResult {
    let run = last_run(world)?;
    if run.summary.status_count(status) == run.summary.requests {
        return Ok(());
    }
    Err(StepError::new(format!(
        "expected every load response to be {status}, got {} ({})",
        run.summary.outcomes_line(),
        run.description
    )))
}

#[then(expr = "at least {int} load responses have status {int}")]
async fn at_least_status(world: &mut GauntletWorld, at_least: u64, status: u16) -> StepResult {
    let run = last_run(world)?;
    let got = run.summary.status_count(status);
    if got >= at_least {
        return Ok(());
    }
    Err(StepError::new(format!(
        "expected at least {at_least} load responses with status {status}, got {got} ({})",
        run.summary.outcomes_line()
    )))
}

#[then(expr = "the {percentile} latency of the {word} responses is below {latency}")]
async fn class_latency_below(
    world: &mut GauntletWorld,
    p: PercentileParam,
    class: String,
    limit: LatencyParam,
) -> StepResult {
    let run = last_run(world)?;
    let class = class.to_ascii_lowercase();
    let Some(histogram) = run.result.by_class.get(class.as_str()) else {
        let known: Vec<&str> = run.result.by_class.keys().copied().collect();
        return Err(StepError::new(format!(
            "the last load step got no {class} responses (it got: {}; classes are 2xx, 3xx, \
             4xx, 5xx and error)",
            known.join(", ")
        )));
    };
    let measured = summary::percentile(histogram, p.0);
    if measured < limit.0 {
        return Ok(());
    }
    Err(StepError::new(format!(
        "the {} latency of the {} {class} responses was {}, objective: below {} ({})",
        label(p.0),
        histogram.len(),
        human_latency(measured),
        human_latency(limit.0),
        context(run)
    )))
}

/// The report entries of a finished scenario's load runs: one histogram per run, named after the
/// feature, the scenario and the run, with its interval log `<feature>-l<line>-<n>.hlog`.
pub fn histogram_reports(
    feature_path: &str,
    scenario: &str,
    line: usize,
    runs: &[LoadRun],
) -> Vec<HistogramReport> {
    let stem = feature_path
        .rsplit('/')
        .next()
        .unwrap_or(feature_path)
        .trim_end_matches(".feature");
    runs.iter()
        .enumerate()
        .map(|(i, run)| {
            let name = format!("{scenario} · {}", run.description);
            let file = format!("{}-l{line}-{}.hlog", file_slug(stem), i + 1);
            let mut report = summary::histogram_report(&name, &run.result, &file);
            report.objectives = run.objectives.clone();
            report.stack_start_ms = run.stack_start.map(|d| d.as_secs_f64() * 1000.0);
            report
        })
        .collect()
}

/// Lowercase letters, digits and single dashes only: a plain file name.
fn file_slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "load".to_string()
    } else {
        out.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_model_steps_get_a_connection_per_five_requests_a_second() {
        assert_eq!(open_connections(1), 2);
        assert_eq!(open_connections(50), 10);
        assert_eq!(open_connections(10_000), 50);
    }

    #[test]
    fn percentile_labels_drop_trailing_zeros() {
        assert_eq!(label(99.0), "p99");
        assert_eq!(label(99.9), "p99.9");
    }

    #[test]
    fn histogram_log_names_are_plain_and_unique_per_run() {
        assert_eq!(file_slug("Latency objectives"), "latency-objectives");
        assert_eq!(file_slug("../.."), "load");
    }
}
