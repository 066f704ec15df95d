//! Chaos experiments (SPEC §11): `gauntlet explore` searches the action space for the schedules
//! of failures that break a steady-state hypothesis, deterministically from a seed.
//!
//! ```text
//!   experiments/*.feature ──hypothesis──► [Hypothesis]           stack ──action::space──► [Action]
//!                                 │                                              │
//!   baseline: healthy windows ◄───┤   (an objective broken here stops everything: unreachable)
//!                                 ▼                                              ▼
//!   schedule::singles, then pairs (seeded) ──play each on a fresh stack──► window verdicts
//!                                 │
//!                                 └──► Exploration: every schedule's outcome, the resilience
//!                                      matrix (action kind × target → held / broken)
//! ```
//! Steady load comes from the load engine ([`crate::load`]); success and latency are judged as
//! the load steps judge them ([`window::judge`]); policy time passes by clock jumps, never by
//! sleeping.

pub mod action;
pub mod hypothesis;
pub mod invariants;
pub mod repro;
pub mod schedule;
pub mod shrink;
pub mod tally;
pub mod toxic;
pub mod window;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::clock::Stopwatch;
use crate::config::StackDef;
use action::Action;
use hypothesis::Hypothesis;
use schedule::{play, PlaySettings, Played, Schedule};

/// Serialises a duration as fractional seconds.
pub fn serialize_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What an exploration does.
#[derive(Debug, Clone)]
pub struct ExploreSettings {
    pub def: Arc<StackDef>,
    pub hypotheses: Vec<Hypothesis>,
    pub seed: u64,
    /// Length of one window of steady load.
    pub window: Duration,
    /// Stop starting schedules after this much wall time.
    pub budget: Option<Duration>,
    /// At most this many schedules (singles first).
    pub max_schedules: Option<usize>,
    /// Try pairs of actions after the singles, within the budget.
    pub pairs: bool,
    /// Shrink at most this many broken schedules into reproducers (0: none).
    pub max_repros: usize,
    /// Where each schedule's fresh stack runs (`--target`).
    pub target: crate::target::RunTarget,
}

/// A broken schedule shrunk and written as a feature.
#[derive(Debug, Clone, Serialize)]
pub struct Repro {
    pub number: usize,
    /// The schedule (by id) it was shrunk from.
    pub from_schedule: usize,
    pub schedule: Schedule,
    pub description: String,
    pub hypothesis: String,
    pub objective: String,
    /// `@objective=…` tag.
    pub tag: String,
    /// `repro-<n>.feature`.
    pub file: String,
    /// The feature text.
    #[serde(skip)]
    pub feature: String,
    pub replays: usize,
    /// False when the hypothesis did not break without the others' load: the reproducer is
    /// the unshrunk schedule with one hypothesis and may not fail.
    pub alone: bool,
}

/// The default window of steady load.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(1);
/// Healthy windows played before any action, once per exploration.
pub const BASELINE_WINDOWS: usize = 2;
/// Pairs drawn when `--pairs` is given and no `--max-schedules` caps them.
pub const DEFAULT_PAIRS: usize = 200;

/// How one schedule fared.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Held,
    Broken(Breakage),
    /// The schedule could not be played (the stack refused an action).
    Error {
        message: String,
    },
}

/// The first objective a schedule broke.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakage {
    pub hypothesis: usize,
    pub objective: usize,
    /// `frontend-app GET /api/v1/value-models at 50/s`.
    pub hypothesis_name: String,
    /// `p99 below 250 ms`.
    pub objective_text: String,
    /// Window index within the schedule (baseline windows excluded).
    pub window: usize,
    pub phase: schedule::Phase,
    /// `p99 was 1.2 s (objective below 250 ms)`.
    pub detail: String,
    /// `+950 ms`, `-12.00 points`.
    pub by: String,
}

/// One schedule and what playing it showed.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleResult {
    pub id: usize,
    pub schedule: Schedule,
    pub description: String,
    pub outcome: Outcome,
    pub played: Played,
}

/// One cell of the resilience matrix.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixCell {
    pub kind: String,
    pub target: String,
    /// `held`, `broken` or `error`.
    pub verdict: &'static str,
    /// The objective that broke and by how much (`frontend-app … p99 below 250 ms: +950 ms`).
    pub detail: Option<String>,
    pub schedule: usize,
}

