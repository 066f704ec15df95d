//! Shrinking (SPEC §11): a schedule that broke an objective is reduced by delta debugging over
//! its actions, their timing and their parameters, replaying deterministically, to a minimal
//! schedule that still breaks the same objective of the same hypothesis.
//!
//! ```text
//!   broken schedule + (hypothesis, objective)
//!     ──► replay with that hypothesis alone (the reproducer's load)
//!     ──► drop actions one at a time (ddmin for the small sets schedules are)
//!     ──► move every action to the first window, for one window
//!     ──► each action's gentler versions, gentlest first (lower probability, shorter delay)
//!     ──► confirm the result once more; a result that does not confirm falls back
//! ```
//! Every candidate is played on a fresh stack whose seed derives from the run seed and the
//! candidate's own text, so the same candidate always gets the same random choices.

use super::action::{Action, HttpFault};
use super::hypothesis::Hypothesis;
use super::schedule::{play, PlaySettings, Played, Schedule, Timed};

/// The result of shrinking.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub schedule: Schedule,
    /// The last play of `schedule` (with the one hypothesis).
    pub played: Played,
    /// Replays tried.
    pub replays: usize,
    /// Whether the hypothesis breaks on its own (without the others' load). When it does not,
    /// `schedule` is the original and the reproducer carries no guarantee.
    pub alone: bool,
}

/// Bounds on the work shrinking may do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_replays: usize,
    /// Stop trying new candidates once this much wall time has gone.
    pub deadline: Option<std::time::Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_replays: 30,
            deadline: None,
        }
    }
}

/// Plays of a candidate with a random action (probability below 1) on differently seeded
/// stacks: a reproducer runs under `gauntlet run` with other random draws, so a gentler
/// candidate is kept only when it breaks the objective under every one of them.
const ROBUST_PLAYS: u64 = 6;

fn is_random(schedule: &Schedule) -> bool {
    schedule
        .actions
        .iter()
        .any(|t| share(&t.action).is_some_and(|p| p < 1.0))
}

/// The share of requests (a fault's probability) or connections (a toxic's toxicity) an action
/// hits, for the actions that draw it at random.
fn share(action: &Action) -> Option<f64> {
    match action {
        Action::Fault { probability, .. } => Some(*probability),
        Action::Toxic(t) => Some(t.toxicity),
        _ => None,
    }
}

fn share_mut(action: &mut Action) -> Option<&mut f64> {
    match action {
        Action::Fault { probability, .. } => Some(probability),
        Action::Toxic(t) => Some(&mut t.toxicity),
        _ => None,
    }
}

/// Plays `candidate` (several times, on differently seeded stacks, when it has a random
/// action); the last play when every one broke the objective.
async fn breaks(
    candidate: &Schedule,
    alone: &[Hypothesis],
    objective: usize,
    settings: &PlaySettings,
    replays: &mut usize,
) -> Option<Played> {
    let plays = if is_random(candidate) {
        ROBUST_PLAYS
    } else {
        1
    };
    let mut last = None;
    for i in 0..plays {
        let seeded = PlaySettings {
            seed: if i == 0 {
                settings.seed
            } else {
                crate::seed::derive_seed(settings.seed, &["robust", &i.to_string()])
            },
            ..settings.clone()
        };
        let played = play(candidate, alone, &seeded, 0).await;
        *replays += 1;
        if !played.breaks(0, objective) {
            return None;
        }
        last = Some(played);
    }
    last
}

