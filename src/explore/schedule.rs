//! Schedules: which actions happen in which windows, drawn from the seeded RNG, and how one is
//! played against a fresh stack, window by window.
//!
//! ```text
//!   action space ──seeded shuffle──► singles (each action alone), then pairs
//!   Schedule ──play()──► fresh stack (seed derived from the run seed and the schedule)
//!            window 0..n: apply actions starting here ─► one window of load ─► verdicts
//!                         ─► revert actions ending here
//!            before the recovery window: the clock jumps past every breaker's open_timeout
//! ```
//! A schedule is replayed exactly: same actions, same stack seed (derived from the schedule's
//! own text), same windows. That is what makes shrinking and the reproducer trustworthy.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::action::Action;
use super::hypothesis::Hypothesis;
use super::window::{run_window_until, window_verdicts, Cut, Quotas, Verdict};
use crate::clock::Stopwatch;
use crate::config::gateway::{PluginConfig, PluginKind};
use crate::config::StackDef;
use crate::seed::derive_seed;
use crate::target::{RunTarget, ScenarioStack};

/// One action in a schedule: from window `at`, for `windows` windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timed {
    pub action: Action,
    pub at: usize,
    pub windows: usize,
}

/// A schedule of actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub actions: Vec<Timed>,
}

/// Windows of load after the last action was undone, to see the stack recover.
pub const RECOVERY_WINDOWS: usize = 1;

impl Schedule {
    /// One action, in the first window.
    pub fn single(action: Action) -> Self {
        Schedule {
            actions: vec![Timed {
                action,
                at: 0,
                windows: 1,
            }],
        }
    }

    /// Windows with an action in force.
    pub fn fault_windows(&self) -> usize {
        self.actions
            .iter()
            .map(|t| t.at + t.windows)
            .max()
            .unwrap_or(0)
    }

    /// Every window played: the fault windows, then recovery.
    pub fn total_windows(&self) -> usize {
        self.fault_windows() + RECOVERY_WINDOWS
    }

    /// `value-architect answers 503 (w0) + clock jumps 61s (w1)`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .actions
            .iter()
            .map(|t| {
                if t.at == 0 && t.windows == 1 {
                    t.action.to_string()
                } else {
                    format!("{} (windows {}–{})", t.action, t.at, t.at + t.windows - 1)
                }
            })
            .collect();
        if parts.is_empty() {
            "no action".into()
        } else {
            parts.join(" + ")
        }
    }

    /// The seed of the stack a play of this schedule starts: the run seed mixed with the
    /// schedule's own text, so a replay draws the same random choices.
    pub fn stack_seed(&self, run_seed: u64) -> u64 {
        derive_seed(run_seed, &["explore", &self.describe()])
    }
}

/// SplitMix64: a tiny, stable generator (the same sequence on every platform and Rust version).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Every action alone, in an order drawn from `seed`.
pub fn singles(space: &[Action], seed: u64) -> Vec<Schedule> {
    let mut order: Vec<usize> = (0..space.len()).collect();
    Rng::new(derive_seed(seed, &["singles"])).shuffle(&mut order);
    order
        .into_iter()
        .map(|i| Schedule::single(space[i].clone()))
        .collect()
}

/// Up to `limit` distinct pairs of actions on different targets, drawn from `seed`: both at
/// once, or the second one window later.
pub fn pairs(space: &[Action], seed: u64, limit: usize) -> Vec<Schedule> {
    let mut all = Vec::new();
    for i in 0..space.len() {
        for j in (i + 1)..space.len() {
            if space[i].target() != space[j].target() {
                all.push((i, j));
            }
        }
    }
    let mut rng = Rng::new(derive_seed(seed, &["pairs"]));
    rng.shuffle(&mut all);
    all.into_iter()
        .take(limit)
        .map(|(i, j)| {
            let stagger = rng.below(2);
            Schedule {
                actions: vec![
                    Timed {
                        action: space[i].clone(),
                        at: 0,
                        windows: 1 + stagger,
                    },
                    Timed {
                        action: space[j].clone(),
                        at: stagger,
                        windows: 1,
                    },
                ],
            }
        })
        .collect()
}

