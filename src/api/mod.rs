//! The HTTP APIs over a running stack, each shaped like the API of the product it stands in for,
//! each on its own loopback port, none on the request path.
//!
//! ```text
//!   gauntlet chaos, curl ──► control        Gauntlet's own: process and HTTP faults, journals, the clock
//!   curl, steps ───────────► admin          Kong's admin API (read-only): entities, breakers, /metrics
//!   curl, steps ───────────► catalog        Consul's catalog: services, health, intentions (editable), CA roots
//!   curl, steps ───────────► sidecar_admin  one sidecar's Envoy admin: /ready, /stats/prometheus, /certs
//! ```
//!
//! The stack ([`crate::stack`]) serves the admin, catalog and sidecar admin APIs; `gauntlet up`
//! serves the control API over the stack it started. Each router reads the live state of the
//! part it shows (gateway, mesh, services) and never holds a stack alive: dropping the
//! [`crate::http::server::ServerHandle`] closes the port and its connections.

pub mod access;
pub mod admin;
pub mod catalog;
pub mod console;
pub mod control;
pub mod sidecar_admin;
pub mod toxiproxy;

/// Calls an axum router in process, for the API modules' tests.
#[cfg(test)]
pub(crate) async fn call_router(
    router: axum::Router,
    request: http::Request<axum::body::Body>,
) -> (http::StatusCode, String, String) {
    use http_body_util::BodyExt;
    use hyper::service::Service as _;
    let service = hyper_util::service::TowerToHyperService::new(router);
    let response = service.call(request).await.expect("the router answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    )
}
