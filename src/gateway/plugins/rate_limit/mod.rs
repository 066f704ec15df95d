//! Kong's `rate-limiting` plugin (policy `local`): fixed, calendar-aligned windows counted per
//! plugin instance and identifier, with Kong's client headers and 429.
//!
//! ```text
//!   jwt → acl → rate-limiting (910) ──allowed──► bulkhead → breaker → upstream
//!                   │  identifier(limit_by)          (counted in every period, headers set)
//!                   │  RateLimiter::decide ── one lock: read usage, decide, count
//!                   │  headers::apply ──► ctx.response_headers (on 200 and on 429)
//!                   └─ rejected ──► RateLimited ──► gateway::rescue (error_code, error_message)
//! ```
//!
//! Faithful to `kong/plugins/rate-limiting/handler.lua` (`shared/reference/kong.md` §3):
//! the identifier and its fallbacks, `remaining = limit - usage_before`, rejection when any
//! period has `remaining <= 0`, rejected requests not counted, and the header arithmetic
//! ([`headers`]).
//!
//! Deliberate differences, better than Kong:
//! - **No overshoot.** Kong reads usage and increments later in a timer, so concurrent requests
//!   can pass beyond the limit (Kong issues #5311, #2629). Here reading, deciding and counting
//!   every period happen under one lock, so exactly `limit` requests pass per window.
//! - **Counters are keyed by plugin instance id** rather than by the plugin's route/service
//!   scope ids, so two instances with the same route/service scope (a global one and a
//!   consumer-scoped override) never share a counter.
//! - `RateLimit-Reset` for month and year windows counts to the real calendar end of the window
//!   (Kong uses a nominal 30-day month and 365-day year); see [`window::Window::reset_after`].
//!
//! Windows come from the stack's wall time (`StackClock::wall()`), so clock jumps move them.
//! Expired windows are pruned at most every few seconds of stack time, so memory follows the
//! number of identifiers active in the current windows.

pub mod headers;
pub mod window;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use uuid::Uuid;

use crate::config::gateway::{GatewayConfig, LimitBy, RateLimitConfig, RatePeriod};
use crate::gateway::context::RequestContext;
use window::{unix_seconds, Window};

/// How often (stack seconds) expired windows are swept out.
const SWEEP_EVERY_SECS: u64 = 5;

/// The 429 (or `error_code`) answer of the rate-limiting plugin. Its client headers are
/// already in `ctx.response_headers`; the rescue layer adds only the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit of {limit} requests per {} reached", .period.key())]
pub struct RateLimited {
    status: u16,
    message: String,
    /// The period that blocked (the longest one, when several did).
    pub period: RatePeriod,
    /// Its configured limit.
    pub limit: u64,
}

impl RateLimited {
    /// `config.error_code` (Kong's default 429).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// `config.error_message` (Kong's default `API rate limit exceeded`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A stable label for metrics (`reason` label).
    pub fn reason(&self) -> &'static str {
        "rate_limited"
    }
}

/// One configured period as seen by one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodUsage {
    pub period: RatePeriod,
    pub limit: u64,
    /// Requests counted in the current window before this request.
    pub used: u64,
    /// The current window.
    pub window: Window,
}

impl PeriodUsage {
    /// Kong's `remaining = limit - usage` (before this request), floored at 0.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Whether this period rejects the request (`remaining <= 0`).
    pub fn blocks(&self) -> bool {
        self.used >= self.limit
    }
}

/// The outcome of one [`RateLimiter::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// True when no period blocked; the request was then counted in every period.
    pub allowed: bool,
    /// Every configured period, shortest first, with its usage *before* this request.
    pub periods: Vec<PeriodUsage>,
    /// The decision time, in whole Unix seconds.
    pub now: u64,
}

/// Rate-limit counters of one stack, shared by all requests (and all rate-limiting plugin
/// instances: each instance has its own counters, keyed by its id).
#[derive(Default)]
pub struct RateLimiter {
    state: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    /// plugin id → identifier → one slot per period.
    by_plugin: HashMap<Uuid, HashMap<String, Vec<Slot>>>,
    /// Stack time (Unix seconds) of the next sweep of expired windows.
    next_sweep: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    window: Window,
    count: u64,
}

