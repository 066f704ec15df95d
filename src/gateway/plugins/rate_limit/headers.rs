//! The client headers of Kong's rate-limiting plugin (`kong/plugins/rate-limiting/handler.lua`
//! `access`), computed from one [`Decision`].
//!
//! - per configured period: `X-RateLimit-Limit-<Period>` and `X-RateLimit-Remaining-<Period>`;
//! - for the most restrictive period (lowest remaining; a tie goes to the longer window):
//!   `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until that window ends,
//!   at least 1);
//! - on a rejection also `Retry-After`, equal to `RateLimit-Reset`.
//!
//! "Remaining" is what is left *after* this request, floored at 0. An allowed request is counted
//! in every period, so each shows `remaining - 1`. A rejected request is not counted: the
//! periods that block show 0 and the others show their remaining quota unchanged.

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{Decision, PeriodUsage};
use crate::config::gateway::RatePeriod;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `X-RateLimit-Limit-<Period>`.
pub fn limit_header(period: RatePeriod) -> HeaderName {
    HeaderName::from_static(match period {
        RatePeriod::Second => "x-ratelimit-limit-second",
        RatePeriod::Minute => "x-ratelimit-limit-minute",
        RatePeriod::Hour => "x-ratelimit-limit-hour",
        RatePeriod::Day => "x-ratelimit-limit-day",
        RatePeriod::Month => "x-ratelimit-limit-month",
        RatePeriod::Year => "x-ratelimit-limit-year",
    })
}

/// `X-RateLimit-Remaining-<Period>`.
pub fn remaining_header(period: RatePeriod) -> HeaderName {
    HeaderName::from_static(match period {
        RatePeriod::Second => "x-ratelimit-remaining-second",
        RatePeriod::Minute => "x-ratelimit-remaining-minute",
        RatePeriod::Hour => "x-ratelimit-remaining-hour",
        RatePeriod::Day => "x-ratelimit-remaining-day",
        RatePeriod::Month => "x-ratelimit-remaining-month",
        RatePeriod::Year => "x-ratelimit-remaining-year",
    })
}

/// The period the `RateLimit-*` headers describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MostRestrictive {
    pub period: RatePeriod,
    pub limit: u64,
    /// Remaining after this request (as in `X-RateLimit-Remaining-<Period>`).
    pub remaining: u64,
    /// Seconds until the period's window ends (`RateLimit-Reset`, `Retry-After`).
    pub reset: u64,
}

/// What `X-RateLimit-Remaining-<Period>` shows for `usage` after this request.
pub fn shown_remaining(decision: &Decision, usage: &PeriodUsage) -> u64 {
    if decision.allowed {
        usage.remaining().saturating_sub(1)
    } else if usage.blocks() {
        0
    } else {
        usage.remaining()
    }
}

/// The period with the lowest remaining quota; on a tie, the longer window.
pub fn most_restrictive(decision: &Decision) -> Option<MostRestrictive> {
    decision
        .periods
        .iter()
        .map(|usage| MostRestrictive {
            period: usage.period,
            limit: usage.limit,
            remaining: shown_remaining(decision, usage),
            reset: usage.window.reset_after(decision.now),
        })
        .min_by(|a, b| {
            a.remaining
                .cmp(&b.remaining)
                .then_with(|| b.period.cmp(&a.period))
        })
}

/// Writes the client headers for `decision` into `headers` (replacing earlier values).
pub fn apply(decision: &Decision, headers: &mut HeaderMap) {
    for usage in &decision.periods {
        headers.insert(limit_header(usage.period), number(usage.limit));
        headers.insert(
            remaining_header(usage.period),
            number(shown_remaining(decision, usage)),
        );
    }
    if let Some(top) = most_restrictive(decision) {
        headers.insert(RATELIMIT_LIMIT, number(top.limit));
        headers.insert(RATELIMIT_REMAINING, number(top.remaining));
        headers.insert(RATELIMIT_RESET, number(top.reset));
        if !decision.allowed {
            headers.insert(RETRY_AFTER, number(top.reset));
        }
    }
}

fn number(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}
