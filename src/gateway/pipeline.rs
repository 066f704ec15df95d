//! The gateway's request path (SPEC §4): routing, the stages in [`STAGES`], the upstream call,
//! and the response.
//!
//! ```text
//!  client ─► route ─► jwt ─► acl ─► rate-limiting ─► bulkhead ─► circuit breaker ─► upstream ─► service
//!              │        │       │          │             │              │        (retries, timeouts)
//!              └────────┴───────┴──────────┴─────────────┴── Rejection ─┴───────────┴──► rescue ─► client
//! ```
//! Routing runs first and makes the [`RequestContext`]; the stages (one shape, assembled in
//! [`super::stage`]) run in Kong's priority order; any may end the request with a
//! [`Rejection`], and `rescue` is the only place that turns one into a response. Every stage
//! that ran then sees the response's headers; headers a stage left in
//! `RequestContext::response_headers` (rate-limit headers) are added whatever the outcome.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::audit::AuditEntry;
use super::context::RequestContext;
use super::metrics::Source;
use super::rescue::{self, Rejection};
use super::router;
use super::stage::STAGES;
use super::upstream::{self, CallPolicy};
use super::Gateway;
use crate::config::gateway::{PluginConfig, PluginInstance, PluginKind};
use crate::http::body::{self, Body};

