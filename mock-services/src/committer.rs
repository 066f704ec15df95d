//! value-committer: commitments kept in memory. Creating one fetches its value model from
//! value-architect (through the configured upstream, in a stack the local mesh listener), so a
//! mesh denial or an architect outage shows up as a committer error; with data stores configured
//! (`postgres_url`, `redis_url`) it is then written to both ([`crate::store`]) and reads by id are
//! served from redis, so a slow or broken store shows up too. `/internal/v1/sync` records the
//! updates value-architect publishes.
//!
//! ```text
//! GET  /health                    200 {"status":"UP","service":"value-committer"}
//! GET  /api/v1/commitments        200 {"items":[...],"count":N}            (memory, no store)
//! GET  /api/v1/commitments/{id}   redis GET commitment:<id> → 200 stored | miss → memory: 200 | 404
//!                                 redis failed / slower than store_timeout → 503 commitment store unavailable: redis: <detail>
//! POST /api/v1/commitments        400 (body) ─┐
//!                                             └─ GET {architect}/api/v1/value-models/{id}
//!                                                  2xx model        → stores (below) → 201 commitment
//!                                                  404              → 422 value model <id> not found
//!                                                  other / no reply → 502 value-architect unavailable: <detail>
//!                                                  no architect_url → 503
//!                                  postgres INSERT (echoed), then redis SET (+OK); either failed or
//!                                  slower than store_timeout → 503 commitment store unavailable: <store>: <detail>
//!                                  and nothing is kept
//! POST /internal/v1/sync          200 record | 400
//! GET  /internal/v1/sync          200 {"items":[...],"count":N}
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::config::{MockConfig, MockKind, MockOptions, WallClock};
use crate::http::{error_response, health, listing, read_body, BodyError};
use crate::input::{CommitmentInput, InputError, SyncInput};
use crate::model::{rfc3339, seed_commitments, Commitment, SyncRecord};
use crate::store::{Store, StoreError, StoreKind};
use crate::upstream::Peer;

/// Why a value-committer request failed; [`IntoResponse`] is the one place mapping it to HTTP.
#[derive(Debug, thiserror::Error)]
enum CommitterError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("commitment {0} not found")]
    NotFound(String),
    #[error("value model {0} not found")]
    UnknownValueModel(String),
    #[error("value-architect upstream not configured")]
    ArchitectNotConfigured,
    #[error("value-architect upstream misconfigured: {0}")]
    ArchitectMisconfigured(String),
    #[error("value-architect unavailable: {0}")]
    ArchitectUnavailable(String),
    #[error("commitment store unavailable: {0}")]
    StoreUnavailable(#[from] StoreError),
    #[error("commitment store misconfigured: {0}")]
    StoreMisconfigured(String),
}

