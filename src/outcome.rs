//! The one outcome classification (SPEC §5): how an upstream attempt ended and whether it is a
//! failure (a connection error, a timeout, or a status in `failure_statuses`) or retryable, for
//! the gateway's retries, circuit breaker and metrics; and what a client counts as a success, for
//! the load statistics and the load steps.

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

/// What a client (the load generator, load steps) counts as a success: an HTTP response that is
/// not 5xx. A transport error (no response) is never a success; 4xx answers such as 401 or 429
/// are the gateway doing its job, not the platform failing.
pub fn is_client_success(status: u16) -> bool {
    status < 500
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
    fn a_client_counts_every_non_5xx_response_as_success() {
        assert!(is_client_success(200) && is_client_success(429));
        assert!(!is_client_success(500) && !is_client_success(503));
    }

    #[test]
    fn failure_statuses_decide_what_counts_as_a_failure() {
        assert!(AttemptOutcome::Response(500).is_failure(&[500, 502]));
        assert!(!AttemptOutcome::Response(404).is_failure(&[500, 502]));
        assert!(AttemptOutcome::ReadTimeout.is_failure(&[]));
    }
}