/// Largest request body the gateway buffers (it buffers so retries can resend).
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// How long a client may take to send its request body (nginx's `client_body_timeout`).
pub const CLIENT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Gateway {
    /// Handles one client request end to end.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        // A random (v4) UUID from the thread's generator: `Uuid::new_v4` asks the kernel.
        let request_id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .simple()
            .to_string();
        // Route: every stage is configured per route and service. Kong matches the normalized
        // path, so `/a/../internal` cannot slip past a route's ACL.
        let path = crate::http::path::normalize_path(parts.uri.path());
        let Some(matched) =
            router::match_route(&self.config, &parts.method, &path, parts.uri.query())
        else {
            let mut response = rescue::respond(&Rejection::NoRoute, &request_id);
            mark_source(response.headers_mut(), Source::Gateway);
            let status = response.status().as_u16();
            self.metrics
                .record_request(None, None, status, None, Source::Gateway);
            return response;
        };
        // The headers live in the context while stages read them; `forward` takes them back.
        let mut ctx = RequestContext::new(
            parts.method.clone(),
            parts.uri.clone(),
            std::mem::take(&mut parts.headers),
            peer.ip(),
            request_id,
            matched,
        );

        // The stages, in Kong's priority order; `reached` counts those whose access phase ran.
        let mut reached = 0;
        let mut decided = Ok(());
        for stage in STAGES {
            reached += 1;
            decided = stage.access(&self, &mut ctx);
            if let Err(rejection) = &decided {
                tracing::debug!(
                    request_id = %ctx.request_id,
                    stage = stage.name(),
                    priority = stage.priority(),
                    reason = rejection.reason(),
                    "rejected"
                );
                break;
            }
        }
        // What the rate limiter counted, noted now: an answer the client gives up on is never
        // written, but its quota was spent (INV-5, INV-6).
        if let Some(counted) = ctx.rate_counted.take() {
            for p in &counted.periods {
                self.audit.push(AuditEntry::Counted {
                    request: ctx.request_id.clone(),
                    consumer: ctx.consumer,
                    plugin: counted.plugin,
                    identifier: counted.identifier,
                    period: p.period,
                    window_start: p.window.start,
                    used: p.used,
                    limit: p.limit,
                });
            }
        }
        let result = match (decided, ctx.service()) {
            (Ok(()), Some(service)) => {
                self.read_body_and_forward(&mut ctx, service, parts, body)
                    .await
            }
            // Kong runs a service-less route's plugins, then answers 503.
            (Ok(()), None) => Err(Rejection::NoService),
            (Err(rejection), _) => Err(rejection),
        };
        let (mut response, source) = match result {
            Ok(response) => (response, Source::Service),
            Err(rejection) => {
                self.record_rejection(&rejection, &ctx);
                (
                    rescue::respond(&rejection, &ctx.request_id),
                    Source::Gateway,
                )
            }
        };
        for stage in &STAGES[..reached] {
            stage.respond(&self, &ctx, response.headers_mut());
        }
        for (name, value) in ctx.response_headers.iter() {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        mark_source(response.headers_mut(), source);
        self.metrics.record_request(
            ctx.service(),
            Some(ctx.route()),
            response.status().as_u16(),
            ctx.consumer,
            source,
        );
        // A proxied response holds the bulkhead place and the trial slot until it has been
        // delivered; a gateway-made one frees them now.
        let hold = (ctx.bulkhead_slot.take(), ctx.breaker_permit.take());
        match (source, &hold) {
            (Source::Service, (Some(_), _) | (_, Some(_))) => {
                response.map(|b| body::hold_until_done(b, hold))
            }
            _ => response,
        }
    }

    /// The most specific enabled instance of plugin `kind` for this request.
    pub(crate) fn plugin_instance(
        &self,
        kind: PluginKind,
        ctx: &RequestContext,
    ) -> Option<&PluginInstance> {
        self.plugins
            .resolve(&self.config, kind, ctx.route(), ctx.consumer)
    }

    /// The configuration of [`Gateway::plugin_instance`].
    pub(crate) fn plugin(&self, kind: PluginKind, ctx: &RequestContext) -> Option<&PluginConfig> {
        self.plugin_instance(kind, ctx).map(|p| &p.config)
    }

    /// Upstream: buffer the body (so a retry can resend it), then call with Kong's retries and
    /// timeouts on the stack clock, every attempt's outcome feeding the breaker.
    async fn read_body_and_forward(
        &self,
        ctx: &mut RequestContext,
        service: usize,
        parts: http::request::Parts,
        body: Incoming,
    ) -> Result<Response<Body>, Rejection> {
        // nginx's `client_body_timeout` (60 s between reads; here for the whole body, on the
        // stack clock): a slow upload must not hold a bulkhead place or a trial slot forever.
        let reading = Limited::new(body, MAX_REQUEST_BODY).collect();
        let body = self
            .clock
            .timeout(CLIENT_BODY_TIMEOUT, reading)
            .await
            .ok_or(Rejection::BodyTimeout)?
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Rejection::BodyTooLarge {
                        limit: MAX_REQUEST_BODY,
                    }
                } else {
                    Rejection::BadRequestBody(e.to_string())
                }
            })?
            .to_bytes();
        self.forward(ctx, service, parts, body).await
    }

    async fn forward(
        &self,
        ctx: &mut RequestContext,
        service_index: usize,
        mut parts: http::request::Parts,
        body: Bytes,
    ) -> Result<Response<Body>, Rejection> {
        let service = &self.config.services[service_index];
        let addr =
            self.upstreams
                .get(&service.name)
                .ok_or_else(|| Rejection::NoUpstreamAddress {
                    service: service.name.clone(),
                })?;
        parts.uri = ctx
            .matched
            .upstream_path_and_query
            .parse()
            .map_err(|e: http::uri::InvalidUri| Rejection::BadRequestBody(e.to_string()))?;
        let forwarding = Forwarding {
            preserve_host: self.config.routes[ctx.route()].preserve_host,
            upstream_host: &service.host,
            upstream_port: service.port,
            proxy_port: self.proxy_port(),
            stripped_prefix: ctx.matched.stripped_prefix.as_deref(),
        };
        parts.headers = std::mem::take(&mut ctx.headers);
        prepare_upstream_headers(ctx, &mut parts, &forwarding);
        let policy = CallPolicy {
            retries: service.retries,
            connect_timeout: service.connect_timeout,
            read_timeout: service.read_timeout,
        };
        self.audit.push(AuditEntry::Forwarded {
            request: ctx.request_id.clone(),
            service: service_index,
            trace: parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .and_then(|t| t.split('-').nth(1))
                .map(str::to_string),
            admission: ctx.breaker_admission,
        });
        let _in_flight = self.audit.enter(service_index);
        let permit = ctx.breaker_permit.as_ref();
        let mut last_state = None;
        let result = upstream::call(&self.pool, &self.clock, &addr, &parts, body, policy, |o| {
            let recorded = permit?.record_attempt(o);
            last_state = Some(recorded.state);
            Some(recorded)
        })
        .await;
        if last_state.is_some() {
            ctx.breaker_state = last_state;
        }
        self.metrics
            .record_upstream_call(service_index, &result.attempts);
        let mut response = result.response.map_err(Rejection::Upstream)?;
        strip_hop_by_hop(response.headers_mut());
        Ok(response)
    }

    fn refused(&self, stage: &'static str, ctx: &RequestContext) {
        self.audit.push(AuditEntry::Refused {
            request: ctx.request_id.clone(),
            stage,
            consumer: ctx.consumer,
        });
    }

    fn record_rejection(&self, rejection: &Rejection, ctx: &RequestContext) {
        match rejection {
            Rejection::Jwt { error, .. } => {
                self.refused("jwt", ctx);
                self.metrics.record_auth_failure("jwt", error.reason());
            }
            Rejection::Acl(e) => {
                self.refused("acl", ctx);
                self.metrics.record_auth_failure("acl", e.reason());
            }
            Rejection::RateLimited(_) => {
                self.refused("rate-limiting", ctx);
                self.metrics
                    .record_rate_limited(Some(ctx.route()), ctx.consumer);
            }
            Rejection::BulkheadFull(_) => {
                if let Some(service) = ctx.service() {
                    self.metrics.record_bulkhead_rejection(service);
                }
            }
            Rejection::BreakerOpen(_) => {
                if let Some(service) = ctx.service() {
                    self.metrics.record_breaker_fallback(service);
                }
            }
            _ => {}
        }
    }
}

