//! value-architect: value models kept in memory (CRUD over JSON), and `publish`, which pushes a
//! model's current version to value-committer's `/internal/v1/sync`.
//!
//! ```text
//! GET    /health                               200 {"status":"UP","service":"value-architect"}
//! GET    /api/v1/value-models                  200 {"items":[...],"count":N}
//! POST   /api/v1/value-models                  201 model | 400
//! GET    /api/v1/value-models/{id}             200 model | 404
//! PUT    /api/v1/value-models/{id}             200 model (version + 1) | 400 | 404
//! DELETE /api/v1/value-models/{id}             204 | 404
//! POST   /api/v1/value-models/{id}/publish     200 --POST /internal/v1/sync--> value-committer
//!                                              404 | 503 (no committer_url) | 502 (committer failed)
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::config::{MockConfig, MockKind, MockOptions, WallClock};
use crate::http::{error_response, health, listing, read_body, BodyError};
use crate::input::{InputError, ValueModelInput};
use crate::model::{rfc3339, seed_value_models, ValueModel};
use crate::upstream::Peer;

/// Path value-committer records pushed updates on.
const SYNC_PATH: &str = "/internal/v1/sync";

/// Why a value-architect request failed; [`IntoResponse`] is the one place mapping it to HTTP.
#[derive(Debug, thiserror::Error)]
enum ArchitectError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("value model {0} not found")]
    NotFound(String),
    #[error("value-committer upstream not configured")]
    CommitterNotConfigured,
    #[error("value-committer upstream misconfigured: {0}")]
    CommitterMisconfigured(String),
    #[error("value-committer unavailable: {0}")]
    CommitterUnavailable(String),
}

