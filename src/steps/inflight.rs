//! Requests left in flight while the scenario goes on: slow or hung requests that fill a
//! bulkhead, or wait for a timeout that a clock jump brings on.
//!
//! ```text
//!   "I start N GET requests to …" ──► tasks on the runtime ──► World::in_flight
//!   "the started requests finish" ──► awaited in start order ──► World::exchanges
//! ```

use std::time::Duration;

use cucumber::{then, when};

use super::chaos::ARRIVAL_PATIENCE;
use super::http::build_request;
use super::params::{DurationParam, MethodParam};
use super::world::{Exchange, GauntletWorld, InFlight, StepError, StepResult};
use crate::clock::Stopwatch;
use crate::gateway::router;

/// The stack service a gateway request for `method path` goes to, if a route matches.
fn target_service(
    stack: &crate::target::ScenarioStack,
    method: &http::Method,
    path: &str,
) -> Option<String> {
    let (path_only, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let def = stack.def();
    let matched = router::match_route(
        &def.gateway,
        method,
        &crate::http::path::normalize_path(path_only),
        query,
    )?;
    let host = &def.gateway.services[matched.service?].host;
    def.topology.service_for_host(host).map(|s| s.name.clone())
}

async fn start(
    world: &mut GauntletWorld,
    count: usize,
    method: MethodParam,
    path: &str,
) -> StepResult {
    let target = target_service(world.stack().await?, &method.0, path);
    let request = build_request(world, method.0, path).await?;
    if world.in_flight.is_empty() {
        // What every service had received before this batch, for "have reached".
        world.journal_baseline = world.stack().await?.request_counts().await?;
    }
    for _ in 0..count {
        let client = world.client.clone();
        let request = request.clone();
        let task = tokio::spawn(async move {
            let response = client.send(&request).await;
            (request, response)
        });
        world.in_flight.push(InFlight {
            task,
            target: target.clone(),
        });
    }
    Ok(())
}

#[when(expr = "I start a {method} request to {string}")]
async fn start_one(world: &mut GauntletWorld, method: MethodParam, path: String) -> StepResult {
    start(world, 1, method, &path).await
}

#[when(expr = "I start {int} {method} requests to {string}")]
async fn start_many(
    world: &mut GauntletWorld,
    count: usize,
    method: MethodParam,
    path: String,
) -> StepResult {
    start(world, count, method, &path).await
}

#[when("the started requests finish")]
async fn finish(world: &mut GauntletWorld) -> StepResult {
    let started = std::mem::take(&mut world.in_flight);
    if started.is_empty() {
        return Err(StepError::new(
            "no request was started: use \"I start a GET request to …\" first",
        ));
    }
    let total = started.len();
    // Once the scenario moves the stack clock, the requests' policy deadlines are on it: a jump
    // past a deadline ends the wait at once. Waiting in real time for an answer the policy
    // should already have given would let real time stand in for policy time (a 60 s timeout
    // would pass a scenario about 30 s), so then the wait is bounded.
    let clock = world.stack().await?.clock().clone();
    let clock_in_use =
        !world.settings()?.real_time && (clock.stands_still() || clock.offset() > Duration::ZERO);
    if clock_in_use {
        let all_done = async {
            while !started.iter().all(|r| r.task.is_finished()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        if tokio::time::timeout(FINISH_PATIENCE, all_done)
            .await
            .is_err()
        {
            let waiting = started.iter().filter(|r| !r.task.is_finished()).count();
            for in_flight in &started {
                in_flight.task.abort();
            }
            return Err(StepError::new(format!(
                "{waiting} of {total} started requests still have no answer after {} s of real time, with the stack clock moved {} s ahead: the answer due by now on the stack clock (a timeout, a fallback) did not come (only --real-time waits for answers in real time)",
                FINISH_PATIENCE.as_secs(),
                clock.offset().as_secs_f64()
            )));
        }
    }
    let mut failures = Vec::new();
    for in_flight in started {
        match in_flight.task.await {
            Ok((request, Ok(response))) => world.exchanges.push(Exchange {
                request,
                response: Some(response),
            }),
            Ok((request, Err(e))) => {
                failures.push(e.to_string());
                world.exchanges.push(Exchange {
                    request,
                    response: None,
                });
            }
            Err(e) => failures.push(format!("the request task failed: {e}")),
        }
    }
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(StepError::new(format!(
            "{} of {total} started requests got no response; first: {first}",
            failures.len()
        ))),
    }
}

/// How long "the started requests finish" waits in real time once the scenario has moved the
/// stack clock: enough for answers the gateway already decided on to arrive on a loaded machine.
const FINISH_PATIENCE: Duration = Duration::from_secs(5);

/// How long "still waiting" watches for an answer (real time) once no timer on the stack clock is
/// due: long enough for a response the gateway already decided on to arrive over loopback.
const STILL_WAITING_WINDOW: Duration = Duration::from_millis(200);

#[then("the started requests are still waiting")]
async fn still_waiting(world: &mut GauntletWorld) -> StepResult {
    if world.in_flight.is_empty() {
        return Err(StepError::new("no request was started"));
    }
    let clock = world.stack().await?.clock().clone();
    // A jump that reached a deadline (a read timeout one step too short) wakes its timer; on a
    // loaded machine the timer's task may run later than any fixed window. So the window only
    // starts once no timer on the stack clock is due: the answer it brings is then on its way.
    let watch = Stopwatch::start();
    let mut quiet_since: Option<Duration> = None;
    let finished = |world: &GauntletWorld| world.in_flight.iter().any(|r| r.task.is_finished());
    while !finished(world) && watch.elapsed() < FINISH_PATIENCE {
        let now = watch.elapsed();
        if clock.due_sleepers() > 0 {
            quiet_since = None;
        } else if now.saturating_sub(*quiet_since.get_or_insert(now)) >= STILL_WAITING_WINDOW {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = world
        .in_flight
        .iter()
        .filter(|r| r.task.is_finished())
        .count();
    if done == 0 {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "{done} of {} started requests already got an answer",
            world.in_flight.len()
        )))
    }
}

#[then(expr = "the response came back within {duration}")]
async fn came_back_within(world: &mut GauntletWorld, limit: DurationParam) -> StepResult {
    let elapsed = world.last()?.elapsed;
    if elapsed <= limit.0 {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "the response took {:.1} ms, more than {} ms",
            elapsed.as_secs_f64() * 1000.0,
            limit.0.as_millis()
        )))
    }
}

#[when(expr = "the started requests have reached {string}")]
async fn have_reached(world: &mut GauntletWorld, service: String) -> StepResult {
    if world.in_flight.is_empty() {
        return Err(StepError::new("no request was started"));
    }
    let started = world
        .in_flight
        .iter()
        .filter(|r| r.target.as_deref() == Some(service.as_str()))
        .count() as u64;
    if started == 0 {
        return Err(StepError::new(format!(
            "none of the started requests goes to {service} (no route sends them there)"
        )));
    }
    let baseline = world.journal_baseline.get(&service).copied().unwrap_or(0);
    let reached = world
        .stack()
        .await?
        .wait_for_requests(&service, baseline + started, ARRIVAL_PATIENCE)
        .await?
        - baseline;
    if reached >= started {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "waited {} s for the {started} started requests to reach {service}; {reached} did",
            ARRIVAL_PATIENCE.as_secs()
        )))
    }
}