/// What the upstream request's `Host` and `X-Forwarded-*` headers are made from.
struct Forwarding<'a> {
    preserve_host: bool,
    upstream_host: &'a str,
    upstream_port: u16,
    /// The gateway port the client connected to.
    proxy_port: u16,
    stripped_prefix: Option<&'a str>,
}

/// Headers Kong sets on the upstream request: plugin changes (consumer headers, groups), the
/// `X-Forwarded-*` family and `X-Real-IP` (always the gateway's own values: the client is not a
/// trusted proxy), `Host`, and no hop-by-hop headers.
fn prepare_upstream_headers(
    ctx: &RequestContext,
    parts: &mut http::request::Parts,
    forwarding: &Forwarding<'_>,
) {
    // The client's host: the Host header, or the URI authority (HTTP/2 has no Host header).
    let client_authority: Option<http::uri::Authority> = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse().ok())
        .or_else(|| parts.uri.authority().cloned());
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    ctx.apply_upstream_headers(headers);
    let client_ip = ctx.client_ip.to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {client_ip}"),
        None => client_ip.clone(),
    };
    set(headers, "x-forwarded-for", &forwarded_for);
    set(headers, "x-real-ip", &client_ip);
    // OBS-2: a request without a valid W3C trace context starts a trace here; a valid one is
    // passed on unchanged, so the service sees the client's trace id.
    let traced = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_valid_traceparent);
    if !traced {
        headers.remove("tracestate");
        set(headers, "traceparent", &new_traceparent());
    }
    set(headers, "x-forwarded-proto", "http");
    set(
        headers,
        "x-forwarded-port",
        &forwarding.proxy_port.to_string(),
    );
    set(headers, "x-forwarded-path", ctx.uri.path());
    match &client_authority {
        Some(authority) => set(
            headers,
            "x-forwarded-host",
            &authority.host().to_ascii_lowercase(),
        ),
        None => {
            headers.remove("x-forwarded-host");
        }
    }
    match forwarding.stripped_prefix {
        Some(prefix) => set(headers, "x-forwarded-prefix", prefix),
        None => {
            headers.remove("x-forwarded-prefix");
        }
    }
    let host = match (&client_authority, forwarding.preserve_host) {
        (Some(authority), true) => authority.as_str().to_string(),
        _ if forwarding.upstream_port == 80 => forwarding.upstream_host.to_string(),
        _ => format!("{}:{}", forwarding.upstream_host, forwarding.upstream_port),
    };
    set(headers, "host", &host);
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero (W3C Trace Context
/// level 1, version 00).
pub fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    matches!(parts.as_slice(), [version, trace, parent, flags]
        if *version == "00"
            && hex(trace, 32)
            && hex(parent, 16)
            && hex(flags, 2)
            && trace.bytes().any(|b| b != b'0')
            && parent.bytes().any(|b| b != b'0'))
}

/// A fresh sampled trace context: random trace and parent ids.
fn new_traceparent() -> String {
    let trace: u128 = rand::random::<u128>().max(1);
    let parent: u64 = rand::random::<u64>().max(1);
    format!("00-{trace:032x}-{parent:016x}-01")
}

/// Like Kong: a proxied response gets the gateway appended to `Via`; a response the gateway
/// made itself names it in `Server`.
fn mark_source(headers: &mut http::HeaderMap, source: Source) {
    match source {
        Source::Service => {
            let via = match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
                Some(prior) => format!("{prior}, 1.1 gauntlet"),
                None => "1.1 gauntlet".to_string(),
            };
            if let Ok(value) = HeaderValue::from_str(&via) {
                headers.insert(header::VIA, value);
            }
        }
        Source::Gateway => {
            headers.insert(header::SERVER, HeaderValue::from_static("gauntlet"));
        }
    }
}

fn set(headers: &mut http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}
