//! The circuit breaker's state machine (SPEC §5), pure: time comes in as a [`StackInstant`], and
//! outcomes come in already classified by [`AttemptOutcome::is_failure`].
//!
//! ```text
//!            failure_threshold consecutive failures
//!   CLOSED ───────────────────────────────────────────► OPEN ◄──────────────┐
//!     ▲                                                   │ open_timeout      │ any trial
//!     │ half_open_successes consecutive trial successes   │ elapsed, on the   │ failure
//!     │                                                   ▼ next request      │
//!     └──────────────────────────────────────────── HALF-OPEN ───────────────┘
//! ```
//!
//! HALF-OPEN is entered lazily: nothing happens when `open_timeout` elapses until a request asks
//! to pass. Every admission carries the machine's *generation* (bumped on each transition), so an
//! outcome that arrives after the state it was admitted under has ended (a slow request admitted
//! while CLOSED finishing after the breaker opened) changes nothing.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::clock::StackInstant;
use crate::config::gateway::CircuitBreakerConfig;
use crate::outcome::AttemptOutcome;

/// Transitions kept per breaker; when full, each new one pushes out the oldest. The counts per
/// (from, to) and the total are kept for the breaker's whole life.
const MAX_HISTORY: usize = 1000;

/// The three states, spelled as in `X-Circuit-Breaker-State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// `CLOSED`, `OPEN` or `HALF-OPEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "CLOSED",
            BreakerState::Open => "OPEN",
            BreakerState::HalfOpen => "HALF-OPEN",
        }
    }

    /// Parses the header spelling (also `HALF_OPEN`), case-insensitively.
    pub fn parse(s: &str) -> Option<BreakerState> {
        match s.trim().to_ascii_uppercase().replace('_', "-").as_str() {
            "CLOSED" => Some(BreakerState::Closed),
            "OPEN" => Some(BreakerState::Open),
            "HALF-OPEN" => Some(BreakerState::HalfOpen),
            _ => None,
        }
    }

    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BreakerState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One state change: when (stack clock) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub at: StackInstant,
    /// The stack clock's wall time at `at` (for `opened_at` and the admin API).
    pub wall: SystemTime,
    pub reason: String,
}

/// Leave to send one request upstream, issued by [`Machine::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    generation: u64,
    trial: bool,
}

impl Ticket {
    /// Whether this request is a HALF-OPEN trial.
    pub fn is_trial(&self) -> bool {
        self.trial
    }
}

/// What [`Machine::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Forward the request.
    Pass(Ticket),
    /// Answer with the fallback. `retry_after` is the time until the breaker lets a trial
    /// through (zero when HALF-OPEN is full of trials).
    Reject {
        state: BreakerState,
        retry_after: Duration,
    },
}

/// A breaker's state, its counters and its history.
#[derive(Debug)]
pub struct Machine {
    config: CircuitBreakerConfig,
    state: BreakerState,
    generation: u64,
    consecutive_failures: u32,
    trial_successes: u32,
    trials_in_flight: u32,
    opened_at: Option<StackInstant>,
    /// Wall time (stack clock) of the last transition to OPEN.
    opened_wall: Option<SystemTime>,
    /// The most recent transitions, oldest first (at most [`MAX_HISTORY`]).
    history: VecDeque<Transition>,
    /// Every transition ever made, counted by (from, to), indexed by [`state_index`].
    totals: [[u64; 3]; 3],
}

/// What the admin API shows of a breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub trial_successes: u32,
    pub trials_in_flight: u32,
    /// Wall time (stack clock) of the last transition to OPEN, while OPEN or HALF-OPEN.
    pub opened_at: Option<SystemTime>,
    /// The most recent transitions, oldest first (at most the last 1000).
    pub transitions: Vec<Transition>,
    /// Every transition of the breaker's life, by (from, to); unlike `transitions`, never
    /// shortened (a Prometheus counter must not go down).
    pub transition_totals: Vec<((BreakerState, BreakerState), u64)>,
}

fn state_index(state: BreakerState) -> usize {
    match state {
        BreakerState::Closed => 0,
        BreakerState::Open => 1,
        BreakerState::HalfOpen => 2,
    }
}

