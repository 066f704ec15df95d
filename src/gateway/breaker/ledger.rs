//! A breaker's ledger: every input its state machine got (admissions, attempt outcomes,
//! releases) in the order it got them, and the state each answer carried in
//! `X-Circuit-Breaker-State`. Observation only: the request path writes one entry under the
//! lock it already holds; the invariant checkers (SPEC §11 INV-1..3, [`crate::explore::invariants`])
//! read it after a run.
//!
//! ```text
//!   Breaker::admit ──► Admitted    Permit::record_attempt ──► Attempt    Permit drop ──► Released
//!   the breaker stage's respond ──► Answered (the header the client got)
//!   ledger ──replay through a fresh Machine──► transitions to compare with the recorded ones
//! ```

use std::time::SystemTime;

use super::machine::BreakerState;
use crate::clock::StackInstant;
use crate::outcome::AttemptOutcome;

/// Entries kept per breaker; past this the ledger stops and says so (a checker then skips it).
pub const MAX_ENTRIES: usize = 500_000;

/// One input to the breaker, or one answer it stamped.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A request asked to pass. `trial`: `Some` when it passed (a HALF-OPEN trial or not),
    /// `None` when it got the fallback. `state` is the machine's state after the admission.
    Admitted {
        admission: u64,
        at: StackInstant,
        wall: SystemTime,
        passed: Option<bool>,
        state: BreakerState,
    },
    /// One upstream attempt of an admitted request ended; `after` is the state it left.
    Attempt {
        admission: u64,
        at: StackInstant,
        wall: SystemTime,
        outcome: AttemptOutcome,
        after: BreakerState,
    },
    /// An admitted request finished (its trial slot, if any, is free).
    Released { admission: u64 },
    /// The answer to admission `admission` carried this `X-Circuit-Breaker-State`; `now` is the
    /// machine's state at that moment (for an answer that recorded no attempt).
    Answered {
        admission: u64,
        header: BreakerState,
        now: BreakerState,
    },
}

/// The entries of one breaker.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub entries: Vec<Entry>,
    /// Entries were dropped past [`MAX_ENTRIES`].
    pub overflowed: bool,
    /// Nothing is kept (a long-running `up`, where nothing checks the invariants: a kept ledger
    /// would grow with every request until its limit).
    pub off: bool,
}

impl Ledger {
    pub fn push(&mut self, entry: Entry) {
        if self.off {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.overflowed = true;
        } else {
            self.entries.push(entry);
        }
    }
}
