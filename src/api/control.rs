//! The control API of a running stack (`gauntlet up`, port `ports.control`, loopback only):
//! process faults, HTTP faults, the journal and the clock, for `gauntlet chaos` and curl.
//!
//! | Request | Effect |
//! |---|---|
//! | `GET /` | stack name, seed, clock offset, every service with its state and faults |
//! | `POST /services/{name}/stop`, `/start`, `/kill`, `/pause`, `/unpause` | process faults (SPEC §7); pause freezes the service behind its open port, as `docker pause` on the container target |
//! | `POST /services/{name}/partition`, `/heal` | cuts the service off: every link to or from it disabled (new connections refused, open ones closed), then enabled again |
//! | `POST /services/{name}/faults` | adds a fault rule ([`FaultRule`] JSON); 201 with its `id` |
//! | `GET /services/{name}/faults` | the rules still active, in the order they apply, with ids |
//! | `DELETE /services/{name}/faults/{id}` | removes one rule |
//! | `DELETE /services/{name}/faults`, `DELETE /faults` | clears one service's rules, or all |
//! | `GET /services/{name}/journal` | what reached the service |
//! | `GET /clock` | the stack's time: `unix_seconds` (what JWT claims use) and `offset_seconds` |
//! | `POST /clock/advance` `{"seconds": 60}` or `{"duration": "60s"}` | jumps the stack clock |
//! | `POST /clock/stand-still`, optionally `{"unix_nanos": N}` | the clock stops following real time (at that wall time, so the containers of one stack agree) |
//! | `GET /links` | each link's `connections_opened` and `enabled`, by name (what Toxiproxy's API does not report) |
//! | `GET /breakers` | each gateway breaker's state and transitions (as the admin API's), and the stack time now |
//! | `GET /traffic` | per route and consumer over the last minute: requests, requests/s, status classes, p50/p99 ms ([`super::console::traffic`]) |
//! | `GET /traces?limit=N` | the most recent requests' traces, newest first (default 20, at most 200): `{"recorded": n, "data": [{"trace_id", "name", "duration_ms", "error", "spans": [{"span_id", "parent_id", "name", "component", "kind", "depth", "offset_ms", "duration_ms", "error", "attributes"}]}]}` ([`crate::trace`]) |
//!
//! The chaos console (`/ui/`, [`super::console`]) reads these and the Toxiproxy endpoints, and
//! acts only through them.
//!
//! A service's JSON names where it is now: `url` (its public port, what callers use) and
//! `service_addr` (the service itself, behind its inbound stage); a restart keeps both.
//! Errors carry their status and `{"message": "..."}`: 404 unknown service or fault, 400 a bad
//! fault or duration, 409 a process fault on an external service (or a pause of a stopped one).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::console::snapshot::{self, Snapshot};
use crate::chaos::fault::FaultRule;
use crate::clock::StackClock;
use crate::gateway::Gateway;
use crate::link::Links;
use crate::service::{ProcessFaultError, ServiceHandle};
use crate::units::parse_duration;

/// What the control API acts on: a stack's services and clock.
#[derive(Debug, Clone)]
pub struct ControlTarget {
    pub stack: String,
    pub seed: u64,
    pub clock: StackClock,
    pub services: BTreeMap<String, Arc<ServiceHandle>>,
    /// The stack's links, served with Toxiproxy's API at the root ([`super::toxiproxy`]).
    pub links: Links,
    /// The gateway, for `/breakers` and `/traffic` (absent where the API runs without one).
    pub gateway: Option<Arc<Gateway>>,
}

/// An error answer: its status and message.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"message": self.1}))).into_response()
    }
}

