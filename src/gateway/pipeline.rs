//! The gateway's request pipeline, assembled in one place (SPEC §4).
//!
//! ```text
//!  client ─► route ─► jwt ─► acl ─► rate-limiting ─► upstream (retries, timeouts) ─► service
//!              │        │       │          │                    │
//!              └────────┴───────┴──────────┴──── Rejection ─────┴──► rescue ─► client
//! ```
//! Every stage may end the request with a [`Rejection`]; `rescue` is the only place that turns one
//! into a response. Headers a stage wants on the client response (rate-limit headers) go into
//! `RequestContext::response_headers` and are added whatever the outcome.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::body::Body;
use super::context::RequestContext;
use super::metrics::Source;
use super::outcome::AttemptOutcome;
use super::plugins::{acl, jwt};
use super::rescue::{self, Rejection};
use super::router;
use super::upstream::{self, CallPolicy};
use super::Gateway;
use crate::config::gateway::PluginConfig;

/// Largest request body the gateway buffers (it buffers so retries can resend).
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// What the pipeline learned about a request, for the response, the metrics and the logs.
#[derive(Debug, Default)]
struct Trace {
    route: Option<usize>,
    service: Option<usize>,
    /// Realm of the jwt plugin that ran, for `WWW-Authenticate`.
    jwt_realm: Option<String>,
}

impl Gateway {
    /// Handles one client request end to end.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let mut ctx = RequestContext::new(
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
            peer.ip(),
            uuid::Uuid::new_v4().simple().to_string(),
        );
        let mut trace = Trace::default();
        let result = self.run(&mut ctx, &mut trace, parts, body).await;
        let (mut response, source) = match result {
            Ok(response) => (response, Source::Service),
            Err(rejection) => {
                self.record_rejection(&rejection, &ctx, &trace);
                let response =
                    rescue::respond(&rejection, &ctx.request_id, trace.jwt_realm.as_deref());
                (response, Source::Gateway)
            }
        };
        for (name, value) in ctx.response_headers.iter() {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
            .headers_mut()
            .insert(header::VIA, HeaderValue::from_static("1.1 gauntlet"));
        self.metrics.record_request(
            trace.service,
            trace.route,
            response.status().as_u16(),
            ctx.consumer,
            source,
        );
        response
    }

    /// The stages, in order. Each comment says why the stage sits where it does.
    async fn run(
        &self,
        ctx: &mut RequestContext,
        trace: &mut Trace,
        parts: http::request::Parts,
        body: Incoming,
    ) -> Result<Response<Body>, Rejection> {
        // 1. Route: every later stage is configured per route and service.
        let matched = router::match_route(
            &self.config,
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
        )
        .ok_or(Rejection::NoRoute)?;
        ctx.route = matched.route;
        ctx.service = matched.service;
        trace.route = Some(matched.route);
        trace.service = Some(matched.service);

        // 2. jwt (Kong priority 1450): identifies the consumer that acl and rate-limiting key on.
        if let Some(PluginConfig::Jwt(config)) = self.plugin("jwt", ctx) {
            trace.jwt_realm = config.realm.clone();
            jwt::apply(
                config,
                &self.config.consumers,
                ctx,
                self.clock.unix_seconds(),
            )?;
        }

        // 3. acl (950): needs the consumer found by an auth plugin.
        if let Some(PluginConfig::Acl(config)) = self.plugin("acl", ctx) {
            let consumer = ctx.consumer.map(|c| &self.config.consumers[c]);
            acl::check(config, ctx, consumer)?;
        }

        // 4. rate-limiting (910): after auth, so 401/403 consume no quota; may be overridden
        //    per consumer (Kong's plugin precedence), hence resolved after the consumer is known.
        if let Some(plugin) = self.plugin_instance("rate-limiting", ctx) {
            if let PluginConfig::RateLimiting(config) = &plugin.config {
                self.rate_limiter
                    .check(plugin.id, config, ctx, &self.config, self.clock.wall())?;
            }
        }

        // 5. Upstream: buffer the body (so a retry can resend it), then call with Kong's retries
        //    and timeouts on the stack clock.
        let body = Limited::new(body, MAX_REQUEST_BODY)
            .collect()
            .await
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
        self.forward(ctx, parts, &matched.upstream_path_and_query, body)
            .await
    }

    async fn forward(
        &self,
        ctx: &RequestContext,
        mut parts: http::request::Parts,
        path_and_query: &str,
        body: Bytes,
    ) -> Result<Response<Body>, Rejection> {
        let service = &self.config.services[ctx.service];
        let addr =
            self.upstreams
                .get(&service.name)
                .ok_or_else(|| Rejection::NoUpstreamAddress {
                    service: service.name.clone(),
                })?;
        parts.uri = path_and_query
            .parse()
            .map_err(|e: http::uri::InvalidUri| Rejection::BadRequestBody(e.to_string()))?;
        prepare_upstream_headers(ctx, &mut parts, service.host.as_str(), service.port);
        let policy = CallPolicy {
            retries: service.retries,
            connect_timeout: service.connect_timeout,
            write_timeout: service.write_timeout,
            read_timeout: service.read_timeout,
        };
        let result = upstream::call(&self.pool, &self.clock, addr, &parts, body, policy).await;
        for attempt in &result.attempts {
            self.metrics
                .record_upstream_attempt(ctx.service, attempt_label(attempt));
        }
        let mut response = result.response.map_err(Rejection::Upstream)?;
        strip_hop_by_hop(response.headers_mut());
        Ok(response)
    }

    fn plugin(&self, name: &str, ctx: &RequestContext) -> Option<&PluginConfig> {
        self.plugin_instance(name, ctx).map(|p| &p.config)
    }

    fn plugin_instance(
        &self,
        name: &str,
        ctx: &RequestContext,
    ) -> Option<&crate::config::gateway::PluginInstance> {
        self.config
            .resolve_plugin(name, ctx.route, ctx.service, ctx.consumer)
    }

    fn record_rejection(&self, rejection: &Rejection, ctx: &RequestContext, trace: &Trace) {
        match rejection {
            Rejection::Jwt(e) => self.metrics.record_auth_failure("jwt", e.reason()),
            Rejection::Acl(e) => self.metrics.record_auth_failure("acl", e.reason()),
            Rejection::RateLimited(_) => {
                self.metrics.record_rate_limited(trace.route, ctx.consumer)
            }
            _ => {}
        }
        tracing::debug!(request_id = %ctx.request_id, reason = rejection.reason(), "rejected");
    }
}