// Identifiers may be header values (an API key with `limit_by: header`): never print them.
impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("tracked", &self.tracked())
            .finish()
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the plugin instance `plugin_id` with `config` on a request: finds the identifier,
    /// decides, counts the request when allowed, and (unless `hide_client_headers`) writes the
    /// client headers into `ctx.response_headers`. `now` is the stack's wall time.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] when a configured period's quota is used up; the request was not
    /// counted.
    pub fn check(
        &self,
        plugin_id: Uuid,
        config: &RateLimitConfig,
        ctx: &mut RequestContext,
        gateway: &GatewayConfig,
        now: SystemTime,
    ) -> Result<(), RateLimited> {
        let identifier = identifier(config, gateway, ctx);
        let decision = self.decide(plugin_id, config, &identifier, now);
        if !config.hide_client_headers {
            headers::apply(&decision, &mut ctx.response_headers);
        }
        if decision.allowed {
            if !decision.periods.is_empty() {
                use std::hash::{Hash, Hasher};
                let mut digest = std::collections::hash_map::DefaultHasher::new();
                identifier.hash(&mut digest);
                ctx.rate_counted = Some(crate::gateway::context::RateCounted {
                    plugin: plugin_id,
                    identifier: digest.finish(),
                    periods: decision.periods.clone(),
                });
            }
            return Ok(());
        }
        let blocking = decision
            .periods
            .iter()
            .filter(|p| p.blocks())
            .max_by_key(|p| p.period);
        Err(RateLimited {
            status: config.error_code,
            message: config.error_message.clone(),
            period: blocking.map_or(RatePeriod::Second, |p| p.period),
            limit: blocking.map_or(0, |p| p.limit),
        })
    }

    /// Decides for an already-resolved `identifier` and, when allowed, counts the request in
    /// every configured period: one atomic step, so concurrent requests never overshoot.
    pub fn decide(
        &self,
        plugin_id: Uuid,
        config: &RateLimitConfig,
        identifier: &str,
        now: SystemTime,
    ) -> Decision {
        let now = unix_seconds(now);
        let mut counters = self.lock();
        counters.sweep_if_due(now);
        let periods = counters.usage(plugin_id, config, identifier, now);
        let allowed = !periods.iter().any(PeriodUsage::blocks);
        if allowed && !periods.is_empty() {
            counters.count(plugin_id, identifier, &periods);
        }
        Decision {
            allowed,
            periods,
            now,
        }
    }

    /// Current usage of `identifier` under plugin `plugin_id`, per configured period, without
    /// counting anything (for the admin API and steps).
    pub fn usage(
        &self,
        plugin_id: Uuid,
        config: &RateLimitConfig,
        identifier: &str,
        now: SystemTime,
    ) -> Vec<PeriodUsage> {
        self.lock()
            .usage(plugin_id, config, identifier, unix_seconds(now))
    }

    /// Number of (plugin, identifier) pairs holding counters.
    pub fn tracked(&self) -> usize {
        self.lock().by_plugin.values().map(HashMap::len).sum()
    }

    /// Forgets every counter.
    pub fn clear(&self) {
        self.lock().by_plugin.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // The counters are plain numbers, valid even if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Counters {
    fn usage(
        &self,
        plugin_id: Uuid,
        config: &RateLimitConfig,
        identifier: &str,
        now: u64,
    ) -> Vec<PeriodUsage> {
        let slots = self
            .by_plugin
            .get(&plugin_id)
            .and_then(|ids| ids.get(identifier))
            .map(Vec::as_slice)
            .unwrap_or_default();
        config
            .limits
            .iter()
            .map(|&(period, limit)| {
                let window = Window::containing(period, now);
                let used = slots
                    .iter()
                    .find(|s| s.window == window)
                    .map_or(0, |s| s.count);
                PeriodUsage {
                    period,
                    limit,
                    used,
                    window,
                }
            })
            .collect()
    }

    fn count(&mut self, plugin_id: Uuid, identifier: &str, periods: &[PeriodUsage]) {
        let ids = self.by_plugin.entry(plugin_id).or_default();
        let slots = match ids.get_mut(identifier) {
            Some(slots) => slots,
            None => ids.entry(identifier.to_owned()).or_default(),
        };
        for usage in periods {
            match slots.iter_mut().find(|s| s.window.period == usage.period) {
                Some(slot) if slot.window == usage.window => slot.count += 1,
                Some(slot) => {
                    *slot = Slot {
                        window: usage.window,
                        count: 1,
                    }
                }
                None => slots.push(Slot {
                    window: usage.window,
                    count: 1,
                }),
            }
        }
    }

    /// Drops windows that ended, and identifiers left without any.
    fn sweep_if_due(&mut self, now: u64) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_EVERY_SECS;
        self.by_plugin.retain(|_, ids| {
            ids.retain(|_, slots| {
                slots.retain(|s| s.window.end > now);
                !slots.is_empty()
            });
            !ids.is_empty()
        });
    }
}

/// Kong's `get_identifier`: who a request is counted for under `config.limit_by`.
///
/// - `consumer`: consumer id, else credential id, else client IP;
/// - `credential`: credential id, else client IP;
/// - `ip`: the client IP (`ctx.client_ip`, already resolved from trusted forwarding headers);
/// - `service`: the matched service's id, else client IP;
/// - `header`: the first value of `header_name`, else client IP;
/// - `path`: the request path if it equals `config.path`, else client IP.
pub fn identifier(
    config: &RateLimitConfig,
    gateway: &GatewayConfig,
    ctx: &RequestContext,
) -> String {
    let credential = || ctx.credential.as_ref().map(|c| c.id.to_string());
    let found = match config.limit_by {
        LimitBy::Consumer => ctx
            .consumer
            .and_then(|i| gateway.consumers.get(i))
            .map(|c| c.id.to_string())
            .or_else(credential),
        LimitBy::Credential => credential(),
        LimitBy::Ip => None,
        LimitBy::Service => ctx
            .service()
            .and_then(|s| gateway.services.get(s))
            .map(|s| s.id.to_string()),
        LimitBy::Header => config
            .header_name
            .as_deref()
            .and_then(|name| ctx.headers.get(name))
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        LimitBy::Path => config
            .path
            .as_deref()
            .filter(|p| *p == ctx.uri.path())
            .map(str::to_owned),
    };
    found.unwrap_or_else(|| ctx.client_ip.to_string())
}