impl From<ProcessFaultError> for ApiError {
    fn from(e: ProcessFaultError) -> Self {
        let status = match e {
            ProcessFaultError::External { .. } | ProcessFaultError::NotRunning { .. } => {
                StatusCode::CONFLICT
            }
            ProcessFaultError::Restart { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

type Shared = State<Arc<ControlTarget>>;

pub fn router(target: ControlTarget) -> Router {
    let toxiproxy = super::toxiproxy::router(target.links.clone());
    let traffic = target.gateway.clone().map(|g| {
        let traffic = super::console::traffic::Traffic::new(g);
        traffic.spawn_sampler();
        traffic
    });
    let observe = Router::new()
        .route("/breakers", get(breakers))
        .route("/traces", get(traces))
        .route(
            "/traffic",
            get(move || async move {
                match &traffic {
                    Some(t) => Ok(Json(t.to_json())),
                    None => Err(no_gateway()),
                }
            }),
        )
        .with_state(Arc::new(Observed {
            target: target.clone(),
            traces: Default::default(),
        }));
    Router::new()
        .route("/", get(overview))
        .route("/services/{name}/stop", post(stop))
        .route("/services/{name}/start", post(start))
        .route("/services/{name}/kill", post(kill))
        .route("/services/{name}/pause", post(pause))
        .route("/services/{name}/unpause", post(unpause))
        .route("/services/{name}/partition", post(partition))
        .route("/services/{name}/heal", post(heal))
        .route("/services/{name}/resume", post(unpause))
        .route(
            "/services/{name}/faults",
            post(add_fault).get(faults).delete(clear_faults),
        )
        .route("/services/{name}/faults/{id}", delete(remove_fault))
        .route("/faults", delete(clear_all))
        .route("/services/{name}/journal", get(journal))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/clock/stand-still", post(stand_still))
        .route("/links", get(link_counts))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such endpoint".into()) })
        .with_state(Arc::new(target))
        .merge(toxiproxy)
        .merge(observe)
}

fn no_gateway() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "this control API runs without the stack's gateway".into(),
    )
}

/// What the observation endpoints read: the target, and the answers they keep.
#[derive(Debug)]
struct Observed {
    target: ControlTarget,
    /// `/traces` answers kept for the default limit and the chaos console's.
    traces: [Snapshot; 2],
}

async fn breakers(State(o): State<Arc<Observed>>) -> Result<Json<Value>, ApiError> {
    let t = &o.target;
    let gateway = t.gateway.as_ref().ok_or_else(no_gateway)?;
    Ok(Json(json!({
        "stack_time": t.clock.now().since_start().as_secs_f64(),
        "offset_seconds": t.clock.offset().as_secs_f64(),
        "data": gateway
            .breakers
            .iter()
            .map(|(_, b)| super::admin::breaker_json(b))
            .collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TracesQuery {
    limit: Option<String>,
}

/// Traces served by default, and at most.
const TRACES_DEFAULT: usize = 20;
const TRACES_MAX: usize = 200;
/// What the chaos console asks for.
const TRACES_CONSOLE: usize = 15;

/// `GET /traces`: the answer is kept per `limit` until a new record arrives (its key is the
/// store's push count), so pollers of a quiet stack share one serialisation.
async fn traces(
    State(o): State<Arc<Observed>>,
    headers: axum::http::HeaderMap,
    query: Result<axum::extract::Query<TracesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let gateway = o.target.gateway.as_ref().ok_or_else(no_gateway)?;
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let axum::extract::Query(query) =
        query.map_err(|e| bad(format!("the only parameter is `limit`: {e}")))?;
    let limit = match query.limit.as_deref() {
        None => TRACES_DEFAULT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=TRACES_MAX).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "limit must be a whole number from 1 to {TRACES_MAX}, got {text:?}"
                ))
            })?,
    };
    let store = &gateway.traces;
    let pushed = store.pushed();
    // One kept answer per limit a page asks for; other limits are built each time.
    let fresh = Snapshot::default();
    let kept = match limit {
        TRACES_DEFAULT => &o.traces[0],
        TRACES_CONSOLE => &o.traces[1],
        _ => &fresh,
    };
    Ok(kept.answer(snapshot::key((pushed, limit)), &headers, || {
        json!({
            "recorded": pushed,
            "data": store
                .traces(limit)
                .iter()
                .map(crate::trace::Trace::to_json)
                .collect::<Vec<_>>(),
        })
    }))
}

fn service<'a>(t: &'a ControlTarget, name: &str) -> Result<&'a Arc<ServiceHandle>, ApiError> {
    t.services.get(name).ok_or_else(|| {
        let known: Vec<&str> = t.services.keys().map(String::as_str).collect();
        ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "no service named {name}; this stack has {}",
                known.join(", ")
            ),
        )
    })
}

