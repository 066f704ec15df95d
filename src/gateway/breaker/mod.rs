//! The circuit-breaker stage (SPEC §5): a cheap gate on the request path, driven by a state
//! machine ([`machine`]) fed with classified attempt outcomes.
//!
//! ```text
//!   pipeline ──► Breaker::admit ──► Permit ──► upstream attempt ──► Permit::record_attempt(outcome)
//!                     │                                                   │ state after
//!                     └─ OPEN / HALF-OPEN full ─► BreakerOpen ─► rescue   └─► X-Circuit-Breaker-State
//! ```
//! One breaker per Kong service that has a `circuit-breaker` plugin (on the service or
//! global), created with the gateway, so the admin API shows every breaker from the start.
//! Time is the stack clock: a jump past `open_timeout` lets the next request through as a trial.

pub mod ledger;
pub mod machine;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::StackClock;
use crate::config::gateway::{CircuitBreakerConfig, Fallback, PluginConfig, PluginKind};
use crate::config::GatewayConfig;
use crate::outcome::AttemptOutcome;
pub use machine::{Admission, BreakerState, Snapshot, Transition};

/// The breaker of one service.
#[derive(Debug)]
pub struct Breaker {
    service: String,
    clock: StackClock,
    machine: Mutex<machine::Machine>,
    /// Every input of the machine, for the invariant checkers (written under `machine`'s lock).
    ledger: Mutex<ledger::Ledger>,
    next_admission: std::sync::atomic::AtomicU64,
}

/// The fallback answered instead of calling the service (SPEC §5 OPEN).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("circuit breaker of {service} is {state}")]
pub struct BreakerOpen {
    pub service: String,
    pub state: BreakerState,
    /// Time until the breaker lets a trial through (zero while HALF-OPEN is full of trials).
    pub retry_after: Duration,
    pub fallback: Fallback,
    /// The admission this refusal answered (the breaker's ledger).
    pub admission: u64,
}

/// What the breaker says after recording an attempt: its state, and whether the state the
/// request was admitted under still holds (both feed the retry decision, `upstream::should_retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub state: BreakerState,
    /// No transition happened since the request was admitted.
    pub admission_current: bool,
}

/// Leave to send one request upstream; every attempt's outcome goes through [`Permit::record_attempt`].
/// Dropping it frees a HALF-OPEN trial slot.
#[derive(Debug)]
pub struct Permit {
    breaker: Arc<Breaker>,
    ticket: machine::Ticket,
    admission: u64,
}

