//! Invariants (SPEC §11) checked after every play of a schedule and every scenario of a run,
//! whatever happened: a violation is a defect of Gauntlet itself, reported apart from the
//! hypotheses and clauses, with its evidence, and the command exits 1.
//!
//! ```text
//!   stack after the play ──Trace::collect──► journal lines (every service), each breaker's
//!                                            ledger and transitions, the gateway's audit trail
//!                                            and in-flight peaks, the intentions in force,
//!                                            client counts (the explorer's load, a run's load steps)
//!   Trace ──check()──► [Violation] with the evidence (journal lines, ledger entries, counts)
//! ```
//! - [`breaker`]: INV-1 (the state header), INV-2 (replaying the ledger gives the recorded
//!   transitions), INV-3 (nothing reaches a service through an OPEN breaker; trials bounded).
//! - [`requests`]: INV-4 (attempts per request), INV-5 (refused requests reach nothing and
//!   spend no quota), INV-6 (no overshoot of a rate limit), INV-8 (one outcome per request,
//!   counters agree), INV-9 (in flight within the bulkhead).
//! - [`mesh`]: INV-7 (a denied pair delivers nothing).

pub mod breaker;
pub mod mesh;
pub mod requests;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::gateway::{CircuitBreakerConfig, PluginConfig, PluginKind};
use crate::config::StackDef;
use crate::gateway::audit::AuditEntry;
use crate::gateway::breaker::ledger::Ledger;
use crate::gateway::breaker::BreakerState;
use crate::mesh::intentions::Intentions;
use crate::stack::Stack;
pub use requests::{inv4_attempts, inv8_outcomes};

/// A broken invariant and its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `INV-4`.
    pub invariant: &'static str,
    pub what: String,
    pub evidence: Vec<String>,
}

/// One request as a service's inbound journal saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub service: String,
    pub seq: u64,
    /// Stack-clock time since the stack started.
    pub at: Duration,
    /// The caller's mesh identity, when there is a mesh.
    pub source: Option<String>,
    pub method: String,
    pub path: String,
    /// The trace id of the request's `traceparent` (the same for every retry of one request).
    pub trace: Option<String>,
}

impl JournalLine {
    /// `value-architect journal #12: GET /api/v1/value-models (trace 4bf9…)`.
    pub fn describe(&self) -> String {
        format!(
            "{} journal #{}: {} {}{}",
            self.service,
            self.seq,
            self.method,
            self.path,
            self.trace
                .as_ref()
                .map(|t| format!(" (trace {t})"))
                .unwrap_or_default()
        )
    }
}

/// One breaker as the checkers see it.
#[derive(Debug, Clone)]
pub struct BreakerTrace {
    /// The Kong service (`value-architect`).
    pub service: String,
    pub config: CircuitBreakerConfig,
    pub ledger: Ledger,
    /// The recorded transitions (from, to, stack time), oldest first.
    pub transitions: Vec<(BreakerState, BreakerState, Duration)>,
    /// Transitions of the breaker's whole life (more than `transitions` when history was cut).
    pub total_transitions: u64,
}

/// One Kong service as the checkers see it.
#[derive(Debug, Clone, Default)]
pub struct KongService {
    pub name: String,
    /// The stack service it routes to.
    pub target: Option<String>,
    /// `retries + 1`.
    pub attempts: u32,
    /// Its bulkhead's `max_concurrent_requests`, when it has one.
    pub bulkhead: Option<u32>,
    /// The most upstream calls the gateway had in flight to it at once.
    pub peak_in_flight: u32,
}

/// What one client sent through the gateway and how its requests ended, beside the requests
/// the gateway answered over the same time (INV-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCount {
    /// `load step GET /api/v1/value-models, open model at 50/s, …`, `the explorer's load`.
    pub what: String,
    /// Requests the client sent.
    pub sent: u64,
    /// Of those, requests that got an HTTP response.
    pub responses: u64,
    /// Requests that ended without a response (connect, timeout, reset, invalid response).
    pub errors: u64,
    /// Requests the gateway answered meanwhile (every status, every source).
    pub gateway_answered: u64,
}

/// What the checkers read.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub journal: Vec<JournalLine>,
    /// Allowed attempts (`retries + 1`) per stack service, for requests from the gateway.
    pub attempts: BTreeMap<String, u32>,
    /// The gateway's mesh identity (journal lines from it are the gateway's attempts).
    pub gateway_identity: String,
    /// Whether every request that reached the stack came from the counted clients below (the
    /// explorer's load: nothing else sends); a `run` also probes services directly.
    pub client_counted: bool,
    /// What clients counted, each beside what the gateway answered meanwhile (INV-8): the
    /// explorer's whole play, or each load step of a `run` scenario.
    pub client: Vec<ClientCount>,
    /// The Kong services, indexed as the gateway config.
    pub services: Vec<KongService>,
    pub breakers: Vec<BreakerTrace>,
    /// The gateway's audit trail, and whether entries were dropped.
    pub audit: Vec<AuditEntry>,
    pub audit_overflowed: bool,
    /// The intentions in force, when they never changed while the stack ran (INV-7 judges
    /// only then: a change leaves no record of when each request was decided).
    pub intentions: Option<Intentions>,
}

