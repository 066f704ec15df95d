//! Breaker invariants (SPEC §11) from each breaker's ledger, its recorded transitions, the
//! gateway's audit trail and the services' journals: INV-1 (the `X-Circuit-Breaker-State` an
//! answer carried is the state its outcome left), INV-2 (replaying the recorded inputs through
//! a fresh §5 machine gives exactly the recorded transitions) and INV-3 (nothing reaches a
//! service through an OPEN breaker; HALF-OPEN trials stay within `half_open_max_concurrent`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{BreakerTrace, Trace, Violation};
use crate::gateway::audit::AuditEntry;
use crate::gateway::breaker::ledger::Entry;
use crate::gateway::breaker::machine::{Admission, Machine, Ticket};
use crate::gateway::breaker::BreakerState;

/// INV-1: every answer that reached a breaker carries the state after its own outcome: after
/// its last attempt, or the state that refused it.
pub fn inv1_state_header(trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in trace.breakers.iter().filter(|b| !b.ledger.overflowed) {
        let mut refused: BTreeMap<u64, BreakerState> = BTreeMap::new();
        let mut last_attempt: BTreeMap<u64, BreakerState> = BTreeMap::new();
        for e in &b.ledger.entries {
            match e {
                Entry::Admitted {
                    admission,
                    passed: None,
                    state,
                    ..
                } => {
                    refused.insert(*admission, *state);
                }
                Entry::Attempt {
                    admission, after, ..
                } => {
                    last_attempt.insert(*admission, *after);
                }
                Entry::Answered {
                    admission, header, ..
                } => {
                    let expected = last_attempt
                        .get(admission)
                        .or_else(|| refused.get(admission));
                    if let Some(expected) = expected.filter(|s| *s != header) {
                        out.push(Violation {
                            invariant: "INV-1",
                            what: format!(
                                "an answer of {} said {header} but its outcome left the breaker {expected}",
                                b.service
                            ),
                            evidence: vec![format!(
                                "{} ledger: admission {admission}, header {header}, state after its outcome {expected}",
                                b.service
                            )],
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// INV-2: the recorded inputs, replayed through a fresh machine with the same configuration
/// at the same stack times, give the same decisions and exactly the recorded transitions.
pub fn inv2_replay(trace: &Trace) -> Vec<Violation> {
    trace
        .breakers
        .iter()
        .filter(|b| !b.ledger.overflowed)
        .filter_map(replay_one)
        .collect()
}

fn replay_one(b: &BreakerTrace) -> Option<Violation> {
    let mut machine = Machine::new(b.config.clone());
    let mut tickets: BTreeMap<u64, Ticket> = BTreeMap::new();
    let fail = |what: String, evidence: Vec<String>| {
        Some(Violation {
            invariant: "INV-2",
            what: format!("{}: {what}", b.service),
            evidence,
        })
    };
    for (i, e) in b.ledger.entries.iter().enumerate() {
        match e {
            Entry::Admitted {
                admission,
                at,
                wall,
                passed,
                ..
            } => {
                let decided = machine.admit(*at, *wall);
                let replayed = match decided {
                    Admission::Pass(t) => {
                        tickets.insert(*admission, t);
                        Some(t.is_trial())
                    }
                    Admission::Reject { .. } => None,
                };
                if replayed != *passed {
                    return fail(
                        format!(
                            "admission {admission} was {} but the replay {}",
                            verdict(*passed),
                            verdict(replayed)
                        ),
                        vec![format!("ledger entry {i}: {e:?}")],
                    );
                }
            }
            Entry::Attempt {
                admission,
                at,
                wall,
                outcome,
                after,
            } => {
                let Some(ticket) = tickets.get(admission) else {
                    return fail(
                        format!("an attempt of admission {admission}, which never passed"),
                        vec![format!("ledger entry {i}: {e:?}")],
                    );
                };
                let replayed = machine.record(*ticket, outcome, *at, *wall);
                if replayed != *after {
                    return fail(
                        format!(
                            "after {} (admission {admission}) the breaker was {after}, the replay {replayed}",
                            outcome.describe()
                        ),
                        vec![format!("ledger entry {i}: {e:?}")],
                    );
                }
            }
            Entry::Released { admission } => {
                if let Some(ticket) = tickets.remove(admission) {
                    machine.release(ticket);
                }
            }
            Entry::Answered { .. } => {}
        }
    }
    let replayed: Vec<(BreakerState, BreakerState, Duration)> = machine
        .snapshot()
        .transitions
        .iter()
        .map(|t| (t.from, t.to, t.at.since_start()))
        .collect();
    // The recorded history may have been cut to its most recent part.
    let recorded = &b.transitions;
    let tail = replayed.len().saturating_sub(recorded.len());
    let same_count = machine.transition_count() == b.total_transitions;
    if !same_count || replayed[tail..] != recorded[..] {
        let show = |ts: &[(BreakerState, BreakerState, Duration)]| {
            ts.iter()
                .take(8)
                .map(|(f, t, at)| format!("{f}→{t} at {:.3}s", at.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return fail(
            format!(
                "the recorded transitions ({}) differ from the replay of its {} inputs ({})",
                b.total_transitions,
                b.ledger.entries.len(),
                machine.transition_count()
            ),
            vec![
                format!("recorded: {}", show(recorded)),
                format!("replayed: {}", show(&replayed[tail..])),
            ],
        );
    }
    None
}

fn verdict(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => "passed as a trial",
        Some(false) => "passed",
        None => "refused",
    }
}

/// INV-3: no request passes an OPEN breaker; at most `half_open_max_concurrent` trials of one
/// HALF-OPEN period are in flight at once; and every request a service journaled from the
/// gateway was forwarded under an admission its breaker granted.
pub fn inv3_open_breaker(trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut granted: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for b in trace.breakers.iter().filter(|b| !b.ledger.overflowed) {
        let max = b.config.half_open_max_concurrent as usize;
        let mut trials: BTreeSet<u64> = BTreeSet::new();
        let granted = granted.entry(b.service.as_str()).or_default();
        for e in &b.ledger.entries {
            let state = match e {
                Entry::Admitted { state, .. } => Some(*state),
                Entry::Attempt { after, .. } => Some(*after),
                _ => None,
            };
            if state.is_some_and(|s| s != BreakerState::HalfOpen) {
                // A HALF-OPEN period ended: its trials no longer count against the next one.
                trials.clear();
            }
            match e {
                Entry::Admitted {
                    admission,
                    passed: Some(trial),
                    state,
                    ..
                } => {
                    granted.insert(*admission);
                    if *state == BreakerState::Open {
                        out.push(Violation {
                            invariant: "INV-3",
                            what: format!("{} let a request through while OPEN", b.service),
                            evidence: vec![format!("{} ledger: {e:?}", b.service)],
                        });
                    }
                    if *trial {
                        trials.insert(*admission);
                        if trials.len() > max {
                            out.push(Violation {
                                invariant: "INV-3",
                                what: format!(
                                    "{} had {} HALF-OPEN trials in flight, above half_open_max_concurrent {max}",
                                    b.service,
                                    trials.len()
                                ),
                                evidence: vec![format!("trial admissions in flight: {trials:?}")],
                            });
                        }
                    }
                }
                Entry::Released { admission } => {
                    trials.remove(admission);
                }
                _ => {}
            }
        }
    }
    if trace.audit_overflowed {
        return out;
    }
    // The journals: each request from the gateway must have been forwarded under a granted
    // admission of its service's breaker.
    let mut forwarded: BTreeMap<&str, Vec<(usize, Option<u64>)>> = BTreeMap::new();
    for e in &trace.audit {
        if let AuditEntry::Forwarded {
            service,
            trace: Some(t),
            admission,
            ..
        } = e
        {
            forwarded
                .entry(t.as_str())
                .or_default()
                .push((*service, *admission));
        }
    }
    for line in trace.gateway_lines() {
        let Some(t) = &line.trace else { continue };
        let Some(sends) = forwarded.get(t.as_str()) else {
            continue;
        };
        for (service, admission) in sends {
            let Some(kong) = trace.services.get(*service) else {
                continue;
            };
            if kong.target.as_deref() != Some(line.service.as_str()) {
                continue;
            }
            let Some(granted) = granted.get(kong.name.as_str()) else {
                continue;
            };
            let ok = admission.is_some_and(|a| granted.contains(&a));
            if !ok {
                out.push(Violation {
                    invariant: "INV-3",
                    what: format!(
                        "a request reached {} without its breaker letting it through",
                        line.service
                    ),
                    evidence: vec![
                        line.describe(),
                        format!(
                            "forwarded under admission {admission:?}, not granted by {}",
                            kong.name
                        ),
                    ],
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::KongService;
    use super::*;
    use crate::clock::StackClock;
    use crate::config::gateway::CircuitBreakerConfig;
    use crate::gateway::breaker::ledger::Ledger;
    use crate::outcome::AttemptOutcome;

    /// A breaker trace made by driving a real machine, as the gateway does.
    struct Driver {
        clock: StackClock,
        machine: Machine,
        ledger: Ledger,
        tickets: BTreeMap<u64, Ticket>,
        next: u64,
    }

    impl Driver {
        fn new() -> Self {
            let clock = StackClock::new();
            clock.stand_still();
            Driver {
                clock,
                machine: Machine::new(CircuitBreakerConfig::default()),
                ledger: Ledger::default(),
                tickets: BTreeMap::new(),
                next: 1,
            }
        }

        fn admit(&mut self) -> u64 {
            let (at, wall) = (self.clock.now(), self.clock.wall());
            let decided = self.machine.admit(at, wall);
            let admission = self.next;
            self.next += 1;
            let passed = match decided {
                Admission::Pass(t) => {
                    self.tickets.insert(admission, t);
                    Some(t.is_trial())
                }
                Admission::Reject { .. } => None,
            };
            self.ledger.push(Entry::Admitted {
                admission,
                at,
                wall,
                passed,
                state: self.machine.state(),
            });
            admission
        }

        fn attempt(&mut self, admission: u64, status: u16) -> BreakerState {
            let (at, wall) = (self.clock.now(), self.clock.wall());
            let outcome = AttemptOutcome::Response(status);
            let after = self
                .machine
                .record(self.tickets[&admission], &outcome, at, wall);
            self.ledger.push(Entry::Attempt {
                admission,
                at,
                wall,
                outcome,
                after,
            });
            after
        }

        fn release(&mut self, admission: u64) {
            if let Some(t) = self.tickets.remove(&admission) {
                self.machine.release(t);
            }
            self.ledger.push(Entry::Released { admission });
        }

        /// Five failures (opens), 61 s, three trial successes (closes).
        fn open_and_close(&mut self) {
            for _ in 0..5 {
                let a = self.admit();
                self.attempt(a, 503);
                self.release(a);
            }
            self.clock.advance(Duration::from_secs(61));
            for _ in 0..3 {
                let a = self.admit();
                self.attempt(a, 200);
                self.release(a);
            }
        }

        fn trace(&self) -> Trace {
            let snapshot = self.machine.snapshot();
            Trace {
                breakers: vec![BreakerTrace {
                    service: "value-architect".into(),
                    config: CircuitBreakerConfig::default(),
                    ledger: self.ledger.clone(),
                    transitions: snapshot
                        .transitions
                        .iter()
                        .map(|t| (t.from, t.to, t.at.since_start()))
                        .collect(),
                    total_transitions: self.machine.transition_count(),
                }],
                services: vec![KongService {
                    name: "value-architect".into(),
                    target: Some("value-architect".into()),
                    ..KongService::default()
                }],
                gateway_identity: "api-gateway".into(),
                ..Trace::default()
            }
        }
    }

    #[test]
    fn a_faithful_ledger_breaks_no_breaker_invariant() {
        let mut d = Driver::new();
        d.open_and_close();
        let t = d.trace();
        assert_eq!(t.breakers[0].transitions.len(), 3);
        assert!(inv1_state_header(&t).is_empty());
        assert!(inv2_replay(&t).is_empty(), "{:?}", inv2_replay(&t));
        assert!(inv3_open_breaker(&t).is_empty());
    }

    #[test]
    fn inv1_flags_an_answer_whose_header_is_not_the_state_its_outcome_left() {
        let mut d = Driver::new();
        for _ in 0..4 {
            let a = d.admit();
            d.attempt(a, 503);
            d.release(a);
        }
        let fifth = d.admit();
        assert_eq!(d.attempt(fifth, 503), BreakerState::Open);
        // The 5th failure opened the breaker, but the answer said CLOSED.
        d.ledger.push(Entry::Answered {
            admission: fifth,
            header: BreakerState::Closed,
            now: BreakerState::Open,
        });
        let v = inv1_state_header(&d.trace());
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0]
            .what
            .contains("said CLOSED but its outcome left the breaker OPEN"));
    }

    #[test]
    fn inv2_flags_transitions_the_inputs_do_not_explain() {
        let mut d = Driver::new();
        d.open_and_close();
        let mut t = d.trace();
        // A transition recorded that the inputs never caused.
        t.breakers[0].transitions.push((
            BreakerState::Closed,
            BreakerState::Open,
            Duration::from_secs(61),
        ));
        t.breakers[0].total_transitions += 1;
        let v = inv2_replay(&t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].what.contains("differ from the replay"),
            "{}",
            v[0].what
        );
        // An attempt whose recorded state is not what the machine gives.
        let mut d = Driver::new();
        let a = d.admit();
        d.attempt(a, 503);
        if let Some(Entry::Attempt { after, .. }) = d.ledger.entries.last_mut() {
            *after = BreakerState::Open;
        }
        assert!(inv2_replay(&d.trace())[0]
            .what
            .contains("the breaker was OPEN, the replay CLOSED"));
    }

    #[test]
    fn inv3_flags_a_pass_while_open_too_many_trials_and_an_unadmitted_journal_line() {
        let mut d = Driver::new();
        for _ in 0..5 {
            let a = d.admit();
            d.attempt(a, 503);
            d.release(a);
        }
        // A pass recorded while OPEN.
        d.ledger.push(Entry::Admitted {
            admission: 99,
            at: d.clock.now(),
            wall: d.clock.wall(),
            passed: Some(false),
            state: BreakerState::Open,
        });
        let v = inv3_open_breaker(&d.trace());
        assert!(v.iter().any(|v| v.what.contains("while OPEN")), "{v:?}");

        // Four trials in flight with half_open_max_concurrent 3.
        let mut d = Driver::new();
        for _ in 0..5 {
            let a = d.admit();
            d.attempt(a, 503);
            d.release(a);
        }
        d.clock.advance(Duration::from_secs(61));
        for n in 0..4u64 {
            d.ledger.push(Entry::Admitted {
                admission: 100 + n,
                at: d.clock.now(),
                wall: d.clock.wall(),
                passed: Some(true),
                state: BreakerState::HalfOpen,
            });
        }
        let v = inv3_open_breaker(&d.trace());
        assert!(
            v.iter().any(|v| v.what.contains("4 HALF-OPEN trials")),
            "{v:?}"
        );

        // A journal line from the gateway forwarded under an admission the breaker refused.
        let mut d = Driver::new();
        for _ in 0..5 {
            let a = d.admit();
            d.attempt(a, 503);
            d.release(a);
        }
        let refused = d.admit();
        let mut t = d.trace();
        t.audit = vec![AuditEntry::Forwarded {
            request: "r".into(),
            service: 0,
            trace: Some("t1".into()),
            admission: Some(refused),
        }];
        t.journal = vec![super::super::JournalLine {
            service: "value-architect".into(),
            seq: 6,
            at: Duration::ZERO,
            source: None,
            method: "GET".into(),
            path: "/api/v1/value-models".into(),
            trace: Some("t1".into()),
        }];
        let v = inv3_open_breaker(&t);
        assert!(
            v.iter()
                .any(|v| v.what.contains("without its breaker letting it through")),
            "{v:?}"
        );
    }
}
