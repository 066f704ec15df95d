//! The one place where a pipeline rejection becomes an HTTP response (Kong's bodies and headers).
//!
//! Two body shapes, as in Kong (`shared/reference/kong.md` §0):
//! - `kong.response.exit` — compact JSON, used by the jwt plugin (`{"message":"Unauthorized"}`,
//!   or the claim-errors object itself);
//! - `kong.response.error` — the error template with a `request_id`, used by acl,
//!   rate-limiting, the router and the proxy (`{\n  "message":"…",\n  "request_id":"…"\n}`).

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use super::breaker::BreakerOpen;
use super::bulkhead::BulkheadFull;
use super::plugins::{acl::AclError, jwt::JwtError, rate_limit::RateLimited};
use crate::http::body::{full, Body};
use crate::outcome::AttemptOutcome;

/// Why the gateway answered a request itself.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("no route matched")]
    NoRoute,
    /// The matched route has no service: Kong answers after the plugins' access phase
    /// (`kong/init.lua` `Kong.access`: `kong.response.exit(503, { message = "no Service found
    /// with those values" })`; test "responds 503 if no service found",
    /// `spec/02-integration/05-proxy/02-router_spec.lua`).
    #[error("the matched route has no service")]
    NoService,
    #[error("jwt: {error}")]
    Jwt {
        error: JwtError,
        /// The plugin's `realm`, for `WWW-Authenticate`.
        realm: Option<String>,
    },
    #[error("acl: {0}")]
    Acl(#[from] AclError),
    #[error("rate limit: {0}")]
    RateLimited(#[from] RateLimited),
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the client did not send its request body in time")]
    BodyTimeout,
    #[error("reading the request body failed: {0}")]
    BadRequestBody(String),
    #[error("upstream {service} has no address")]
    NoUpstreamAddress { service: String },
    #[error("{0}")]
    BulkheadFull(#[from] BulkheadFull),
    #[error("{0}")]
    BreakerOpen(#[from] BreakerOpen),
    #[error("upstream attempt failed: {0:?}")]
    Upstream(AttemptOutcome),
}

impl Rejection {
    /// A stable label for metrics (`reason` label).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::NoRoute => "no_route",
            Rejection::NoService => "no_service",
            Rejection::Jwt { error, .. } => error.reason(),
            Rejection::Acl(e) => e.reason(),
            Rejection::RateLimited(e) => e.reason(),
            Rejection::BodyTooLarge { .. } => "body_too_large",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::BadRequestBody(_) => "bad_request_body",
            Rejection::NoUpstreamAddress { .. } => "no_upstream_address",
            Rejection::BulkheadFull(_) => "bulkhead_full",
            Rejection::BreakerOpen(_) => "circuit_open",
            Rejection::Upstream(outcome) if outcome.is_timeout() => "upstream_timeout",
            Rejection::Upstream(_) => "upstream_error",
        }
    }
}

/// Kong's messages for responses the proxy makes after an upstream failure
/// (`kong/error_handlers.lua`).
pub const MSG_BAD_GATEWAY: &str = "An invalid response was received from the upstream server";
pub const MSG_GATEWAY_TIMEOUT: &str = "The upstream server is timing out";
pub const MSG_UNAVAILABLE: &str = "The upstream server is currently unavailable";
pub const MSG_NO_ROUTE: &str = "no Route matched with those values";
pub const MSG_NO_SERVICE: &str = "no Service found with those values";

/// Turns a rejection into the response Kong would send.
pub fn respond(rejection: &Rejection, request_id: &str) -> Response<Body> {
    match rejection {
        Rejection::Jwt { error: e, realm } => {
            // The jwt plugin's 401s use `kong.response.exit`; its two 500s use the error template.
            let mut response = match e.message() {
                Some(message) if e.includes_request_id() => error(e.status(), &message, request_id),
                _ => exit(e.status(), &e.body()),
            };
            if let Some(value) = e
                .www_authenticate(realm.as_deref())
                .and_then(|v| HeaderValue::from_str(&v).ok())
            {
                response.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
            response
        }
        Rejection::Acl(e) => error(e.status(), e.message(), request_id),
        Rejection::RateLimited(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            error(status, e.message(), request_id)
        }
        Rejection::NoRoute => error(StatusCode::NOT_FOUND, MSG_NO_ROUTE, request_id),
        // `kong.response.exit`: compact, no request_id.
        Rejection::NoService => exit(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "message": MSG_NO_SERVICE }),
        ),
        Rejection::BodyTimeout => error(StatusCode::REQUEST_TIMEOUT, "Request timeout", request_id),
        Rejection::BodyTooLarge { .. } => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request size limit exceeded",
            request_id,
        ),
        Rejection::BadRequestBody(_) => error(StatusCode::BAD_REQUEST, "Bad request", request_id),
        Rejection::NoUpstreamAddress { .. } => {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, MSG_UNAVAILABLE, request_id);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Rejection::BulkheadFull(full) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "Too many concurrent requests to service {}: its bulkhead allows {}",
                full.service, full.limit
            ),
            request_id,
        ),
        Rejection::BreakerOpen(open) => fallback(open, request_id),
        Rejection::Upstream(outcome) if outcome.is_timeout() => {
            error(StatusCode::GATEWAY_TIMEOUT, MSG_GATEWAY_TIMEOUT, request_id)
        }
        Rejection::Upstream(_) => error(StatusCode::BAD_GATEWAY, MSG_BAD_GATEWAY, request_id),
    }
}

