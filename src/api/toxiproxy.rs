//! Toxiproxy 2.x's HTTP API over a stack's links (SPEC §7.1), served at the root of the control
//! listener so Toxiproxy's own clients drive Gauntlet unchanged. Proxy name = link name.
//!
//! | Request | Success |
//! |---|---|
//! | `GET /version` | 200 `{"version": ...}` |
//! | `GET /proxies` | 200, object keyed by link name |
//! | `POST /proxies` | 201, an extra link `listen -> upstream` on loopback |
//! | `POST /populate` | 201 `{"proxies": [...]}` |
//! | `GET`, `POST`/`PATCH`, `DELETE /proxies/{name}` | 200 link, 200 link, 204 |
//! | `GET`, `POST /proxies/{name}/toxics` | 200 array, 200 toxic (not 201, as Toxiproxy) |
//! | `GET`, `POST`/`PATCH`, `DELETE /proxies/{name}/toxics/{toxic}` | 200, 200, 204 |
//! | `POST /reset` | 204: every link enabled, every toxic removed |
//!
//! Errors are Toxiproxy's: `{"error": "...", "status": N}` as `text/plain` (Go's `http.Error`),
//! 400 bad body / stream / type, 404 proxy or toxic not found, 409 duplicate. A link of the stack
//! itself cannot be moved or deleted (409 with the reason); disable it instead.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::link::{proxy, LinkError, Links};

/// The version `GET /version` reports: the Toxiproxy API it follows, and Gauntlet's.
pub const VERSION: &str = concat!("2.12.0+gauntlet.", env!("CARGO_PKG_VERSION"));

/// A Toxiproxy error answer.
#[derive(Debug)]
pub struct ToxiError(pub LinkError);

impl From<LinkError> for ToxiError {
    fn from(e: LinkError) -> Self {
        ToxiError(e)
    }
}

impl IntoResponse for ToxiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = format!(
            "{}\n",
            json!({"error": self.0.to_string(), "status": status})
        );
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response()
    }
}

type Answer = Result<Response, ToxiError>;

/// The Toxiproxy routes over `links`.
pub fn router(links: Links) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/proxies", get(list).post(create))
        .route("/populate", post(populate))
        .route("/reset", post(reset))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).patch(update).delete(remove),
        )
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(remove_toxic),
        )
        .with_state(links)
}

async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        format!("{}\n", json!({"version": VERSION})),
    )
        .into_response()
}

async fn list(State(links): State<Links>) -> Json<Value> {
    let proxies: Map<String, Value> = links
        .all()
        .iter()
        .map(|l| (l.name().to_string(), l.to_json()))
        .collect();
    Json(Value::Object(proxies))
}

/// A proxy body: `name`, `listen`, `upstream`, `enabled`.
#[derive(Debug, Default)]
struct ProxyBody {
    name: Option<String>,
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
}

fn proxy_body(value: &Value) -> Result<ProxyBody, LinkError> {
    let Value::Object(object) = value else {
        return Err(LinkError::BadBody(
            "expected a JSON object with name, listen, upstream, enabled".into(),
        ));
    };
    let text = |key: &str| match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(LinkError::BadBody(format!(
            "{key} must be a string, got {other}"
        ))),
    };
    let enabled = match object.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(LinkError::BadBody(format!(
                "enabled must be true or false, got {other}"
            )))
        }
    };
    Ok(ProxyBody {
        name: text("name")?.filter(|s| !s.is_empty()),
        listen: text("listen")?.filter(|s| !s.is_empty()),
        upstream: text("upstream")?.filter(|s| !s.is_empty()),
        enabled,
    })
}

fn parse(body: &[u8]) -> Result<Value, LinkError> {
    serde_json::from_slice(body).map_err(|e| LinkError::BadBody(e.to_string()))
}

async fn create(State(links): State<Links>, body: axum::body::Bytes) -> Answer {
    let proxy = proxy_body(&parse(&body)?)?;
    let made = create_one(&links, proxy).await?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

async fn create_one(links: &Links, body: ProxyBody) -> Result<Value, LinkError> {
    let name = body.name.ok_or(LinkError::MissingField("name"))?;
    let upstream_text = body.upstream.ok_or(LinkError::MissingField("upstream"))?;
    let listen_text = body.listen.unwrap_or_else(|| "127.0.0.1:0".to_string());
    let listen = proxy::loopback("listen", &listen_text)?;
    let upstream = proxy::loopback("upstream", &upstream_text)?;
    if links.get(&name).is_ok() {
        return Err(LinkError::ProxyExists);
    }
    let link = links.new_extra(&name, listen_text, upstream_text);
    links.insert(link.clone())?;
    if body.enabled.unwrap_or(true) {
        match proxy::start(links, &link, listen, upstream).await {
            Ok(bound) => link.set_addresses(bound.to_string(), link.upstream()),
            Err(e) => {
                links.forget(&name);
                return Err(e);
            }
        }
    } else {
        link.set_enabled(false);
    }
    tracing::info!(link = %name, "extra link created through the Toxiproxy API");
    Ok(link.to_json())
}

async fn populate(State(links): State<Links>, body: axum::body::Bytes) -> Answer {
    let value = parse(&body)?;
    let Value::Array(entries) = value else {
        return Err(LinkError::BadBody("expected a JSON array of proxies".into()).into());
    };
    let mut bodies = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let body = proxy_body(entry)?;
        for (field, present) in [
            ("name", body.name.is_some()),
            ("upstream", body.upstream.is_some()),
        ] {
            if !present {
                return Err(LinkError::BadBody(format!(
                    "missing required field: {field} at proxy {}",
                    i + 1
                ))
                .into());
            }
        }
        bodies.push(body);
    }
    let mut made = Vec::new();
    for body in bodies {
        let name = body.name.clone().unwrap_or_default();
        if let Ok(existing) = links.get(&name) {
            let same = body
                .listen
                .as_deref()
                .is_none_or(|l| same_addr(l, &existing.listen()))
                && body
                    .upstream
                    .as_deref()
                    .is_some_and(|u| same_addr(u, &existing.upstream()));
            if same || existing.is_builtin() {
                made.push(existing.to_json());
                continue;
            }
            proxy::stop(&links, &name).await;
            existing.set_enabled(false);
            links.forget(&name);
        }
        made.push(create_one(&links, body).await?);
    }
    Ok((StatusCode::CREATED, Json(json!({"proxies": made}))).into_response())
}

