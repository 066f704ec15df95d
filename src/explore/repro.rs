//! Reproducers (SPEC §11): a shrunk schedule written as a feature of catalogued steps that
//! `gauntlet run` fails on the same objective, tagged with the seed and the objective.
//!
//! ```text
//!   Shrunk (schedule + its last play) ──► repro-<n>.feature
//!     Given the stack is running · the stack clock stands still
//!     per window: clock to the next rate-limit window (as the explorer moved it) · actions
//!                 starting here · a fresh token · the hypothesis's load · (breaking window:
//!                 the broken objective) · actions ending here undone
//!     before the recovery window: the breakers' open_timeout passes
//! ```
//! Only the broken objective is asserted, in the window where it broke: earlier windows carry
//! the load (they shape breaker and rate-limit state) but no assertion, so the feature fails for
//! that one reason.

use std::time::Duration;

use super::action::Step;
use super::hypothesis::{Hypothesis, Objective};
use super::schedule::{Phase, Played, Schedule};
use super::window::requests_in;
use crate::config::StackDef;

/// What a reproducer is written from.
#[derive(Debug, Clone)]
pub struct ReproInput<'a> {
    pub number: usize,
    pub stack: &'a StackDef,
    pub seed: u64,
    pub window: Duration,
    pub hypothesis: &'a Hypothesis,
    pub objective: usize,
    pub schedule: &'a Schedule,
    /// The play of `schedule` with `hypothesis` alone that broke the objective.
    pub played: &'a Played,
    /// The schedule the explorer found before shrinking.
    pub original: &'a Schedule,
}

/// The tag naming the objective: `@objective=p99-below-250ms`.
pub fn objective_tag(objective: &Objective) -> String {
    format!("@objective={}", objective.slug())
}

/// The feature text.
pub fn render(input: &ReproInput<'_>) -> String {
    let h = input.hypothesis;
    let objective = &h.objectives[input.objective];
    let broke_at = input
        .played
        .windows
        .iter()
        .find(|w| {
            w.verdicts
                .iter()
                .any(|v| v.broke() && v.objective == input.objective)
        })
        .map_or(0, |w| w.index);
    let real_timeouts = input
        .schedule
        .actions
        .iter()
        .any(|t| t.action.needs_gateway_timeout(input.stack) || t.action.needs_running_clock());

    let mut lines = Vec::new();
    lines.push(format!(
        "@explore @LAT-1 @seed={} {}",
        input.seed,
        objective_tag(objective)
    ));
    lines.push(format!(
        "Feature: Reproducer {}: {} breaks \"{}\" of {}",
        input.number,
        input.schedule.describe(),
        objective.describe(),
        h.name()
    ));
    lines.push(format!(
        "  Found by `gauntlet explore --stack {} --seed {}` ({}, steady state at {}); shrunk from: {}.",
        input.stack.dir.display(),
        input.seed,
        h.location(),
        crate::units::format_duration(input.window),
        input.original.describe()
    ));
    lines.push(format!(
        "  `gauntlet run --stack {} <this file>` fails on that objective.",
        input.stack.dir.display()
    ));
    lines.push(String::new());
    lines.push(format!(
        "  Scenario: {} breaks {}",
        input.schedule.describe(),
        objective.describe()
    ));
    lines.push("    Given the stack is running".into());
    if !real_timeouts {
        lines.push("    And the stack clock stands still".into());
    }
    let fault_windows = input.schedule.fault_windows();
    for record in input.played.windows.iter().take(broke_at + 1) {
        let w = record.index;
        lines.push(format!(
            "    # window {w} ({})",
            match record.phase {
                Phase::Recovery => "recovery",
                _ => "fault",
            }
        ));
        if w == fault_windows && fault_windows > 0 {
            let pass = super::schedule::longest_open_timeout(input.stack) + Duration::from_secs(1);
            push_step(
                &mut lines,
                &Step::plain(format!("{} pass", crate::units::format_duration(pass))),
            );
        }
        for period in &record.clock_to_next {
            push_step(
                &mut lines,
                &Step::plain(format!("the clock reaches the start of the next {period}")),
            );
        }
        for t in input.schedule.actions.iter().filter(|t| t.at == w) {
            for step in t.action.steps() {
                push_step(&mut lines, &step);
            }
        }
        lines.push(format!(
            "    Given I have a valid token for {:?}",
            h.consumer
        ));
        let count = requests_in(h, input.window);
        let rate = (h.rate.round() as u64).max(1);
        match &h.body {
            Some(body) => push_step(
                &mut lines,
                &Step {
                    keyword: "When",
                    text: format!(
                        "I send {count} {} requests to {:?} at {rate} per second with JSON:",
                        h.method, h.path
                    ),
                    docstring: Some(body.trim().to_string()),
                },
            ),
            None => lines.push(format!(
                "    When I send {count} {} requests to {:?} at {rate} per second",
                h.method, h.path
            )),
        }
        if w == broke_at {
            lines.push(format!("    Then {}", objective_step(objective)));
            break;
        }
        for t in input
            .schedule
            .actions
            .iter()
            .filter(|t| t.at + t.windows == w + 1)
        {
            for step in t.action.revert_steps() {
                push_step(&mut lines, &step);
            }
        }
    }
    lines.push(String::new());
    lines.join("\n")
}

fn push_step(lines: &mut Vec<String>, step: &Step) {
    lines.push(format!("    {} {}", step.keyword, step.text));
    if let Some(doc) = &step.docstring {
        lines.push("      \"\"\"".into());
        for l in doc.lines() {
            lines.push(format!("      {l}"));
        }
        lines.push("      \"\"\"".into());
    }
}

/// The catalogued step asserting `objective` on the last load step.
pub fn objective_step(objective: &Objective) -> String {
    match objective {
        Objective::LatencyBelow { percentile, limit } => format!(
            "the {} latency is below {}",
            super::hypothesis::percentile_label(*percentile),
            crate::units::format_duration(*limit)
        ),
        Objective::SuccessAtLeast { ratio } => {
            let pct = format!("{:.3}", ratio * 100.0);
            format!(
                "the success ratio is at least {}%",
                pct.trim_end_matches('0').trim_end_matches('.')
            )
        }
    }
}
