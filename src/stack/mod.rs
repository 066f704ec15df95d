//! A running stack (SPEC §2–§3): the services of `stack.yml` and the gateway of `kong.yml`, on
//! loopback, sharing one [`StackClock`].
//!
//! ```text
//!   StackDef ──► bind every public listener (ephemeral, or the fixed ports of `up`)
//!            ──► start services (in-process mocks, commands, or external URLs), each behind
//!                its inbound sidecar stage (journal, faults) on its public port
//!            ──► start gateway (proxy) with the services' public addresses
//!            ──► serve the APIs over the running stack (crate::api): the gateway's admin API,
//!                and with a mesh the catalog and each sidecar's admin API
//! ```
//! Scenarios each start their own stack on ephemeral ports, so they run concurrently and never
//! share breaker or rate-limit state. Dropping a [`Stack`] stops everything it started.

pub(crate) mod mesh;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::api;
use crate::clock::{StackClock, Stopwatch};
use crate::config::StackDef;
use crate::gateway::upstream::{MeshTls, Upstream, UpstreamAddrs};
use crate::gateway::{Gateway, RunningGateway};
use crate::http::server::{bind_loopback, serve_router, ServerHandle};
use crate::link::{link_name, Links};
use crate::mesh::runtime::{MeshError, StackMesh};
use crate::mesh::stats::SidecarStats;
use crate::seed::derive_seed;
pub use crate::service::{LaunchError, ProcessFaultError, ServiceHandle};
use crate::sidecar::Outbound;

/// Whether a stack's hops go through links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Every hop is a link (always, but to measure what links cost).
    Linked,
    /// Plain sockets: no link, no toxic possible.
    Bypassed,
}

