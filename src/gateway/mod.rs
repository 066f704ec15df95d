//! The gateway (SPEC §4): a Kong-style proxy configured from `kong.yml`.
//!
//! - [`pipeline`] — the request path: route → the stages → upstream → the response.
//! - [`stage`] — the one stage shape, and the stages assembled in Kong's priority order:
//!   correlation-id → cors → jwt → key-auth → ip-restriction → request-size-limiting → acl →
//!   rate-limiting → prometheus → bulkhead → circuit breaker (how to add a plugin is written
//!   there).
//! - [`router`], [`plugins`], [`bulkhead`], [`breaker`], [`upstream`] — the stages; [`rescue`] —
//!   rejections to responses. Upstream attempts are classified by [`crate::outcome`].
//! - [`metrics`] — the gateway's counters; the Kong-shaped admin API that shows them and the
//!   configuration is [`crate::api::admin`], served by the stack on its own port.

pub mod audit;
pub mod breaker;
pub mod bulkhead;
pub mod context;
pub mod kong_metrics;
pub mod metrics;
pub mod pipeline;
pub mod plugins;
pub mod rescue;
pub mod router;
pub mod stage;
pub mod upstream;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::StackClock;
use crate::config::GatewayConfig;
use crate::http::server::{self, ServerHandle};
use breaker::Breakers;
use bulkhead::Bulkheads;
use metrics::Metrics;
use plugins::rate_limit::RateLimiter;
use plugins::PluginTable;
use upstream::{Pool, UpstreamAddrs};

/// Shared state of one gateway: configuration, clock, live counters.
#[derive(Debug)]
pub struct Gateway {
    pub config: Arc<GatewayConfig>,
    pub clock: StackClock,
    /// Where each Kong service's upstream currently listens.
    pub upstreams: UpstreamAddrs,
    pub metrics: Metrics,
    /// Kong's own Prometheus families, fed when `kong.yml` configures the `prometheus` plugin.
    pub kong_metrics: kong_metrics::KongMetrics,
    /// One circuit breaker per service that has the plugin.
    pub breakers: Breakers,
    /// What the gateway decided per request, for the invariant checkers (SPEC §11).
    pub audit: Arc<audit::Audit>,
    pub(crate) bulkheads: Bulkheads,
    pool: Pool,
    rate_limiter: RateLimiter,
    /// Which plugin instances can apply on each route, resolved once.
    plugins: PluginTable,
    /// The proxy's listening port, once started (`X-Forwarded-Port`).
    proxy_port: std::sync::atomic::AtomicU16,
    /// The correlation-id plugin's generators.
    pub(crate) ids: plugins::correlation_id::IdSource,
    /// Where each request's spans go (shared with the stack's sidecars).
    pub traces: crate::trace::TraceStore,
    /// Tokens the jwt plugin saw verify (their signature is not checked again).
    pub(crate) jwt_tokens: plugins::jwt::VerifiedTokens,
    /// Each service's upstream `Host` value, by service index (made once, not per request).
    upstream_hosts: Vec<Option<http::HeaderValue>>,
}

/// A running gateway: its state and the proxy listener.
#[derive(Debug)]
pub struct RunningGateway {
    pub state: Arc<Gateway>,
    pub proxy: ServerHandle,
}

impl Gateway {
    pub fn new(config: Arc<GatewayConfig>, clock: StackClock, upstreams: UpstreamAddrs) -> Self {
        let traces = crate::trace::TraceStore::new();
        traces.set_gateway(config.clone());
        Gateway {
            breakers: Breakers::new(&config, &clock),
            audit: Arc::new(audit::Audit::new(config.services.len())),
            bulkheads: Bulkheads::new(&config),
            plugins: PluginTable::new(&config),
            upstream_hosts: config
                .services
                .iter()
                .map(|s| pipeline::upstream_host(&s.host, s.port))
                .collect(),
            config,
            clock,
            upstreams,
            metrics: Metrics::default(),
            kong_metrics: kong_metrics::KongMetrics::default(),
            pool: Pool::default(),
            rate_limiter: RateLimiter::new(),
            proxy_port: std::sync::atomic::AtomicU16::new(0),
            ids: plugins::correlation_id::IdSource::default(),
            traces,
            jwt_tokens: plugins::jwt::VerifiedTokens::default(),
        }
    }

    /// Stops keeping what only the invariant checkers read (the audit trail and every breaker's
    /// ledger), for a gateway that runs for hours where nothing checks them (`gauntlet up`):
    /// kept, they grow with every request up to their limits (hundreds of MB).
    pub fn keep_no_trail(&self) {
        self.audit.keep_none();
        for (_, breaker) in self.breakers.iter() {
            breaker.keep_no_ledger();
        }
    }

    /// What the correlation-id `tracker` generator prints about this gateway.
    pub(crate) fn tracker(&self) -> plugins::correlation_id::Tracker {
        plugins::correlation_id::Tracker {
            server_addr: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            server_port: self.proxy_port(),
            now: self
                .clock
                .wall()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        }
    }

    /// Whether `kong.yml` configures an enabled `prometheus` plugin anywhere (Kong then exports
    /// its families; `exporter.lua` `configure`).
    pub fn exports_kong_metrics(&self) -> bool {
        self.config
            .plugins
            .iter()
            .any(|p| p.enabled && p.kind() == crate::config::gateway::PluginKind::Prometheus)
    }

    /// The port clients connect to.
    pub fn proxy_port(&self) -> u16 {
        self.proxy_port.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves the proxy on `proxy`.
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn start(self, proxy: TcpListener) -> std::io::Result<RunningGateway> {
        self.start_linked(proxy, None)
    }

    /// [`Gateway::start`] with every client connection through `link` (`client->gateway`).
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn start_linked(
        self,
        proxy: TcpListener,
        link: Option<Arc<crate::link::Link>>,
    ) -> std::io::Result<RunningGateway> {
        self.proxy_port.store(
            proxy.local_addr()?.port(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let state = Arc::new(self);
        let handler_state = state.clone();
        let handler = move |request, peer| handler_state.clone().handle(request, peer);
        let proxy = match link {
            None => server::serve(proxy, handler)?,
            Some(link) => server::serve_linked(proxy, link, handler)?,
        };
        Ok(RunningGateway { state, proxy })
    }
}