/// Shrinks `schedule`, which broke objective `objective` of `hypothesis`.
pub async fn shrink(
    schedule: &Schedule,
    hypothesis: &Hypothesis,
    objective: usize,
    settings: &PlaySettings,
    limits: Limits,
) -> Shrunk {
    let stopwatch = crate::clock::Stopwatch::start();
    let alone = std::slice::from_ref(hypothesis);
    // Only this objective counts: a window stops early once it is certainly broken.
    let focused = PlaySettings {
        focus: Some((0, objective)),
        ..settings.clone()
    };
    let settings = &focused;
    let mut replays = 0usize;
    let out_of_room = |replays: usize| {
        replays >= limits.max_replays || limits.deadline.is_some_and(|d| stopwatch.elapsed() >= d)
    };

    let first = play(schedule, alone, settings, 0).await;
    replays += 1;
    if !first.breaks(0, objective) {
        return Shrunk {
            schedule: schedule.clone(),
            played: first,
            replays,
            alone: false,
        };
    }
    let mut best = schedule.clone();
    let mut best_played = first;

    // 1. Fewer actions: drop one at a time while the objective still breaks.
    let mut changed = true;
    while changed && best.actions.len() > 1 && !out_of_room(replays) {
        changed = false;
        for i in 0..best.actions.len() {
            let mut candidate = best.clone();
            candidate.actions.remove(i);
            if let Some(played) = breaks(&candidate, alone, objective, settings, &mut replays).await
            {
                best = candidate;
                best_played = played;
                changed = true;
                break;
            }
            if out_of_room(replays) {
                break;
            }
        }
    }

    // 2. Simpler timing: every action in the first window, for one window.
    let compact = Schedule {
        actions: best
            .actions
            .iter()
            .map(|t| Timed {
                action: t.action.clone(),
                at: 0,
                windows: 1,
            })
            .collect(),
    };
    if compact != best && !out_of_room(replays) {
        if let Some(played) = breaks(&compact, alone, objective, settings, &mut replays).await {
            best = compact;
            best_played = played;
        }
    }

    // 3. Gentler parameters, gentlest first, until none of an action's gentler versions breaks.
    for i in 0..best.actions.len() {
        let mut tried_all = false;
        while !tried_all && !out_of_room(replays) {
            tried_all = true;
            for gentler in best.actions[i].action.smaller() {
                let mut candidate = best.clone();
                candidate.actions[i].action = gentler;
                if let Some(played) =
                    breaks(&candidate, alone, objective, settings, &mut replays).await
                {
                    best = candidate;
                    best_played = played;
                    tried_all = false;
                    break;
                }
                if out_of_room(replays) {
                    break;
                }
            }
        }
    }

    // 4. Margin: a share found by shrinking sits at the edge of what breaks; the reproducer
    //    runs with other random draws, so it keeps one notch above it (double the share, never
    //    above what was found) and fails run after run.
    //    A parameter shrunk to the edge (a 62 ms timeout toxic that makes p99 260 ms against
    //    250 ms) gets the same margin: one notch harsher, never past what was found.
    for (i, t) in best.actions.iter_mut().enumerate() {
        match (&mut t.action, schedule.actions.get(i).map(|o| &o.action)) {
            (Action::Toxic(toxic), Some(Action::Toxic(found))) => {
                *toxic = toxic.with_margin(found);
            }
            (
                Action::Fault {
                    fault: HttpFault::Delay { ms },
                    ..
                },
                Some(Action::Fault {
                    fault: HttpFault::Delay { ms: found },
                    ..
                }),
            ) if *ms < *found => *ms = (*ms * 2).min(*found),
            _ => {}
        }
        if let Some(probability) = share_mut(&mut t.action) {
            let found = schedule
                .actions
                .get(i)
                .and_then(|o| share(&o.action))
                .unwrap_or(1.0);
            if *probability < found {
                *probability = (*probability * 2.0).min(found);
            }
        }
    }

    // 5. Confirm: the result must break once more.
    if best != *schedule {
        let again = play(&best, alone, settings, 0).await;
        replays += 1;
        if again.breaks(0, objective) {
            best_played = again;
        } else {
            let original = play(schedule, alone, settings, 0).await;
            replays += 1;
            return Shrunk {
                schedule: schedule.clone(),
                played: original,
                replays,
                alone: true,
            };
        }
    }
    Shrunk {
        schedule: best,
        played: best_played,
        replays,
        alone: true,
    }
}