/// Everything an exploration found.
#[derive(Debug, Clone, Serialize)]
pub struct Exploration {
    pub stack: String,
    pub seed: u64,
    #[serde(serialize_with = "serialize_duration")]
    pub window: Duration,
    pub hypotheses: Vec<String>,
    /// The healthy windows played first.
    pub baseline: Option<Played>,
    /// Set when a hypothesis failed on the healthy stack: nothing else was tried.
    pub unreachable: Option<String>,
    pub planned: usize,
    pub results: Vec<ScheduleResult>,
    /// Stopped by a signal or the budget before every planned schedule ran.
    pub stopped_early: Option<String>,
    /// The broken schedules shrunk into reproducers.
    pub repros: Vec<Repro>,
    /// Planned pairs not played because one of their actions already broke a hypothesis alone
    /// (the pair could only say the same again).
    pub skipped_pairs: usize,
    #[serde(serialize_with = "serialize_duration")]
    pub wall: Duration,
}

impl Exploration {
    /// Every invariant violation, with the schedule (0: the baseline) that showed it.
    pub fn violations(&self) -> Vec<(usize, &invariants::Violation)> {
        let baseline = self
            .baseline
            .iter()
            .flat_map(|b| b.violations.iter().map(|v| (0, v)));
        baseline
            .chain(
                self.results
                    .iter()
                    .flat_map(|r| r.played.violations.iter().map(move |v| (r.id, v))),
            )
            .collect()
    }

    /// Whether any hypothesis broke (or was unreachable), or an invariant.
    pub fn broken(&self) -> bool {
        !self.violations().is_empty()
            || self.unreachable.is_some()
            || self
                .results
                .iter()
                .any(|r| matches!(r.outcome, Outcome::Broken(_)))
    }

    /// The resilience matrix: each single action's verdict, by kind and target.
    pub fn matrix(&self) -> Vec<MatrixCell> {
        let mut cells = BTreeMap::new();
        for r in self
            .results
            .iter()
            .filter(|r| r.schedule.actions.len() == 1)
        {
            let action = &r.schedule.actions[0].action;
            let (verdict, detail) = verdict_of(&r.outcome);
            cells.insert(
                (action.kind(), action.target()),
                MatrixCell {
                    kind: action.kind(),
                    target: action.target(),
                    verdict,
                    detail,
                    schedule: r.id,
                },
            );
        }
        cells.into_values().collect()
    }
}

/// One pair of actions in the resilience matrix.
#[derive(Debug, Clone, Serialize)]
pub struct PairCell {
    /// The two actions (`value-architect answers 503 + latency 1000 ms on …`).
    pub actions: String,
    /// `abort 503 × latency toxic`.
    pub kinds: String,
    /// `value-architect × gateway->value-committer`.
    pub targets: String,
    /// `held`, `broken` or `error`.
    pub verdict: &'static str,
    pub detail: Option<String>,
    /// Both actions held alone, and together they broke a hypothesis: a weakness no single
    /// failure shows.
    pub emergent: bool,
    pub schedule: usize,
}

impl Exploration {
    /// The pairs played, each with its verdict; emergent breakages first.
    pub fn pair_matrix(&self) -> Vec<PairCell> {
        let single_held = |a: &Action| {
            self.results.iter().any(|r| {
                r.schedule.actions.len() == 1
                    && r.schedule.actions[0].action == *a
                    && matches!(r.outcome, Outcome::Held)
            })
        };
        let mut cells: Vec<PairCell> = self
            .results
            .iter()
            .filter(|r| r.schedule.actions.len() == 2)
            .map(|r| {
                let (a, b) = (&r.schedule.actions[0].action, &r.schedule.actions[1].action);
                let (verdict, detail) = verdict_of(&r.outcome);
                PairCell {
                    actions: r.description.clone(),
                    kinds: format!("{} × {}", a.kind(), b.kind()),
                    targets: format!("{} × {}", a.target(), b.target()),
                    verdict,
                    detail,
                    emergent: verdict == "broken" && single_held(a) && single_held(b),
                    schedule: r.id,
                }
            })
            .collect();
        cells.sort_by_key(|c| (!c.emergent, c.verdict != "broken", c.schedule));
        cells
    }
}

fn verdict_of(outcome: &Outcome) -> (&'static str, Option<String>) {
    match outcome {
        Outcome::Held => ("held", None),
        Outcome::Broken(b) => (
            "broken",
            Some(format!(
                "{} {}: {} ({} window {})",
                b.hypothesis_name,
                b.objective_text,
                b.by,
                match b.phase {
                    schedule::Phase::Recovery => "recovery",
                    _ => "fault",
                },
                b.window
            )),
        ),
        Outcome::Error { message } => ("error", Some(message.clone())),
    }
}

/// What the explorer reports as it goes (the CLI's progress line).
pub trait Observer: Send {
    /// Schedule `done` of `planned` is about to be played.
    fn starting(&mut self, done: usize, planned: usize, description: &str, broken_so_far: usize);
    /// A schedule finished.
    fn finished(&mut self, result: &ScheduleResult);
    /// Reproducer `n` is being shrunk from this schedule.
    fn shrinking(&mut self, _n: usize, _from: &str) {}
}

