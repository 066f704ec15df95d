//! The evidence record of a finished scenario, taken from its World before the World (and its
//! stack) is dropped: stack start-up time, every breaker that changed state (typed states),
//! the load runs' histograms, what reached each service and the links it used or faulted.
//!
//! ```text
//!   after hook ──► of(world, scenario) ──► Evidence ──► ExtrasMap ──► Collector::finish ──► ScenarioReport.evidence
//! ```

use crate::report::evidence::{
    BreakerTimeline, BreakerTransition, Evidence, JournalRecord, ServiceJournal, JOURNAL_ENTRIES,
    TRACES_KEPT,
};
use crate::stack::Stack;
use crate::steps::GauntletWorld;

use super::collected::ScenarioKey;

/// Everything the report keeps of `world` for the scenario `key`.
pub fn of(world: &GauntletWorld, key: &ScenarioKey) -> Evidence {
    let (path, line, name) = key;
    let stack = world.started_stack();
    Evidence {
        stack_startup: stack.map(|s| s.startup),
        breakers: stack.map(breakers).unwrap_or_default(),
        histograms: crate::steps::load::histogram_reports(path, name, *line, &world.load_runs),
        journals: stack.map(journals).unwrap_or_default(),
        invariants: stack
            .map(|s| invariants(s, &world.client_counts))
            .unwrap_or_default(),
        links: stack
            .map(|s| crate::report::links::of(&s.links))
            .unwrap_or_default(),
        traces: stack.map(traces).unwrap_or_default(),
        experiment: world.experiment.clone(),
    }
}

/// The stack's last traces, oldest first.
fn traces(stack: &Stack) -> Vec<crate::trace::TraceJson> {
    let mut traces: Vec<_> = stack
        .traces()
        .traces(TRACES_KEPT)
        .iter()
        .map(crate::trace::Trace::to_json)
        .collect();
    traces.reverse();
    traces
}

/// Every invariant (SPEC §11) the scenario's stack broke; `counted` are the load steps' client
/// counts (INV-8).
fn invariants(
    stack: &Stack,
    counted: &[crate::explore::invariants::ClientCount],
) -> Vec<crate::report::invariants::InvariantViolation> {
    crate::explore::invariants::Trace {
        client: counted.to_vec(),
        ..crate::explore::invariants::Trace::of_stack(stack)
    }
    .check()
    .into_iter()
    .map(Into::into)
    .collect()
}

/// Every breaker of `stack` that changed state.
fn breakers(stack: &Stack) -> Vec<BreakerTimeline> {
    stack
        .gateway
        .state
        .breakers
        .iter()
        .map(|(_, b)| (b.service().to_string(), b.snapshot().transitions))
        .filter(|(_, transitions)| !transitions.is_empty())
        .map(|(service, transitions)| BreakerTimeline {
            service,
            transitions: transitions
                .into_iter()
                .map(|t| BreakerTransition {
                    from: t.from,
                    to: t.to,
                    at: t.at.since_start(),
                    reason: t.reason,
                })
                .collect(),
        })
        .collect()
}

/// What reached each service that received anything: the count and the last entries.
fn journals(stack: &Stack) -> Vec<ServiceJournal> {
    stack
        .services
        .iter()
        .filter_map(|(name, service)| {
            let journal = &service.inbound().journal;
            let received = journal.count();
            if received == 0 {
                return None;
            }
            let entries = journal.entries();
            let skip = entries.len().saturating_sub(JOURNAL_ENTRIES);
            Some(ServiceJournal {
                service: name.clone(),
                received,
                entries: entries
                    .into_iter()
                    .skip(skip)
                    .map(|e| JournalRecord {
                        seq: e.seq,
                        at: e.at,
                        source: e.source,
                        method: e.method,
                        path: e.path,
                        fault: e.fault,
                    })
                    .collect(),
            })
        })
        .collect()
}