fn same_addr(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (proxy::loopback("", a), proxy::loopback("", b)),
            (Ok(x), Ok(y)) if x == y
        )
}

async fn show(State(links): State<Links>, Path(name): Path<String>) -> Answer {
    Ok(Json(links.get(&name)?.to_json()).into_response())
}

async fn update(
    State(links): State<Links>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let link = links.get(&name)?;
    let body = proxy_body(&parse(&body)?)?;
    let listen = body.listen.unwrap_or_else(|| link.listen());
    let upstream = body.upstream.unwrap_or_else(|| link.upstream());
    let moved = !same_addr(&listen, &link.listen()) || !same_addr(&upstream, &link.upstream());
    let enabled = body.enabled.unwrap_or_else(|| link.is_enabled());
    if link.is_builtin() {
        if moved {
            return Err(LinkError::Conflict(format!(
                "{name} is a hop of the stack: its listen and upstream cannot change (disable it with {{\"enabled\": false}})"
            ))
            .into());
        }
        link.set_enabled(enabled);
        tracing::info!(link = %name, enabled, "link changed through the Toxiproxy API");
        return Ok(Json(link.to_json()).into_response());
    }
    let listen_addr = proxy::loopback("listen", &listen)?;
    let upstream_addr = proxy::loopback("upstream", &upstream)?;
    if moved || !enabled {
        proxy::stop(&links, &name).await;
        // Closes open connections.
        link.set_enabled(false);
    }
    link.set_addresses(listen.clone(), upstream.clone());
    if enabled && (moved || !links.proxies().contains_key(&name)) {
        link.set_enabled(true);
        let bound = proxy::start(&links, &link, listen_addr, upstream_addr).await?;
        link.set_addresses(bound.to_string(), upstream);
    }
    Ok(Json(link.to_json()).into_response())
}

async fn remove(State(links): State<Links>, Path(name): Path<String>) -> Answer {
    let link = links.get(&name)?;
    if link.is_builtin() {
        return Err(LinkError::Conflict(format!(
            "{name} is a hop of the stack and cannot be deleted (disable it with {{\"enabled\": false}})"
        ))
        .into());
    }
    proxy::stop(&links, &name).await;
    link.set_enabled(false);
    links.forget(&name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn toxics(State(links): State<Links>, Path(name): Path<String>) -> Answer {
    let link = links.get(&name)?;
    Ok(Json(link.to_json()["toxics"].clone()).into_response())
}

async fn add_toxic(
    State(links): State<Links>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let link = links.get(&name)?;
    let toxic = link.add_toxic_json(&body)?;
    tracing::info!(link = %name, toxic = %toxic.describe(), "toxic added through the Toxiproxy API");
    Ok(Json(toxic.to_json()).into_response())
}

async fn show_toxic(
    State(links): State<Links>,
    Path((name, toxic)): Path<(String, String)>,
) -> Answer {
    Ok(Json(links.get(&name)?.toxic(&toxic)?.to_json()).into_response())
}

async fn update_toxic(
    State(links): State<Links>,
    Path((name, toxic)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Answer {
    let link = links.get(&name)?;
    let next = link.update_toxic(&toxic, |t| t.updated(&body))?;
    tracing::info!(link = %name, toxic = %next.describe(), "toxic updated through the Toxiproxy API");
    Ok(Json(next.to_json()).into_response())
}

async fn remove_toxic(
    State(links): State<Links>,
    Path((name, toxic)): Path<(String, String)>,
) -> Answer {
    links.get(&name)?.remove_toxic(&toxic)?;
    tracing::info!(link = %name, %toxic, "toxic removed through the Toxiproxy API");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reset(State(links): State<Links>) -> Answer {
    links.reset().await;
    tracing::info!("every link enabled and every toxic removed through the Toxiproxy API");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests;
