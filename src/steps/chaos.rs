//! Faults (SPEC §7) and what reached a service: process faults (stop, start, kill), HTTP faults
//! at the service's inbound stage, and its journal.
//!
//! Every fault acts on the scenario's own stack, wherever it runs ([`crate::target`]).

use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::params::DurationParam;
use super::world::{GauntletWorld, StepError, StepResult};
use crate::chaos::fault::{Delay, FaultAction, FaultRule};
use crate::target::ProcessAction;

/// How long the steps that wait for requests to arrive at a service ("has received N
/// requests", "the started requests have reached") wait, in real time.
pub(super) const ARRIVAL_PATIENCE: Duration = Duration::from_secs(5);

async fn add_fault(world: &mut GauntletWorld, name: &str, rule: FaultRule) -> StepResult {
    Ok(world.stack().await?.add_fault(name, rule).await?)
}

async fn process(world: &mut GauntletWorld, name: &str, action: ProcessAction) -> StepResult {
    Ok(world.stack().await?.process(name, action).await?)
}

fn counted(action: FaultAction, times: Option<u32>) -> FaultRule {
    FaultRule {
        times,
        ..FaultRule::always(action)
    }
}

fn abort(status: u16) -> FaultAction {
    FaultAction::Abort { status, body: None }
}

#[given(expr = "{string} is stopped")]
#[when(expr = "{string} is stopped")]
async fn stopped(world: &mut GauntletWorld, name: String) -> StepResult {
    process(world, &name, ProcessAction::Stop).await
}

#[given(expr = "{string} is killed")]
#[when(expr = "{string} is killed")]
async fn killed(world: &mut GauntletWorld, name: String) -> StepResult {
    process(world, &name, ProcessAction::Kill).await
}

#[given(expr = "{string} is started again")]
#[when(expr = "{string} is started again")]
async fn started(world: &mut GauntletWorld, name: String) -> StepResult {
    process(world, &name, ProcessAction::Start).await
}

#[given(expr = "{string} answers {int} to every request")]
#[when(expr = "{string} answers {int} to every request")]
async fn answers_always(world: &mut GauntletWorld, name: String, status: u16) -> StepResult {
    add_fault(world, &name, counted(abort(status), None)).await
}

#[given(expr = "{string} answers {int} to the next {int} request(s)")]
#[when(expr = "{string} answers {int} to the next {int} request(s)")]
async fn answers_next(world: &mut GauntletWorld, name: String, status: u16, n: u32) -> StepResult {
    add_fault(world, &name, counted(abort(status), Some(n))).await
}

#[given(expr = "{string} answers {int} to {float}% of requests")]
async fn answers_some(
    world: &mut GauntletWorld,
    name: String,
    status: u16,
    percent: f64,
) -> StepResult {
    let rule = FaultRule {
        probability: percent / 100.0,
        ..FaultRule::always(abort(status))
    };
    add_fault(world, &name, rule).await
}

#[given(expr = "{string} responds after {duration}")]
#[when(expr = "{string} responds after {duration}")]
async fn responds_after(world: &mut GauntletWorld, name: String, d: DurationParam) -> StepResult {
    let ms = u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX);
    add_fault(
        world,
        &name,
        counted(FaultAction::Delay(Delay::FixedMs(ms)), None),
    )
    .await
}

#[given(expr = "{string} hangs")]
#[when(expr = "{string} hangs")]
async fn hangs(world: &mut GauntletWorld, name: String) -> StepResult {
    add_fault(world, &name, counted(FaultAction::Hang, None)).await
}

#[given(expr = "{string} hangs on the next {int} request(s)")]
#[when(expr = "{string} hangs on the next {int} request(s)")]
async fn hangs_next(world: &mut GauntletWorld, name: String, n: u32) -> StepResult {
    add_fault(world, &name, counted(FaultAction::Hang, Some(n))).await
}

#[given(expr = "{string} resets every connection")]
async fn resets(world: &mut GauntletWorld, name: String) -> StepResult {
    add_fault(world, &name, counted(FaultAction::Reset, None)).await
}

#[given(expr = "{string} sends malformed responses")]
async fn malformed(world: &mut GauntletWorld, name: String) -> StepResult {
    add_fault(world, &name, counted(FaultAction::Malformed, None)).await
}

#[given(expr = "{string} has the fault:")]
async fn fault_json(world: &mut GauntletWorld, name: String, step: &Step) -> StepResult {
    let text = step.docstring.as_deref().ok_or_else(|| {
        StepError::new("this step needs the fault as a JSON docstring (\"\"\" … \"\"\") below it")
    })?;
    let rule: FaultRule = serde_json::from_str(text)
        .map_err(|e| StepError::new(format!("the fault is not valid: {e}")))?;
    add_fault(world, &name, rule).await
}

#[given(expr = "the faults on {string} are cleared")]
#[when(expr = "the faults on {string} are cleared")]
async fn cleared(world: &mut GauntletWorld, name: String) -> StepResult {
    Ok(world.stack().await?.clear_faults(&name).await?)
}

#[then(expr = "{string} received {int} request(s)")]
async fn received(world: &mut GauntletWorld, name: String, expected: u64) -> StepResult {
    let (actual, last) = world.stack().await?.journal(&name, 10).await?;
    if actual == expected {
        return Ok(());
    }
    let recent: Vec<String> = last
        .iter()
        .map(|e| {
            format!(
                "  #{} {} {} at +{:.3} s{}",
                e.seq,
                e.method,
                e.path,
                e.at.as_secs_f64(),
                e.fault
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    Err(StepError::new(format!(
        "expected {name} to have received {expected} requests, it received {actual}{}",
        if recent.is_empty() {
            String::new()
        } else {
            format!("; the last ones:\n{}", recent.join("\n"))
        }
    )))
}

#[when(expr = "{string} has received {int} request(s)")]
async fn has_received(world: &mut GauntletWorld, name: String, n: u64) -> StepResult {
    let reached = world
        .stack()
        .await?
        .wait_for_requests(&name, n, ARRIVAL_PATIENCE)
        .await?;
    if reached >= n {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "waited {} s for {name} to have received {n} requests; it received {reached}",
            ARRIVAL_PATIENCE.as_secs()
        )))
    }
}
