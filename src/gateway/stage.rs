//! One stage shape for the gateway pipeline, and the pipeline's assembly ([`STAGES`]).
//!
//! ```text
//!   route ─► STAGES[0].access ─► STAGES[1].access ─► … ─► upstream (retries, timeouts)
//!   (404)          │ Rejection          │                       │
//!                  └────────────────────┴──► rescue ─┐          │
//!   client ◄── respond() of every stage that ran ◄───┴──────────┘
//! ```
//!
//! A stage is a Kong plugin (or one of Gauntlet's own, the bulkhead and the circuit breaker)
//! seen through Kong's phases:
//! - [`Stage::access`] decides on the request before it goes upstream (Kong's `access`
//!   phase): it may end it with a [`Rejection`], and records what it decided on the
//!   [`RequestContext`] (the consumer, headers for the upstream or the client, a bulkhead place
//!   or breaker permit the request holds until its response is delivered).
//! - [`Stage::respond`] adjusts the client response's headers (Kong's `header_filter` phase),
//!   on every response to a request whose access phase reached the stage: proxied, rejected by
//!   this stage, or rejected by a later one.
//!
//! Stages run in Kong's priority order (higher first, `PRIORITY` in each Kong handler), which
//! is the order of [`STAGES`]; a test checks the order. The policy itself lives in the stage's
//! module (`plugins::jwt`, `bulkhead`, `breaker`, …) and takes typed parameters; a stage only
//! resolves which plugin instance applies ([`Gateway::plugin`]) and calls it.
//!
//! # Adding a plugin
//! 1. Config: a [`PluginKind`] variant and a `PluginConfig` variant with its validated
//!    configuration (`config/gateway.rs`), read by `config/kong/plugins.rs`.
//! 2. Policy: a module under `gateway/plugins/` that reads the [`RequestContext`] and returns
//!    its own small error; a [`Rejection`] variant for it and its response in `rescue.rs`.
//! 3. Stage: a unit struct here implementing [`Stage`] with the plugin's Kong `PRIORITY`, and
//!    one line in [`STAGES`] at its place in the priority order, with a comment on why it sits
//!    there. No other stage changes. A stage that answers a request itself (cors' preflight)
//!    returns a [`Rejection`] too, so `rescue` stays the one place that makes responses; state
//!    its `respond` needs from the request goes on the [`RequestContext`] in `access` (the
//!    request's headers go upstream before the response comes back).

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use super::breaker::{BreakerState, Permit};
use super::context::RequestContext;
use super::plugins::{acl, cors, ip_restriction, jwt, key_auth, size_limit};
use super::rescue::Rejection;
use super::Gateway;
use crate::config::gateway::{PluginConfig, PluginKind};

/// One step of the gateway pipeline (see the module docs).
pub(crate) trait Stage: Sync {
    /// The plugin's name, as in `kong.yml`.
    fn name(&self) -> &'static str;

    /// Kong's `PRIORITY` for the plugin: stages run from the highest down.
    fn priority(&self) -> i32;

    /// Kong's `access` phase: decide on the request, or end it.
    ///
    /// # Errors
    /// The [`Rejection`] the gateway answers with instead of calling the service.
    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection>;

    /// Kong's `header_filter` phase: the client response's headers, before they are sent.
    fn respond(&self, _gateway: &Gateway, _ctx: &RequestContext, _headers: &mut HeaderMap) {}
}

/// The gateway's stages in the order they run: Kong's priority order, highest first.
pub(crate) const STAGES: [&dyn Stage; 11] = [
    // correlation-id (100001): first, so every later stage and every answer (refusals
    // included) carries the request's id.
    &CorrelationId,
    // cors (2000): before authentication, since a browser's preflight carries no credentials;
    // it answers the preflight itself.
    &Cors,
    // jwt (1450): identifies the consumer that acl and rate-limiting key on.
    &Jwt,
    // key-auth (1250): the second authentication plugin (logical AND with jwt unless
    // `anonymous` makes it OR).
    &KeyAuth,
    // ip-restriction (990): after authentication (a consumer-scoped instance applies), before
    // acl.
    &IpRestriction,
    // request-size-limiting (951): before acl and rate limiting, so a refused body consumes no
    // quota; a body without Content-Length is measured when the gateway buffers it.
    &RequestSizeLimiting,
    // acl (950): needs the consumer an auth plugin found.
    &Acl,
    // rate-limiting (910): after auth, so 401/403 consume no quota; resolved after the consumer
    // is known, since a consumer-scoped instance overrides the others (Kong's precedence).
    &RateLimiting,
    // prometheus (13): nothing to decide; the gateway's metrics count every answer.
    &Prometheus,
    // bulkhead (Gauntlet's): after every check that can refuse a request for free, so only
    // requests that would really go upstream take a place; refused at once, never queued, and
    // before the breaker, so a full bulkhead is never a breaker failure.
    &Bulkhead,
    // circuit-breaker (Gauntlet's): the last gate before the service, so everything it counts is
    // a real upstream attempt; while OPEN it answers the fallback without calling anyone.
    &CircuitBreaker,
];

