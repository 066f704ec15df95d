//! A service's sidecar: for now its inbound stage ([`inbound`]) with the journal ([`journal`]);
//! the mesh adds mTLS, SPIFFE identities and intentions in front of it (SPEC §6, §7).
//!
//! ```text
//!   gateway / other services ──► Inbound (public port) ──► local service (app port)
//! ```

pub mod inbound;
pub mod journal;

pub use inbound::Inbound;
pub use journal::{Journal, JournalEntry};
