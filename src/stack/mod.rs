//! A running stack (SPEC §2–§3): the services of `stack.yml` and the gateway of `kong.yml`, on
//! loopback, sharing one [`StackClock`].
//!
//! ```text
//!   StackDef ──► bind every public listener (ephemeral, or the fixed ports of `up`)
//!            ──► start services (in-process mocks, commands, or external URLs), each behind
//!                its inbound sidecar stage (journal, faults) on its public port
//!            ──► start gateway (proxy + admin) with the services' public addresses
//! ```
//! Scenarios each start their own stack on ephemeral ports, so they run concurrently and never
//! share breaker or rate-limit state. Dropping a [`Stack`] stops everything it started.

mod services;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::fault::derive_seed;
use crate::clock::{StackClock, Stopwatch};
use crate::config::StackDef;
use crate::gateway::upstream::{MeshTls, Upstream, UpstreamAddrs};
use crate::gateway::{Gateway, RunningGateway};
use crate::mesh::catalog::{self, CatalogService, CatalogState, CatalogUpstream};
use crate::mesh::runtime::{MeshError, StackMesh};
use crate::mesh::sidecar_admin::{self, SidecarAdminState};
use crate::mesh::stats::SidecarStats;
use crate::server::bind_loopback;
use crate::server::{serve_router, ServerHandle};
use crate::sidecar::{MeshGuard, Outbound, UpstreamTarget};
pub use services::{ProcessFaultError, ServiceHandle};

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
    #[error("service {service}: {message}")]
    Service { service: String, message: String },
    #[error("no service named {0} in this stack")]
    UnknownService(String),
    #[error("{0}")]
    Mesh(#[from] MeshError),
}

fn mesh_error(e: MeshError) -> StackError {
    StackError::Mesh(e)
}

fn bind_error(what: &str, source: std::io::Error) -> StackError {
    StackError::Bind {
        what: what.to_string(),
        port: 0,
        source,
    }
}

/// A running stack.
#[derive(Debug)]
pub struct Stack {
    pub def: Arc<StackDef>,
    pub clock: StackClock,
    pub gateway: RunningGateway,
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
        let stopwatch = Stopwatch::start();
        let clock = StackClock::new();
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
        let mesh = match &def.mesh {
            None => None,
            Some(mesh_def) => {
                let identities = def
                    .topology
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .chain([def.topology.gateway_identity.as_str()]);
                Some(Arc::new(
                    StackMesh::start(mesh_def, identities, &clock).map_err(mesh_error)?,
                ))
            }
        };
        let stats: BTreeMap<String, Arc<SidecarStats>> = def
            .topology
            .services
            .iter()
            .map(|s| (s.name.clone(), Arc::new(SidecarStats::default())))
            .collect();

        // Upstream listeners: with a mesh a service reaches its upstreams through its own
        // sidecar (plain in, mTLS out); without, it calls the destination's public port.
        let mut outbounds = Vec::new();
        let mut service_upstreams: BTreeMap<String, BTreeMap<String, SocketAddr>> = BTreeMap::new();
        for service in &def.topology.services {
            let mut reach = BTreeMap::new();
            for upstream in &service.upstreams {
                let Some(&destination) = addrs.get(&upstream.service) else {
                    continue;
                };
                let Some(mesh) = &mesh else {
                    reach.insert(upstream.service.clone(), destination);
                    continue;
                };
                let listener = bind(
                    &format!(
                        "{} upstream listener for {}",
                        service.name, upstream.service
                    ),
                    port(upstream.local_port),
                )
                .await?;
                let (tls, server_name) = mesh
                    .client_config(&service.name, &upstream.service)
                    .map_err(mesh_error)?;
                let target = UpstreamTarget {
                    destination: upstream.service.clone(),
                    addr: destination,
                    tls,
                    server_name,
                };
                let outbound = Outbound::start(
                    listener,
                    &service.name,
                    target,
                    stats[&service.name].clone(),
                )
                .map_err(|e| StackError::Service {
                    service: service.name.clone(),
                    message: e.to_string(),
                })?;
                reach.insert(upstream.service.clone(), outbound.addr());
                outbounds.push(outbound);
            }
            service_upstreams.insert(service.name.clone(), reach);
        }

