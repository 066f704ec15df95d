//! The one outcome classification (SPEC §5): how an upstream attempt ended and whether it is a
//! failure (a connection error, a timeout, or a status in `failure_statuses`) or retryable, for
//! the gateway's retries, circuit breaker and metrics; and what a client counts as a success, for
//! the load statistics and the load steps (2xx/3xx, or the statuses `--expect` names).

use http::Method;

/// How one upstream attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The upstream answered with this status.
    Response(u16),
    /// The TCP connection could not be made (refused, reset during connect).
    ConnectFailed(String),
    /// `connect_timeout` elapsed on the stack clock.
    ConnectTimeout,
    /// The connection broke after the request was (possibly) sent.
    SendFailed(String),
    /// `read_timeout` elapsed waiting for the response.
    ReadTimeout,
    /// The upstream answered with something that is not HTTP (nginx's `invalid_header`).
    InvalidResponse(String),
}

impl AttemptOutcome {
    /// Kong/nginx `proxy_next_upstream error timeout`: connection errors and timeouts are retried,
    /// HTTP responses never; a non-idempotent request is not retried once it was sent.
    pub fn is_retryable(&self, method: &Method) -> bool {
        match self {
            AttemptOutcome::Response(_) => false,
            AttemptOutcome::ConnectFailed(_) | AttemptOutcome::ConnectTimeout => true,
            AttemptOutcome::SendFailed(_) | AttemptOutcome::ReadTimeout => is_idempotent(method),
            // Kong's default `proxy_next_upstream error timeout` leaves out `invalid_header`.
            AttemptOutcome::InvalidResponse(_) => false,
        }
    }

    /// Whether the attempt counts as a failure for a breaker with these `failure_statuses`.
    pub fn is_failure(&self, failure_statuses: &[u16]) -> bool {
        match self {
            AttemptOutcome::Response(status) => failure_statuses.contains(status),
            _ => true,
        }
    }

    /// A short phrase for logs and breaker transitions (`status 503`, `connection refused ...`).
    pub fn describe(&self) -> String {
        match self {
            AttemptOutcome::Response(status) => format!("status {status}"),
            AttemptOutcome::ConnectFailed(e) => format!("connection failed ({e})"),
            AttemptOutcome::ConnectTimeout => "connect timeout".into(),
            AttemptOutcome::SendFailed(e) => format!("connection broken ({e})"),
            AttemptOutcome::ReadTimeout => "read timeout".into(),
            AttemptOutcome::InvalidResponse(e) => format!("invalid response ({e})"),
        }
    }

    /// A stable label for metrics (`outcome` label).
    pub fn label(&self) -> &'static str {
        match self {
            AttemptOutcome::Response(_) => "response",
            AttemptOutcome::ConnectFailed(_) => "connect_failed",
            AttemptOutcome::ConnectTimeout => "connect_timeout",
            AttemptOutcome::SendFailed(_) => "send_failed",
            AttemptOutcome::ReadTimeout => "read_timeout",
            AttemptOutcome::InvalidResponse(_) => "invalid_response",
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            AttemptOutcome::ConnectTimeout | AttemptOutcome::ReadTimeout
        )
    }
}

/// What a client (the load generator, load steps) counts as a success by default: a 2xx or 3xx
/// response, as k6 does (`expected_response`). A 401 or 429 is the gateway refusing the load, so
/// a run of them is not a successful run; a transport error (no response) is never a success.
pub fn is_client_success(status: u16) -> bool {
    (200..400).contains(&status)
}

/// One accepted status: `401`, a class `4xx`, or a range `200-299`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub from: u16,
    pub to: u16,
}