/// An observer that says nothing.
pub struct Quiet;

impl Observer for Quiet {
    fn starting(&mut self, _: usize, _: usize, _: &str, _: usize) {}
    fn finished(&mut self, _: &ScheduleResult) {}
}

/// Outcome of a played schedule against the hypotheses.
pub fn outcome_of(played: &Played, hypotheses: &[Hypothesis], baseline: usize) -> Outcome {
    if let Some((window, verdict)) = played.first_broken() {
        let h = &hypotheses[verdict.hypothesis];
        return Outcome::Broken(Breakage {
            hypothesis: verdict.hypothesis,
            objective: verdict.objective,
            hypothesis_name: h.name(),
            objective_text: h.objectives[verdict.objective].describe(),
            window: window.index.saturating_sub(baseline),
            phase: window.phase,
            detail: verdict.detail.clone(),
            by: verdict.by.clone(),
        });
    }
    match &played.error {
        Some(message) => Outcome::Error {
            message: message.clone(),
        },
        None => Outcome::Held,
    }
}

/// The schedules an exploration plays, in order: every single action, then pairs.
pub fn plan(settings: &ExploreSettings) -> Vec<Schedule> {
    let space: Vec<Action> = action::space(&settings.def);
    let mut planned = schedule::singles(&space, settings.seed);
    if settings.pairs {
        let room = settings
            .max_schedules
            .map_or(DEFAULT_PAIRS, |m| m.saturating_sub(planned.len()));
        planned.extend(schedule::pairs(&space, settings.seed, room));
    }
    if let Some(max) = settings.max_schedules {
        planned.truncate(max);
    }
    planned
}

/// Runs an exploration: the healthy baseline, then every planned schedule until the budget, the
/// cap or `stop` (Ctrl-C) ends it.
pub async fn explore(
    settings: &ExploreSettings,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Exploration {
    let stopwatch = Stopwatch::start();
    let planned = plan(settings);
    let play_settings = PlaySettings {
        def: settings.def.clone(),
        window: settings.window,
        seed: settings.seed,
        stop_at_first_break: true,
        focus: None,
        target: settings.target.clone(),
    };
    let mut exploration = Exploration {
        stack: settings.def.name().to_string(),
        seed: settings.seed,
        window: settings.window,
        hypotheses: settings
            .hypotheses
            .iter()
            .map(ToString::to_string)
            .collect(),
        baseline: None,
        unreachable: None,
        planned: planned.len(),
        results: Vec::new(),
        stopped_early: None,
        repros: Vec::new(),
        skipped_pairs: 0,
        wall: Duration::ZERO,
    };

    // The healthy stack first: a hypothesis it cannot meet would blame every action.
    let healthy = Schedule {
        actions: Vec::new(),
    };
    let baseline = play(
        &healthy,
        &settings.hypotheses,
        &PlaySettings {
            stop_at_first_break: false,
            ..play_settings.clone()
        },
        BASELINE_WINDOWS,
    )
    .await;
    if let Outcome::Broken(b) = outcome_of(&baseline, &settings.hypotheses, BASELINE_WINDOWS) {
        let h = &settings.hypotheses[b.hypothesis];
        exploration.unreachable = Some(format!(
            "{}: the steady state does not hold on the healthy stack, with no fault at all: {} \
             — fix the hypothesis (or the stack) before exploring",
            h.location(),
            b.detail
        ));
    } else if let Some(e) = &baseline.error {
        exploration.unreachable = Some(format!("the healthy stack could not be measured: {e}"));
    }
    exploration.baseline = Some(baseline);
    if exploration.unreachable.is_some() {
        exploration.wall = stopwatch.elapsed();
        return exploration;
    }

    for (id, schedule) in planned.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            exploration.stopped_early = Some("interrupted".into());
            break;
        }
        if let Some(budget) = settings.budget {
            if stopwatch.elapsed() >= budget {
                exploration.stopped_early = Some(format!(
                    "the budget of {} ran out after {id} of {} schedules",
                    crate::units::format_duration(budget),
                    planned.len()
                ));
                break;
            }
        }
        // A pair is played only when both its actions held alone: otherwise it can only
        // repeat what the single already showed, and the budget goes to pairs that can not.
        if schedule.actions.len() > 1 {
            let broke_alone = schedule.actions.iter().any(|t| {
                exploration.results.iter().any(|r| {
                    r.schedule.actions.len() == 1
                        && r.schedule.actions[0].action == t.action
                        && !matches!(r.outcome, Outcome::Held)
                })
            });
            if broke_alone {
                exploration.skipped_pairs += 1;
                continue;
            }
        }
        let broken_so_far = exploration
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Broken(_)))
            .count();
        observer.starting(id, planned.len(), &schedule.describe(), broken_so_far);
        let played = play(schedule, &settings.hypotheses, &play_settings, 0).await;
        let result = ScheduleResult {
            id: id + 1,
            schedule: schedule.clone(),
            description: schedule.describe(),
            outcome: outcome_of(&played, &settings.hypotheses, 0),
            played,
        };
        observer.finished(&result);
        exploration.results.push(result);
    }

    // Shrink the broken schedules, one reproducer per action kind, target and objective.
    let mut seen = std::collections::BTreeSet::new();
    for r in &exploration.results {
        if exploration.repros.len() >= settings.max_repros || stop.load(Ordering::Relaxed) {
            break;
        }
        let Outcome::Broken(b) = &r.outcome else {
            continue;
        };
        let key = (
            r.schedule
                .actions
                .iter()
                .map(|t| format!("{} {}", t.action.kind(), t.action.target()))
                .collect::<Vec<_>>(),
            b.hypothesis,
            b.objective,
        );
        if !seen.insert(key) {
            continue;
        }
        observer.shrinking(exploration.repros.len() + 1, &r.description);
        let hypothesis = &settings.hypotheses[b.hypothesis];
        let shrunk = shrink::shrink(
            &r.schedule,
            hypothesis,
            b.objective,
            &play_settings,
            shrink::Limits::default(),
        )
        .await;
        let number = exploration.repros.len() + 1;
        let feature = repro::render(&repro::ReproInput {
            number,
            stack: &settings.def,
            seed: settings.seed,
            window: settings.window,
            hypothesis,
            objective: b.objective,
            schedule: &shrunk.schedule,
            played: &shrunk.played,
            original: &r.schedule,
        });
        let objective = &hypothesis.objectives[b.objective];
        exploration.repros.push(Repro {
            number,
            from_schedule: r.id,
            description: shrunk.schedule.describe(),
            schedule: shrunk.schedule,
            hypothesis: hypothesis.name(),
            objective: objective.describe(),
            tag: repro::objective_tag(objective),
            file: format!("repro-{number}.feature"),
            feature,
            replays: shrunk.replays,
            alone: shrunk.alone,
        });
    }
    exploration.wall = stopwatch.elapsed();
    exploration
}