/// Which part of a schedule a window belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No action yet (the healthy baseline).
    Baseline,
    /// At least one action in force.
    Fault,
    /// Every action undone.
    Recovery,
}

/// One window of a played schedule.
#[derive(Debug, Clone, Serialize)]
pub struct WindowRecord {
    pub index: usize,
    pub phase: Phase,
    /// Rate-limit periods (`minute`) whose next window the clock moved to before this one.
    pub clock_to_next: Vec<&'static str>,
    pub verdicts: Vec<Verdict>,
}

/// What playing a schedule showed.
#[derive(Debug, Clone, Serialize)]
pub struct Played {
    pub windows: Vec<WindowRecord>,
    /// The stack refused an action, or the load could not run.
    pub error: Option<String>,
    /// Invariants (SPEC §11) the play broke: defects of Gauntlet itself.
    pub violations: Vec<super::invariants::Violation>,
    #[serde(serialize_with = "crate::explore::serialize_duration")]
    pub wall: Duration,
}

impl Played {
    /// The first objective broken, with its window.
    pub fn first_broken(&self) -> Option<(&WindowRecord, &Verdict)> {
        self.windows
            .iter()
            .find_map(|w| w.verdicts.iter().find(|v| v.broke()).map(|v| (w, v)))
    }

    /// Whether objective `objective` of hypothesis `hypothesis` broke in some window.
    pub fn breaks(&self, hypothesis: usize, objective: usize) -> bool {
        self.windows.iter().any(|w| {
            w.verdicts
                .iter()
                .any(|v| v.broke() && v.hypothesis == hypothesis && v.objective == objective)
        })
    }
}

/// How a schedule is played.
#[derive(Debug, Clone)]
pub struct PlaySettings {
    pub def: Arc<StackDef>,
    pub window: Duration,
    pub seed: u64,
    /// Stop at the first broken window (exploring); play every window otherwise.
    pub stop_at_first_break: bool,
    /// The one objective (hypothesis, objective) that matters (shrinking): a window stops
    /// early only once it is certainly broken. `None`: once any objective is.
    pub focus: Option<(usize, usize)>,
    /// Where each play's fresh stack runs (`--target`).
    pub target: RunTarget,
}

impl PlaySettings {
    /// When a window of this play may stop early: only when the play stops at the window's
    /// break anyway.
    fn cut(&self) -> Cut {
        match (self.stop_at_first_break, self.focus) {
            (false, _) => Cut::Never,
            (true, None) => Cut::AnyBreak,
            (true, Some((h, o))) => Cut::Objective(h, o),
        }
    }
}

/// The longest breaker `open_timeout` of the stack (what recovery waits for, by a jump).
pub fn longest_open_timeout(def: &StackDef) -> Duration {
    (0..def.gateway.services.len())
        .filter_map(
            |i| match def.gateway.service_plugin(PluginKind::CircuitBreaker, i) {
                Some(PluginConfig::CircuitBreaker(c)) => Some(c.open_timeout),
                _ => None,
            },
        )
        .max()
        .unwrap_or_default()
}