/// Which ports a stack binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPlan {
    /// Ephemeral loopback ports (scenarios).
    Ephemeral,
    /// The fixed ports of `stack.yml` (`gauntlet up`).
    Fixed,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot bind {what} on 127.0.0.1:{port}: {source}")]
    Bind {
        what: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Service(#[from] LaunchError),
    #[error("no service named {0} in this stack")]
    UnknownService(String),
    #[error("{0}")]
    Mesh(#[from] MeshError),
    #[error("cannot serve the {what}: {source}")]
    Serve {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running stack.
#[derive(Debug)]
pub struct Stack {
    pub def: Arc<StackDef>,
    pub clock: StackClock,
    pub gateway: RunningGateway,
    /// The gateway's Kong-shaped admin API (`/services`, `/breakers`, `/metrics`, ...).
    pub admin: ServerHandle,
    /// Services by name.
    pub services: BTreeMap<String, Arc<ServiceHandle>>,
    /// The mesh (CA, leaves, live intentions), when the stack has intentions.
    pub mesh: Option<Arc<StackMesh>>,
    /// Each sidecar's counters, by service.
    pub sidecar_stats: BTreeMap<String, Arc<SidecarStats>>,
    /// Each sidecar's admin API (`/ready`, `/stats/prometheus`, `/certs`), by service.
    pub sidecar_admins: BTreeMap<String, ServerHandle>,
    /// The Consul-shaped catalog API (mesh only).
    pub catalog: Option<ServerHandle>,
    /// The services' upstream listeners (mesh only); dropping the stack closes them.
    pub outbounds: Vec<Outbound>,
    /// Every hop as a link with its toxics (SPEC §7.1).
    pub links: Links,
    /// The seed of this stack's random fault choices.
    pub seed: u64,
    /// How long `start` took.
    pub startup: Duration,
}

impl Stack {
    /// Starts every service and the gateway. `seed` drives every random fault choice of the
    /// stack (each service draws from its own sequence derived from it).
    ///
    /// # Errors
    /// A port cannot be bound, or a service cannot be started.
    pub async fn start(def: Arc<StackDef>, plan: PortPlan, seed: u64) -> Result<Stack, StackError> {
        Stack::start_guarded(def, plan, seed, None).await
    }

    /// [`Stack::start`] with the admin, sidecar admin and catalog APIs behind `token` when there is one
    /// ([`api::access`]; `gauntlet up --api-token`).
    ///
    /// # Errors
    /// As [`Stack::start`].
    pub async fn start_guarded(
        def: Arc<StackDef>,
        plan: PortPlan,
        seed: u64,
        token: Option<api::access::ApiToken>,
    ) -> Result<Stack, StackError> {
        Stack::start_with(def, plan, seed, token, LinkMode::Linked).await
    }

    /// [`Stack::start_guarded`], choosing whether the hops are links ([`LinkMode::Bypassed`]
    /// only to measure what links cost, `benches/links.rs`).
    ///
    /// # Errors
    /// As [`Stack::start`].
    pub async fn start_with(
        def: Arc<StackDef>,
        plan: PortPlan,
        seed: u64,
        token: Option<api::access::ApiToken>,
        mode: LinkMode,
    ) -> Result<Stack, StackError> {
        let stopwatch = Stopwatch::start();
        let clock = StackClock::new();
        let links = Links::new(derive_seed(seed, &["links"]), clock.clone());
        let linked = (mode == LinkMode::Linked).then_some(&links);
        let ports = &def.topology.ports;
        let port = |fixed: u16| if plan == PortPlan::Fixed { fixed } else { 0 };

        // Bind every listener first, so each component knows every address before any starts.
        let mut listeners = BTreeMap::new();
        for service in &def.topology.services {
            let fixed = ports.services.get(&service.name).copied().unwrap_or(0);
            listeners.insert(
                service.name.clone(),
                bind(&format!("service {}", service.name), port(fixed)).await?,
            );
        }
        let proxy = bind("gateway proxy", port(ports.gateway_proxy)).await?;
        let admin = bind("gateway admin", port(ports.gateway_admin)).await?;

        let addrs: BTreeMap<String, SocketAddr> = listeners
            .iter()
            .filter_map(|(name, l)| Some((name.clone(), l.local_addr().ok()?)))
            .collect();

        // The mesh: a CA and a leaf per identity (every service and the gateway).
        let mesh = mesh::start(&def, &clock)?;
        let stats: BTreeMap<String, Arc<SidecarStats>> = def
            .topology
            .services
            .iter()
            .map(|s| (s.name.clone(), Arc::new(SidecarStats::default())))
            .collect();

        // Upstream listeners (mesh only): a service reaches its upstreams through its own
        // sidecar; before the services, which are told these addresses.
        let (outbounds, mut service_upstreams) =
            mesh::start_outbounds(&def, mesh.as_deref(), &addrs, &stats, &port, linked).await?;

        // The services, each behind its inbound stage (mTLS and intentions with a mesh).
        let mut services = BTreeMap::new();
        for service in &def.topology.services {
            let Some(listener) = listeners.remove(&service.name) else {
                continue;
            };
            let guard = match &mesh {
                None => None,
                Some(mesh) => Some(mesh::guard(mesh, service, stats[&service.name].clone())?),
            };
            let service_seed = derive_seed(seed, &[&service.name]);
            let reach = service_upstreams.remove(&service.name).unwrap_or_default();
            let handle =
                ServiceHandle::launch(service, listener, reach, &clock, service_seed, guard)
                    .await?;
            services.insert(service.name.clone(), Arc::new(handle));
        }

        // Each sidecar's admin API and the catalog API (mesh only).
        let (sidecar_admins, catalog) = match &mesh {
            None => (BTreeMap::new(), None),
            Some(mesh) => {
                let admins = mesh::start_sidecar_admins(
                    &def,
                    mesh,
                    &services,
                    &stats,
                    &clock,
                    &port,
                    token.as_ref(),
                )
                .await?;
                let catalog = mesh::start_catalog(
                    &def,
                    mesh,
                    &services,
                    &outbounds,
                    &clock,
                    &port,
                    token.as_ref(),
                )
                .await?;
                (admins, Some(catalog))
            }
        };

        // The gateway calls each service's public port, through mTLS as `api-gateway` when
        // there is a mesh, so the intentions govern it like any other caller.
        let upstreams = UpstreamAddrs::default();
        for kong_service in &def.gateway.services {
            let Some(service) = def.topology.service_for_host(&kong_service.host) else {
                continue;
            };
            let Some(handle) = services.get(&service.name) else {
                continue;
            };
            let tls = match &mesh {
                None => None,
                Some(mesh) => {
                    let (config, server_name) =
                        mesh.client_config(&def.topology.gateway_identity, &service.name)?;
                    Some(MeshTls {
                        config,
                        server_name,
                    })
                }
            };
            let link = linked.map(|links| {
                links.declare(
                    &link_name("gateway", &service.name),
                    handle.addr(),
                    handle.addr(),
                )
            });
            upstreams.set(
                &kong_service.name,
                Upstream {
                    addr: handle.addr(),
                    tls,
                    link,
                },
            );
        }
        let client_link = match (linked, proxy.local_addr()) {
            (Some(links), Ok(addr)) => {
                Some(links.declare(&link_name("client", "gateway"), addr, addr))
            }
            _ => None,
        };
        let gateway = Gateway::new(Arc::new(def.gateway.clone()), clock.clone(), upstreams)
            .start_linked(proxy, client_link)
            .map_err(|source| StackError::Bind {
                what: "gateway".into(),
                port: 0,
                source,
            })?;
        // One trace store for the stack: the gateway's spans and every sidecar's.
        for service in services.values() {
            service
                .inbound()
                .record_traces_in(gateway.state.traces.clone());
        }
        for outbound in &outbounds {
            outbound.record_traces_in(gateway.state.traces.clone());
        }
        let admin = serve_router(
            admin,
            api::access::guard(
                api::admin::router(gateway.state.clone()),
                token.as_ref(),
                api::access::Scheme::Bearer,
            ),
        )
        .map_err(|source| StackError::Serve {
            what: "gateway admin API".into(),
            source,
        })?;
        Ok(Stack {
            def,
            clock,
            gateway,
            admin,
            services,
            mesh,
            sidecar_stats: stats,
            sidecar_admins,
            catalog,
            outbounds,
            links,
            seed,
            startup: stopwatch.elapsed(),
        })
    }

    /// Base URL of the gateway proxy (`http://127.0.0.1:PORT`).
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.gateway.proxy.addr())
    }

    /// Base URL of the gateway admin API.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin.addr())
    }

    /// What the control API acts on: this stack's services, clock and seed.
    pub fn control_target(&self) -> api::control::ControlTarget {
        api::control::ControlTarget {
            stack: self.def.name().to_string(),
            seed: self.seed,
            clock: self.clock.clone(),
            services: self.services.clone(),
            links: self.links.clone(),
            gateway: Some(self.gateway.state.clone()),
        }
    }

    /// The stack's spans: the gateway's and every sidecar's ([`crate::trace`]).
    pub fn traces(&self) -> &crate::trace::TraceStore {
        &self.gateway.state.traces
    }

    /// A service by name.
    ///
    /// # Errors
    /// [`StackError::UnknownService`] naming the service.
    pub fn service(&self, name: &str) -> Result<&Arc<ServiceHandle>, StackError> {
        self.services
            .get(name)
            .ok_or_else(|| StackError::UnknownService(name.to_string()))
    }
}

pub(crate) async fn bind(what: &str, port: u16) -> Result<tokio::net::TcpListener, StackError> {
    bind_loopback(port)
        .await
        .map_err(|source| StackError::Bind {
            what: what.to_string(),
            port,
            source,
        })
}
