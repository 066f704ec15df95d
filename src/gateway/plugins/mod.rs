//! The Kong plugins the gateway emulates, in Kong's priority order (jwt 1450 → acl 950 →
//! rate-limiting 910). Each module is pure policy: it reads the [`RequestContext`], decides, and
//! returns its own small error type; `gateway::rescue` turns errors into HTTP responses.
//!
//! [`RequestContext`]: crate::gateway::context::RequestContext

pub mod acl;
pub mod jwt;
pub mod rate_limit;
