//! Chaos: the faults Gauntlet injects (SPEC §7).
//!
//! - [`fault`] — HTTP fault rules and the seeded choices they make; applied by each service's
//!   inbound stage ([`crate::sidecar::inbound`]).
//! - Process faults (stop, start, kill) live with the service they act on
//!   ([`crate::service::ServiceHandle`]).
//! - The control API that injects both into a running stack is [`crate::api::control`].

pub mod fault;
