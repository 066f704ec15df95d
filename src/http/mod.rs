//! The HTTP ground floor every part of Gauntlet stands on: the one body type, the accept loop
//! and servers (the gateway proxy, the APIs, the upstream listeners and the tests' mocks run on
//! it), the client the steps and tools send with, and Kong's path normalisation.
//!
//! - [`body`] — the boxed body type handed to hyper, and constructors.
//! - [`server`] — `serve` (a handler function), `serve_router` (an axum router), `accept_loop`,
//!   `bind_loopback`; dropping a [`server::ServerHandle`] closes the port and its connections.
//! - [`client`] — a buffered HTTP/1.1 client with exact header control, for steps and tools.
//! - [`path`] — Kong's request-path normalisation (routing, ACL decisions, route validation).
//!
//! Nothing here knows about the gateway, the mesh or a stack.

pub mod body;
pub mod client;
pub mod path;
pub mod server;
