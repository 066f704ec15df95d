//! `GET /v1/internal/ui/topology` on the catalog port: everything the topology console draws,
//! in one answer read from the live stack (named after Consul's own `/v1/internal/ui/…` UI
//! endpoints, which its console reads the same way).
//!
//! ```json
//! { "datacenter": "dc1", "index": 3, "default_action": "deny", "gateway": "api-gateway",
//!   "services": [{"name", "protocol", "health": "up|stopped|killed|paused", "address",
//!                 "sidecar": {"name", "address"}, "upstreams": ["redis", ...]}],
//!   "edges": [{"source", "destination", "kind": "upstream|route", "routes": [...],
//!              "decision": "allow|deny|l7", "reason"}],
//!   "intentions": [{"source", "destination", "precedence", "action": "allow|deny|l7",
//!                   "permissions": N}],            // Consul's precedence order
//!   "pairs": [{"source", "destination", "decision", "reason"}] }   // every caller × service
//! ```
//!
//! A decision is the intentions' answer now for a new connection: `allow` or `deny` from an
//! L4 intention or the default, `l7` when an L7 intention governs an http destination (its
//! permissions decide per request; for a tcp destination that is `deny`).
//!
//! The answer is built once per change ([`super::snapshot`]): its key is the intentions' index
//! and each service's health and addresses, so a page polling an unchanged stack costs a few
//! reads and, with its ETag, a `304`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::snapshot::{self, Snapshot};

use crate::config::intentions::model::precedence;
use crate::config::StackDef;
use crate::mesh::intentions::decide::governing;
use crate::mesh::intentions::store::Snapshot as IntentionsNow;
use crate::mesh::intentions::{Action, IntentionStore, Rule};
use crate::protocol::Protocol;
use crate::service::{Health, ServiceHandle};

/// Where each service of the stack is and how it is: the in-process stack's handles, or the
/// container target's pods and engine states.
pub trait Placement: Send + Sync + std::fmt::Debug {
    /// The service's health now; `None` for a service this placement does not run.
    fn health(&self, service: &str) -> Option<Health>;
    /// Where the service itself listens.
    fn address(&self, service: &str) -> Option<String>;
    /// Where its sidecar (its public port) listens.
    fn sidecar(&self, service: &str) -> Option<String>;
}

impl Placement for BTreeMap<String, Arc<ServiceHandle>> {
    fn health(&self, service: &str) -> Option<Health> {
        self.get(service).map(|h| h.health())
    }
    fn address(&self, service: &str) -> Option<String> {
        self.get(service).map(|h| h.app_addr().to_string())
    }
    fn sidecar(&self, service: &str) -> Option<String> {
        self.get(service).map(|h| h.addr().to_string())
    }
}

/// What the topology endpoint reads.
#[derive(Debug, Clone)]
pub struct TopologyState {
    pub datacenter: String,
    pub def: Arc<StackDef>,
    pub services: Arc<dyn Placement>,
    pub store: Arc<IntentionStore>,
}

/// The topology endpoint, to merge into the catalog router (behind its token).
pub fn router(state: TopologyState) -> Router {
    let kept = Arc::new(Snapshot::default());
    let state = Arc::new(state);
    Router::new().route(
        "/v1/internal/ui/topology",
        get(move |headers: HeaderMap| async move {
            let (key, current, services) = version(&state);
            kept.answer(key, &headers, || topology(&state, &current, &services))
        }),
    )
}

/// What one service shows: its health and addresses.
type Shown = (Option<Health>, Option<String>, Option<String>);

/// The answer's version key (the intentions' index, every service's health and addresses), and
/// what it read, to build the answer from the same reading.
fn version(state: &TopologyState) -> (u64, Arc<IntentionsNow>, Vec<Shown>) {
    let services: Vec<Shown> = state
        .def
        .topology
        .services
        .iter()
        .map(|s| {
            (
                state.services.health(&s.name),
                state.services.address(&s.name),
                state.services.sidecar(&s.name),
            )
        })
        .collect();
    let current = state.store.current();
    (
        snapshot::key((current.index(), &services)),
        current,
        services,
    )
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Deny => "deny",
    }
}