/// The response header carrying the breaker's state after this request (SPEC §5).
pub const BREAKER_STATE: &str = "x-circuit-breaker-state";

struct Jwt;

impl Stage for Jwt {
    fn name(&self) -> &'static str {
        PluginKind::Jwt.name()
    }

    fn priority(&self) -> i32 {
        1450
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(plugin) = gateway.plugin_instance(PluginKind::Jwt, ctx) else {
            return Ok(());
        };
        let PluginConfig::Jwt(config) = &plugin.config else {
            return Ok(());
        };
        let now = gateway.clock.unix_seconds();
        let cache = jwt::TokenCache {
            tokens: &gateway.jwt_tokens,
            plugin: plugin.id,
        };
        match jwt::apply_cached(config, &gateway.config.consumers, ctx, now, Some(cache)) {
            Ok(_) => Ok(()),
            Err(error) => Err(Rejection::Jwt {
                error,
                realm: config.realm.clone(),
            }),
        }
    }
}

struct CorrelationId;

impl Stage for CorrelationId {
    fn name(&self) -> &'static str {
        PluginKind::CorrelationId.name()
    }

    fn priority(&self) -> i32 {
        100_001
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(PluginConfig::CorrelationId(config)) =
            gateway.plugin(PluginKind::CorrelationId, ctx)
        else {
            return Ok(());
        };
        let Ok(name) = HeaderName::from_bytes(config.header_name.as_bytes()) else {
            return Ok(());
        };
        let sent = ctx
            .headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let id = match sent {
            Some(id) => id,
            None => {
                let id = gateway.ids.generate(config.generator, gateway.tracker());
                if let Ok(value) = HeaderValue::from_str(&id) {
                    ctx.set_upstream_header(name, value);
                }
                id
            }
        };
        ctx.correlation_id = Some(id);
        Ok(())
    }

    fn respond(&self, gateway: &Gateway, ctx: &RequestContext, headers: &mut HeaderMap) {
        let Some(PluginConfig::CorrelationId(config)) =
            gateway.plugin(PluginKind::CorrelationId, ctx)
        else {
            return;
        };
        if !config.echo_downstream {
            return;
        }
        let Ok(name) = HeaderName::from_bytes(config.header_name.as_bytes()) else {
            return;
        };
        let id = ctx
            .correlation_id
            .clone()
            .unwrap_or_else(|| gateway.ids.generate(config.generator, gateway.tracker()));
        if let Ok(value) = HeaderValue::from_str(&id) {
            headers.insert(name, value);
        }
    }
}

struct Cors;

impl Stage for Cors {
    fn name(&self) -> &'static str {
        PluginKind::Cors.name()
    }

    fn priority(&self) -> i32 {
        2000
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(PluginConfig::Cors(config)) = gateway.plugin(PluginKind::Cors, ctx) else {
            return Ok(());
        };
        ctx.cors_request = Some(cors::CorsRequest::of(&ctx.method, &ctx.headers));
        match cors::preflight(config, &ctx.method, &ctx.headers) {
            Some(headers) => Err(Rejection::Preflight(headers)),
            None => Ok(()),
        }
    }

    fn respond(&self, gateway: &Gateway, ctx: &RequestContext, headers: &mut HeaderMap) {
        let config = gateway.plugin(PluginKind::Cors, ctx);
        if let (Some(PluginConfig::Cors(config)), Some(request)) = (config, &ctx.cors_request) {
            cors::respond(config, request, headers);
        }
    }
}

struct KeyAuth;

impl Stage for KeyAuth {
    fn name(&self) -> &'static str {
        PluginKind::KeyAuth.name()
    }

    fn priority(&self) -> i32 {
        1250
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(PluginConfig::KeyAuth(config)) = gateway.plugin(PluginKind::KeyAuth, ctx) else {
            return Ok(());
        };
        key_auth::apply(config, &gateway.config.consumers, ctx).map_err(|error| {
            Rejection::KeyAuth {
                error,
                realm: config.realm.clone(),
            }
        })
    }
}

struct IpRestriction;

impl Stage for IpRestriction {
    fn name(&self) -> &'static str {
        PluginKind::IpRestriction.name()
    }

    fn priority(&self) -> i32 {
        990
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(PluginConfig::IpRestriction(config)) =
            gateway.plugin(PluginKind::IpRestriction, ctx)
        else {
            return Ok(());
        };
        Ok(ip_restriction::check(config, ctx.client_ip)?)
    }
}

