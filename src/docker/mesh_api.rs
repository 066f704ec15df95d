//! The mesh on the container target (SPEC §6, §13), served by each sidecar's and the gateway's
//! control API when the stack has a mesh, so that mesh steps act inside the containers:
//!
//! | Request | Effect |
//! |---|---|
//! | `POST /mesh/call` `{"caller", "destination", "probe"}` | a call made from this container (the source pod) to the destination's public port on the network, with the caller's certificate; answers the [`Outcome`] |
//! | `PUT`, `DELETE /v1/connect/intentions/exact?source=&destination=` | changes this container's intentions (Consul's body); the host sends it to every container, each sidecar enforcing its own copy |
//! | `POST /mesh/connections` `{"caller", "destination"}` | opens a connection from this container and keeps it; answers its `id` |
//! | `POST /mesh/connections/{id}` `{"bytes"}` | writes the bytes (base64) on it and answers the [`Outcome`] |
//! | `POST /mesh/present` `{"identity"}` | this sidecar presents a leaf for another identity from the stack's CA |
//!
//! The JSON forms of [`Caller`], [`Probe`] and [`Outcome`] are here too, for the host's side.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::config::StackDef;
use crate::mesh::probe::{self, Caller, OpenConnection, Outcome, Probe};
use crate::mesh::runtime::StackMesh;
use crate::protocol::Protocol;
use crate::service::ServiceHandle;

type Connections = tokio::sync::Mutex<BTreeMap<u64, OpenConnection>>;

#[derive(Clone)]
struct MeshApi {
    mesh: Arc<StackMesh>,
    def: Arc<StackDef>,
    /// The sidecar's service (its inbound stage holds the identity presented).
    service: Option<Arc<ServiceHandle>>,
    connections: Arc<Connections>,
}

/// The mesh endpoints of a container; `service` is the sidecar's (none on the gateway).
pub fn router(
    mesh: Arc<StackMesh>,
    def: Arc<StackDef>,
    service: Option<Arc<ServiceHandle>>,
) -> Router {
    Router::new()
        .route("/mesh/call", post(call))
        .route("/mesh/connections", post(open))
        .route("/mesh/connections/{id}", post(exchange))
        .route("/mesh/present", post(present))
        .route(
            "/v1/connect/intentions/exact",
            put(put_exact).delete(delete_exact),
        )
        .with_state(MeshApi {
            mesh,
            def,
            service,
            connections: Arc::default(),
        })
}