impl IntoResponse for CommitterError {
    fn into_response(self) -> Response {
        let status = match &self {
            CommitterError::Body(err) => err.status(),
            CommitterError::Input(_) => StatusCode::BAD_REQUEST,
            CommitterError::NotFound(_) => StatusCode::NOT_FOUND,
            CommitterError::UnknownValueModel(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CommitterError::ArchitectNotConfigured | CommitterError::ArchitectMisconfigured(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CommitterError::ArchitectUnavailable(_) => StatusCode::BAD_GATEWAY,
            CommitterError::StoreUnavailable(_) | CommitterError::StoreMisconfigured(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        error_response(status, self.to_string())
    }
}

/// The fields of value-architect's model the commitment keeps.
#[derive(Debug, Deserialize)]
struct FetchedModel {
    name: String,
    version: u64,
}

#[derive(Clone)]
struct CommitterState {
    commitments: Arc<Mutex<Vec<Commitment>>>,
    syncs: Arc<Mutex<Vec<SyncRecord>>>,
    clock: WallClock,
    architect: Peer,
    stores: Arc<Stores>,
}

/// The data stores as configured: each absent (in-memory only), usable, or misconfigured.
#[derive(Debug)]
struct Stores {
    postgres: Result<Option<Store>, String>,
    redis: Result<Option<Store>, String>,
}

impl Stores {
    fn configure(config: &MockConfig, options: &MockOptions) -> Stores {
        let build = |kind, setting, url: Option<&str>| {
            url.map(|url| Store::new(kind, setting, url, options.store_timeout))
                .transpose()
                .map_err(|err| {
                    tracing::error!(service = "value-committer", error = %err, "store unusable");
                    err.to_string()
                })
        };
        Stores {
            postgres: build(
                StoreKind::Postgres,
                "postgres_url",
                config.postgres_url.as_deref(),
            ),
            redis: build(StoreKind::Redis, "redis_url", config.redis_url.as_deref()),
        }
    }

    fn postgres(&self) -> Result<Option<&Store>, CommitterError> {
        usable(&self.postgres)
    }

    fn redis(&self) -> Result<Option<&Store>, CommitterError> {
        usable(&self.redis)
    }
}

fn usable(store: &Result<Option<Store>, String>) -> Result<Option<&Store>, CommitterError> {
    store
        .as_ref()
        .map(Option::as_ref)
        .map_err(|reason| CommitterError::StoreMisconfigured(reason.clone()))
}

/// The redis key of a commitment.
fn redis_key(id: &str) -> String {
    format!("commitment:{id}")
}

// A panic while holding a lock cannot leave a half-written record (writes push complete values),
// so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The value-committer routes (without the echo layer and fallbacks, added by `crate::router`).
pub(crate) fn router(config: &MockConfig, options: &MockOptions) -> Router {
    let state = CommitterState {
        commitments: Arc::new(Mutex::new(seed_commitments())),
        syncs: Arc::new(Mutex::new(Vec::new())),
        clock: options.wall_clock.clone(),
        architect: Peer::configure(
            "architect_url",
            config.architect_url.as_deref(),
            MockKind::ValueCommitter,
            options.upstream_timeout,
        ),
        stores: Arc::new(Stores::configure(config, options)),
    };
    Router::new()
        .route(
            "/health",
            get(|| async { health(MockKind::ValueCommitter) }),
        )
        .route("/api/v1/commitments", get(list).post(create))
        .route("/api/v1/commitments/{id}", get(fetch))
        .route("/internal/v1/sync", get(list_syncs).post(record_sync))
        .with_state(state)
}

async fn list(State(state): State<CommitterState>) -> Response {
    listing(lock(&state.commitments).clone())
}

async fn fetch(
    State(state): State<CommitterState>,
    Path(id): Path<String>,
) -> Result<Json<Commitment>, CommitterError> {
    // Served from redis when it holds the commitment; a miss (the seed, or a restarted redis)
    // falls back to the committer's own copy. A redis that fails is a failed read.
    if let Some(redis) = state.stores.redis()? {
        if let Some(stored) = redis.get(&redis_key(&id)).await? {
            return serde_json::from_slice(&stored).map(Json).map_err(|err| {
                CommitterError::StoreUnavailable(StoreError {
                    store: StoreKind::Redis,
                    detail: format!("stored value is not a commitment: {err}"),
                })
            });
        }
    }
    lock(&state.commitments)
        .iter()
        .find(|commitment| commitment.id == id)
        .cloned()
        .map(Json)
        .ok_or(CommitterError::NotFound(id))
}

async fn create(
    State(state): State<CommitterState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CommitterError> {
    let input = CommitmentInput::parse(&read_body(body).await?)?;
    let model = fetch_value_model(&state, &input.value_model_id, &headers).await?;
    let commitment = Commitment {
        id: uuid::Uuid::new_v4().to_string(),
        value_model_id: input.value_model_id,
        value_model_name: model.name,
        value_model_version: model.version,
        owner: input.owner,
        target_date: input.target_date,
        amount: input.amount,
        status: "committed".to_owned(),
        created_at: rfc3339(state.clock.now()),
    };
    record(&state.stores, &commitment).await?;
    lock(&state.commitments).push(commitment.clone());
    let mut response = (StatusCode::CREATED, Json(&commitment)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/commitments/{}", commitment.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// Writes a new commitment to postgres (the record), then redis (what reads are served from).
async fn record(stores: &Stores, commitment: &Commitment) -> Result<(), CommitterError> {
    let json = serde_json::to_string(commitment).unwrap_or_default();
    if let Some(postgres) = stores.postgres()? {
        // One line, quoted as SQL: the mock echoes it, a database would acknowledge it.
        let statement = format!(
            "INSERT INTO commitments (id, body) VALUES ('{}', '{}');\n",
            commitment.id,
            json.replace('\'', "''")
        );
        postgres.write_record(statement.as_bytes()).await?;
    }
    if let Some(redis) = stores.redis()? {
        redis
            .set(&redis_key(&commitment.id), json.as_bytes())
            .await?;
    }
    Ok(())
}

/// `GET {architect}/api/v1/value-models/{id}`, classified for the committer's client.
async fn fetch_value_model(
    state: &CommitterState,
    id: &str,
    incoming: &HeaderMap,
) -> Result<FetchedModel, CommitterError> {
    let architect = match &state.architect {
        Peer::Ready(upstream) => upstream,
        Peer::NotConfigured => return Err(CommitterError::ArchitectNotConfigured),
        Peer::Invalid(reason) => {
            return Err(CommitterError::ArchitectMisconfigured(reason.clone()))
        }
    };
    // `id` passed `input::is_safe_id`, so it is a single path segment.
    let path = format!("/api/v1/value-models/{id}");
    let response = architect
        .send(Method::GET, &path, incoming, None)
        .await
        .map_err(|err| CommitterError::ArchitectUnavailable(err.to_string()))?;
    if response.status == StatusCode::NOT_FOUND {
        return Err(CommitterError::UnknownValueModel(id.to_owned()));
    }
    if !response.status.is_success() {
        return Err(CommitterError::ArchitectUnavailable(response.summary()));
    }
    serde_json::from_slice(&response.body).map_err(|err| {
        CommitterError::ArchitectUnavailable(format!("invalid value model JSON: {err}"))
    })
}

async fn record_sync(
    State(state): State<CommitterState>,
    body: Body,
) -> Result<Json<SyncRecord>, CommitterError> {
    let input = SyncInput::parse(&read_body(body).await?)?;
    let record = SyncRecord {
        value_model_id: input.value_model_id,
        version: input.version,
        name: input.name,
        received_at: rfc3339(state.clock.now()),
    };
    lock(&state.syncs).push(record.clone());
    Ok(Json(record))
}

async fn list_syncs(State(state): State<CommitterState>) -> Response {
    listing(lock(&state.syncs).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CUSTOMER_RETENTION_MODEL_ID, SEEDED_COMMITMENT_ID, SUPPLY_CHAIN_MODEL_ID};
    use crate::test_support::{call, closed_port, spawn, spawn_router, spawn_with};
    use serde_json::json;
    use std::time::Duration;

    fn commitment_body(model_id: &str) -> String {
        json!({
            "value_model_id": model_id,
            "owner": "finance-team",
            "target_date": "2026-03-31",
            "amount": 125000.5,
        })
        .to_string()
    }

    async fn committer_for(architect_url: String) -> crate::RunningMock {
        committer_with_timeout(architect_url, Duration::from_millis(500)).await
    }

    async fn committer_with_timeout(
        architect_url: String,
        timeout: Duration,
    ) -> crate::RunningMock {
        let config = MockConfig::default().with_architect_url(architect_url);
        let options = MockOptions {
            upstream_timeout: timeout,
            ..MockOptions::default()
        };
        spawn_with(MockKind::ValueCommitter, config, options).await
    }

    #[tokio::test]
    async fn creates_a_commitment_from_the_architect_model() {
        let architect = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let committer = committer_for(architect.base_url()).await;
        let body = commitment_body(SUPPLY_CHAIN_MODEL_ID);
        let created = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(
            created.json["value_model_name"],
            "Supply Chain Cost Reduction"
        );
        assert_eq!(created.json["value_model_version"], 1);
        assert_eq!(created.json["status"], "committed");
        assert_eq!(created.json["amount"], 125000.5);

        let id = created.json["id"].as_str().unwrap_or_default();
        let read = call(
            committer.addr,
            "GET",
            &format!("/api/v1/commitments/{id}"),
            &[],
            None,
        )
        .await;
        assert_eq!((read.status, &read.json), (200, &created.json));
        let listed = call(committer.addr, "GET", "/api/v1/commitments", &[], None).await;
        assert_eq!(listed.json["count"], 2);
    }

    #[tokio::test]
    async fn propagates_the_trace_context_to_the_architect() {
        // A fake architect that names the model after the traceparent it received.
        let fake = Router::new().route(
            "/api/v1/value-models/{id}",
            get(|headers: HeaderMap| async move {
                let seen = headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned();
                Json(json!({ "name": seen, "version": 7 }))
            }),
        );
        let architect = spawn_router(fake).await;
        let committer = committer_for(architect.base_url()).await;
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let body = commitment_body(CUSTOMER_RETENTION_MODEL_ID);
        let headers = [("traceparent", traceparent)];
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &headers,
            Some(&body),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.json["value_model_name"], traceparent);
        assert_eq!(reply.json["value_model_version"], 7);
    }

    #[tokio::test]
    async fn answers_422_when_the_architect_does_not_know_the_model() {
        let architect = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let committer = committer_for(architect.base_url()).await;
        let body = commitment_body("does-not-exist");
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(
            (reply.status, &reply.json),
            (
                422,
                &json!({"error": "value model does-not-exist not found"})
            )
        );
    }

    #[tokio::test]
    async fn answers_502_when_the_architect_is_down() {
        let committer = committer_for(format!("http://{}", closed_port())).await;
        let body = commitment_body(CUSTOMER_RETENTION_MODEL_ID);
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(reply.status, 502);
        let message = reply.json["error"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("value-architect unavailable: "),
            "{message}"
        );
        assert!(message.to_lowercase().contains("refused"), "{message}");
        let listed = call(committer.addr, "GET", "/api/v1/commitments", &[], None).await;
        assert_eq!(listed.json["count"], 1, "nothing is stored on failure");
    }

    #[tokio::test]
    async fn answers_502_once_a_running_architect_is_stopped() {
        let architect = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let committer = committer_for(architect.base_url()).await;
        let body = commitment_body(CUSTOMER_RETENTION_MODEL_ID);
        let before = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(before.status, 201, "{}", before.text);
        // The committer now holds a pooled keep-alive connection to the architect.
        architect.stop().await;
        let after = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(after.status, 502, "{}", after.text);
    }

    #[tokio::test]
    async fn answers_502_naming_the_status_when_the_mesh_denies_the_call() {
        // What a sidecar answers when an intention denies value-committer → value-architect.
        let denying = Router::new().fallback(|| async {
            (
                StatusCode::FORBIDDEN,
                [("content-type", "text/plain")],
                "RBAC: access denied",
            )
        });
        let sidecar = spawn_router(denying).await;
        let committer = committer_for(sidecar.base_url()).await;
        let body = commitment_body(CUSTOMER_RETENTION_MODEL_ID);
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(
            (reply.status, &reply.json),
            (
                502,
                &json!({"error": "value-architect unavailable: 403 Forbidden: RBAC: access denied"})
            )
        );
    }

    #[tokio::test]
    async fn answers_502_when_the_architect_fails_with_a_server_error() {
        let failing = Router::new().fallback(|| async { StatusCode::SERVICE_UNAVAILABLE });
        let architect = spawn_router(failing).await;
        let committer = committer_for(architect.base_url()).await;
        let body = commitment_body(CUSTOMER_RETENTION_MODEL_ID);
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(
            (reply.status, &reply.json),
            (
                502,
                &json!({"error": "value-architect unavailable: 503 Service Unavailable"})
            )
        );
    }

    #[tokio::test]
    async fn answers_502_when_the_architect_does_not_answer_in_time() {
        let hanging = Router::new().fallback(std::future::pending::<StatusCode>);
        let architect = spawn_router(hanging).await;
        let committer =
            committer_with_timeout(architect.base_url(), Duration::from_millis(100)).await;
        let body = commitment_body(CUSTOMER_RETENTION_MODEL_ID);
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(
            (reply.status, &reply.json),
            (
                502,
                &json!({"error": "value-architect unavailable: no response within 100ms"})
            )
        );
    }

    #[tokio::test]
    async fn validates_the_body_before_calling_the_architect() {
        let committer = committer_for(format!("http://{}", closed_port())).await;
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(r#"{"owner":"x"}"#),
        )
        .await;
        assert_eq!(
            (reply.status, &reply.json),
            (400, &json!({"error": "value_model_id is required"}))
        );
    }

    #[tokio::test]
    async fn answers_503_without_an_architect_url() {
        let committer = spawn(MockKind::ValueCommitter, MockConfig::default()).await;
        let body = commitment_body(CUSTOMER_RETENTION_MODEL_ID);
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(reply.status, 503);
    }

    /// A committer over a real architect, postgres and redis.
    async fn committer_with_stores(
        timeout: Duration,
    ) -> (
        crate::RunningMock,
        crate::RunningMock,
        crate::RunningMock,
        crate::RunningMock,
    ) {
        let architect = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let postgres = spawn(MockKind::Postgres, MockConfig::default()).await;
        let redis = spawn(MockKind::Redis, MockConfig::default()).await;
        let config = MockConfig::default()
            .with_architect_url(architect.base_url())
            .with_postgres_url(postgres.base_url())
            .with_redis_url(redis.base_url());
        let options = MockOptions {
            store_timeout: timeout,
            ..MockOptions::default()
        };
        let committer = spawn_with(MockKind::ValueCommitter, config, options).await;
        (committer, architect, postgres, redis)
    }

    #[tokio::test]
    async fn records_commitments_in_the_stores_and_reads_them_from_redis() {
        let (committer, _architect, _postgres, redis) =
            committer_with_stores(Duration::from_secs(2)).await;
        let body = commitment_body(SUPPLY_CHAIN_MODEL_ID);
        let created = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.json["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/api/v1/commitments/{id}");
        let read = call(committer.addr, "GET", &path, &[], None).await;
        assert_eq!((read.status, &read.json), (200, &created.json));
        // Reads go to redis: without it the same read fails, naming the store.
        redis.stop().await;
        let read = call(committer.addr, "GET", &path, &[], None).await;
        assert_eq!(read.status, 503, "{}", read.text);
        assert_eq!(
            read.json["error"],
            "commitment store unavailable: redis: connection refused"
        );
        // The listing needs no store.
        let listed = call(committer.addr, "GET", "/api/v1/commitments", &[], None).await;
        assert_eq!(listed.json["count"], 2);
    }

    #[tokio::test]
    async fn answers_503_and_keeps_nothing_when_a_store_is_gone() {
        for down in ["postgres", "redis"] {
            let (committer, _architect, postgres, redis) =
                committer_with_stores(Duration::from_secs(2)).await;
            if down == "postgres" {
                postgres.stop().await;
            } else {
                redis.stop().await;
            }
            let body = commitment_body(SUPPLY_CHAIN_MODEL_ID);
            let reply = call(
                committer.addr,
                "POST",
                "/api/v1/commitments",
                &[],
                Some(&body),
            )
            .await;
            assert_eq!(
                (reply.status, &reply.json),
                (
                    503,
                    &json!({"error": format!("commitment store unavailable: {down}: connection refused")})
                )
            );
            let listed = call(committer.addr, "GET", "/api/v1/commitments", &[], None).await;
            assert_eq!(listed.json["count"], 1, "{down}: nothing is kept");
        }
    }

    #[tokio::test]
    async fn answers_503_when_a_store_is_slower_than_the_store_timeout() {
        // A postgres that accepts and never echoes.
        let silent = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => panic!("{err}"),
        };
        let addr = silent
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                open.push(stream);
            }
        });
        let architect = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let config = MockConfig::default()
            .with_architect_url(architect.base_url())
            .with_postgres_url(format!("tcp://{addr}"));
        let options = MockOptions {
            store_timeout: Duration::from_millis(150),
            ..MockOptions::default()
        };
        let committer = spawn_with(MockKind::ValueCommitter, config, options).await;
        let body = commitment_body(SUPPLY_CHAIN_MODEL_ID);
        let reply = call(
            committer.addr,
            "POST",
            "/api/v1/commitments",
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(
            (reply.status, &reply.json),
            (
                503,
                &json!({"error": "commitment store unavailable: postgres: no reply within 150ms"})
            )
        );
        held.abort();
    }

    #[tokio::test]
    async fn serves_the_seeded_commitment() {
        let committer = spawn(MockKind::ValueCommitter, MockConfig::default()).await;
        let path = format!("/api/v1/commitments/{SEEDED_COMMITMENT_ID}");
        let reply = call(committer.addr, "GET", &path, &[], None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json["value_model_id"], CUSTOMER_RETENTION_MODEL_ID);
        let missing = call(committer.addr, "GET", "/api/v1/commitments/nope", &[], None).await;
        assert_eq!(missing.json, json!({"error": "commitment nope not found"}));
    }

    #[tokio::test]
    async fn records_and_lists_sync_pushes() {
        let committer = spawn(MockKind::ValueCommitter, MockConfig::default()).await;
        let body = r#"{"value_model_id":"m-1","version":4,"name":"Churn"}"#;
        let recorded = call(committer.addr, "POST", "/internal/v1/sync", &[], Some(body)).await;
        assert_eq!(recorded.status, 200);
        assert_eq!(recorded.json["version"], 4);
        let bad = call(
            committer.addr,
            "POST",
            "/internal/v1/sync",
            &[],
            Some(r#"{"name":"x"}"#),
        )
        .await;
        assert_eq!(bad.status, 400);
        let listed = call(committer.addr, "GET", "/internal/v1/sync", &[], None).await;
        assert_eq!(listed.json["count"], 1);
        assert_eq!(listed.json["items"][0]["value_model_id"], "m-1");
    }
}
