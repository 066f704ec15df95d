//! The live consoles of `gauntlet up` (SPEC §14, issue 19): two server-rendered pages with small
//! hand-written scripts, embedded in the binary, that poll documented JSON endpoints of the APIs
//! they sit on. Nothing is loaded from the network; every control is a call of the control API.
//!
//! ```text
//!   catalog port  /ui/, /ui/dc1/services ──► topology.html + topology.js ─┐ poll 500 ms
//!                 GET /v1/internal/ui/topology ◄──────────────────────────┘ (this module)
//!   control port  /ui/ ──────────────────────► chaos.html + chaos.js ─────┐ poll 500 ms
//!                 GET /, /breakers, /traffic, /proxies, /clock ◄──────────┤ (control, toxiproxy)
//!                 POST/DELETE the control API's own endpoints ◄───────────┘ (the controls)
//! ```
//!
//! The pages sit behind the same token guard as the API around them ([`super::access`]): a
//! page opened with `?token=` keeps the token in the tab's `sessionStorage` and sends it as a
//! header (`Authorization: Bearer`, or Consul's `X-Consul-Token` on the catalog) on every
//! call; the HTML itself carries no secret. Consumer tokens are never shown.

pub mod snapshot;
pub mod topology;
pub mod traffic;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const CSS: &str = include_str!("assets/console.css");
const COMMON_JS: &str = include_str!("assets/common.js");
const TOPOLOGY_HTML: &str = include_str!("assets/topology.html");
const TOPOLOGY_JS: &str = include_str!("assets/topology.js");
const CHAOS_HTML: &str = include_str!("assets/chaos.html");
const CHAOS_JS: &str = include_str!("assets/chaos.js");

/// Which console a port serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Services, health, the mesh graph and intentions (catalog port).
    Topology,
    /// Breakers, traffic, faults and toxics with controls (control port).
    Chaos,
}

/// The pages and assets of one console under `/ui/`. Pages are open (they hold no data); the
/// JSON they poll is behind the API's token.
pub fn pages(console: Console) -> Router {
    let page = match console {
        Console::Topology => TOPOLOGY_HTML,
        Console::Chaos => CHAOS_HTML,
    };
    let script = match console {
        Console::Topology => TOPOLOGY_JS,
        Console::Chaos => CHAOS_JS,
    };
    let html = move || async move { asset("text/html; charset=utf-8", page) };
    let router = Router::new()
        .route("/ui", get(html))
        .route("/ui/", get(html))
        .route(
            "/ui/console.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/ui/common.js",
            get(|| async { asset("text/javascript; charset=utf-8", COMMON_JS) }),
        )
        .route(
            "/ui/console.js",
            get(move || async move { asset("text/javascript; charset=utf-8", script) }),
        );
    match console {
        // Consul's own UI paths, as the platform's runbook links them.
        Console::Topology => router
            .route("/ui/{dc}", get(html))
            .route("/ui/{dc}/services", get(html))
            .route("/ui/{dc}/intentions", get(html)),
        Console::Chaos => router,
    }
}

/// An embedded asset; a strict CSP keeps every page on its own origin.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