        let mut services = BTreeMap::new();
        for service in &def.topology.services {
            let Some(listener) = listeners.remove(&service.name) else {
                continue;
            };
            let guard = match &mesh {
                None => None,
                Some(mesh) => {
                    let leaf = mesh.leaf(&service.name).map_err(mesh_error)?;
                    Some(MeshGuard {
                        identity: service.name.clone(),
                        tls: std::sync::RwLock::new(mesh.server_config(&leaf).map_err(mesh_error)?),
                        leaf: Arc::new(std::sync::RwLock::new(leaf)),
                        intentions: mesh.store.clone(),
                        stats: stats[&service.name].clone(),
                    })
                }
            };
            let service_seed = derive_seed(seed, &[&service.name]);
            let reach = service_upstreams.remove(&service.name).unwrap_or_default();
            let handle =
                ServiceHandle::launch(service, listener, reach, &clock, service_seed, guard)
                    .await?;
            services.insert(service.name.clone(), Arc::new(handle));
        }

        // Each sidecar's admin API and the catalog API (mesh only).
        let mut sidecar_admins = BTreeMap::new();
        let mut catalog = None;
        if let Some(mesh) = &mesh {
            for (i, service) in def.topology.services.iter().enumerate() {
                let Some(guard) = services.get(&service.name).and_then(|h| h.inbound().mesh())
                else {
                    continue;
                };
                let fixed = ports
                    .sidecar_admin_base
                    .saturating_add(u16::try_from(i).unwrap_or(u16::MAX));
                let listener =
                    bind(&format!("{} sidecar admin", service.name), port(fixed)).await?;
                let state = SidecarAdminState {
                    service: service.name.clone(),
                    stats: stats[&service.name].clone(),
                    ca: mesh.ca.clone(),
                    leaf: guard.leaf.clone(),
                    clock: clock.clone(),
                };
                let handle = serve_router(listener, sidecar_admin::router(state))
                    .map_err(|e| bind_error("sidecar admin", e))?;
                sidecar_admins.insert(service.name.clone(), handle);
            }
            let listener = bind("catalog API", port(ports.catalog)).await?;
            let state = CatalogState {
                datacenter: "dc1".into(),
                node: "gauntlet".into(),
                services: def
                    .topology
                    .services
                    .iter()
                    .filter_map(|s| {
                        let handle = services.get(&s.name)?;
                        Some(CatalogService {
                            name: s.name.clone(),
                            protocol: s.protocol,
                            address: handle.app_addr(),
                            sidecar: handle.addr(),
                            upstreams: s
                                .upstreams
                                .iter()
                                .map(|u| CatalogUpstream {
                                    destination: u.service.clone(),
                                    local_bind_port: outbounds
                                        .iter()
                                        .find(|o| {
                                            o.source() == s.name && o.destination() == u.service
                                        })
                                        .map_or(u.local_port, |o| o.addr().port()),
                                })
                                .collect(),
                        })
                    })
                    .collect(),
                health: {
                    let running: BTreeMap<String, Arc<ServiceHandle>> = services.clone();
                    Arc::new(move |name: &str| running.get(name).is_some_and(|s| s.is_running()))
                },
                store: mesh.store.clone(),
                ca: mesh.ca.clone(),
                clock: clock.clone(),
            };
            catalog = Some(
                serve_router(listener, catalog::router(state))
                    .map_err(|e| bind_error("catalog API", e))?,
            );
        }

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
                    let (config, server_name) = mesh
                        .client_config(&def.topology.gateway_identity, &service.name)
                        .map_err(mesh_error)?;
                    Some(MeshTls {
                        config,
                        server_name,
                    })
                }
            };
            upstreams.set(
                &kong_service.name,
                Upstream {
                    addr: handle.addr(),
                    tls,
                },
            );
        }
        let gateway = Gateway::new(Arc::new(def.gateway.clone()), clock.clone(), upstreams)
            .start(proxy, admin)
            .map_err(|source| StackError::Bind {
                what: "gateway".into(),
                port: 0,
                source,
            })?;
        Ok(Stack {
            def,
            clock,
            gateway,
            services,
            mesh,
            sidecar_stats: stats,
            sidecar_admins,
            catalog,
            outbounds,
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
        format!("http://{}", self.gateway.admin.addr())
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

async fn bind(what: &str, port: u16) -> Result<tokio::net::TcpListener, StackError> {
    bind_loopback(port)
        .await
        .map_err(|source| StackError::Bind {
            what: what.to_string(),
            port,
            source,
        })
}