/// Plays `schedule` against a fresh stack with `hypotheses` as the steady load; `baseline`
/// healthy windows come first.
pub async fn play(
    schedule: &Schedule,
    hypotheses: &[Hypothesis],
    settings: &PlaySettings,
    baseline: usize,
) -> Played {
    let stopwatch = Stopwatch::start();
    let mut played = Played {
        windows: Vec::new(),
        error: None,
        violations: Vec::new(),
        wall: Duration::ZERO,
    };
    let stack = match ScenarioStack::start(
        &settings.target,
        settings.def.clone(),
        schedule.stack_seed(settings.seed),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            played.error = Some(format!("the stack did not start: {e}"));
            played.wall = stopwatch.elapsed();
            return played;
        }
    };
    // Only the explorer's jumps move policy time: windows and quotas are exact. A toxic's waits
    // run on the stack clock, so a schedule with one lets it follow real time (the quotas then
    // move to a fresh rate-limit window whenever real time crossed into another).
    if !schedule
        .actions
        .iter()
        .any(|t| t.action.needs_running_clock())
    {
        if let Err(e) = stack.stand_still().await {
            played.error = Some(e.to_string());
            stack.shutdown().await;
            played.wall = stopwatch.elapsed();
            return played;
        }
    }
    let mut quotas = Quotas::default();
    let (mut sent, mut responses, mut errors) = (0u64, 0u64, 0u64);
    let fault_windows = schedule.fault_windows();
    let total = baseline + schedule.total_windows();
    for index in 0..total {
        let (phase, w) = if index < baseline {
            (Phase::Baseline, None)
        } else if index - baseline < fault_windows {
            (Phase::Fault, Some(index - baseline))
        } else {
            (Phase::Recovery, Some(index - baseline))
        };
        if let Some(w) = w {
            if w == fault_windows && fault_windows > 0 {
                // Recovery: policy time passes until every breaker may try again.
                let _ = stack
                    .advance(longest_open_timeout(&settings.def) + Duration::from_secs(1))
                    .await;
            }
            for t in schedule.actions.iter().filter(|t| t.at == w) {
                if let Err(e) = t.action.apply(&stack).await {
                    played.error = Some(format!("{}: {e}", t.action));
                    played.wall = stopwatch.elapsed();
                    return played;
                }
            }
        }
        let run = match run_window_until(
            &stack,
            hypotheses,
            settings.window,
            &mut quotas,
            settings.cut(),
        )
        .await
        {
            Ok(m) => m,
            Err(e) => {
                played.error = Some(e);
                break;
            }
        };
        for m in &run.measured {
            sent += m.summary.requests;
            responses += m.summary.responses();
            errors += m.summary.error_count();
        }
        let verdicts = window_verdicts(hypotheses, &run);
        let broken = verdicts.iter().any(Verdict::broke);
        played.windows.push(WindowRecord {
            index,
            phase,
            clock_to_next: run.clock_to_next.iter().map(|p| p.key()).collect(),
            verdicts,
        });
        if let Some(w) = w {
            for t in schedule
                .actions
                .iter()
                .filter(|t| t.at + t.windows == w + 1)
            {
                if let Err(e) = t.action.revert(&stack).await {
                    played.error = Some(format!("undoing {}: {e}", t.action));
                    break;
                }
            }
        }
        if broken && settings.stop_at_first_break {
            break;
        }
    }
    // The invariants read the in-process stack's objects (ledgers, audit trail, every journal
    // line); on containers a play checks its hypotheses only.
    if let Ok(stack) = stack.in_process("the invariants") {
        played.violations =
            super::invariants::Trace::collect(stack, sent, responses, errors).check();
    }
    stack.shutdown().await;
    played.wall = stopwatch.elapsed();
    played
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::action::HttpFault;

    fn space() -> Vec<Action> {
        ["a", "b", "c"]
            .iter()
            .flat_map(|s| {
                [
                    Action::Stop {
                        service: s.to_string(),
                    },
                    Action::Fault {
                        service: s.to_string(),
                        fault: HttpFault::Hang,
                        probability: 1.0,
                    },
                ]
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_schedules_and_another_seed_another_order() {
        let a: Vec<String> = singles(&space(), 7)
            .iter()
            .map(Schedule::describe)
            .collect();
        let b: Vec<String> = singles(&space(), 7)
            .iter()
            .map(Schedule::describe)
            .collect();
        let c: Vec<String> = singles(&space(), 8)
            .iter()
            .map(Schedule::describe)
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 6);
        let p1: Vec<String> = pairs(&space(), 7, 5)
            .iter()
            .map(Schedule::describe)
            .collect();
        assert_eq!(
            p1,
            pairs(&space(), 7, 5)
                .iter()
                .map(Schedule::describe)
                .collect::<Vec<_>>()
        );
        assert_eq!(p1.len(), 5);
    }

    #[test]
    fn pairs_never_act_twice_on_one_target() {
        for s in pairs(&space(), 3, 100) {
            assert_ne!(s.actions[0].action.target(), s.actions[1].action.target());
        }
        assert_eq!(pairs(&space(), 3, 100).len(), 12);
    }
}
