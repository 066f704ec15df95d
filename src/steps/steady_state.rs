//! Experiments in method form (SPEC §11, Chaos Toolkit's shape): the steady-state hypothesis,
//! the method, the rollbacks, each checked as the explorer checks it.
//!
//! ```text
//!   Given the steady state: "<consumer>" reads "<path>" at 10/s with p99 below 250 ms …
//!       └─ declares the hypothesis and checks it on one window of its load (before the method)
//!   When …catalogued fault, toxic, stop or clock steps…          (the method)
//!   Then the steady state holds      ─ one window of every declared hypothesis, judged
//!   When …steps undoing the method…                              (the rollbacks)
//!   Then the steady state holds
//! ```
//! The same file is a hypothesis file for `gauntlet explore` (its steady-state steps are read,
//! the method left to the explorer's own schedules) and a runnable experiment for `gauntlet run`.

use std::path::PathBuf;

use cucumber::gherkin::Step;
use cucumber::{given, then};

use super::load::{gateway_answered_if_alone, in_process_stack};
use super::world::{GauntletWorld, StepError, StepResult};
use crate::explore::hypothesis::{self, Hypothesis};
use crate::explore::invariants::ClientCount;
use crate::explore::window::{run_window, verdicts, Quotas};
use crate::explore::DEFAULT_WINDOW;
use crate::report::evidence::RollbackRecord;

/// Sends one window of every declared steady state and fails naming each broken objective.
async fn check(world: &mut GauntletWorld, when: &str) -> StepResult {
    if world.steady_states.is_empty() {
        return Err(StepError::new(
            "no steady state declared: start the experiment with `Given the steady state: …`",
        ));
    }
    let hypotheses = world.steady_states.clone();
    let mut quotas = std::mem::take(&mut world.steady_quotas);
    let proxy = {
        let stack = world.stack().await?;
        crate::load::plan::parse_target(&stack.proxy_url())
            .map_err(|e| StepError::new(e.to_string()))?
    };
    let gateway_before = gateway_answered_if_alone(world, proxy.addr);
    let run = {
        let stack = world.stack().await?;
        run_window(stack, &hypotheses, DEFAULT_WINDOW, &mut quotas).await
    };
    world.steady_quotas = quotas;
    let run = run.map_err(StepError::new)?;
    if let (Some(before), Some(stack)) = (gateway_before, in_process_stack(world)) {
        let summaries = run.measured.iter().map(|m| &m.summary);
        world.client_counts.push(ClientCount {
            what: format!(
                "the steady state{}",
                if when.is_empty() {
                    String::new()
                } else {
                    format!(" {when}")
                }
            ),
            sent: summaries.clone().map(|s| s.requests).sum(),
            responses: summaries.clone().map(|s| s.responses()).sum(),
            errors: summaries.map(|s| s.error_count()).sum(),
            gateway_answered: stack
                .gateway
                .state
                .metrics
                .total_requests()
                .saturating_sub(before),
        });
    }
    let broken: Vec<String> = verdicts(&hypotheses, &run.measured)
        .into_iter()
        .filter(|v| !v.held)
        .map(|v| format!("{}: {}", hypotheses[v.hypothesis].name(), v.detail))
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        let when = if when.is_empty() {
            String::new()
        } else {
            format!(" {when}")
        };
        Err(StepError::new(format!(
            "the steady state does not hold{when}: {}",
            broken.join("; ")
        )))
    }
}

fn declared(world: &GauntletWorld, text: &str, step: &Step) -> Result<Hypothesis, StepError> {
    let def = &world.settings()?.stack;
    hypothesis::from_step(
        text,
        step.docstring.as_deref(),
        &PathBuf::from("(this feature)"),
        step.position.line,
        def,
    )
    .map_err(StepError::new)
}

#[given(regex = r"^(the steady state: .+)$")]
async fn steady_state(world: &mut GauntletWorld, text: String, step: &Step) -> StepResult {
    let h = declared(world, &text, step)?;
    let mut all = world.steady_states.clone();
    all.push(h);
    let def = world.settings()?.stack.clone();
    Quotas::check(&all, &def, DEFAULT_WINDOW).map_err(|e| StepError::new(e.to_string()))?;
    world.steady_states = all;
    check(world, "before the method").await
}

#[then(expr = "the steady state holds")]
async fn holds(world: &mut GauntletWorld) -> StepResult {
    world.steady_checks += 1;
    check(world, "").await
}