impl std::str::FromStr for StatusRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("`{text}` is not a status: use 401, a class like 2xx, or a range like 200-299")
        };
        let status = |s: &str| -> Result<u16, String> {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|n| (100..=599).contains(n))
                .ok_or_else(bad)
        };
        let text_lower = text.trim().to_ascii_lowercase();
        if let Some(class) = text_lower.strip_suffix("xx") {
            let digit = class
                .parse::<u16>()
                .ok()
                .filter(|d| (1..=5).contains(d))
                .ok_or_else(bad)?;
            return Ok(StatusRange {
                from: digit * 100,
                to: digit * 100 + 99,
            });
        }
        match text_lower.split_once('-') {
            Some((a, b)) => {
                let (from, to) = (status(a)?, status(b)?);
                if from > to {
                    return Err(bad());
                }
                Ok(StatusRange { from, to })
            }
            None => {
                let s = status(&text_lower)?;
                Ok(StatusRange { from: s, to: s })
            }
        }
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else if self.from.is_multiple_of(100) && self.to == self.from + 99 {
            write!(f, "{}xx", self.from / 100)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

/// The statuses a client run expects (`gauntlet load --expect`): 2xx and 3xx unless told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedStatuses(Vec<StatusRange>);

impl ExpectedStatuses {
    /// Exactly these statuses (none: the default, 2xx and 3xx).
    pub fn new(ranges: Vec<StatusRange>) -> Self {
        ExpectedStatuses(ranges)
    }

    /// Whether a response with `status` is a success.
    pub fn is_success(&self, status: u16) -> bool {
        if self.0.is_empty() {
            is_client_success(status)
        } else {
            self.0.iter().any(|r| (r.from..=r.to).contains(&status))
        }
    }
}

impl std::fmt::Display for ExpectedStatuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("2xx, 3xx");
        }
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

/// Methods nginx treats as safe to resend (everything but POST, LOCK, PATCH).
pub fn is_idempotent(method: &Method) -> bool {
    !matches!(method.as_str(), "POST" | "PATCH" | "LOCK")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses_are_never_retried() {
        assert!(!AttemptOutcome::Response(503).is_retryable(&Method::GET));
    }

    #[test]
    fn connection_failures_are_retried_even_for_post() {
        assert!(AttemptOutcome::ConnectFailed("refused".into()).is_retryable(&Method::POST));
    }

    #[test]
    fn a_sent_post_is_not_retried_after_a_timeout() {
        assert!(!AttemptOutcome::ReadTimeout.is_retryable(&Method::POST));
        assert!(AttemptOutcome::ReadTimeout.is_retryable(&Method::GET));
    }

    #[test]
    fn a_malformed_response_is_not_retried_but_is_a_failure() {
        let outcome = AttemptOutcome::InvalidResponse("invalid HTTP version".into());
        assert!(!outcome.is_retryable(&Method::GET));
        assert!(outcome.is_failure(&[500]));
    }

    #[test]
    fn a_client_counts_2xx_and_3xx_as_success_and_nothing_else() {
        assert!(is_client_success(200) && is_client_success(204) && is_client_success(302));
        assert!(!is_client_success(401) && !is_client_success(429) && !is_client_success(404));
        assert!(!is_client_success(500) && !is_client_success(503) && !is_client_success(199));
    }

    #[test]
    fn expected_statuses_replace_the_default_classes() {
        let e = |s: &[&str]| {
            ExpectedStatuses::new(
                s.iter()
                    .map(|x| x.parse::<StatusRange>().unwrap())
                    .collect(),
            )
        };
        assert!(ExpectedStatuses::default().is_success(200));
        assert!(!ExpectedStatuses::default().is_success(401));
        let only_401 = e(&["401"]);
        assert!(only_401.is_success(401) && !only_401.is_success(200));
        let classes = e(&["2xx", "404", "500-502"]);
        assert!(classes.is_success(299) && classes.is_success(404) && classes.is_success(501));
        assert!(!classes.is_success(503) && !classes.is_success(300));
        assert_eq!(classes.to_string(), "2xx, 404, 500-502");
        assert_eq!(ExpectedStatuses::default().to_string(), "2xx, 3xx");
        for bad in ["6xx", "abc", "600", "300-200", ""] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn failure_statuses_decide_what_counts_as_a_failure() {
        assert!(AttemptOutcome::Response(500).is_failure(&[500, 502]));
        assert!(!AttemptOutcome::Response(404).is_failure(&[500, 502]));
        assert!(AttemptOutcome::ReadTimeout.is_failure(&[]));
    }
}