#[cfg(test)]
mod tests {
    use super::*;
    use schedule::{Played, Timed};

    fn played() -> Played {
        Played {
            windows: Vec::new(),
            error: None,
            violations: Vec::new(),
            wall: Duration::ZERO,
        }
    }

    fn broken() -> Outcome {
        Outcome::Broken(Breakage {
            hypothesis: 0,
            objective: 0,
            hypothesis_name: "frontend-app GET /x at 10/s".into(),
            objective_text: "p99 below 250ms".into(),
            window: 0,
            phase: schedule::Phase::Fault,
            detail: String::new(),
            by: "+10 ms".into(),
        })
    }

    fn stop(s: &str) -> Action {
        Action::Stop { service: s.into() }
    }

    fn result(id: usize, actions: Vec<Action>, outcome: Outcome) -> ScheduleResult {
        let schedule = Schedule {
            actions: actions
                .into_iter()
                .map(|action| Timed {
                    action,
                    at: 0,
                    windows: 1,
                })
                .collect(),
        };
        ScheduleResult {
            id,
            description: schedule.describe(),
            schedule,
            outcome,
            played: played(),
        }
    }

    #[test]
    fn a_pair_that_breaks_where_both_actions_held_alone_is_emergent_and_listed_first() {
        let e = Exploration {
            stack: "s".into(),
            seed: 1,
            window: Duration::from_secs(1),
            hypotheses: Vec::new(),
            baseline: None,
            unreachable: None,
            planned: 5,
            results: vec![
                result(1, vec![stop("a")], Outcome::Held),
                result(2, vec![stop("b")], Outcome::Held),
                result(3, vec![stop("c")], broken()),
                result(4, vec![stop("a"), stop("c")], broken()),
                result(5, vec![stop("a"), stop("b")], broken()),
            ],
            stopped_early: None,
            repros: Vec::new(),
            skipped_pairs: 0,
            wall: Duration::ZERO,
        };
        let pairs = e.pair_matrix();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].schedule, 5);
        assert!(pairs[0].emergent, "a and b held alone");
        assert_eq!(pairs[0].kinds, "stop × stop");
        assert_eq!(pairs[0].targets, "a × b");
        assert!(!pairs[1].emergent, "c broke alone");
        // The single-action matrix is unchanged by pairs.
        assert_eq!(e.matrix().len(), 3);
    }
}