impl IntoResponse for ArchitectError {
    fn into_response(self) -> Response {
        let status = match &self {
            ArchitectError::Body(err) => err.status(),
            ArchitectError::Input(_) => StatusCode::BAD_REQUEST,
            ArchitectError::NotFound(_) => StatusCode::NOT_FOUND,
            ArchitectError::CommitterNotConfigured | ArchitectError::CommitterMisconfigured(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ArchitectError::CommitterUnavailable(_) => StatusCode::BAD_GATEWAY,
        };
        error_response(status, self.to_string())
    }
}

#[derive(Clone)]
struct ArchitectState {
    models: Arc<Mutex<Vec<ValueModel>>>,
    clock: WallClock,
    committer: Peer,
}

impl ArchitectState {
    fn models(&self) -> MutexGuard<'_, Vec<ValueModel>> {
        // A panic while holding the lock cannot leave a half-written model: every write replaces
        // or pushes a complete value, so the data stays usable.
        self.models.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find(&self, id: &str) -> Result<ValueModel, ArchitectError> {
        self.models()
            .iter()
            .find(|model| model.id == id)
            .cloned()
            .ok_or_else(|| ArchitectError::NotFound(id.to_owned()))
    }
}

/// The value-architect routes (without the echo layer and fallbacks, added by `crate::router`).
pub(crate) fn router(config: &MockConfig, options: &MockOptions) -> Router {
    let state = ArchitectState {
        models: Arc::new(Mutex::new(seed_value_models())),
        clock: options.wall_clock.clone(),
        committer: Peer::configure(
            "committer_url",
            config.committer_url.as_deref(),
            MockKind::ValueArchitect,
            options.upstream_timeout,
        ),
    };
    Router::new()
        .route(
            "/health",
            get(|| async { health(MockKind::ValueArchitect) }),
        )
        .route("/api/v1/value-models", get(list).post(create))
        .route(
            "/api/v1/value-models/{id}",
            get(fetch).put(replace).delete(remove),
        )
        .route("/api/v1/value-models/{id}/publish", post(publish))
        .with_state(state)
}

async fn list(State(state): State<ArchitectState>) -> Response {
    listing(state.models().clone())
}

async fn fetch(
    State(state): State<ArchitectState>,
    Path(id): Path<String>,
) -> Result<Json<ValueModel>, ArchitectError> {
    state.find(&id).map(Json)
}

async fn create(
    State(state): State<ArchitectState>,
    body: Body,
) -> Result<Response, ArchitectError> {
    let input = ValueModelInput::parse(&read_body(body).await?)?;
    let now = rfc3339(state.clock.now());
    let model = ValueModel {
        id: uuid::Uuid::new_v4().to_string(),
        name: input.name,
        description: input.description,
        drivers: input.drivers,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    state.models().push(model.clone());
    let mut response = (StatusCode::CREATED, Json(&model)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/value-models/{}", model.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

async fn replace(
    State(state): State<ArchitectState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<ValueModel>, ArchitectError> {
    let input = ValueModelInput::parse(&read_body(body).await?)?;
    let now = rfc3339(state.clock.now());
    let mut models = state.models();
    let model = models
        .iter_mut()
        .find(|model| model.id == id)
        .ok_or(ArchitectError::NotFound(id))?;
    model.name = input.name;
    model.description = input.description;
    model.drivers = input.drivers;
    model.version += 1;
    model.updated_at = now;
    Ok(Json(model.clone()))
}

async fn remove(
    State(state): State<ArchitectState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ArchitectError> {
    let mut models = state.models();
    let index = models
        .iter()
        .position(|model| model.id == id)
        .ok_or(ArchitectError::NotFound(id))?;
    models.remove(index);
    Ok(StatusCode::NO_CONTENT)
}

/// Pushes `{"value_model_id","version","name"}` to value-committer; answers with the payload and
/// the committer's status.
async fn publish(
    State(state): State<ArchitectState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ArchitectError> {
    let model = state.find(&id)?;
    let committer = match &state.committer {
        Peer::Ready(upstream) => upstream,
        Peer::NotConfigured => return Err(ArchitectError::CommitterNotConfigured),
        Peer::Invalid(reason) => {
            return Err(ArchitectError::CommitterMisconfigured(reason.clone()))
        }
    };
    let payload = json!({
        "value_model_id": model.id,
        "version": model.version,
        "name": model.name,
    });
    let body = Bytes::from(payload.to_string());
    let response = committer
        .send(Method::POST, SYNC_PATH, &headers, Some(body))
        .await
        .map_err(|err| ArchitectError::CommitterUnavailable(err.to_string()))?;
    if !response.status.is_success() {
        return Err(ArchitectError::CommitterUnavailable(response.summary()));
    }
    let mut published = payload;
    published["committer_status"] = json!(response.status.as_u16());
    Ok(Json(published).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CUSTOMER_RETENTION_MODEL_ID, SEEDED_VALUE_MODEL_IDS};
    use crate::test_support::{call, spawn, spawn_with};
    use std::time::{Duration, SystemTime};

    fn fixed_clock() -> MockOptions {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        MockOptions {
            wall_clock: WallClock::from_fn(move || at),
            ..MockOptions::default()
        }
    }

    #[tokio::test]
    async fn lists_the_seeded_models_with_their_count() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let reply = call(mock.addr, "GET", "/api/v1/value-models", &[], None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json["count"], 3);
        let ids: Vec<&str> = reply.json["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|m| m["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, SEEDED_VALUE_MODEL_IDS);
    }

    #[tokio::test]
    async fn round_trips_a_model_through_create_read_replace_and_delete() {
        let mock = spawn_with(
            MockKind::ValueArchitect,
            MockConfig::default(),
            fixed_clock(),
        )
        .await;
        let body = r#"{"name":"Churn","description":"d","drivers":[{"name":"churn","unit":"percent","baseline":12,"target":8}]}"#;
        let created = call(mock.addr, "POST", "/api/v1/value-models", &[], Some(body)).await;
        assert_eq!(created.status, 201);
        assert_eq!(created.json["version"], 1);
        assert_eq!(created.json["created_at"], "2025-06-15T15:06:40Z");
        assert_eq!(created.json["drivers"][0]["target"], 8.0);
        let id = created.json["id"].as_str().unwrap_or_default().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        let path = format!("/api/v1/value-models/{id}");
        assert_eq!(created.header("location"), Some(path.as_str()));

        let read = call(mock.addr, "GET", &path, &[], None).await;
        assert_eq!((read.status, &read.json), (200, &created.json));

        let replaced = call(mock.addr, "PUT", &path, &[], Some(r#"{"name":"Churn v2"}"#)).await;
        assert_eq!(replaced.status, 200);
        assert_eq!(replaced.json["version"], 2);
        assert_eq!(replaced.json["name"], "Churn v2");
        assert_eq!(replaced.json["drivers"], json!([]));
        assert_eq!(replaced.json["created_at"], created.json["created_at"]);

        let deleted = call(mock.addr, "DELETE", &path, &[], None).await;
        assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
        let gone = call(mock.addr, "GET", &path, &[], None).await;
        assert_eq!(gone.status, 404);
        assert_eq!(gone.json["error"], format!("value model {id} not found"));
    }

    #[tokio::test]
    async fn refuses_invalid_json_and_a_missing_name_with_400() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let broken = call(mock.addr, "POST", "/api/v1/value-models", &[], Some("{")).await;
        assert_eq!(broken.status, 400);
        assert!(broken.json["error"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid JSON")));
        let nameless = call(mock.addr, "POST", "/api/v1/value-models", &[], Some("{}")).await;
        assert_eq!(
            (nameless.status, &nameless.json),
            (400, &json!({"error": "name is required"}))
        );
        let count = call(mock.addr, "GET", "/api/v1/value-models", &[], None).await;
        assert_eq!(count.json["count"], 3);
    }

    #[tokio::test]
    async fn answers_404_for_replacing_or_deleting_an_unknown_model() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let path = "/api/v1/value-models/no-such-model";
        let put = call(mock.addr, "PUT", path, &[], Some(r#"{"name":"x"}"#)).await;
        let delete = call(mock.addr, "DELETE", path, &[], None).await;
        assert_eq!((put.status, delete.status), (404, 404));
    }

    #[tokio::test]
    async fn refuses_to_publish_without_a_committer_with_503() {
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let path = format!("/api/v1/value-models/{CUSTOMER_RETENTION_MODEL_ID}/publish");
        let reply = call(mock.addr, "POST", &path, &[], None).await;
        assert_eq!(
            (reply.status, &reply.json),
            (
                503,
                &json!({"error": "value-committer upstream not configured"})
            )
        );
    }

    #[tokio::test]
    async fn answers_503_naming_an_unusable_committer_url_on_publish() {
        let config = MockConfig::default().with_committer_url("https://127.0.0.1:1");
        let mock = spawn(MockKind::ValueArchitect, config).await;
        let path = format!("/api/v1/value-models/{CUSTOMER_RETENTION_MODEL_ID}/publish");
        let reply = call(mock.addr, "POST", &path, &[], None).await;
        assert_eq!(reply.status, 503);
        assert_eq!(
            reply.json["error"],
            "value-committer upstream misconfigured: invalid committer_url \
             `https://127.0.0.1:1`: only http:// is supported"
        );
    }

    #[tokio::test]
    async fn publishes_a_model_to_the_committer_sync_endpoint() {
        let committer = spawn(MockKind::ValueCommitter, MockConfig::default()).await;
        let config = MockConfig::default().with_committer_url(committer.base_url());
        let architect = spawn(MockKind::ValueArchitect, config).await;
        let path = format!("/api/v1/value-models/{CUSTOMER_RETENTION_MODEL_ID}/publish");
        let reply = call(architect.addr, "POST", &path, &[], None).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["version"], 3);

        let synced = call(committer.addr, "GET", "/internal/v1/sync", &[], None).await;
        assert_eq!(synced.json["count"], 1);
        assert_eq!(
            synced.json["items"][0]["value_model_id"],
            CUSTOMER_RETENTION_MODEL_ID
        );
        assert_eq!(synced.json["items"][0]["name"], "Customer Retention Uplift");
    }
}
