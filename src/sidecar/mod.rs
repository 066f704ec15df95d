//! A service's sidecar (SPEC §6, §7): its public listener ([`inbound`]: mTLS, intentions, the
//! journal ([`journal`]) and the faults, then the local service) and its upstream listeners
//! ([`outbound`]: plain in, mTLS out to another service's public listener).
//!
//! ```text
//!   gateway ─────────────────────────mTLS──┐
//!   service A ──► A's Outbound ──────mTLS──┴─► B's Inbound (public port) ──► service B (app port)
//! ```

pub mod inbound;
mod io;
pub mod journal;
pub mod outbound;

pub use inbound::{Inbound, MeshGuard};
pub use journal::{Journal, JournalEntry};
pub use outbound::{Outbound, UpstreamTarget};