fn service_json(s: &ServiceHandle) -> Value {
    json!({
        "name": s.name(),
        "url": s.url(),
        "service_addr": s.app_addr().to_string(),
        "running": s.is_running() && !s.inbound().is_paused(),
        "paused": s.is_paused(),
        "health": s.health(),
        "faults": faults_json(s),
        "requests_received": s.inbound().journal.count(),
    })
}

fn faults_json(s: &ServiceHandle) -> Vec<Value> {
    s.inbound()
        .faults
        .active()
        .into_iter()
        .map(|f| {
            json!({
                "id": f.id,
                "description": f.rule.describe(),
                "remaining": f.remaining,
                "rule": f.rule,
            })
        })
        .collect()
}

async fn overview(State(t): Shared) -> Json<Value> {
    Json(json!({
        "stack": t.stack,
        "seed": t.seed,
        "clock": {"offset_seconds": t.clock.offset().as_secs_f64()},
        "services": t.services.values().map(|s| service_json(s)).collect::<Vec<_>>(),
    }))
}

async fn stop(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    s.stop().await?;
    tracing::info!(service = %name, "stopped by the control API");
    Ok(Json(service_json(s)))
}

async fn start(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    s.start().await?;
    tracing::info!(service = %name, "started by the control API");
    Ok(Json(service_json(s)))
}

async fn kill(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    s.kill().await?;
    tracing::info!(service = %name, "killed by the control API");
    Ok(Json(service_json(s)))
}

async fn pause(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    s.pause().await?;
    tracing::info!(service = %name, "paused by the control API");
    Ok(Json(service_json(s)))
}

async fn unpause(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    s.unpause().await?;
    tracing::info!(service = %name, "unpaused by the control API");
    Ok(Json(service_json(s)))
}

/// Enables or disables every link to or from `name`; answers the service with the links.
fn set_links(t: &ControlTarget, name: &str, enabled: bool) -> Result<Json<Value>, ApiError> {
    let s = service(t, name)?;
    let links: Vec<String> = t
        .links
        .all()
        .into_iter()
        .filter(|l| {
            l.name()
                .split_once("->")
                .is_some_and(|(from, to)| from == name || to == name)
        })
        .map(|l| {
            l.set_enabled(enabled);
            l.name().to_string()
        })
        .collect();
    tracing::info!(service = %name, enabled, "links set by the control API");
    let mut answer = service_json(s);
    answer["partitioned"] = json!(!enabled);
    answer["links"] = json!(links);
    Ok(Json(answer))
}

async fn partition(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    set_links(&t, &name, false)
}

async fn heal(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    set_links(&t, &name, true)
}

async fn add_fault(
    State(t): Shared,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let s = service(&t, &name)?;
    let rule: FaultRule = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")))?;
    let description = rule.describe();
    let id = s
        .inbound()
        .faults
        .add(rule)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    tracing::info!(service = %name, fault = %description, id, "fault added by the control API");
    let mut answer = service_json(s);
    answer["id"] = json!(id);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn remove_fault(
    State(t): Shared,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    let faults = &s.inbound().faults;
    let number = id.trim_start_matches('#').parse::<u64>().ok();
    if !number.is_some_and(|n| faults.remove(n)) {
        let ids: Vec<String> = faults.active().iter().map(|f| f.id.to_string()).collect();
        let has = if ids.is_empty() {
            "it has no faults".to_string()
        } else {
            format!("its faults are {}", ids.join(", "))
        };
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("{name} has no fault {id}; {has}"),
        ));
    }
    tracing::info!(service = %name, id, "fault removed by the control API");
    Ok(Json(service_json(s)))
}

async fn faults(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    Ok(Json(json!({"data": faults_json(s)})))
}

async fn clear_faults(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    s.inbound().faults.clear();
    Ok(Json(service_json(s)))
}

