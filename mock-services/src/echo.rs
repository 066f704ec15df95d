//! The request echo: any method on any path whose last segment is `_echo` is answered by the mock
//! itself with what it received, so a scenario can assert what reached the upstream (consumer
//! headers set by the gateway, a propagated `traceparent`, a stripped client header).
//!
//! ```text
//! request --> echo layer --last segment `_echo`?--yes--> 200 {"service","method","path","query","headers","body"}
//!                                               \--no---> service routes
//! ```
//!
//! It sits outside the routes, so `/api/v1/value-models/_echo` never reaches the `{id}` handler
//! and every gateway route prefix (including `/internal/v1`) has an echo below it.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use crate::config::MockKind;
use crate::http::{error_response, read_body};

/// The last path segment that selects the echo.
pub const ECHO_SEGMENT: &str = "_echo";

/// The JSON body of an echo response.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct EchoReport {
    /// `value-architect` or `value-committer`.
    pub service: String,
    pub method: String,
    /// The path as received (percent-encoding kept).
    pub path: String,
    /// The raw query string, `null` when the URL had none.
    pub query: Option<String>,
    /// Lower-case header name → its value, or an array of values when it was sent more than once.
    /// Non-UTF-8 bytes are replaced with U+FFFD.
    pub headers: BTreeMap<String, Value>,
    /// The request body as UTF-8 (lossy).
    pub body: String,
}

/// Whether `path` selects the echo.
pub(crate) fn is_echo_path(path: &str) -> bool {
    path.rsplit('/').next() == Some(ECHO_SEGMENT)
}

/// Middleware: answers echo paths, passes everything else on.
pub(crate) async fn echo_layer(
    State(kind): State<MockKind>,
    request: Request,
    next: Next,
) -> Response {
    if !is_echo_path(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(err) => return error_response(err.status(), err.to_string()),
    };
    let report = EchoReport {
        service: kind.name().to_owned(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: header_map(&parts.headers),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    (StatusCode::OK, Json(report)).into_response()
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|value| Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let entry = match <[Value; 1]>::try_from(values) {
            Ok([single]) => single,
            Err(many) => Value::Array(many),
        };
        map.insert(name.as_str().to_owned(), entry);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn selects_only_paths_whose_last_segment_is_echo() {
        assert!(is_echo_path("/_echo"));
        assert!(is_echo_path("/api/v1/value-models/_echo"));
        assert!(is_echo_path("/internal/v1/_echo"));
        assert!(!is_echo_path("/api/v1/_echo/x"));
        assert!(!is_echo_path("/api/v1/value-models/x_echo"));
        assert!(!is_echo_path("/"));
    }

    #[test]
    fn lists_repeated_headers_as_arrays_and_single_ones_as_strings() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-consumer-username",
            HeaderValue::from_static("admin-user"),
        );
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        let map = header_map(&headers);
        assert_eq!(
            map.get("x-consumer-username"),
            Some(&Value::from("admin-user"))
        );
        assert_eq!(map.get("x-multi"), Some(&Value::from(vec!["a", "b"])));
    }

    #[tokio::test]
    async fn echoes_what_reached_the_service_under_a_route_prefix() {
        use crate::test_support::{call, spawn};
        use crate::{MockConfig, MockKind};
        let mock = spawn(MockKind::ValueArchitect, MockConfig::default()).await;
        let headers = [
            ("x-consumer-username", "admin-user"),
            ("x-consumer-groups", "admin"),
        ];
        let reply = call(
            mock.addr,
            "PATCH",
            "/api/v1/value-models/_echo?a=1&b=2",
            &headers,
            Some(r#"{"probe":true}"#),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let report: Option<EchoReport> = serde_json::from_value(reply.json).ok();
        let Some(report) = report else {
            panic!("not an echo report: {}", reply.text)
        };
        assert_eq!(report.service, "value-architect");
        assert_eq!(report.method, "PATCH");
        assert_eq!(report.path, "/api/v1/value-models/_echo");
        assert_eq!(report.query.as_deref(), Some("a=1&b=2"));
        assert_eq!(report.body, r#"{"probe":true}"#);
        assert_eq!(
            report.headers.get("x-consumer-username"),
            Some(&Value::from("admin-user"))
        );
        assert_eq!(
            report.headers.get("x-consumer-groups"),
            Some(&Value::from("admin"))
        );
    }

    #[tokio::test]
    async fn echoes_on_the_committer_internal_prefix_with_a_null_query() {
        use crate::test_support::{call, spawn};
        use crate::{MockConfig, MockKind};
        let mock = spawn(MockKind::ValueCommitter, MockConfig::default()).await;
        let reply = call(mock.addr, "DELETE", "/internal/v1/_echo", &[], None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json["service"], "value-committer");
        assert_eq!(reply.json["query"], Value::Null);
        assert_eq!(reply.json["body"], "");
    }
}