/// The circuit breaker's fallback (SPEC §5): the configured status and JSON body, or 503 and a
/// body naming the service; `Retry-After` is the whole seconds until a trial may pass (at least 1).
fn fallback(open: &BreakerOpen, request_id: &str) -> Response<Body> {
    let status =
        StatusCode::from_u16(open.fallback.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = match &open.fallback.body {
        Some(body) => exit(status, body),
        None => exit(
            status,
            &serde_json::json!({
                "message": format!(
                    "Service {} is unavailable: its circuit breaker is {}",
                    open.service, open.state
                ),
                "service": open.service,
                "state": open.state.as_str(),
                "request_id": request_id,
            }),
        ),
    };
    let seconds = open.retry_after.as_secs() + u64::from(open.retry_after.subsec_nanos() > 0);
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// `kong.response.exit(status, body)`: compact JSON.
pub fn exit(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    json_response(status, body.to_string())
}

/// `kong.response.error(status, message)`: Kong's JSON error template with the request id.
pub fn error(status: StatusCode, message: &str, request_id: &str) -> Response<Body> {
    let message = serde_json::Value::from(message).to_string();
    let request_id = serde_json::Value::from(request_id).to_string();
    json_response(
        status,
        format!("{{\n  \"message\":{message},\n  \"request_id\":{request_id}\n}}"),
    )
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(response: Response<Body>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn no_route_is_404_with_kongs_message_and_request_id() {
        let response = respond(&Rejection::NoRoute, "abc");
        assert_eq!(response.status(), 404);
        let body = body_json(response).await;
        assert_eq!(body["message"], MSG_NO_ROUTE);
        assert_eq!(body["request_id"], "abc");
    }

    #[tokio::test]
    async fn a_route_without_service_is_503_with_kongs_compact_body() {
        let response = respond(&Rejection::NoService, "abc");
        assert_eq!(response.status(), 503);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &bytes[..],
            br#"{"message":"no Service found with those values"}"#
        );
    }

    #[tokio::test]
    async fn timeouts_are_504_and_connection_failures_502() {
        let timeout = respond(&Rejection::Upstream(AttemptOutcome::ReadTimeout), "x");
        assert_eq!(timeout.status(), 504);
        assert_eq!(body_json(timeout).await["message"], MSG_GATEWAY_TIMEOUT);
        let refused = respond(
            &Rejection::Upstream(AttemptOutcome::ConnectFailed("refused".into())),
            "x",
        );
        assert_eq!(refused.status(), 502);
        assert_eq!(body_json(refused).await["message"], MSG_BAD_GATEWAY);
    }

    #[tokio::test]
    async fn the_fallback_names_the_service_and_rounds_retry_after_up() {
        let open = BreakerOpen {
            service: "value-architect".into(),
            state: super::super::breaker::BreakerState::Open,
            retry_after: std::time::Duration::from_millis(14_200),
            fallback: crate::config::gateway::CircuitBreakerConfig::default().fallback,
            admission: 1,
        };
        let response = respond(&Rejection::BreakerOpen(open), "r1");
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[RETRY_AFTER], "15");
        let body = body_json(response).await;
        assert_eq!(body["service"], "value-architect");
        assert_eq!(body["state"], "OPEN");
    }
}