/// The decision for a new connection `source` → `destination` now, and why.
fn decision(
    state: &TopologyState,
    snapshot: &crate::mesh::intentions::Intentions,
    source: &str,
    destination: &str,
) -> (&'static str, String) {
    let protocol = state
        .def
        .topology
        .service(destination)
        .map_or(Protocol::Http, |s| s.protocol);
    match governing(snapshot.entries(), source, destination) {
        None => (
            action(snapshot.default_action()),
            "no intention: the stack's default".to_string(),
        ),
        Some((intention, matched)) => match &intention.rule {
            Rule::L4(a) => (action(*a), format!("L4 intention {matched}")),
            Rule::L7(_) if protocol == Protocol::Http => (
                "l7",
                format!("L7 intention {matched}: its permissions decide each request"),
            ),
            Rule::L7(_) => (
                "deny",
                format!("L7 intention {matched} on a tcp destination denies"),
            ),
        },
    }
}

/// Builds a fresh topology answer from what [`version`] read.
fn topology(state: &TopologyState, current: &IntentionsNow, shown: &[Shown]) -> Value {
    let intentions = current.intentions();
    let def = &state.def;
    let gateway = def.topology.gateway_identity.as_str();

    let services: Vec<Value> = def
        .topology
        .services
        .iter()
        .zip(shown)
        .map(|(s, (health, address, sidecar))| {
            json!({
                "name": s.name,
                "protocol": s.protocol.name(),
                "health": health,
                "address": address,
                "sidecar": {
                    "name": format!("{}-sidecar-proxy", s.name),
                    "address": sidecar,
                },
                "upstreams": s.upstreams.iter().map(|u| u.service.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();

    let mut edges = Vec::new();
    // The gateway's routes, grouped by the stack service their Kong service calls.
    let mut routes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for route in &def.gateway.routes {
        let target = route
            .service
            .and_then(|i| def.gateway.services.get(i))
            .and_then(|k| def.topology.service_for_host(&k.host));
        if let Some(service) = target {
            routes
                .entry(service.name.as_str())
                .or_default()
                .push(route.name.as_str());
        }
    }
    for (destination, names) in &routes {
        let (decision, reason) = decision(state, intentions, gateway, destination);
        edges.push(json!({
            "source": gateway, "destination": destination, "kind": "route",
            "routes": names, "decision": decision, "reason": reason,
        }));
    }
    for s in &def.topology.services {
        for u in &s.upstreams {
            let (decision, reason) = decision(state, intentions, &s.name, &u.service);
            edges.push(json!({
                "source": s.name, "destination": u.service, "kind": "upstream",
                "routes": [], "decision": decision, "reason": reason,
            }));
        }
    }

    // Consul's precedence order: highest first, then by source and destination name.
    let mut table: Vec<(u8, String, String, Value)> = intentions
        .entries()
        .iter()
        .flat_map(|e| {
            e.sources.iter().map(move |s| {
                let precedence = precedence(&s.source, &e.destination);
                let (kind, permissions) = match &s.rule {
                    Rule::L4(a) => (action(*a), 0),
                    Rule::L7(p) => ("l7", p.len()),
                };
                (
                    precedence,
                    s.source.to_string(),
                    e.destination.to_string(),
                    json!({
                        "source": s.source.to_string(),
                        "destination": e.destination.to_string(),
                        "precedence": precedence,
                        "action": kind,
                        "permissions": permissions,
                    }),
                )
            })
        })
        .collect();
    table.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));

    let callers =
        std::iter::once(gateway).chain(def.topology.services.iter().map(|s| s.name.as_str()));
    let mut pairs = Vec::new();
    for source in callers {
        for destination in &def.topology.services {
            if source == destination.name {
                continue;
            }
            let (decision, reason) = decision(state, intentions, source, &destination.name);
            pairs.push(json!({
                "source": source, "destination": destination.name,
                "decision": decision, "reason": reason,
            }));
        }
    }

    json!({
        "datacenter": state.datacenter,
        "stack": def.name(),
        "index": current.index(),
        "default_action": action(intentions.default_action()),
        "gateway": gateway,
        "services": services,
        "edges": edges,
        "intentions": table.into_iter().map(|(_, _, _, v)| v).collect::<Vec<_>>(),
        "pairs": pairs,
    })
}
