//! The gateway's request path (SPEC §4): routing, the stages in [`STAGES`], the upstream call,
//! and the response.
//!
//! ```text
//!  client ─► route ─► plugins (correlation-id … rate-limiting) ─► bulkhead ─► circuit breaker ─► upstream ─► service
//!              │        │                                          │              │        (retries, timeouts)
//!              └────────┴──────────────────────── Rejection ───────┴──────────────┴───────────┴──► rescue ─► client
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
use super::kong_metrics::Observation;
use super::metrics::Source;
use super::rescue::{self, Rejection};
use super::router;
use super::stage::STAGES;
use super::upstream::{self, CallPolicy};
use super::Gateway;
use crate::clock::Stopwatch;
use crate::config::gateway::{PluginConfig, PluginInstance, PluginKind};
use crate::http::body::{self, Body};
use crate::trace::{GatewayOutcome, GatewayTrace};

// Header names the pipeline sets, made once at compile time.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
const X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
const X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
const X_KONG_RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

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
        // Measured to the response head, for the latency metrics (observation, not policy).
        let started = Stopwatch::start();
        self.kong_metrics.request_started(peer);
        let (mut parts, body) = request.into_parts();
        let ingress_bytes = request_length(&parts);
        // Trace: continue the client's trace or start one (crate::trace::gateway).
        let trace = GatewayTrace::begin(&self.traces, &parts.headers);
        // A random (v4) UUID from the thread's generator: `Uuid::new_v4` asks the kernel.
        let request_id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .simple()
            .to_string();
        // Route: every stage is configured per route and service. Kong matches the normalized
        // path, so `/a/../internal` cannot slip past a route's ACL.
        let path = crate::http::path::normalize_path(parts.uri.path());
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        let facts = router::RequestFacts {
            method: &parts.method,
            path: &path,
            query: parts.uri.query(),
            host,
            headers: Some(&parts.headers),
            port: self.proxy_port(),
        };
        let Some(matched) = router::match_request(&self.config, &facts) else {
            let mut response = rescue::respond(&Rejection::NoRoute, &request_id);
            mark_source(response.headers_mut(), Source::Gateway);
            set_request_id(response.headers_mut(), &request_id);
            set_latencies(response.headers_mut(), source_latencies(started, None));
            let status = response.status().as_u16();
            trace.finish(
                &self.traces,
                GatewayOutcome {
                    method: parts.method.clone(),
                    path,
                    route: None,
                    service: None,
                    consumer: None,
                    status,
                    request_id,
                    rejected: Some(Rejection::NoRoute.reason()),
                    breaker_state: None,
                },
            );
            self.metrics
                .record_request(None, None, status, None, Source::Gateway);
            // Kong's prometheus `log` skips a request without a route; nginx counts it.
            self.kong_metrics.request_finished();
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
        ctx.trace = trace;

        // The stages, in Kong's priority order; `reached` counts those whose access phase ran.
        let mut reached = 0;
        let mut decided = Ok(());
        for stage in STAGES {
            reached += 1;
            let started = ctx.trace.now();
            decided = stage.access(&self, &mut ctx);
            ctx.trace.stage(reached - 1, started, decided.is_err());
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
        if let Some(counted) = ctx.rate_counted.take().filter(|_| self.audit.is_kept()) {
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
        let mut rejected = None;
        let (mut response, source) = match result {
            Ok(response) => (response, Source::Service),
            Err(rejection) => {
                self.record_rejection(&rejection, &ctx);
                rejected = Some(rejection.reason());
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
        set_request_id(response.headers_mut(), &ctx.request_id);
        let waited = (source == Source::Service)
            .then_some(ctx.upstream_ms)
            .flatten();
        set_latencies(response.headers_mut(), source_latencies(started, waited));
        self.metrics.record_request(
            ctx.service(),
            Some(ctx.route()),
            response.status().as_u16(),
            ctx.consumer,
            source,
        );
        self.record_kong_metrics(&ctx, &response, source, started, ingress_bytes);
        self.metrics
            .record_duration(Some(ctx.route()), ctx.consumer, started.elapsed());
        std::mem::replace(&mut ctx.trace, GatewayTrace::off()).finish(
            &self.traces,
            GatewayOutcome {
                method: ctx.method.clone(),
                path,
                route: Some(ctx.route()),
                service: ctx.service(),
                consumer: ctx.consumer,
                status: response.status().as_u16(),
                request_id: ctx.request_id.clone(),
                rejected,
                breaker_state: ctx.breaker_state,
            },
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

    /// Kong's prometheus plugin (priority 13, `log` phase) for an answered request.
    fn record_kong_metrics(
        &self,
        ctx: &RequestContext,
        response: &Response<Body>,
        source: Source,
        started: Stopwatch,
        ingress_bytes: u64,
    ) {
        self.kong_metrics.request_finished();
        let Some(PluginConfig::Prometheus(conf)) = self.plugin(PluginKind::Prometheus, ctx) else {
            return;
        };
        let observation = Observation {
            service: ctx.service(),
            route: ctx.route(),
            code: response.status().as_u16(),
            from_service: source == Source::Service,
            consumer: ctx.consumer,
            request_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream_ms: ctx.upstream_ms,
            ingress_bytes,
            egress_bytes: response_length(response),
        };
        self.kong_metrics.record(&self.config, conf, &observation);
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
        // request-size-limiting, for a body that came without a usable Content-Length.
        if let Some(limit) = ctx.body_limit {
            limit.check(body.len())?;
        }
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
            upstream_host: self.upstream_hosts[service_index].as_ref(),
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
        if self.audit.is_kept() {
            self.audit.push(AuditEntry::Forwarded {
                request: ctx.request_id.clone(),
                service: service_index,
                trace: Some(ctx.trace.trace_hex()),
                admission: ctx.breaker_admission,
            });
        }
        let _in_flight = self.audit.enter(service_index);
        let permit = ctx.breaker_permit.as_ref();
        let mut last_state = None;
        let waiting = Stopwatch::start();
        ctx.trace
            .upstream_started(addr.link.as_deref().and_then(crate::trace::link_faults));
        let trace = &mut ctx.trace;
        let result = upstream::call(&self.pool, &self.clock, &addr, &parts, body, policy, |o| {
            trace.attempt(o);
            let recorded = permit?.record_attempt(o);
            last_state = Some(recorded.state);
            Some(recorded)
        })
        .await;
        ctx.upstream_ms = Some(waiting.elapsed().as_secs_f64() * 1000.0);
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
            Rejection::KeyAuth { error, .. } => {
                self.refused("key-auth", ctx);
                self.metrics.record_auth_failure("key-auth", error.reason());
            }
            Rejection::IpRestricted(_) => self.refused("ip-restriction", ctx),
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
    /// The service's `Host` value ([`upstream_host`]), made once per gateway.
    upstream_host: Option<&'a HeaderValue>,
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
    // Room for what follows (the forwarding family, the consumer headers), so the map grows
    // once rather than at each insert.
    headers.reserve(16);
    strip_hop_by_hop(headers);
    ctx.apply_upstream_headers(headers);
    let client_ip = ctx.client_ip.to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {client_ip}"),
        None => client_ip.clone(),
    };
    set(headers, X_FORWARDED_FOR, &forwarded_for);
    set(headers, X_REAL_IP, &client_ip);
    // Kong's `headers_upstream = x-kong-request-id` default (3.5+): the id of its error bodies.
    set(headers, X_KONG_REQUEST_ID, &ctx.request_id);
    // OBS-2: a request without a valid W3C trace context starts a trace here; a valid one
    // keeps its trace id (and `tracestate`), so the service sees the client's trace. The parent
    // is the gateway's upstream span, so the next hop's spans hang under it.
    if !ctx.trace.continued() {
        headers.remove(TRACESTATE);
    }
    set(headers, TRACEPARENT, &ctx.trace.upstream_header());
    set(headers, X_FORWARDED_PROTO, "http");
    headers.insert(X_FORWARDED_PORT, HeaderValue::from(forwarding.proxy_port));
    set(headers, X_FORWARDED_PATH, ctx.uri.path());
    match &client_authority {
        Some(authority) => {
            let host = authority.host();
            if host.bytes().any(|b| b.is_ascii_uppercase()) {
                set(headers, X_FORWARDED_HOST, &host.to_ascii_lowercase());
            } else {
                set(headers, X_FORWARDED_HOST, host);
            }
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
    match forwarding.stripped_prefix {
        Some(prefix) => set(headers, X_FORWARDED_PREFIX, prefix),
        None => {
            headers.remove(X_FORWARDED_PREFIX);
        }
    }
    match (&client_authority, forwarding.preserve_host) {
        (Some(authority), true) => set(headers, header::HOST, authority.as_str()),
        _ => {
            if let Some(host) = forwarding.upstream_host {
                headers.insert(header::HOST, host.clone());
            }
        }
    }
}

/// The `Host` the gateway sends a service when the route does not preserve the client's:
/// `host`, with `:port` unless it is 80. `None` when that is no valid header value (then no
/// `Host` is set, as before).
pub(super) fn upstream_host(host: &str, port: u16) -> Option<HeaderValue> {
    let value = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    HeaderValue::from_str(&value).ok()
}

/// nginx's `$request_length` as an HTTP/1.1 request would have it: request line, headers and
/// the body its `Content-Length` announces.
fn request_length(parts: &http::request::Parts) -> u64 {
    let line = parts.method.as_str().len()
        + parts.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len()
        + 1;
    let body = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    line as u64 + headers_length(&parts.headers) + body
}

/// nginx's `$bytes_sent` for a response: status line, headers and the body's known length.
fn response_length(response: &Response<Body>) -> u64 {
    use hyper::body::Body as _;
    let line = "HTTP/1.1 200 OK\r\n".len() as u64;
    let body = response.body().size_hint().exact().unwrap_or(0);
    line + headers_length(response.headers()) + body
}

fn headers_length(headers: &http::HeaderMap) -> u64 {
    let fields: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum();
    fields as u64 + 2
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero (W3C Trace Context
/// level 1, version 00).
pub fn is_valid_traceparent(value: &str) -> bool {
    crate::trace::TraceContext::parse(value).is_some()
}

/// `X-Kong-Request-Id` on every response, proxied or not (`kong/runloop/handler.lua`
/// `header_filter`, Kong's `headers = ..., x-kong-request-id` default since 3.5): the same id as
/// the `request_id` of Kong's error bodies.
fn set_request_id(headers: &mut http::HeaderMap, request_id: &str) {
    set(headers, X_KONG_REQUEST_ID, request_id);
}

/// Kong's `latency_tokens` headers (on by default, `kong/runloop/handler.lua`
/// `header_filter`), in whole milliseconds: a proxied response carries
/// `X-Kong-Upstream-Latency` (waiting on the upstream) and `X-Kong-Proxy-Latency` (the rest);
/// one the gateway made carries `X-Kong-Response-Latency`.
enum Latencies {
    Proxied { upstream: u64, proxy: u64 },
    Made { response: u64 },
}

fn source_latencies(started: Stopwatch, upstream_ms: Option<f64>) -> Latencies {
    let total = started.elapsed().as_secs_f64() * 1000.0;
    match upstream_ms {
        Some(upstream) => Latencies::Proxied {
            upstream: upstream.round() as u64,
            proxy: (total - upstream).max(0.0).round() as u64,
        },
        None => Latencies::Made {
            response: total.round() as u64,
        },
    }
}

fn set_latencies(headers: &mut http::HeaderMap, latencies: Latencies) {
    match latencies {
        Latencies::Proxied { upstream, proxy } => {
            headers.insert(X_KONG_UPSTREAM_LATENCY, HeaderValue::from(upstream));
            headers.insert(X_KONG_PROXY_LATENCY, HeaderValue::from(proxy));
        }
        Latencies::Made { response } => {
            headers.insert(X_KONG_RESPONSE_LATENCY, HeaderValue::from(response));
        }
    }
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

fn set(headers: &mut http::HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
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
        KEEP_ALIVE,
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
