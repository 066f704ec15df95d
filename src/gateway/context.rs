//! What the gateway knows about one request as it moves through the pipeline.
//!
//! Routing makes it: a context exists only for a request that matched a route, so every stage
//! reads the one typed [`RouteMatch`]. Stages read the request from here and record what they
//! decided (the consumer, headers for the upstream and for the client, the bulkhead place and
//! breaker permit the request holds). Nothing in it is global configuration.

use std::net::IpAddr;

use http::{HeaderMap, Method, Uri};
use uuid::Uuid;

use super::breaker::{BreakerState, Permit};
use super::bulkhead::Slot;
use super::plugins::size_limit::BodyLimit;
use super::router::RouteMatch;

/// Per-request state shared by the pipeline stages.
#[derive(Debug)]
pub struct RequestContext {
    pub method: Method,
    pub uri: Uri,
    /// Headers as the client sent them.
    pub headers: HeaderMap,
    pub client_ip: IpAddr,
    /// Gateway-generated id for error bodies and logs (`request_id`).
    pub request_id: String,
    /// The route the request matched, its service and the upstream path.
    pub matched: RouteMatch,
    /// The identified consumer, once an auth plugin ran.
    pub consumer: Option<usize>,
    /// The credential that identified the consumer.
    pub credential: Option<CredentialRef>,
    /// Header changes for the upstream request (set or remove; applied after the pipeline).
    pub upstream_headers: Vec<HeaderChange>,
    /// Headers added to the client response (rate-limit headers and the like), whatever the
    /// outcome of the request.
    pub response_headers: HeaderMap,
    /// The request's place in its service's bulkhead, held until the response is delivered.
    pub bulkhead_slot: Option<Slot>,
    /// Leave from the service's circuit breaker: every upstream attempt is recorded through it,
    /// and it is held (a HALF-OPEN trial slot) until the response is delivered.
    pub breaker_permit: Option<Permit>,
    /// The breaker's state as of this request's last dealing with it (the rejection, or the
    /// last recorded attempt), for `X-Circuit-Breaker-State`.
    pub breaker_state: Option<BreakerState>,
    /// request-size-limiting's limit for a body without `Content-Length`, checked once read.
    pub body_limit: Option<BodyLimit>,
    /// The correlation-id plugin's id for this request, once its access phase ran.
    pub correlation_id: Option<String>,
    /// What the cors plugin's response phase needs from the request (its access phase ran).
    pub cors_request: Option<super::plugins::cors::CorsRequest>,
    /// Time spent waiting on the upstream (Kong's `KONG_WAITING_TIME`), once it was called.
    pub upstream_ms: Option<f64>,
    /// The request's admission number in its breaker's ledger (passed or refused).
    pub breaker_admission: Option<u64>,
    /// What the rate limiter counted this request in (plugin id, a digest of the identifier,
    /// each period's usage before it), for the invariant checkers.
    pub rate_counted: Option<RateCounted>,
    /// This request's spans while it is handled ([`crate::trace::gateway`]).
    pub trace: crate::trace::GatewayTrace,
}

/// The rate-limit windows one admitted request was counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCounted {
    pub plugin: Uuid,
    /// A digest of the limiter's identifier (the identifier may be a secret header value).
    pub identifier: u64,
    pub periods: Vec<super::plugins::rate_limit::PeriodUsage>,
}

/// The credential an auth plugin matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRef {
    pub id: Uuid,
    /// The credential's key (`X-Credential-Identifier`).
    pub key: String,
}

/// A change to one upstream request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    Set(http::HeaderName, http::HeaderValue),
    Remove(http::HeaderName),
}

impl RequestContext {
    pub fn new(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        client_ip: IpAddr,
        request_id: String,
        matched: RouteMatch,
    ) -> Self {
        RequestContext {
            method,
            uri,
            headers,
            client_ip,
            request_id,
            matched,
            consumer: None,
            credential: None,
            upstream_headers: Vec::new(),
            response_headers: HeaderMap::new(),
            bulkhead_slot: None,
            breaker_permit: None,
            breaker_state: None,
            body_limit: None,
            correlation_id: None,
            cors_request: None,
            upstream_ms: None,
            breaker_admission: None,
            rate_counted: None,
            trace: crate::trace::GatewayTrace::off(),
        }
    }

    /// Index of the matched route in `GatewayConfig::routes`.
    pub fn route(&self) -> usize {
        self.matched.route
    }

    /// Index of the matched route's service in `GatewayConfig::services` (`None`: the route has
    /// no service, and the request ends in 503 after the plugins ran).
    pub fn service(&self) -> Option<usize> {
        self.matched.service
    }

    /// Sets an upstream header, replacing any client-sent copy.
    pub fn set_upstream_header(&mut self, name: http::HeaderName, value: http::HeaderValue) {
        self.upstream_headers.push(HeaderChange::Set(name, value));
    }

    /// Removes a client-sent header from the upstream request.
    pub fn clear_upstream_header(&mut self, name: http::HeaderName) {
        self.upstream_headers.push(HeaderChange::Remove(name));
    }

    /// Applies the recorded header changes to the upstream request headers.
    pub fn apply_upstream_headers(&self, headers: &mut HeaderMap) {
        for change in &self.upstream_headers {
            match change {
                HeaderChange::Set(name, value) => {
                    headers.insert(name.clone(), value.clone());
                }
                HeaderChange::Remove(name) => {
                    headers.remove(name);
                }
            }
        }
    }
}