impl Trace {
    /// Reads the trace of a played stack; `sent`, `responses` and `errors` come from the load
    /// collector of every window, the only client of the stack.
    pub fn collect(stack: &Stack, sent: u64, responses: u64, errors: u64) -> Trace {
        let trace = Trace::of_stack(stack);
        Trace {
            client_counted: true,
            client: vec![ClientCount {
                what: "the explorer's load".into(),
                sent,
                responses,
                errors,
                gateway_answered: stack.gateway.state.metrics.total_requests(),
            }],
            ..trace
        }
    }

    /// Reads the trace of a stack without client counts (a scenario of `gauntlet run`).
    pub fn of_stack(stack: &Stack) -> Trace {
        let mut journal = Vec::new();
        for (name, service) in &stack.services {
            for e in service.inbound().journal.entries() {
                journal.push(JournalLine {
                    service: name.clone(),
                    seq: e.seq,
                    at: e.at,
                    source: e.source.clone(),
                    method: e.method.clone(),
                    path: e.path.clone(),
                    trace: e
                        .headers
                        .get("traceparent")
                        .and_then(|t| t.split('-').nth(1))
                        .map(str::to_string),
                });
            }
        }
        let gateway = &stack.gateway.state;
        let peaks = gateway.audit.peaks();
        let def = &stack.def;
        let services = def
            .gateway
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| KongService {
                name: s.name.clone(),
                target: def
                    .topology
                    .service_for_host(&s.host)
                    .map(|t| t.name.clone()),
                attempts: s.retries + 1,
                bulkhead: match def.gateway.service_plugin(PluginKind::Bulkhead, i) {
                    Some(PluginConfig::Bulkhead(b)) => Some(b.max_concurrent_requests),
                    _ => None,
                },
                peak_in_flight: peaks.get(i).copied().unwrap_or(0),
            })
            .collect();
        let breakers = gateway
            .breakers
            .iter()
            .map(|(_, b)| {
                // Requests may still be ending (a window stopped early drops its clients, not
                // the gateway's calls): read the transitions on both sides of the ledger and
                // keep a reading where they agree, so the two describe the same moment.
                let mut snapshot = b.snapshot();
                let mut ledger = b.ledger();
                for _ in 0..5 {
                    let after = b.snapshot();
                    if after.transitions.len() == snapshot.transitions.len()
                        && after.transition_totals == snapshot.transition_totals
                    {
                        break;
                    }
                    snapshot = after;
                    ledger = b.ledger();
                }
                BreakerTrace {
                    service: b.service().to_string(),
                    config: b.config(),
                    ledger,
                    total_transitions: snapshot.transition_totals.iter().map(|(_, n)| n).sum(),
                    transitions: snapshot
                        .transitions
                        .iter()
                        .map(|t| (t.from, t.to, t.at.since_start()))
                        .collect(),
                }
            })
            .collect();
        let (audit, audit_overflowed) = gateway.audit.entries();
        let intentions = stack.mesh.as_ref().and_then(|mesh| {
            let current = mesh.store.current();
            (current.index() == 1).then(|| current.intentions().clone())
        });
        Trace {
            journal,
            attempts: attempts_by_service(def),
            gateway_identity: def.topology.gateway_identity.clone(),
            services,
            breakers,
            audit,
            audit_overflowed,
            intentions,
            ..Trace::default()
        }
    }

    /// Every invariant checked on this trace.
    pub fn check(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        out.extend(breaker::inv1_state_header(self));
        out.extend(breaker::inv2_replay(self));
        out.extend(breaker::inv3_open_breaker(self));
        out.extend(inv4_attempts(self));
        out.extend(requests::inv5_refused(self));
        out.extend(requests::inv6_no_overshoot(self));
        out.extend(mesh::inv7_denied_pairs(self));
        out.extend(inv8_outcomes(self));
        out.extend(requests::inv9_bulkhead(self));
        out
    }

    /// Journal lines of requests the gateway sent (not another service's mesh calls).
    pub fn gateway_lines(&self) -> impl Iterator<Item = &JournalLine> {
        self.journal
            .iter()
            .filter(|l| from_gateway(l, &self.gateway_identity))
    }
}

/// `retries + 1` of the kong service(s) routed to each stack service (the largest).
fn attempts_by_service(def: &StackDef) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for s in &def.gateway.services {
        if let Some(service) = def.topology.service_for_host(&s.host) {
            let e = out.entry(service.name.clone()).or_insert(0);
            *e = (*e).max(s.retries + 1);
        }
    }
    out
}

/// Whether a journal line came from the gateway: no mesh identity (no mesh), or the gateway's.
pub fn from_gateway(line: &JournalLine, identity: &str) -> bool {
    match &line.source {
        None => true,
        Some(source) => source == identity || source.ends_with(&format!("/svc/{identity}")),
    }
}

/// The service name of a SPIFFE id (`spiffe://…/svc/value-committer` → `value-committer`).
pub fn service_of(identity: &str) -> &str {
    identity.rsplit_once("/svc/").map_or(identity, |(_, s)| s)
}
