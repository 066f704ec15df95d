//! The service mesh (SPEC §6, clauses MESH-1..6): identities, mTLS and intentions, the
//! Consul-Connect-style layer between services.
//!
//! ```text
//!   caller (service or gateway)
//!     │ plain HTTP/TCP, loopback
//!     ▼
//!   caller's sidecar: upstream listener ─────────────── tls::upstream_client_config
//!     │ presents the caller's leaf (identity::LeafCert)   verifies the chain to the stack CA,
//!     │ mTLS, SNI <svc>.default.dc1.internal.<td>         then the URI SAN == expected SpiffeId
//!     ▼                                                   (MESH-4: wrong identity → refused)
//!   destination's sidecar: public listener ──────────── tls::sidecar_server_config
//!     │ client certificate required, chain to stack CA    (MESH-2: none / foreign CA → handshake fails)
//!     │ source = tls::peer_spiffe_id(..).service_name()
//!     │ intentions::Intentions::decide(source, destination, request)   (MESH-3, MESH-5, MESH-6)
//!     │   denied http → 403 text/plain `RBAC: access denied`; denied tcp → close on first byte
//!     │ inbound faults, journal (chaos layer)
//!     ▼
//!   service (mock, command or external)
//! ```
//!
//! - [`spiffe`]: the `SpiffeId` type (parse, format, accessors).
//! - [`identity`]: the per-stack CA and the services' leaf certificates (rcgen).
//! - [`tls`]: rustls configurations for both listeners; certificate validity reads the stack
//!   clock.
//! - [`intentions`]: the pure decision function over the entries [`crate::config::intentions`]
//!   loads, and the mutable store behind the catalog API.
//! - [`stats`]: a sidecar's counters (intention decisions, handshake failures, upstream
//!   connections) and their Prometheus exposition (OBS-1).
//! - [`runtime`]: one running stack's mesh: CA, leaves, live intentions, TLS configs.
//! - [`probe`]: a mesh caller with any identity (or none), for conformance checks.
//!
//! The APIs over a running mesh — the Consul-shaped catalog and each sidecar's Envoy-shaped admin
//! API — are in [`crate::api`].

pub mod bundle;
pub mod identity;
pub mod intentions;
pub mod probe;
pub mod runtime;
pub mod spiffe;
pub mod stats;
pub mod tls;

pub use identity::{LeafCert, MeshCa};
pub use spiffe::SpiffeId;
