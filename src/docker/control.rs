//! The host's control API over a container stack (`gauntlet up --target docker`): the same
//! paths as [`crate::api::control`], so `gauntlet chaos` and curl work unchanged. Process faults
//! go to the engine; faults and the journal go to the service's sidecar, whose control API *is*
//! [`crate::api::control`]; a clock jump goes to every container and answers once all moved.
//!
//! | Request | Effect |
//! |---|---|
//! | `GET /` | the in-process overview's shape: every service with the engine's health, its faults and journal count (from its sidecar), its container; run, network, image ([`super::console`]) |
//! | `GET /breakers`, `/traffic`, `/traces`, `/clock` | the gateway container's own answers ([`super::console`]) |
//! | `POST /services/{name}/stop`, `start`, `kill`, `pause`, `unpause`, `disconnect`, `connect` | the engine acts on `<run>-<name>` (partition: the pod leaves the network) |
//! | `/services/{name}/faults`, `/services/{name}/journal` | forwarded to the sidecar |
//! | `DELETE /faults` | every sidecar |
//! | `POST /clock/advance` | every sidecar, service and the gateway |
//! | `GET /proxies`, `POST /reset` | Toxiproxy's API over every link: gathered from (sent to) the gateway and every sidecar |
//! | `/proxies/{a->b}…` (toxics included) | forwarded to the container the link leaves from: the gateway for `client->gateway` and `gateway->…`, else `a`'s sidecar |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::future::join_all;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::{DockerError, DockerStack, EngineFault};

type Shared = State<Arc<DockerStack>>;

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"message": message}))).into_response()
}

