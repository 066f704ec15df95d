//! HTTP plumbing shared by both services: the `{"error": "..."}` body every failure uses, bounded
//! body reading, `/health`, and the JSON 404/405 fallbacks.

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use crate::config::MockKind;

/// Largest request body the mocks read.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON error response: `status` with body `{"error": message}`.
pub(crate) fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(json!({ "error": message }))).into_response()
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("request body exceeds {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("cannot read request body: {0}")]
    Read(String),
}

impl BodyError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads a whole request body, at most [`MAX_BODY_BYTES`].
pub(crate) async fn read_body(body: Body) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|err| {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                BodyError::TooLarge
            } else {
                BodyError::Read(err.to_string())
            }
        })
}

/// `GET /health` → `{"status":"UP","service":<name>}`.
pub(crate) fn health(kind: MockKind) -> Response {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
        service: &'static str,
    }
    Json(Health {
        status: "UP",
        service: kind.name(),
    })
    .into_response()
}

/// A collection response, `{"items":[...],"count":N}` (keys in that order).
pub(crate) fn listing<T: Serialize>(items: Vec<T>) -> Response {
    #[derive(Serialize)]
    struct Listing<T> {
        items: Vec<T>,
        count: usize,
    }
    let count = items.len();
    Json(Listing { items, count }).into_response()
}

/// Router fallback: 404 naming the method and path.
pub(crate) async fn no_route(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

/// Method-not-allowed fallback: 405 naming the method and path.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed on {}", uri.path()),
    )
}

/// The router of a tcp mock (postgres, redis): it has no http routes, so every request is a 404
/// saying so.
pub(crate) fn tcp_only(kind: MockKind) -> axum::Router {
    let message = format!("{} is a tcp mock and serves no http routes", kind.name());
    axum::Router::new()
        .fallback(move || async move { error_response(StatusCode::NOT_FOUND, message.clone()) })
}