impl Breaker {
    pub fn new(service: String, config: CircuitBreakerConfig, clock: StackClock) -> Self {
        Breaker {
            service,
            clock,
            machine: Mutex::new(machine::Machine::new(config)),
            ledger: Mutex::new(ledger::Ledger::default()),
            next_admission: std::sync::atomic::AtomicU64::new(1),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Lets a request through, or says why not.
    ///
    /// # Errors
    /// [`BreakerOpen`] while OPEN, or while HALF-OPEN has its maximum of trials in flight.
    pub fn admit(self: &Arc<Self>) -> Result<Permit, BreakerOpen> {
        let mut machine = self.lock();
        let before = machine.transition_count();
        let (at, wall) = (self.clock.now(), self.clock.wall());
        let decided = machine.admit(at, wall);
        self.log_new_transitions(&machine, before);
        let admission = self
            .next_admission
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.note(ledger::Entry::Admitted {
            admission,
            at,
            wall,
            passed: match decided {
                Admission::Pass(ticket) => Some(ticket.is_trial()),
                Admission::Reject { .. } => None,
            },
            state: machine.state(),
        });
        match decided {
            Admission::Pass(ticket) => Ok(Permit {
                breaker: self.clone(),
                ticket,
                admission,
            }),
            Admission::Reject { state, retry_after } => Err(BreakerOpen {
                service: self.service.clone(),
                state,
                retry_after,
                fallback: machine.config().fallback.clone(),
                admission,
            }),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot()
    }

    pub fn config(&self) -> CircuitBreakerConfig {
        self.lock().config().clone()
    }

    /// A copy of the ledger: every input the machine got so far, in order.
    pub fn ledger(&self) -> ledger::Ledger {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops keeping the ledger and drops what it holds (see [`crate::gateway::Gateway::keep_no_trail`]).
    pub fn keep_no_ledger(&self) {
        let mut ledger = self
            .ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *ledger = ledger::Ledger {
            off: true,
            ..ledger::Ledger::default()
        };
    }

    /// Notes the `X-Circuit-Breaker-State` the answer to `admission` carried.
    pub fn note_answer(&self, admission: u64, header: BreakerState) {
        let machine = self.lock();
        self.note(ledger::Entry::Answered {
            admission,
            header,
            now: machine.state(),
        });
    }

    /// Writes one ledger entry; callers hold the machine's lock so entries keep its order.
    fn note(&self, entry: ledger::Entry) {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(entry);
    }

    fn lock(&self) -> MutexGuard<'_, machine::Machine> {
        // The machine holds plain counters; a panic elsewhere cannot leave it half-updated.
        self.machine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn log_new_transitions(&self, machine: &machine::Machine, before: u64) {
        for t in machine.transitions_since(before) {
            tracing::info!(service = %self.service, from = %t.from, to = %t.to, reason = %t.reason, "circuit breaker transition");
        }
    }
}

impl Permit {
    /// Records one attempt's outcome; returns the breaker's state after it and whether the state
    /// this request was admitted under still holds.
    pub fn record_attempt(&self, outcome: &AttemptOutcome) -> Recorded {
        let breaker = &self.breaker;
        let mut machine = breaker.lock();
        let before = machine.transition_count();
        let (at, wall) = (breaker.clock.now(), breaker.clock.wall());
        let state = machine.record(self.ticket, outcome, at, wall);
        breaker.log_new_transitions(&machine, before);
        breaker.note(ledger::Entry::Attempt {
            admission: self.admission,
            at,
            wall,
            outcome: outcome.clone(),
            after: state,
        });
        Recorded {
            state,
            admission_current: machine.is_current(self.ticket),
        }
    }

    /// The breaker's current state (for responses that recorded no attempt).
    pub fn state(&self) -> BreakerState {
        self.breaker.lock().state()
    }

    /// This request's admission number in the breaker's ledger.
    pub fn admission(&self) -> u64 {
        self.admission
    }

    /// The breaker this permit is from.
    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut machine = self.breaker.lock();
        machine.release(self.ticket);
        self.breaker.note(ledger::Entry::Released {
            admission: self.admission,
        });
        drop(machine);
    }
}

/// Every breaker of a gateway, indexed like `GatewayConfig::services`.
#[derive(Debug, Default)]
pub struct Breakers {
    by_service: Vec<Option<Arc<Breaker>>>,
}

impl Breakers {
    /// One breaker per service that a `circuit-breaker` plugin covers.
    pub fn new(config: &GatewayConfig, clock: &StackClock) -> Self {
        let by_service = (0..config.services.len())
            .map(
                |s| match config.service_plugin(PluginKind::CircuitBreaker, s) {
                    Some(PluginConfig::CircuitBreaker(c)) => Some(Arc::new(Breaker::new(
                        config.services[s].name.clone(),
                        c.clone(),
                        clock.clone(),
                    ))),
                    _ => None,
                },
            )
            .collect();
        Breakers { by_service }
    }

    /// The breaker of service `index`, if it has one.
    pub fn get(&self, service: usize) -> Option<&Arc<Breaker>> {
        self.by_service.get(service)?.as_ref()
    }

    /// `(service index, breaker)` for every breaker.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Arc<Breaker>)> {
        self.by_service
            .iter()
            .enumerate()
            .filter_map(|(i, b)| Some((i, b.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(clock: &StackClock) -> Arc<Breaker> {
        Arc::new(Breaker::new(
            "value-architect".into(),
            CircuitBreakerConfig::default(),
            clock.clone(),
        ))
    }

    #[test]
    fn a_clock_jump_past_open_timeout_lets_a_trial_through() {
        let clock = StackClock::new();
        let b = breaker(&clock);
        for _ in 0..5 {
            let permit = b.admit().expect("closed");
            permit.record_attempt(&AttemptOutcome::ConnectFailed("refused".into()));
        }
        let refused = b.admit().expect_err("open");
        assert_eq!(refused.state, BreakerState::Open);
        assert!(refused.retry_after > Duration::from_secs(59));
        clock.advance(Duration::from_secs(60));
        let trial = b.admit().expect("half-open trial");
        assert_eq!(trial.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn a_dropped_trial_frees_its_slot() {
        let clock = StackClock::new();
        let b = breaker(&clock);
        for _ in 0..5 {
            b.admit()
                .expect("closed")
                .record_attempt(&AttemptOutcome::Response(503));
        }
        clock.advance(Duration::from_secs(60));
        let trials: Vec<Permit> = (0..3).map(|_| b.admit().expect("trial")).collect();
        assert!(
            b.admit().is_err(),
            "a fourth concurrent trial must get the fallback"
        );
        drop(trials);
        assert!(b.admit().is_ok());
    }

    #[test]
    fn a_breaker_that_keeps_no_ledger_still_opens_and_keeps_nothing() {
        let clock = StackClock::new();
        let b = breaker(&clock);
        b.admit()
            .expect("closed")
            .record_attempt(&AttemptOutcome::Response(200));
        assert_eq!(b.ledger().entries.len(), 3, "admitted, attempt, released");
        b.keep_no_ledger();
        assert!(b.ledger().entries.is_empty(), "what it held is dropped");
        for _ in 0..5 {
            let permit = b.admit().expect("closed");
            permit.record_attempt(&AttemptOutcome::ConnectFailed("refused".into()));
            b.note_answer(1, BreakerState::Closed);
        }
        assert_eq!(b.admit().expect_err("open").state, BreakerState::Open);
        let ledger = b.ledger();
        assert!(
            ledger.entries.is_empty() && !ledger.overflowed,
            "{ledger:?}"
        );
    }
}