impl Machine {
    pub fn new(config: CircuitBreakerConfig) -> Self {
        Machine {
            config,
            state: BreakerState::Closed,
            generation: 0,
            consecutive_failures: 0,
            trial_successes: 0,
            trials_in_flight: 0,
            opened_at: None,
            opened_wall: None,
            history: VecDeque::new(),
            totals: [[0; 3]; 3],
        }
    }

    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Decides whether a request may go upstream now. OPEN turns HALF-OPEN here, on the first
    /// request after `open_timeout` (`wall` is the stack clock's wall time at `now`).
    pub fn admit(&mut self, now: StackInstant, wall: SystemTime) -> Admission {
        if self.state == BreakerState::Open {
            let opened_at = self.opened_at.unwrap_or(now);
            let half_open_at = opened_at.checked_add(self.config.open_timeout);
            if let Some(half_open_at) = half_open_at.filter(|at| now < *at) {
                return Admission::Reject {
                    state: BreakerState::Open,
                    retry_after: half_open_at.saturating_duration_since(now),
                };
            }
            if half_open_at.is_none() {
                // An open_timeout past the end of time: stays OPEN.
                return Admission::Reject {
                    state: BreakerState::Open,
                    retry_after: Duration::MAX,
                };
            }
            let reason = format!(
                "open_timeout of {} elapsed; the next request is a trial",
                seconds(self.config.open_timeout)
            );
            self.transition(BreakerState::HalfOpen, now, wall, reason);
        }
        match self.state {
            BreakerState::HalfOpen
                if self.trials_in_flight >= self.config.half_open_max_concurrent =>
            {
                Admission::Reject {
                    state: BreakerState::HalfOpen,
                    retry_after: Duration::ZERO,
                }
            }
            BreakerState::HalfOpen => {
                self.trials_in_flight += 1;
                Admission::Pass(Ticket {
                    generation: self.generation,
                    trial: true,
                })
            }
            _ => Admission::Pass(Ticket {
                generation: self.generation,
                trial: false,
            }),
        }
    }

    /// Whether `ticket` was issued under the current state (no transition since).
    pub fn is_current(&self, ticket: Ticket) -> bool {
        ticket.generation == self.generation
    }

    /// Records one upstream attempt of an admitted request and returns the state after it.
    pub fn record(
        &mut self,
        ticket: Ticket,
        outcome: &AttemptOutcome,
        now: StackInstant,
        wall: SystemTime,
    ) -> BreakerState {
        if ticket.generation != self.generation {
            // Admitted under a state that has since ended: its outcome belongs to the past.
            return self.state;
        }
        let failure = outcome.is_failure(&self.config.failure_statuses);
        match self.state {
            BreakerState::Closed if failure => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.config.failure_threshold {
                    let reason = format!(
                        "{} consecutive failures (failure_threshold {}), last: {}",
                        self.consecutive_failures,
                        self.config.failure_threshold,
                        outcome.describe()
                    );
                    self.open(now, wall, reason);
                }
            }
            BreakerState::Closed => self.consecutive_failures = 0,
            BreakerState::HalfOpen if ticket.trial && failure => {
                let reason = format!("trial failed: {}", outcome.describe());
                self.open(now, wall, reason);
            }
            BreakerState::HalfOpen if ticket.trial => {
                self.trial_successes += 1;
                if self.trial_successes >= self.config.half_open_successes {
                    let reason = format!(
                        "{} consecutive trial successes (half_open_successes {})",
                        self.trial_successes, self.config.half_open_successes
                    );
                    self.transition(BreakerState::Closed, now, wall, reason);
                }
            }
            // A non-trial ticket cannot carry the HALF-OPEN generation, nor any ticket OPEN's.
            BreakerState::HalfOpen | BreakerState::Open => {}
        }
        self.state
    }

    /// A request admitted with `ticket` has finished (or was abandoned): frees its trial slot.
    pub fn release(&mut self, ticket: Ticket) {
        if ticket.trial && ticket.generation == self.generation {
            self.trials_in_flight = self.trials_in_flight.saturating_sub(1);
        }
    }

    /// How many transitions happened in the breaker's life.
    pub fn transition_count(&self) -> u64 {
        self.totals.iter().flatten().sum()
    }

    /// The transitions after the first `count` of the breaker's life (as many of them as the
    /// history still holds).
    pub fn transitions_since(&self, count: u64) -> impl Iterator<Item = &Transition> {
        let dropped = self.transition_count() - self.history.len() as u64;
        let skip = usize::try_from(count.saturating_sub(dropped)).unwrap_or(usize::MAX);
        self.history.iter().skip(skip)
    }

    pub fn snapshot(&self) -> Snapshot {
        let opened_at = match self.state {
            BreakerState::Closed => None,
            _ => self.opened_wall,
        };
        let mut transition_totals = Vec::new();
        for from in BreakerState::ALL {
            for to in BreakerState::ALL {
                let n = self.totals[state_index(from)][state_index(to)];
                if n > 0 {
                    transition_totals.push(((from, to), n));
                }
            }
        }
        Snapshot {
            state: self.state,
            consecutive_failures: self.consecutive_failures,
            trial_successes: self.trial_successes,
            trials_in_flight: self.trials_in_flight,
            opened_at,
            transitions: self.history.iter().cloned().collect(),
            transition_totals,
        }
    }

    fn open(&mut self, now: StackInstant, wall: SystemTime, reason: String) {
        self.opened_at = Some(now);
        self.opened_wall = Some(wall);
        self.transition(BreakerState::Open, now, wall, reason);
    }

    fn transition(
        &mut self,
        to: BreakerState,
        now: StackInstant,
        wall: SystemTime,
        reason: String,
    ) {
        if self.history.len() >= MAX_HISTORY {
            // A flapping breaker in a long `up` session: keep the most recent history.
            self.history.pop_front();
        }
        self.totals[state_index(self.state)][state_index(to)] += 1;
        self.history.push_back(Transition {
            from: self.state,
            to,
            at: now,
            wall,
            reason,
        });
        self.state = to;
        self.generation += 1;
        self.consecutive_failures = 0;
        self.trial_successes = 0;
        self.trials_in_flight = 0;
        if to == BreakerState::Closed {
            self.opened_at = None;
            self.opened_wall = None;
        }
    }
}