struct RequestSizeLimiting;

impl Stage for RequestSizeLimiting {
    fn name(&self) -> &'static str {
        PluginKind::RequestSizeLimiting.name()
    }

    fn priority(&self) -> i32 {
        951
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(PluginConfig::RequestSizeLimiting(config)) =
            gateway.plugin(PluginKind::RequestSizeLimiting, ctx)
        else {
            return Ok(());
        };
        ctx.body_limit = size_limit::check(config, &ctx.headers)?;
        Ok(())
    }
}

struct Prometheus;

impl Stage for Prometheus {
    fn name(&self) -> &'static str {
        PluginKind::Prometheus.name()
    }

    fn priority(&self) -> i32 {
        13
    }

    fn access(&self, _gateway: &Gateway, _ctx: &mut RequestContext) -> Result<(), Rejection> {
        Ok(())
    }
}

struct Acl;

impl Stage for Acl {
    fn name(&self) -> &'static str {
        PluginKind::Acl.name()
    }

    fn priority(&self) -> i32 {
        950
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(PluginConfig::Acl(config)) = gateway.plugin(PluginKind::Acl, ctx) else {
            return Ok(());
        };
        let consumer = ctx.consumer.and_then(|c| gateway.config.consumers.get(c));
        Ok(acl::check(config, ctx, consumer)?)
    }
}

struct RateLimiting;

impl Stage for RateLimiting {
    fn name(&self) -> &'static str {
        PluginKind::RateLimiting.name()
    }

    fn priority(&self) -> i32 {
        910
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(plugin) = gateway.plugin_instance(PluginKind::RateLimiting, ctx) else {
            return Ok(());
        };
        let PluginConfig::RateLimiting(config) = &plugin.config else {
            return Ok(());
        };
        let now = gateway.clock.wall();
        Ok(gateway
            .rate_limiter
            .check(plugin.id, config, ctx, &gateway.config, now)?)
    }
}

struct Bulkhead;

impl Stage for Bulkhead {
    fn name(&self) -> &'static str {
        PluginKind::Bulkhead.name()
    }

    fn priority(&self) -> i32 {
        2
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(service) = ctx.service() else {
            return Ok(());
        };
        ctx.bulkhead_slot = gateway.bulkheads.enter(service)?;
        Ok(())
    }
}

struct CircuitBreaker;

impl Stage for CircuitBreaker {
    fn name(&self) -> &'static str {
        PluginKind::CircuitBreaker.name()
    }

    fn priority(&self) -> i32 {
        1
    }

    fn access(&self, gateway: &Gateway, ctx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(breaker) = ctx.service().and_then(|s| gateway.breakers.get(s)) else {
            return Ok(());
        };
        match breaker.admit() {
            Ok(permit) => {
                ctx.breaker_admission = Some(permit.admission());
                ctx.breaker_permit = Some(permit);
                Ok(())
            }
            Err(open) => {
                ctx.breaker_admission = Some(open.admission);
                ctx.breaker_state = Some(open.state);
                Err(Rejection::BreakerOpen(open))
            }
        }
    }

    /// Every answer to a request that reached the breaker says its state (SPEC §5): as the
    /// request left it (the fallback's state, or the state after its last upstream attempt), or
    /// the current state when it made no attempt.
    fn respond(&self, gateway: &Gateway, ctx: &RequestContext, headers: &mut HeaderMap) {
        let state: Option<BreakerState> = ctx
            .breaker_state
            .or_else(|| ctx.breaker_permit.as_ref().map(Permit::state));
        if let Some(state) = state {
            headers.insert(
                HeaderName::from_static(BREAKER_STATE),
                HeaderValue::from_static(state.as_str()),
            );
            // The ledger keeps what the answer said, for INV-1 (SPEC §11).
            let breaker = ctx.service().and_then(|s| gateway.breakers.get(s));
            if let (Some(breaker), Some(admission)) = (breaker, ctx.breaker_admission) {
                breaker.note_answer(admission, state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_run_in_kongs_priority_order() {
        let priorities: Vec<i32> = STAGES.iter().map(|s| s.priority()).collect();
        assert!(priorities.windows(2).all(|w| w[0] > w[1]), "{priorities:?}");
    }

    #[test]
    fn there_is_one_stage_per_emulated_plugin() {
        let mut names: Vec<&str> = STAGES.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        let mut kinds: Vec<&str> = PluginKind::ALL.iter().map(|k| k.name()).collect();
        kinds.sort_unstable();
        assert_eq!(names, kinds);
    }
}
