//! A role started afresh inside its running container, between two scenarios of `gauntlet run
//! --target docker`: the host asks every container of a stack (`POST /restart` with the next
//! scenario's seed), each drops its role's whole state (clock, breakers, rate-limit windows,
//! faults, toxics, journal, traces, intentions) and starts the role again on the same ports.
//! That takes milliseconds where a new stack of containers takes seconds.
//!
//! | Request | Effect |
//! |---|---|
//! | `GET /generation` | how many times the role started in this container (1 at first) |
//! | `POST /restart` `{"seed": N}` | 202; the role starts again with fault seed N |

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

static RESTART: tokio::sync::Notify = tokio::sync::Notify::const_new();
static NEXT_SEED: AtomicU64 = AtomicU64::new(0);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Counts a start of the role (before it binds anything, so an answer of the new count comes
/// from the new start).
pub fn starting() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Completes when the host asks for a restart, with the seed to start with.
pub async fn requested() -> u64 {
    RESTART.notified().await;
    NEXT_SEED.load(Ordering::SeqCst)
}

/// `GET /generation` and `POST /restart`, merged into every role's control API.
pub fn router() -> Router {
    Router::new()
        .route(
            "/generation",
            get(|| async { Json(json!({ "generation": GENERATION.load(Ordering::SeqCst) })) }),
        )
        .route("/restart", post(restart))
}

async fn restart(body: Bytes) -> (StatusCode, Json<Value>) {
    let seed = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["seed"].as_u64());
    match seed {
        Some(seed) => {
            NEXT_SEED.store(seed, Ordering::SeqCst);
            RESTART.notify_one();
            (StatusCode::ACCEPTED, Json(json!({ "restarting": true })))
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "message": "expected {\"seed\": N}" })),
        ),
    }
}

/// A task that ends with the role's state (a spawned task otherwise outlives a restart).
#[derive(Debug)]
pub struct TaskGuard(pub tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
