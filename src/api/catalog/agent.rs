//! The service side of the catalog: `/v1/agent/services`, `/v1/catalog/services` and
//! `/v1/health/service/{name}` (mesh.md §4). Every service is registered with its
//! `<name>-sidecar-proxy` (Kind `connect-proxy`); health is read from the stack's callback at
//! each request.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{CatalogService, CatalogState, QueryMap, Shared};
use crate::protocol::Protocol;

/// `GET /v1/agent/services`: a map keyed by service ID.
pub(super) async fn agent_services(axum::extract::State(s): Shared) -> Json<Value> {
    let mut out = Map::new();
    for service in &s.services {
        out.insert(service.name.clone(), service_json(&s, service, true));
        out.insert(service.sidecar_name(), sidecar_json(&s, service, true));
    }
    Json(Value::Object(out))
}

/// `GET /v1/catalog/services`: name → tags (no service carries tags).
pub(super) async fn catalog_services(axum::extract::State(s): Shared) -> Json<Value> {
    let mut out = BTreeMap::new();
    for service in &s.services {
        out.insert(service.name.clone(), Vec::<String>::new());
        out.insert(service.sidecar_name(), Vec::new());
    }
    Json(json!(out))
}

/// `GET /v1/health/service/{name}[?passing]`: `[{Node, Service, Checks}]`, empty for an
/// unknown name (as Consul answers). `passing` keeps only entries whose checks all pass.
pub(super) async fn health_service(
    axum::extract::State(s): Shared,
    Path(name): Path<String>,
    axum::extract::Query(query): QueryMap,
) -> Response {
    let passing_only = query
        .get("passing")
        .is_some_and(|v| !matches!(v.as_str(), "false" | "0"));
    let mut entries = Vec::new();
    for service in &s.services {
        if service.name == name {
            let up = (s.health)(&service.name);
            entries.push(entry(
                &s,
                service_json(&s, service, false),
                vec![service_check(&s, service, up)],
            ));
        } else if service.sidecar_name() == name {
            let up = (s.health)(&service.name);
            entries.push(entry(
                &s,
                sidecar_json(&s, service, false),
                sidecar_checks(&s, service, up),
            ));
        }
    }
    if passing_only {
        entries.retain(|e| {
            e["Checks"]
                .as_array()
                .is_some_and(|checks| checks.iter().all(|c| c["Status"] == "passing"))
        });
    }
    Json(Value::Array(entries)).into_response()
}

fn tagged_addresses(addr: SocketAddr) -> Value {
    let one = json!({"address": addr.ip().to_string(), "port": addr.port()});
    json!({"lan": one, "wan": one})
}

/// The agent's view of a service; the health endpoint's `Service` drops `Datacenter`.
fn service_json(s: &CatalogState, service: &CatalogService, agent: bool) -> Value {
    let mut v = json!({
        "ID": service.name,
        "Service": service.name,
        "Tags": [],
        "Meta": {},
        "Port": service.address.port(),
        "Address": service.address.ip().to_string(),
        "TaggedAddresses": tagged_addresses(service.address),
        "Weights": {"Passing": 1, "Warning": 1},
        "EnableTagOverride": false,
    });
    if agent {
        v["Datacenter"] = json!(s.datacenter);
    }
    v
}

fn sidecar_json(s: &CatalogState, service: &CatalogService, agent: bool) -> Value {
    let name = service.sidecar_name();
    let upstreams: Vec<Value> = service
        .upstreams
        .iter()
        .map(|u| {
            json!({
                "DestinationType": "service",
                "DestinationName": u.destination,
                "LocalBindAddress": "127.0.0.1",
                "LocalBindPort": u.local_bind_port,
            })
        })
        .collect();
    let mut v = json!({
        "Kind": "connect-proxy",
        "ID": name,
        "Service": name,
        "Tags": [],
        "Meta": {},
        "Port": service.sidecar.port(),
        "Address": service.sidecar.ip().to_string(),
        "TaggedAddresses": tagged_addresses(service.sidecar),
        "Weights": {"Passing": 1, "Warning": 1},
        "EnableTagOverride": false,
        "Proxy": {
            "DestinationServiceName": service.name,
            "DestinationServiceID": service.name,
            "LocalServiceAddress": service.address.ip().to_string(),
            "LocalServicePort": service.address.port(),
            "Mode": "",
            "TransparentProxy": {},
            "Config": {"protocol": Protocol::name(service.protocol)},
            "Upstreams": upstreams,
        },
    });
    if agent {
        v["Datacenter"] = json!(s.datacenter);
    }
    v
}

/// The node part of a health entry; a stable ID derived from the node name.
fn node_json(s: &CatalogState) -> Value {
    json!({
        "ID": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, s.node.as_bytes()),
        "Node": s.node,
        "Address": "127.0.0.1",
        "Datacenter": s.datacenter,
        "TaggedAddresses": {"lan": "127.0.0.1", "wan": "127.0.0.1"},
        "Meta": {},
    })
}

/// One health entry: the node's serf check first, then the service's own.
fn entry(s: &CatalogState, service: Value, checks: Vec<Value>) -> Value {
    let mut all = vec![check(
        s,
        CheckSpec {
            id: "serfHealth".into(),
            name: "Serf Health Status".into(),
            passing: true,
            output: "Agent alive and reachable".into(),
            service: None,
            kind: "",
        },
    )];
    all.extend(checks);
    json!({"Node": node_json(s), "Service": service, "Checks": all})
}

struct CheckSpec {
    id: String,
    name: String,
    passing: bool,
    output: String,
    service: Option<String>,
    kind: &'static str,
}

fn check(s: &CatalogState, c: CheckSpec) -> Value {
    let service = c.service.unwrap_or_default();
    json!({
        "Node": s.node,
        "CheckID": c.id,
        "Name": c.name,
        "Status": if c.passing { "passing" } else { "critical" },
        "Notes": "",
        "Output": c.output,
        "ServiceID": service,
        "ServiceName": service,
        "ServiceTags": [],
        "Type": c.kind,
    })
}

fn service_check(s: &CatalogState, service: &CatalogService, up: bool) -> Value {
    let addr = service.address;
    check(
        s,
        CheckSpec {
            id: format!("service:{}", service.name),
            name: format!("Service '{}' check", service.name),
            passing: up,
            output: if up {
                format!("TCP connect {addr}: Success")
            } else {
                format!("dial tcp {addr}: connect: connection refused")
            },
            service: Some(service.name.clone()),
            kind: "tcp",
        },
    )
}

/// Consul's default sidecar checks: "Connect Sidecar Listening" (the sidecar runs as long as
/// the stack does) and "Connect Sidecar Aliasing <svc>" (mirrors the service's health).
fn sidecar_checks(s: &CatalogState, service: &CatalogService, up: bool) -> Vec<Value> {
    let name = service.sidecar_name();
    vec![
        check(
            s,
            CheckSpec {
                id: format!("service:{name}:1"),
                name: "Connect Sidecar Listening".into(),
                passing: true,
                output: format!("TCP connect {}: Success", service.sidecar),
                service: Some(name.clone()),
                kind: "tcp",
            },
        ),
        check(
            s,
            CheckSpec {
                id: format!("service:{name}:2"),
                name: format!("Connect Sidecar Aliasing {}", service.name),
                passing: up,
                output: if up {
                    "All checks passing.".into()
                } else {
                    "Aliased service has critical checks".into()
                },
                service: Some(name),
                kind: "alias",
            },
        ),
    ]
}