fn refused(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// Where `destination` answers on the network, and the caller's TLS client towards it.
async fn reach(
    api: &MeshApi,
    caller: &Caller,
    destination: &str,
) -> Result<(std::net::SocketAddr, Arc<rustls::ClientConfig>), Response> {
    let port = super::role::public_port(&api.def, destination);
    let addr = super::role::resolve(destination, port)
        .await
        .map_err(|e| refused(StatusCode::NOT_FOUND, e.to_string()))?;
    let config = probe::client_for(&api.mesh, caller, destination)
        .map_err(|e| refused(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok((addr, config))
}

fn bad(expected: &str) -> Response {
    refused(StatusCode::BAD_REQUEST, format!("expected {expected}"))
}

async fn call(State(api): State<MeshApi>, Json(body): Json<Value>) -> Response {
    let (Some(caller), Some(destination), Some(probe)) = (
        caller_from(&body["caller"]),
        body["destination"].as_str(),
        probe_from(&body["probe"]),
    ) else {
        return bad("{\"caller\", \"destination\", \"probe\"}");
    };
    let (addr, config) = match reach(&api, &caller, destination).await {
        Ok(reached) => reached,
        Err(answer) => return answer,
    };
    let outcome = probe::call(&api.mesh, config, destination, addr, &probe).await;
    Json(outcome_json(&outcome)).into_response()
}

async fn open(State(api): State<MeshApi>, Json(body): Json<Value>) -> Response {
    let (Some(caller), Some(destination)) =
        (caller_from(&body["caller"]), body["destination"].as_str())
    else {
        return bad("{\"caller\", \"destination\"}");
    };
    let (addr, config) = match reach(&api, &caller, destination).await {
        Ok(reached) => reached,
        Err(answer) => return answer,
    };
    match OpenConnection::open(&api.mesh, config, destination, addr).await {
        Ok(connection) => {
            let mut connections = api.connections.lock().await;
            let id = connections.keys().next_back().map_or(1, |last| last + 1);
            connections.insert(id, connection);
            Json(json!({ "id": id })).into_response()
        }
        Err(e) => refused(StatusCode::BAD_GATEWAY, e),
    }
}

async fn exchange(
    State(api): State<MeshApi>,
    Path(id): Path<u64>,
    Json(body): Json<Value>,
) -> Response {
    let Some(bytes) = bytes_from(&body["bytes"]) else {
        return bad("{\"bytes\": base64}");
    };
    let mut connections = api.connections.lock().await;
    match connections.get_mut(&id) {
        Some(connection) => Json(outcome_json(&connection.exchange(&bytes).await)).into_response(),
        None => refused(StatusCode::NOT_FOUND, format!("no open connection {id}")),
    }
}

async fn present(State(api): State<MeshApi>, Json(body): Json<Value>) -> Response {
    let Some(identity) = body["identity"].as_str() else {
        return bad("{\"identity\"}");
    };
    let Some(guard) = api.service.as_ref().and_then(|s| s.inbound().mesh()) else {
        return refused(StatusCode::NOT_FOUND, "no mesh sidecar here".into());
    };
    let protocol = api
        .service
        .as_ref()
        .and_then(|s| api.def.topology.service(s.name()))
        .map_or(Protocol::Http, |s| s.protocol);
    let presented = api
        .mesh
        .ca
        .issue_leaf(identity, api.mesh.clock())
        .map_err(|e| e.to_string())
        .and_then(|leaf| {
            let leaf = Arc::new(leaf);
            let config = api
                .mesh
                .server_config(&leaf, protocol)
                .map_err(|e| e.to_string())?;
            Ok((leaf, config))
        });
    match presented {
        Ok((leaf, config)) => {
            guard.present(leaf, config);
            Json(json!(true)).into_response()
        }
        Err(e) => refused(StatusCode::BAD_REQUEST, e),
    }
}

type Params = Query<HashMap<String, String>>;

fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> &'a str {
    query.get(name).map_or("", String::as_str)
}

async fn put_exact(State(api): State<MeshApi>, Query(query): Params, body: String) -> Response {
    let now = api.mesh.clock().wall();
    let (source, destination) = (param(&query, "source"), param(&query, "destination"));
    match api.mesh.store.put_exact(source, destination, &body, now) {
        Ok(()) => Json(json!(true)).into_response(),
        Err(e) => refused(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn delete_exact(State(api): State<MeshApi>, Query(query): Params) -> Response {
    let (source, destination) = (param(&query, "source"), param(&query, "destination"));
    match api.mesh.store.delete_exact(source, destination) {
        Ok(_) => Json(json!(true)).into_response(),
        Err(e) => refused(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

pub fn bytes_json(bytes: &[u8]) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn bytes_from(value: &Value) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str()?)
        .ok()
}

pub fn caller_json(caller: &Caller) -> Value {
    match caller {
        Caller::Identity(name) => json!({ "identity": name }),
        Caller::Anonymous => json!("anonymous"),
        Caller::ForeignCa(name) => json!({ "foreign_ca": name }),
    }
}

fn caller_from(value: &Value) -> Option<Caller> {
    if value.as_str() == Some("anonymous") {
        return Some(Caller::Anonymous);
    }
    if let Some(name) = value["identity"].as_str() {
        return Some(Caller::Identity(name.to_string()));
    }
    value["foreign_ca"]
        .as_str()
        .map(|name| Caller::ForeignCa(name.to_string()))
}

pub fn probe_json(probe: &Probe) -> Value {
    match probe {
        Probe::Http {
            method,
            path,
            headers,
        } => json!({ "http": { "method": method.as_str(), "path": path, "headers": headers } }),
        Probe::Tcp(bytes) => json!({ "tcp": bytes_json(bytes) }),
    }
}

fn probe_from(value: &Value) -> Option<Probe> {
    if let Some(bytes) = value.get("tcp") {
        return bytes_from(bytes).map(Probe::Tcp);
    }
    let http = value.get("http")?;
    Some(Probe::Http {
        method: http["method"].as_str()?.parse().ok()?,
        path: http["path"].as_str()?.to_string(),
        headers: serde_json::from_value(http["headers"].clone()).ok()?,
    })
}

pub fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::HandshakeRefused(e) => json!({ "handshake_refused": e }),
        Outcome::Http {
            status,
            content_type,
            body,
        } => json!({ "http": { "status": status, "content_type": content_type, "body": body } }),
        Outcome::TcpReply(bytes) => json!({ "tcp_reply": bytes_json(bytes) }),
        Outcome::TcpClosed => json!("tcp_closed"),
        Outcome::Failed(e) => json!({ "failed": e }),
    }
}

/// An [`Outcome`] read back; what cannot be read is a failure saying so.
pub fn outcome_from(value: &Value) -> Outcome {
    let text = |key: &str| value[key].as_str().map(str::to_string);
    if value.as_str() == Some("tcp_closed") {
        return Outcome::TcpClosed;
    }
    if let Some(e) = text("handshake_refused") {
        return Outcome::HandshakeRefused(e);
    }
    if let Some(e) = text("failed") {
        return Outcome::Failed(e);
    }
    if let Some(bytes) = value.get("tcp_reply").and_then(bytes_from) {
        return Outcome::TcpReply(bytes);
    }
    let http = &value["http"];
    match http["status"].as_u64().and_then(|s| u16::try_from(s).ok()) {
        Some(status) => Outcome::Http {
            status,
            content_type: http["content_type"].as_str().map(str::to_string),
            body: http["body"].as_str().unwrap_or_default().to_string(),
        },
        None => Outcome::Failed(format!("an answer the host cannot read: {value}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_probes_and_outcomes_read_back_as_they_were() {
        for caller in [
            Caller::Identity("value-committer".into()),
            Caller::Anonymous,
            Caller::ForeignCa("api-gateway".into()),
        ] {
            let back = caller_from(&caller_json(&caller)).expect("a caller");
            assert_eq!(back.to_string(), caller.to_string());
        }
        let probe = Probe::Http {
            method: http::Method::POST,
            path: "/values?x=1".into(),
            headers: vec![("x-a".into(), "b".into())],
        };
        assert!(matches!(
            probe_from(&probe_json(&probe)),
            Some(Probe::Http { method, path, headers })
                if method == http::Method::POST && path == "/values?x=1" && headers.len() == 1
        ));
        assert!(
            matches!(probe_from(&probe_json(&Probe::Tcp(b"PING\r\n".to_vec()))), Some(Probe::Tcp(b)) if b == b"PING\r\n")
        );
        for outcome in [
            Outcome::HandshakeRefused("bad cert".into()),
            Outcome::Http {
                status: 403,
                content_type: Some("text/plain".into()),
                body: "RBAC: access denied".into(),
            },
            Outcome::TcpReply(b"+PONG\r\n".to_vec()),
            Outcome::TcpClosed,
            Outcome::Failed("refused".into()),
        ] {
            assert_eq!(outcome_from(&outcome_json(&outcome)), outcome);
        }
    }
}