/// `60 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(secs: u64) -> StackInstant {
        StackInstant::default() + Duration::from_secs(secs)
    }

    fn machine() -> Machine {
        Machine::new(CircuitBreakerConfig::default())
    }

    fn pass(m: &mut Machine, now: StackInstant) -> Ticket {
        match m.admit(now, T0) {
            Admission::Pass(t) => t,
            other => panic!("expected the request to pass, got {other:?}"),
        }
    }

    fn fail(m: &mut Machine, now: StackInstant) -> BreakerState {
        let t = pass(m, now);
        let state = m.record(t, &AttemptOutcome::Response(500), now, T0);
        m.release(t);
        state
    }

    fn succeed(m: &mut Machine, now: StackInstant) -> BreakerState {
        let t = pass(m, now);
        let state = m.record(t, &AttemptOutcome::Response(200), now, T0);
        m.release(t);
        state
    }

    fn opened(m: &mut Machine) {
        for _ in 0..5 {
            fail(m, at(0));
        }
        assert_eq!(m.state(), BreakerState::Open);
    }

    #[test]
    fn starts_closed() {
        assert_eq!(machine().state(), BreakerState::Closed);
    }

    #[test]
    fn opens_after_five_consecutive_failures_and_reports_open_on_the_fifth() {
        let mut m = machine();
        for _ in 0..4 {
            assert_eq!(fail(&mut m, at(0)), BreakerState::Closed);
        }
        assert_eq!(fail(&mut m, at(0)), BreakerState::Open);
        let t = &m.snapshot().transitions[0];
        assert_eq!((t.from, t.to), (BreakerState::Closed, BreakerState::Open));
        assert!(
            t.reason.starts_with("5 consecutive failures"),
            "{}",
            t.reason
        );
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut m = machine();
        for _ in 0..4 {
            fail(&mut m, at(0));
        }
        succeed(&mut m, at(0));
        assert_eq!(m.snapshot().consecutive_failures, 0);
        for _ in 0..4 {
            assert_eq!(fail(&mut m, at(0)), BreakerState::Closed);
        }
    }

    #[test]
    fn statuses_outside_failure_statuses_are_successes() {
        let mut m = machine();
        for _ in 0..10 {
            let t = pass(&mut m, at(0));
            m.record(t, &AttemptOutcome::Response(404), at(0), T0);
        }
        assert_eq!(m.state(), BreakerState::Closed);
    }

    #[test]
    fn threshold_comes_from_the_config() {
        let mut m = Machine::new(CircuitBreakerConfig {
            failure_threshold: 2,
            ..Default::default()
        });
        fail(&mut m, at(0));
        assert_eq!(fail(&mut m, at(0)), BreakerState::Open);
    }

    #[test]
    fn rejects_while_open_with_the_time_left_until_half_open() {
        let mut m = machine();
        opened(&mut m);
        assert_eq!(
            m.admit(at(45), T0),
            Admission::Reject {
                state: BreakerState::Open,
                retry_after: Duration::from_secs(15)
            }
        );
    }

    #[test]
    fn the_first_request_after_open_timeout_is_a_half_open_trial() {
        let mut m = machine();
        opened(&mut m);
        assert!(matches!(m.admit(at(59), T0), Admission::Reject { .. }));
        let t = pass(&mut m, at(60));
        assert!(t.is_trial());
        assert_eq!(m.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_admits_at_most_max_concurrent_trials() {
        let mut m = machine();
        opened(&mut m);
        let trials: Vec<Ticket> = (0..3).map(|_| pass(&mut m, at(60))).collect();
        assert_eq!(
            m.admit(at(60), T0),
            Admission::Reject {
                state: BreakerState::HalfOpen,
                retry_after: Duration::ZERO
            }
        );
        m.release(trials[0]);
        assert!(pass(&mut m, at(60)).is_trial());
    }

    #[test]
    fn three_trial_successes_close_it() {
        let mut m = machine();
        opened(&mut m);
        assert_eq!(succeed(&mut m, at(60)), BreakerState::HalfOpen);
        assert_eq!(succeed(&mut m, at(60)), BreakerState::HalfOpen);
        assert_eq!(succeed(&mut m, at(60)), BreakerState::Closed);
        assert_eq!(m.snapshot().opened_at, None);
    }

    #[test]
    fn a_trial_failure_reopens_it_for_a_fresh_open_timeout() {
        let mut m = machine();
        opened(&mut m);
        succeed(&mut m, at(60));
        assert_eq!(fail(&mut m, at(70)), BreakerState::Open);
        assert!(matches!(m.admit(at(129), T0), Admission::Reject { .. }));
        assert!(pass(&mut m, at(130)).is_trial());
    }

    #[test]
    fn an_outcome_from_before_a_transition_changes_nothing() {
        let mut m = machine();
        let slow = pass(&mut m, at(0));
        opened(&mut m);
        let state = m.record(slow, &AttemptOutcome::Response(200), at(1), T0);
        assert_eq!(state, BreakerState::Open);
        assert_eq!(m.snapshot().transitions.len(), 1);
    }

    #[test]
    fn a_ticket_from_before_a_transition_is_no_longer_current() {
        let mut m = machine();
        let slow = pass(&mut m, at(0));
        assert!(m.is_current(slow));
        opened(&mut m);
        let _trial = pass(&mut m, at(60));
        assert!(!m.is_current(slow), "a stale request must stop retrying");
        assert_eq!(
            m.record(slow, &AttemptOutcome::ReadTimeout, at(61), T0),
            BreakerState::HalfOpen
        );
    }

    #[test]
    fn records_every_transition_with_its_time() {
        let mut m = machine();
        opened(&mut m);
        for _ in 0..3 {
            succeed(&mut m, at(61));
        }
        let path: Vec<(BreakerState, u64)> = m
            .snapshot()
            .transitions
            .iter()
            .map(|t| (t.to, t.at.since_start().as_secs()))
            .collect();
        assert_eq!(
            path,
            [
                (BreakerState::Open, 0),
                (BreakerState::HalfOpen, 61),
                (BreakerState::Closed, 61)
            ]
        );
    }

    #[test]
    fn a_full_history_keeps_the_newest_transitions_and_every_count() {
        let mut m = machine();
        let mut now = 0;
        // Each round is three transitions: CLOSED → OPEN → HALF-OPEN → OPEN … then one more.
        opened(&mut m);
        for _ in 0..MAX_HISTORY {
            now += 60;
            assert_eq!(fail(&mut m, at(now)), BreakerState::Open, "a trial fails");
        }
        let total = m.transition_count();
        assert_eq!(total, 1 + 2 * MAX_HISTORY as u64);
        now += 60;
        let before = m.transition_count();
        fail(&mut m, at(now));
        let new: Vec<(BreakerState, BreakerState)> = m
            .transitions_since(before)
            .map(|t| (t.from, t.to))
            .collect();
        assert_eq!(
            new,
            [
                (BreakerState::Open, BreakerState::HalfOpen),
                (BreakerState::HalfOpen, BreakerState::Open)
            ],
            "the transitions of a full history are still seen as they happen"
        );
        let snap = m.snapshot();
        assert_eq!(snap.transitions.len(), MAX_HISTORY);
        assert_eq!(
            snap.transitions.last().map(|t| t.at),
            Some(at(now)),
            "the newest is kept"
        );
        assert_eq!(
            snap.transition_totals,
            [
                ((BreakerState::Closed, BreakerState::Open), 1),
                ((BreakerState::Open, BreakerState::HalfOpen), 1001),
                ((BreakerState::HalfOpen, BreakerState::Open), 1001),
            ]
        );
        assert_eq!(snap.opened_at, Some(T0));
    }

    #[test]
    fn parses_header_spellings() {
        assert_eq!(
            BreakerState::parse("half_open"),
            Some(BreakerState::HalfOpen)
        );
        assert_eq!(BreakerState::parse("OPEN"), Some(BreakerState::Open));
        assert_eq!(BreakerState::parse("ajar"), None);
    }
}