pub fn router(stack: Arc<DockerStack>) -> Router {
    let states = super::console::EngineStates::follow(&stack);
    Router::new()
        .route(
            "/services/{name}/faults",
            get(forward_service)
                .post(forward_service)
                .delete(forward_service),
        )
        .route("/services/{name}/journal", get(forward_service))
        .route("/services/{name}/{action}", post(engine_fault))
        .route("/faults", delete(clear_all))
        .route("/clock/advance", post(advance))
        .route("/version", get(version))
        .route("/proxies", get(all_proxies))
        .route("/reset", post(reset_links))
        .route(
            "/proxies/{name}",
            get(forward_link).post(forward_link).delete(forward_link),
        )
        .route(
            "/proxies/{name}/toxics",
            get(forward_link).post(forward_link),
        )
        .route(
            "/proxies/{name}/toxics/{toxic}",
            get(forward_link).post(forward_link).delete(forward_link),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint".into()) })
        .with_state(stack.clone())
        // The overview and what the gateway observes, as the chaos console reads them.
        .merge(super::console::control_routes(stack, states))
}

async fn engine_fault(
    State(stack): Shared,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let Some(fault) = EngineFault::parse(&action) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no action {action}: stop, start, kill, pause, unpause, disconnect or connect"),
        );
    };
    match stack.fault(&name, fault).await {
        Ok(()) => {
            let running = matches!(
                fault,
                EngineFault::Start | EngineFault::Unpause | EngineFault::Connect
            );
            let container = super::stack::container_name(&stack.run, &name);
            Json(json!({
                "name": name,
                "action": action,
                "running": running,
                "url": format!("container {container}"),
            }))
            .into_response()
        }
        Err(DockerError::UnknownService(..)) => {
            error(StatusCode::NOT_FOUND, format!("no service named {name}"))
        }
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn forward_service(
    State(stack): Shared,
    Path(name): Path<String>,
    method: Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let Some(addr) = stack.sidecar_control(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no service named {name}"));
    };
    match send(addr, method, uri.path(), body).await {
        Ok((status, body)) => {
            (status, [("content-type", "application/json")], body).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("sidecar of {name}: {e}")),
    }
}

/// The control API of the container a link leaves from.
pub fn link_owner(stack: &DockerStack, link: &str) -> Option<SocketAddr> {
    let (from, _) = link.split_once("->")?;
    if from == "gateway" || from == "client" {
        Some(stack.gateway_control())
    } else {
        stack.sidecar_control(from)
    }
}

/// Every control API that holds links: the gateway's and each sidecar's.
pub fn link_holders(stack: &DockerStack) -> Vec<SocketAddr> {
    let mut holders: Vec<SocketAddr> = stack
        .pod_ips
        .keys()
        .filter_map(|name| stack.sidecar_control(name))
        .collect();
    holders.push(stack.gateway_control());
    holders
}

async fn forward_link(
    State(stack): Shared,
    method: Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let name = uri
        .path()
        .trim_start_matches("/proxies/")
        .split('/')
        .next()
        .unwrap_or_default();
    let name = percent_decode(name);
    let Some(addr) = link_owner(&stack, &name) else {
        return error(StatusCode::NOT_FOUND, "proxy not found".into());
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    match send(addr, method, path, body).await {
        Ok((status, body)) => {
            (status, [("content-type", "application/json")], body).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("link {name}: {e}")),
    }
}

/// `%3E` and the like in a link's name (`gateway->value-architect`) as typed in a URL.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

async fn version(State(stack): Shared) -> Response {
    match send(
        stack.gateway_control(),
        Method::GET,
        "/version",
        Bytes::new(),
    )
    .await
    {
        Ok((status, body)) => {
            (status, [("content-type", "application/json")], body).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, e),
    }
}

async fn all_proxies(State(stack): Shared) -> Response {
    let holders = link_holders(&stack);
    let sends = holders
        .iter()
        .map(|addr| send(*addr, Method::GET, "/proxies", Bytes::new()));
    let mut all = serde_json::Map::new();
    for result in join_all(sends).await {
        match result {
            Ok((status, body)) if status.is_success() => {
                if let Ok(serde_json::Value::Object(links)) = serde_json::from_slice(&body) {
                    all.extend(links);
                }
            }
            Ok((status, body)) => {
                return error(status, String::from_utf8_lossy(&body).to_string());
            }
            Err(e) => return error(StatusCode::BAD_GATEWAY, e),
        }
    }
    Json(serde_json::Value::Object(all)).into_response()
}

async fn reset_links(State(stack): Shared) -> Response {
    let holders = link_holders(&stack);
    let sends = holders
        .iter()
        .map(|addr| send(*addr, Method::POST, "/reset", Bytes::new()));
    for result in join_all(sends).await {
        if let Err(e) = result {
            return error(StatusCode::BAD_GATEWAY, e);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_all(State(stack): Shared) -> Response {
    let sends = stack
        .pod_ips
        .keys()
        .filter_map(|name| stack.sidecar_control(name))
        .map(|addr| send(addr, Method::DELETE, "/faults", Bytes::new()));
    for result in join_all(sends).await {
        if let Err(e) = result {
            return error(StatusCode::BAD_GATEWAY, e);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn advance(State(stack): Shared, body: Bytes) -> Response {
    match advance_all(&stack, body).await {
        Ok(answer) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            answer,
        )
            .into_response(),
        Err((status, message)) => error(status, message),
    }
}

/// Sends one clock jump (the control API's JSON body) to every container of `stack`; returns
/// the gateway's answer once every container has moved.
///
/// # Errors
/// The first refusal (its status and message), or a container that does not answer.
pub async fn advance_all(stack: &DockerStack, body: Bytes) -> Result<Bytes, (StatusCode, String)> {
    let endpoints = stack.control_endpoints();
    let sends = endpoints
        .iter()
        .map(|addr| send(*addr, Method::POST, "/clock/advance", body.clone()));
    let mut last = Bytes::new();
    for (addr, result) in endpoints.iter().zip(join_all(sends).await) {
        match result {
            Ok((status, answer)) if status.is_success() => last = answer,
            Ok((status, answer)) => {
                return Err((status, String::from_utf8_lossy(&answer).to_string()));
            }
            Err(e) => return Err((StatusCode::BAD_GATEWAY, format!("{addr}: {e}"))),
        }
    }
    Ok(last)
}

/// One request to a container's control API.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<(StatusCode, Bytes), String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = axum::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_link_name_typed_in_a_url_is_decoded() {
        assert_eq!(
            super::percent_decode("gateway-%3Evalue-architect"),
            "gateway->value-architect"
        );
        assert_eq!(super::percent_decode("a->b"), "a->b");
        assert_eq!(super::percent_decode("100%"), "100%");
    }
}
