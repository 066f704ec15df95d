//! Mock **value-architect** and **value-committer**: the two ValueVerse services Gauntlet puts
//! behind its gateway and mesh. Small but real: state in memory, JSON in and out, and one
//! service-to-service call each way so that mesh denials and outages surface as service errors.
//! Beside them, two **tcp** mocks for the data stores the mesh also guards: **postgres** and
//! **redis** (see [Tcp mocks](#tcp-mocks)).
//!
//! ```text
//!   client ─► gateway ─► value-architect            value-committer ◄─ gateway ◄─ client
//!                         ▲  │ POST {id}/publish      │   ▲
//!                         │  └── committer_url ──────►│   │ POST /internal/v1/sync
//!                         └───── architect_url ◄──────┘   │ POST /api/v1/commitments
//!                  GET /api/v1/value-models/{id}  (through the committer's mesh upstream listener)
//! ```
//!
//! # Endpoints
//!
//! Every error body is `{"error": "<message>"}`; unknown paths are 404, wrong methods 405.
//!
//! **value-architect**
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /health` | 200 `{"status":"UP","service":"value-architect"}` |
//! | `GET /api/v1/value-models` | 200 `{"items":[model...],"count":N}` (creation order) |
//! | `GET /api/v1/value-models/{id}` | 200 model, 404 `value model <id> not found` |
//! | `POST /api/v1/value-models` | 201 model (+ `Location`); 400 `invalid JSON: ...`, `name is required`, ... |
//! | `PUT /api/v1/value-models/{id}` | 200 model with `version` + 1 (replaces name, description, drivers); 400; 404 |
//! | `DELETE /api/v1/value-models/{id}` | 204; 404 |
//! | `POST /api/v1/value-models/{id}/publish` | pushes `{"value_model_id","version","name"}` to value-committer's `/internal/v1/sync`; 200 payload + `committer_status`; 404; 503 `value-committer upstream not configured` (or `misconfigured: ...`); 502 `value-committer unavailable: <detail>` |
//!
//! A model is [`ValueModel`]: `id` (UUID), `name`, `description`, `drivers` (`[{name, unit,
//! baseline, target}]`), `version`, `created_at`, `updated_at` (RFC 3339). A request body needs a
//! non-empty `name`; `description` and `drivers` are optional.
//!
//! **value-committer**
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /health` | 200 `{"status":"UP","service":"value-committer"}` |
//! | `GET /api/v1/commitments` | 200 `{"items":[commitment...],"count":N}` |
//! | `GET /api/v1/commitments/{id}` | 200 commitment, 404 `commitment <id> not found`; with redis configured it is read from redis first (`GET commitment:<id>`, a miss falls back to the committer's copy) and a failing redis → 503 `commitment store unavailable: redis: <detail>` |
//! | `POST /api/v1/commitments` | body `{"value_model_id","owner","target_date":"YYYY-MM-DD","amount"}` (amount > 0); 400 on a bad body, then `GET {architect_url}/api/v1/value-models/{id}`: 201 commitment; architect 404 → 422 `value model <id> not found`; any other architect status, no connection or no answer within [`MockOptions::upstream_timeout`] → 502 `value-architect unavailable: <detail>` (e.g. `403 Forbidden: RBAC: access denied`); no (or an unusable) `architect_url` → 503; with data stores ([`MockConfig::postgres_url`], [`MockConfig::redis_url`]) the commitment is then written to postgres (`INSERT ...;`, waiting for the echo) and redis (`SET commitment:<id> <json>`): a store that refuses, closes, answers wrongly or not within [`MockOptions::store_timeout`] → 503 `commitment store unavailable: <store>: <detail>`, nothing kept |
//! | `POST /internal/v1/sync` | records `{"value_model_id","version","name"}`; 200 [`SyncRecord`]; 400 |
//! | `GET /internal/v1/sync` | 200 `{"items":[record...],"count":N}` |
//!
//! A commitment is [`Commitment`]: `id`, `value_model_id`, `value_model_name`,
//! `value_model_version`, `owner`, `target_date`, `amount`, `status` (`committed`), `created_at`.
//! Outbound calls carry `traceparent`, `tracestate` and `x-request-id` from the request being
//! served.
//!
//! # Seed data
//!
//! A fresh value-architect holds three models, listed in this order:
//! [`CUSTOMER_RETENTION_MODEL_ID`] (version 3), [`SUPPLY_CHAIN_MODEL_ID`] (version 1) and
//! [`CLOUD_MIGRATION_MODEL_ID`] (version 2). A fresh value-committer holds one commitment,
//! [`SEEDED_COMMITMENT_ID`], on the customer-retention model. State lives as long as the
//! [`RunningMock`]; a restarted mock starts from the seed again.
//!
//! # Echo
//!
//! Both services answer **any method on any path whose last segment is `_echo`** (for example
//! `/api/v1/value-models/_echo`, `/api/v1/commitments/_echo`, `/internal/v1/_echo`, `/_echo`)
//! with 200 and an [`EchoReport`]:
//!
//! ```json
//! {"service":"value-architect","method":"GET","path":"/api/v1/value-models/_echo",
//!  "query":"a=1","headers":{"x-consumer-username":"admin-user","x-multi":["a","b"]},"body":""}
//! ```
//!
//! `headers` maps lower-case names to the value, or to an array when a header came more than once;
//! `query` is `null` without a query string. It lets a scenario assert what reached the upstream
//! (the gateway's `X-Consumer-*` headers, a propagated `traceparent`), under every gateway route
//! prefix. Responses carry no extra headers.
//!
//! # Tcp mocks
//!
//! [`MockKind::protocol`] is [`MockProtocol::Tcp`] for these two; in `stack.yml` they are
//! `protocol: tcp`. They take no [`MockConfig`] and make no outbound calls; value-committer is their client when
//! its store URLs are set.
//!
//! | Kind | Behaviour |
//! |---|---|
//! | `postgres` | echo: every byte received is written back; the connection stays open until the peer closes it (no Postgres wire protocol) |
//! | `redis` | RESP, inline (`PING\r\n`) or arrays (`*1\r\n$4\r\nPING\r\n`), pipelining answered in order: `PING` → `+PONG`, `PING x` / `ECHO x` → bulk string `x`, `SET k v` → `+OK` (kept while the mock runs, shared by its connections), `GET k` → bulk string or `$-1`, `QUIT` → `+OK` then close, anything else → `-ERR unknown command '<name>'`; a malformed request → `-ERR Protocol error: ...` then close |
//!
//! [`RunningMock`] works the same for them ([`RunningMock::base_url`] is `tcp://<addr>`):
//! `stop` closes the port and resets connections, `shutdown` closes the port, answers what each
//! connection has fully received and closes it (within [`SHUTDOWN_GRACE`]). [`router`] of a tcp
//! kind answers every http request 404 `<name> is a tcp mock and serves no http routes`.
//!
//! # Running
//!
//! In process, on a listener the caller bound:
//!
//! ```
//! use mock_services::{start, MockConfig, MockKind, CUSTOMER_RETENTION_MODEL_ID};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let architect = start(MockKind::ValueArchitect, listener, MockConfig::default()).await;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = MockConfig::default().with_architect_url(architect.base_url());
//! let committer = start(MockKind::ValueCommitter, listener, config).await;
//! // ... POST a commitment on CUSTOMER_RETENTION_MODEL_ID to committer.base_url() ...
//! # let _ = CUSTOMER_RETENTION_MODEL_ID;
//! architect.stop().await; // port closed: committer now answers 502
//! committer.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Standalone: `mock-service value-architect --port 9001`, `mock-service value-committer --port
//! 9002 --architect-url http://127.0.0.1:9001`, `mock-service postgres --port 9003`,
//! `mock-service redis --port 9004` (loopback only; prints `listening on <addr>`).

#![forbid(unsafe_code)]

mod architect;
mod committer;
mod config;
mod echo;
mod http;
mod input;
mod model;
mod server;
mod store;
mod tcp;
#[cfg(test)]
mod test_support;
mod upstream;

pub use config::{
    MockConfig, MockError, MockKind, MockOptions, MockProtocol, WallClock, DEFAULT_STORE_TIMEOUT,
    DEFAULT_UPSTREAM_TIMEOUT,
};
pub use echo::{EchoReport, ECHO_SEGMENT};
pub use model::{
    Commitment, Driver, SyncRecord, ValueModel, CLOUD_MIGRATION_MODEL_ID,
    CUSTOMER_RETENTION_MODEL_ID, SEEDED_COMMITMENT_ID, SEEDED_VALUE_MODEL_IDS,
    SUPPLY_CHAIN_MODEL_ID,
};
pub use server::{router, router_with, start, start_with, RunningMock, SHUTDOWN_GRACE};