/// The text of the steady-state check that closes the method (and, optionally, the rollbacks).
const CHECK: &str = "the steady state holds";

/// Where an experiment's steps stand: its rollbacks are the steps after the first
/// `Then the steady state holds` (the check that closes the method), checks aside.
struct Sections<'a> {
    /// The rollback steps, with their index in the scenario.
    rollbacks: Vec<(usize, &'a Step)>,
}

impl<'a> Sections<'a> {
    fn of(scenario: &'a cucumber::gherkin::Scenario) -> Option<Sections<'a>> {
        let declares = scenario
            .steps
            .iter()
            .any(|s| s.value.starts_with("the steady state: "));
        let closes = scenario.steps.iter().position(|s| s.value == CHECK)?;
        declares.then(|| Sections {
            rollbacks: scenario
                .steps
                .iter()
                .enumerate()
                .skip(closes + 1)
                .filter(|(_, s)| s.value != CHECK && !s.value.starts_with("the steady state: "))
                .collect(),
        })
    }
}

/// Plays an experiment's rollbacks after a step before them failed (Chaos Toolkit plays them
/// even when the method fails or the steady state deviates), and after a failed rollback the
/// ones that follow it; records each rollback's status and what is still in force on the stack.
/// Called by the runner's after hook, before the evidence is taken.
pub async fn play_forced_rollbacks(
    scenario: &cucumber::gherkin::Scenario,
    finished: &cucumber::event::ScenarioFinished,
    world: &mut GauntletWorld,
) {
    use cucumber::World as _;
    use futures::FutureExt as _;

    let cucumber::event::ScenarioFinished::StepFailed(_, failed_at, _) = finished else {
        return;
    };
    let Some(sections) = Sections::of(scenario) else {
        return;
    };
    if sections.rollbacks.is_empty() || world.started_stack().is_none() {
        return;
    }
    let steps = GauntletWorld::collection();
    let location = |step: &Step| {
        steps
            .find(step)
            .ok()
            .flatten()
            .and_then(|(_, _, location, _)| location)
    };
    let is_check = failed_at.is_some()
        && scenario
            .steps
            .iter()
            .find(|s| s.value == CHECK)
            .and_then(location)
            == *failed_at;
    // Which rollbacks still have to run: all of them when the failure came before them (the
    // method, or the check that closes it), else those after the rollback that failed.
    let from = match world.steady_checks {
        0 => 0,
        1 if is_check => 0,
        _ if is_check => return,
        _ => match sections
            .rollbacks
            .iter()
            .position(|(_, s)| failed_at.is_some() && location(s) == *failed_at)
        {
            Some(failed) => failed + 1,
            None => return,
        },
    };
    let mut record = world.experiment.take().unwrap_or_default();
    record.deviated = record.deviated || (world.steady_checks == 1 && is_check);
    for (_, step) in &sections.rollbacks[from..] {
        let activity = format!("{}{}", step.keyword, step.value);
        let Some((run, _, _, context)) = steps.find(step).ok().flatten() else {
            record.rollbacks.push(RollbackRecord {
                activity,
                status: "failed",
                error: Some("no step of the catalogue matches it".into()),
            });
            continue;
        };
        let outcome = std::panic::AssertUnwindSafe(run(world, context))
            .catch_unwind()
            .await;
        record.rollbacks.push(match outcome {
            Ok(()) => RollbackRecord {
                activity,
                status: "succeeded",
                error: None,
            },
            Err(panic) => RollbackRecord {
                activity,
                status: "failed",
                error: Some(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                        .unwrap_or_else(|| "the step failed".into()),
                ),
            },
        });
    }
    record.left_in_force = in_process_stack(world).map(in_force).unwrap_or_default();
    world.experiment = Some(record);
}

/// Faults, toxics and stopped services or disabled links on `stack`, one line each.
pub fn in_force(stack: &crate::stack::Stack) -> Vec<String> {
    let mut out = Vec::new();
    for (name, service) in &stack.services {
        if !service.is_running() {
            out.push(format!("{name} is stopped"));
        }
        for (rule, _) in service.inbound().faults.rules() {
            out.push(format!(
                "{name} has the fault {}",
                serde_json::to_string(&rule).unwrap_or_default()
            ));
        }
    }
    for link in stack.links.all() {
        if !link.is_enabled() {
            out.push(format!("the link {} is down", link.name()));
        }
        for slot in link.toxics().iter() {
            out.push(format!(
                "the link {} has the toxic {:?}",
                link.name(),
                slot.toxic.name
            ));
        }
    }
    out
}
