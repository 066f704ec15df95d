//! The optional API token of `gauntlet up` (`--api-token`, `GAUNTLET_API_TOKEN`): when set, the
//! control, admin and catalog APIs answer only requests that carry it. Off by default — the APIs
//! bind to loopback — and meant for shared machines (CI runners) where any local process could
//! otherwise open the mesh with one PUT or stop a service.
//!
//! ```text
//!   request ─► Guard (one layer around the whole router) ─┬─ token matches ─► the API's routes
//!                                                         └─ otherwise ─────► 401 / 403, nothing runs
//! ```
//!
//! Each API reads the token the way the product it stands in for does: the catalog takes
//! Consul's `X-Consul-Token` header (or `Authorization: Bearer`) and refuses like Consul's ACLs
//! (403 `Permission denied` without a token, 403 `ACL not found` with an unknown one); the
//! control and admin APIs take `Authorization: Bearer <token>` and answer 401
//! `{"message":"Unauthorized"}` with `WWW-Authenticate: Bearer`. The comparison takes the same
//! time whatever the presented token, and the token is never logged.

use std::fmt;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderMap, HeaderValue, StatusCode};

/// The environment variable `gauntlet up` and every client of these APIs read the token from.
pub const TOKEN_ENV: &str = "GAUNTLET_API_TOKEN";

/// The shared secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(Arc<str>);

impl ApiToken {
    /// A token; `None` for an empty or blank one (the APIs then stay open).
    pub fn new(token: &str) -> Option<ApiToken> {
        let token = token.trim();
        (!token.is_empty()).then(|| ApiToken(Arc::from(token)))
    }

    /// `--api-token` when given, else `GAUNTLET_API_TOKEN`.
    pub fn from_arg_or_env(arg: Option<&str>) -> Option<ApiToken> {
        match arg {
            Some(token) => ApiToken::new(token),
            None => std::env::var(TOKEN_ENV)
                .ok()
                .and_then(|t| ApiToken::new(&t)),
        }
    }

    /// The secret, for a client to send.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut diff = expected.len() ^ presented.len();
        for (i, e) in expected.iter().enumerate() {
            diff |= usize::from(e ^ presented.get(i).copied().unwrap_or(!e));
        }
        diff == 0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// How an API reads and refuses the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer`; 401 `{"message":"Unauthorized"}` (control, admin).
    Bearer,
    /// Consul: `X-Consul-Token` or `Authorization: Bearer`; 403 as Consul's ACLs (catalog).
    Consul,
}

/// `router` behind the token, or unchanged when there is none.
pub fn guard(router: Router, token: Option<&ApiToken>, scheme: Scheme) -> Router {
    let Some(token) = token.cloned() else {
        return router;
    };
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let token = token.clone();
            async move {
                match presented(request.headers(), scheme) {
                    Some(p) if token.matches(p) => next.run(request).await,
                    p => refuse(scheme, p.is_some()),
                }
            }
        },
    ))
}

/// The token a request carries, by the scheme's header.
fn presented(headers: &HeaderMap, scheme: Scheme) -> Option<&[u8]> {
    let bearer = || {
        headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .and_then(|v| {
                v.strip_prefix(b"Bearer ")
                    .or_else(|| v.strip_prefix(b"bearer "))
            })
    };
    match scheme {
        Scheme::Bearer => bearer(),
        Scheme::Consul => headers
            .get("x-consul-token")
            .map(HeaderValue::as_bytes)
            .or_else(bearer),
    }
}

fn refuse(scheme: Scheme, had_token: bool) -> Response {
    match scheme {
        Scheme::Bearer => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"message": "Unauthorized"})),
        )
            .into_response(),
        Scheme::Consul => (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            if had_token {
                "ACL not found"
            } else {
                "Permission denied"
            },
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;

    fn api(scheme: Scheme) -> Router {
        let token = ApiToken::new("s3cret");
        guard(
            Router::new().route("/x", get(|| async { "ok" })),
            token.as_ref(),
            scheme,
        )
    }

    async fn call(scheme: Scheme, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut request = http::Request::builder().uri("/x");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        crate::api::call_router(api(scheme), request.body(Body::empty()).expect("request")).await
    }

    #[tokio::test]
    async fn bearer_apis_answer_only_the_token() {
        let ok = call(Scheme::Bearer, &[("authorization", "Bearer s3cret")]).await;
        assert_eq!((ok.0, ok.2.as_str()), (StatusCode::OK, "ok"));
        for headers in [
            &[][..],
            &[("authorization", "Bearer s3cre")][..],
            &[("authorization", "Bearer s3cret2")][..],
            &[("authorization", "Basic s3cret")][..],
            &[("x-consul-token", "s3cret")][..],
        ] {
            let (status, content_type, body) = call(Scheme::Bearer, headers).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
            assert_eq!(content_type, "application/json");
            assert_eq!(body, r#"{"message":"Unauthorized"}"#);
        }
    }

    #[tokio::test]
    async fn the_catalog_refuses_like_consuls_acls() {
        for headers in [
            &[("x-consul-token", "s3cret")][..],
            &[("authorization", "Bearer s3cret")][..],
        ] {
            assert_eq!(call(Scheme::Consul, headers).await.0, StatusCode::OK);
        }
        let none = call(Scheme::Consul, &[]).await;
        assert_eq!(
            (none.0, none.2.as_str()),
            (StatusCode::FORBIDDEN, "Permission denied")
        );
        let wrong = call(Scheme::Consul, &[("x-consul-token", "nope")]).await;
        assert_eq!(
            (wrong.0, wrong.2.as_str()),
            (StatusCode::FORBIDDEN, "ACL not found")
        );
    }

    #[tokio::test]
    async fn without_a_token_the_api_is_open() {
        let open = guard(
            Router::new().route("/x", get(|| async { "ok" })),
            None,
            Scheme::Bearer,
        );
        let request = http::Request::builder()
            .uri("/x")
            .body(Body::empty())
            .expect("request");
        assert_eq!(
            crate::api::call_router(open, request).await.0,
            StatusCode::OK
        );
        assert!(ApiToken::new("  ").is_none());
        assert_eq!(
            format!("{:?}", ApiToken::new("s3cret")),
            "Some(ApiToken(<redacted>))"
        );
    }
}