async fn clear_all(State(t): Shared) -> Json<Value> {
    for s in t.services.values() {
        s.inbound().faults.clear();
    }
    Json(json!({"cleared": t.services.keys().collect::<Vec<_>>()}))
}

async fn journal(State(t): Shared, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = service(&t, &name)?;
    let journal = &s.inbound().journal;
    Ok(Json(json!({
        "service": name,
        "count": journal.count(),
        "data": journal.entries(),
    })))
}

async fn link_counts(State(t): Shared) -> Json<Value> {
    let links: serde_json::Map<String, Value> = t
        .links
        .all()
        .iter()
        .map(|l| {
            let counts = json!({
                "connections_opened": l.connections_opened(),
                "enabled": l.is_enabled(),
            });
            (l.name().to_string(), counts)
        })
        .collect();
    Json(Value::Object(links))
}

async fn clock(State(t): Shared) -> Json<Value> {
    Json(json!({
        "unix_seconds": t.clock.unix_seconds(),
        "offset_seconds": t.clock.offset().as_secs_f64(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StandStill {
    unix_nanos: Option<u64>,
}

async fn stand_still(State(t): Shared, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let asked: StandStill = if body.is_empty() {
        StandStill::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("expected nothing or {{\"unix_nanos\": N}}: {e}"),
            )
        })?
    };
    match asked.unix_nanos {
        Some(ns) => t
            .clock
            .stand_still_at(std::time::UNIX_EPOCH + Duration::from_nanos(ns)),
        None => t.clock.stand_still(),
    }
    Ok(Json(json!({
        "stands_still": true,
        "unix_seconds": t.clock.unix_seconds(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: Option<f64>,
    duration: Option<String>,
}

async fn advance(State(t): Shared, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let advance: Advance = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "expected {{\"seconds\": N}} or {{\"duration\": \"60s\"}}: {e}"
        ))
    })?;
    let by = match (advance.seconds, advance.duration) {
        (Some(s), None) => Duration::try_from_secs_f64(s)
            .map_err(|_| bad(format!("seconds must be a positive number, got {s}")))?,
        (None, Some(d)) => parse_duration(&d).map_err(|e| bad(e.to_string()))?,
        _ => return Err(bad("give exactly one of `seconds` and `duration`".into())),
    };
    let offset = t.clock.try_advance(by).map_err(|e| bad(e.to_string()))?;
    tracing::info!(
        by_seconds = by.as_secs_f64(),
        "clock advanced by the control API"
    );
    Ok(Json(json!({
        "advanced_seconds": by.as_secs_f64(),
        "offset_seconds": offset.as_secs_f64(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    async fn advance(clock: &StackClock, body: &str) -> (StatusCode, Value) {
        let target = ControlTarget {
            stack: "test".into(),
            seed: 1,
            clock: clock.clone(),
            services: BTreeMap::new(),
            links: Links::new(1, clock.clone()),
            gateway: None,
        };
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri("/clock/advance")
            .body(Body::from(body.to_string()))
            .expect("request");
        let (status, _, body) = crate::api::call_router(router(target), request).await;
        (status, serde_json::from_str(&body).expect("JSON"))
    }

    #[tokio::test]
    async fn a_clock_jump_past_ten_years_is_refused_with_the_reason_and_nothing_moves() {
        let clock = StackClock::new();
        let (status, answer) = advance(&clock, r#"{"duration": "1h"}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["advanced_seconds"], 3600.0);
        assert_eq!(answer["offset_seconds"], 3600.0);
        for body in [
            r#"{"seconds": 1e19}"#,
            r#"{"duration": "5000000000000h"}"#,
            r#"{"seconds": 315360000}"#,
        ] {
            let (status, answer) = advance(&clock, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            let message = answer["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("at most 3650d ahead of real time (10 years)")
                    || message.contains("not a duration"),
                "{body}: {message}"
            );
            assert_eq!(clock.offset(), Duration::from_secs(3600), "{body}");
        }
        let (status, answer) = advance(&clock, r#"{"seconds": -1}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
}