fn attempt_label(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Response(_) => "response",
        AttemptOutcome::ConnectFailed(_) => "connect_failed",
        AttemptOutcome::ConnectTimeout => "connect_timeout",
        AttemptOutcome::SendFailed(_) => "send_failed",
        AttemptOutcome::ReadTimeout => "read_timeout",
        AttemptOutcome::InvalidResponse(_) => "invalid_response",
    }
}

/// Headers Kong sets on the upstream request: plugin changes (consumer headers, groups),
/// `X-Forwarded-*`, `X-Real-IP`, the upstream `Host`, and no hop-by-hop headers.
fn prepare_upstream_headers(
    ctx: &RequestContext,
    parts: &mut http::request::Parts,
    host: &str,
    port: u16,
) {
    let headers = &mut parts.headers;
    let original_host = headers.get(header::HOST).cloned();
    strip_hop_by_hop(headers);
    ctx.apply_upstream_headers(headers);
    let client_ip = ctx.client_ip.to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {client_ip}"),
        None => client_ip.clone(),
    };
    set(headers, "x-forwarded-for", &forwarded_for);
    set(headers, "x-real-ip", &client_ip);
    set(headers, "x-forwarded-proto", "http");
    if let Some(h) = original_host.as_ref().and_then(|h| h.to_str().ok()) {
        set(
            headers,
            "x-forwarded-host",
            h.split(':').next().unwrap_or(h),
        );
    }
    set(headers, "x-forwarded-path", ctx.uri.path());
    let upstream_host = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    set(headers, "host", &upstream_host);
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
