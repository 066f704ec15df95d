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
use crate::target::ScenarioStack;

use super::collected::ScenarioKey;

/// Everything the report keeps of `world` for the scenario `key`. A stack of containers gives
/// its start-up and journals; breakers, invariants, links and traces are read from the
/// in-process stack's objects only.
pub async fn of(world: &GauntletWorld, key: &ScenarioKey) -> Evidence {
    let (path, line, name) = key;
    let stack = world.started_stack();
    let in_process = stack.and_then(|s| s.in_process("evidence").ok());
    Evidence {
        stack_startup: stack.map(ScenarioStack::startup),
        breakers: in_process.map(breakers).unwrap_or_default(),
        histograms: crate::steps::load::histogram_reports(path, name, *line, &world.load_runs),
        journals: match stack {
            Some(stack) => journals(stack).await,
            None => Vec::new(),
        },
        invariants: in_process
            .map(|s| invariants(s, &world.client_counts))
            .unwrap_or_default(),
        links: in_process
            .map(|s| crate::report::links::of(&s.links))
            .unwrap_or_default(),
        traces: in_process.map(traces).unwrap_or_default(),
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
async fn journals(stack: &ScenarioStack) -> Vec<ServiceJournal> {
    let mut out = Vec::new();
    for service in &stack.def().topology.services {
        let Ok((received, entries)) = stack.journal(&service.name, JOURNAL_ENTRIES).await else {
            continue;
        };
        if received == 0 {
            continue;
        }
        out.push(ServiceJournal {
            service: service.name.clone(),
            received,
            entries: entries
                .into_iter()
                .map(|e| JournalRecord {
                    seq: e.seq,
                    at: e.at,
                    source: e.source,
                    method: e.method,
                    path: e.path,
                    fault: e.fault,
                })
                .collect(),
        });
    }
    out
}
