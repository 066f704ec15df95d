//! The stack's catalog API (SPEC §6): a Consul-shaped subset on its own loopback port, the one
//! place where a running stack's mesh is read and its intentions are changed.
//!
//! ```text
//!   GET  /v1/agent/services                 services + their `<name>-sidecar-proxy` (connect-proxy)
//!   GET  /v1/catalog/services               name → tags
//!   GET  /v1/health/service/{name}[?passing] [{Node, Service, Checks}]   ◄── health callback
//!   GET  /v1/connect/intentions             ┐
//!   GET  /v1/connect/intentions/check       │
//!   GET|PUT|DELETE /v1/connect/intentions/exact ├─► IntentionStore (snapshot swap; sidecars read
//!                                           ┘    it on every new connection and request)
//!   GET  /v1/connect/ca/roots[?pem=true]    the stack's MeshCa
//! ```
//!
//! Shapes follow Consul's API docs (mesh.md §1, §2, §4). Intention errors carry the store's
//! status with a `text/plain` reason as the body, as Consul's `HTTPError` does; a missing
//! `source`/`destination` is 400 `required query parameter 'source' not set`; an absent exact
//! intention is 404 `Intention not found`; PUT and DELETE answer `true`. Writes are stamped
//! with the stack clock's wall time.
//!
//! Deviations, all deliberate: `/v1/catalog/services` lists only the stack's services and
//! their sidecars (no `consul` service); a root's `ID` is its SHA-256 fingerprint in Consul's
//! colon-hex form (Consul uses SHA-1, which is not among the crate's dependencies).

mod agent;
mod connect;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::clock::StackClock;
use crate::mesh::identity::MeshCa;
use crate::mesh::intentions::IntentionStore;
use crate::protocol::Protocol;

/// Is a service up? Called with a service name at each health read.
pub type HealthCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the catalog API shows and edits.
#[derive(Clone)]
pub struct CatalogState {
    /// Consul's datacenter, `dc1` (it is also in every SPIFFE ID).
    pub datacenter: String,
    /// The node name every service is registered on.
    pub node: String,
    pub services: Vec<CatalogService>,
    pub health: HealthCheck,
    pub store: Arc<IntentionStore>,
    pub ca: Arc<MeshCa>,
    pub clock: StackClock,
}

impl fmt::Debug for CatalogState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogState")
            .field("datacenter", &self.datacenter)
            .field("node", &self.node)
            .field("services", &self.services)
            .field("store", &self.store)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// One service of the stack and its sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogService {
    pub name: String,
    pub protocol: Protocol,
    /// Where the service itself listens (the sidecar's local service).
    pub address: SocketAddr,
    /// The sidecar's public (mTLS) listener: the `Port` of `<name>-sidecar-proxy`.
    pub sidecar: SocketAddr,
    /// The sidecar's upstream listeners.
    pub upstreams: Vec<CatalogUpstream>,
}

/// An upstream listener of a sidecar: plain, loopback, forwarding to `destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogUpstream {
    pub destination: String,
    pub local_bind_port: u16,
}

impl CatalogService {
    /// `<name>-sidecar-proxy`, Consul's default sidecar ID and name.
    pub fn sidecar_name(&self) -> String {
        format!("{}-sidecar-proxy", self.name)
    }
}

/// The catalog router.
pub fn router(state: CatalogState) -> Router {
    Router::new()
        .route("/v1/agent/services", get(agent::agent_services))
        .route("/v1/catalog/services", get(agent::catalog_services))
        .route("/v1/health/service/{name}", get(agent::health_service))
        .route("/v1/connect/intentions", get(connect::list))
        .route("/v1/connect/intentions/check", get(connect::check))
        .route(
            "/v1/connect/intentions/match",
            get(connect::match_intentions),
        )
        .route(
            "/v1/connect/intentions/exact",
            get(connect::get_exact)
                .put(connect::put_exact)
                .delete(connect::delete_exact),
        )
        .route("/v1/connect/ca/roots", get(connect::ca_roots))
        .fallback(not_found)
        .with_state(Arc::new(state))
}

type Shared = axum::extract::State<Arc<CatalogState>>;
type QueryMap = axum::extract::Query<BTreeMap<String, String>>;

/// Consul's error answer: the status and the reason as plain text.
fn text_error(status: u16, reason: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        reason.into(),
    )
        .into_response()
}

/// Go's `http.NotFound`, which Consul serves for unknown paths.
async fn not_found() -> Response {
    text_error(404, "404 page not found\n")
}

/// RFC 3339 in UTC, whole seconds, as Go formats certificate times.
fn rfc3339_seconds(t: std::time::SystemTime) -> String {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::from(t);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}
