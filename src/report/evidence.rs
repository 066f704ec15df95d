//! One evidence record per scenario (issue 16 item 3, issue 13 item 3): what the scenario's own
//! stack recorded, attached to the scenario's report so a failure carries what explains it.
//!
//! ```text
//!   runner after-hook (the World, before its stack stops)
//!     ├─ stack start-up time
//!     ├─ each breaker's transitions (typed states, stack-clock times)   ──► Evidence ──► ScenarioReport.evidence
//!     ├─ load runs → histograms (+ interval logs)
//!     └─ each service's journal (what reached it), kept for failing scenarios only
//! ```
//!
//! Redaction happens once, in [`RunReport::redacted`](super::RunReport::redacted), which calls
//! [`Evidence::redact`]; every writer renders the redacted copy.

use std::time::Duration;

use serde::Serialize;

use super::format::{serialize_millis, serialize_opt_millis};
use super::model::HistogramReport;
use super::redact::redact_text;

/// Journal entries kept per service in a scenario's evidence (the last ones; the count goes on).
pub const JOURNAL_ENTRIES: usize = 50;

/// Traces kept in a failing scenario's evidence (the last ones).
pub const TRACES_KEPT: usize = 6;

/// What one scenario's stack recorded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    /// Time spent starting the scenario's own stack, when it had one.
    #[serde(
        rename = "stack_startup_ms",
        serialize_with = "serialize_opt_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub stack_startup: Option<Duration>,
    /// Each breaker that changed state, by service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakers: Vec<BreakerTimeline>,
    /// The load steps' latency histograms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub histograms: Vec<HistogramReport>,
    /// Invariants (SPEC §11) the scenario's stack broke: defects of Gauntlet itself.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<super::invariants::InvariantViolation>,
    /// What reached each service (failing scenarios only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub journals: Vec<ServiceJournal>,
    /// The links the scenario used or faulted, with their toxics ([`super::links`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<super::links::LinkRecord>,
    /// The last requests' traces, oldest first (failing scenarios only; [`crate::trace`]):
    /// every span of the gateway's stages and attempts, the sidecar hops, faults and toxics.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<crate::trace::TraceJson>,
    /// An experiment in method form that failed before its rollbacks: the rollbacks the runner
    /// played anyway (Chaos Toolkit's journal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentRecord>,
}

/// What happened to an experiment (steady state → method → rollbacks) whose method or
/// steady-state check failed, in Chaos Toolkit's words (its journal's `deviated` and each
/// rollback's `status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExperimentRecord {
    /// The steady state did not hold after the method.
    pub deviated: bool,
    /// The rollbacks, played after the failed step as Chaos Toolkit plays them (in order, a
    /// failed one not stopping the rest).
    pub rollbacks: Vec<RollbackRecord>,
    /// Faults, toxics and stopped services still in force on the stack after the rollbacks
    /// (empty: the rollbacks undid the method).
    pub left_in_force: Vec<String>,
}

/// One rollback activity and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RollbackRecord {
    /// The step (`When the faults on "value-committer" are cleared`).
    pub activity: String,
    /// `succeeded` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Evidence {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.stack_startup.is_none()
            && self.breakers.is_empty()
            && self.histograms.is_empty()
            && self.journals.is_empty()
            && self.invariants.is_empty()
            && self.links.is_empty()
            && self.traces.is_empty()
            && self.experiment.is_none()
    }

    /// Removes `secrets`, JWTs and credentials from every text it holds.
    pub fn redact(&mut self, secrets: &[String]) {
        let text = |s: &str| redact_text(s, secrets);
        for breaker in &mut self.breakers {
            for t in &mut breaker.transitions {
                t.reason = text(&t.reason);
            }
        }
        for h in &mut self.histograms {
            h.name = text(&h.name);
        }
        for journal in &mut self.journals {
            for e in &mut journal.entries {
                e.path = text(&e.path);
                e.source = e.source.as_deref().map(text);
                e.fault = e.fault.as_deref().map(text);
            }
        }
        for trace in &mut self.traces {
            trace.name = text(&trace.name);
            for span in &mut trace.spans {
                span.name = text(&span.name);
                for value in span.attributes.values_mut() {
                    *value = text(value);
                }
            }
        }
        if let Some(experiment) = &mut self.experiment {
            for r in &mut experiment.rollbacks {
                r.activity = text(&r.activity);
                r.error = r.error.as_deref().map(text);
            }
        }
        for v in &mut self.invariants {
            v.what = text(&v.what);
            for e in &mut v.evidence {
                *e = text(e);
            }
        }
    }
}

pub use crate::gateway::breaker::machine::BreakerState;

impl BreakerState {
    /// `closed`, `open` or `half-open`, for the state chip's CSS class.
    pub fn class(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// One service's circuit-breaker history during one scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BreakerTimeline {
    pub service: String,
    pub transitions: Vec<BreakerTransition>,
}

/// One state change (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerTransition {
    pub from: BreakerState,
    pub to: BreakerState,
    /// Stack-clock time since the stack started (jumps included).
    #[serde(rename = "at_ms", serialize_with = "serialize_millis")]
    pub at: Duration,
    pub reason: String,
}

/// What reached one service during a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceJournal {
    pub service: String,
    /// Requests (or connections) received in all.
    pub received: u64,
    /// The last [`JOURNAL_ENTRIES`] of them, oldest first.
    pub entries: Vec<JournalRecord>,
}

/// One request as it reached a service (the journal keeps no credential header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalRecord {
    /// 1 for the first request the service received.
    pub seq: u64,
    /// Stack-clock time since the stack started.
    #[serde(rename = "at_ms", serialize_with = "serialize_millis")]
    pub at: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub method: String,
    /// Path and query, query values already replaced by `…`.
    pub path: String,
    /// What the fault stage did (`abort 503`), when it did something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialise_as_the_header_spells_them() {
        let t = BreakerTransition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Open,
            at: Duration::from_millis(1500),
            reason: "trial failed".into(),
        };
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["from"], "HALF-OPEN");
        assert_eq!(json["to"], "OPEN");
        assert_eq!(json["at_ms"], 1500.0);
        assert_eq!(BreakerState::HalfOpen.class(), "half-open");
    }

    #[test]
    fn redaction_reaches_reasons_histogram_names_and_journals() {
        let mut e = Evidence {
            breakers: vec![BreakerTimeline {
                service: "a".into(),
                transitions: vec![BreakerTransition {
                    from: BreakerState::Closed,
                    to: BreakerState::Open,
                    at: Duration::ZERO,
                    reason: "s3cret-value failed".into(),
                }],
            }],
            journals: vec![ServiceJournal {
                service: "a".into(),
                received: 1,
                entries: vec![JournalRecord {
                    seq: 1,
                    at: Duration::ZERO,
                    source: None,
                    method: "GET".into(),
                    path: "/x/s3cret-value".into(),
                    fault: Some("abort s3cret-value".into()),
                }],
            }],
            ..Evidence::default()
        };
        e.redact(&["s3cret-value".to_string()]);
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("s3cret-value"), "{json}");
    }
}
