//! The gateway's audit trail: what it decided about each request, kept for the invariant
//! checkers (SPEC §11, [`crate::explore::invariants`]), never read on the request path.
//!
//! ```text
//!   pipeline: jwt / acl / rate-limiting refusal ──► Refused
//!             rate limiter counted the request  ──► Counted (window, usage before it)
//!             upstream call starts              ──► Forwarded (trace id sent upstream)
//!             upstream call in flight            ──► in-flight count per service (high-water mark)
//! ```
//! Entries are written when the decision is made, not when the answer leaves, so a client
//! that gives up on a request does not erase what the gateway already did for it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::config::gateway::RatePeriod;

/// Entries kept; past this the trail stops and says so (the checkers then skip it).
pub const MAX_ENTRIES: usize = 500_000;

/// One decision of the gateway about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEntry {
    /// Refused by an auth or rate-limiting stage (`jwt`, `acl`, `rate-limiting`).
    Refused {
        request: String,
        stage: &'static str,
        consumer: Option<usize>,
    },
    /// Counted by the rate limiter in one period's window; `used` is the count before it.
    Counted {
        request: String,
        consumer: Option<usize>,
        plugin: Uuid,
        identifier: u64,
        period: RatePeriod,
        window_start: u64,
        used: u64,
        limit: u64,
    },
    /// Sent upstream to service `service` (index in the gateway config) with this trace id,
    /// under this admission of the service's breaker (none: the service has no breaker).
    Forwarded {
        request: String,
        service: usize,
        trace: Option<String>,
        admission: Option<u64>,
    },
}

/// The trail and the per-service in-flight counts.
#[derive(Debug)]
pub struct Audit {
    entries: Mutex<(Vec<AuditEntry>, bool)>,
    /// Whether entries are kept ([`Audit::keep_none`]).
    kept: AtomicBool,
    in_flight: Vec<AtomicU32>,
    peak: Vec<AtomicU32>,
}

/// Holds one place in a service's in-flight count until dropped.
#[derive(Debug)]
pub struct InFlight {
    audit: Arc<Audit>,
    service: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(n) = self.audit.in_flight.get(self.service) {
            n.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Audit {
    /// A trail for a gateway with `services` services.
    pub fn new(services: usize) -> Self {
        Audit {
            entries: Mutex::new((Vec::new(), false)),
            kept: AtomicBool::new(true),
            in_flight: (0..services).map(|_| AtomicU32::new(0)).collect(),
            peak: (0..services).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Whether entries are kept: a writer checks before it makes one (`gauntlet up` keeps none,
    /// and the request path then makes none).
    pub fn is_kept(&self) -> bool {
        self.kept.load(Ordering::Relaxed)
    }

    pub fn push(&self, entry: AuditEntry) {
        if !self.is_kept() {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.0.len() >= MAX_ENTRIES {
            entries.1 = true;
        } else {
            entries.0.push(entry);
        }
    }

    /// Stops keeping entries and drops those kept (the in-flight counts go on).
    pub fn keep_none(&self) {
        self.kept.store(false, Ordering::Relaxed);
        *self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (Vec::new(), false);
    }

    /// Every entry so far, and whether some were dropped.
    pub fn entries(&self) -> (Vec<AuditEntry>, bool) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Counts one upstream call to `service` in flight until the guard drops.
    pub fn enter(self: &Arc<Self>, service: usize) -> InFlight {
        if let (Some(n), Some(peak)) = (self.in_flight.get(service), self.peak.get(service)) {
            let now = n.fetch_add(1, Ordering::AcqRel) + 1;
            peak.fetch_max(now, Ordering::AcqRel);
        }
        InFlight {
            audit: self.clone(),
            service,
        }
    }

    /// The most upstream calls ever in flight at once, per service index.
    pub fn peaks(&self) -> Vec<u32> {
        self.peak
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trail_that_keeps_none_drops_its_entries_but_counts_calls_in_flight() {
        let audit = Arc::new(Audit::new(1));
        let refused = |n: usize| AuditEntry::Refused {
            request: format!("r{n}"),
            stage: "jwt",
            consumer: None,
        };
        audit.push(refused(1));
        assert_eq!(audit.entries(), (vec![refused(1)], false));
        audit.keep_none();
        audit.push(refused(2));
        assert_eq!(audit.entries(), (vec![], false));
        let a = audit.enter(0);
        let b = audit.enter(0);
        drop((a, b));
        assert_eq!(audit.peaks(), vec![2]);
    }
}
