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

use super::world::{GauntletWorld, StepError, StepResult};
use crate::explore::hypothesis::{self, Hypothesis};
use crate::explore::window::{run_window, verdicts, Quotas};
use crate::explore::DEFAULT_WINDOW;

/// Sends one window of every declared steady state and fails naming each broken objective.
async fn check(world: &mut GauntletWorld, when: &str) -> StepResult {
    if world.steady_states.is_empty() {
        return Err(StepError::new(
            "no steady state declared: start the experiment with `Given the steady state: …`",
        ));
    }
    let hypotheses = world.steady_states.clone();
    let mut quotas = std::mem::take(&mut world.steady_quotas);
    let run = {
        let stack = world.stack().await?;
        run_window(stack, &hypotheses, DEFAULT_WINDOW, &mut quotas).await
    };
    world.steady_quotas = quotas;
    let run = run.map_err(StepError::new)?;
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
    check(world, "").await
}
