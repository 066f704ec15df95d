//! The mesh parts of starting a stack (SPEC §6), in the order `Stack::start` runs them: the CA
//! and leaves, the upstream listeners, each public listener's guard, the sidecar admin APIs and
//! the catalog API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use super::{bind, ServiceHandle, StackError};
use crate::api::access::{self, ApiToken};
use crate::api::catalog::{self, CatalogService, CatalogState, CatalogUpstream};
use crate::api::console;
use crate::api::sidecar_admin::{self, SidecarAdminState};
use crate::clock::StackClock;
use crate::config::topology::ServiceDef;
use crate::config::StackDef;
use crate::http::server::{serve_router, ServerHandle};
use crate::link::{link_name, Links};
use crate::mesh::runtime::StackMesh;
use crate::mesh::stats::SidecarStats;
use crate::protocol::Protocol;
use crate::sidecar::{MeshGuard, Outbound, UpstreamTarget};

/// The stack's mesh, when it has intentions: a fresh CA and a leaf for every service and the
/// gateway.
pub(crate) fn start(
    def: &StackDef,
    clock: &StackClock,
) -> Result<Option<Arc<StackMesh>>, StackError> {
    let Some(mesh_def) = &def.mesh else {
        return Ok(None);
    };
    let identities = def
        .topology
        .services
        .iter()
        .map(|s| s.name.as_str())
        .chain([def.topology.gateway_identity.as_str()]);
    Ok(Some(Arc::new(StackMesh::start(
        mesh_def, identities, clock,
    )?)))
}

/// Where each service reaches its upstreams, by service then destination.
pub(super) type Reach = BTreeMap<String, BTreeMap<String, SocketAddr>>;

/// With a mesh, an upstream listener per declared upstream (plain in, mTLS out as the service,
/// expecting the destination's identity); without, services call the destination's public port.
pub(super) async fn start_outbounds(
    def: &StackDef,
    mesh: Option<&StackMesh>,
    public: &BTreeMap<String, SocketAddr>,
    stats: &BTreeMap<String, Arc<SidecarStats>>,
    port: &impl Fn(u16) -> u16,
    links: Option<&Links>,
) -> Result<(Vec<Outbound>, Reach), StackError> {
    let mut outbounds = Vec::new();
    let mut reach_all = Reach::new();
    for service in &def.topology.services {
        let mut reach = BTreeMap::new();
        for upstream in &service.upstreams {
            let Some(&destination) = public.get(&upstream.service) else {
                continue;
            };
            let Some(mesh) = mesh else {
                reach.insert(upstream.service.clone(), destination);
                continue;
            };
            let what = format!(
                "{} upstream listener for {}",
                service.name, upstream.service
            );
            let listener = bind(&what, port(upstream.local_port)).await?;
            let (tls, server_name) = mesh.client_config(&service.name, &upstream.service)?;
            let protocol = def
                .topology
                .service(&upstream.service)
                .map_or(Protocol::Http, |s| s.protocol);
            let link = match (links, listener.local_addr()) {
                (Some(links), Ok(local)) => Some(links.declare(
                    &link_name(&service.name, &upstream.service),
                    local,
                    destination,
                )),
                _ => None,
            };
            let target = UpstreamTarget {
                destination: upstream.service.clone(),
                protocol,
                addr: destination,
                tls,
                server_name,
                link,
            };
            let outbound = Outbound::start(
                listener,
                &service.name,
                target,
                stats[&service.name].clone(),
            )
            .map_err(|source| StackError::Serve { what, source })?;
            reach.insert(upstream.service.clone(), outbound.addr());
            outbounds.push(outbound);
        }
        reach_all.insert(service.name.clone(), reach);
    }
    Ok((outbounds, reach_all))
}

/// The mesh side of `service`'s public listener: its leaf, TLS config, the live intentions.
pub(crate) fn guard(
    mesh: &StackMesh,
    service: &ServiceDef,
    stats: Arc<SidecarStats>,
) -> Result<MeshGuard, StackError> {
    let leaf = mesh.leaf(&service.name)?;
    Ok(MeshGuard {
        identity: service.name.clone(),
        tls: RwLock::new(mesh.server_config(&leaf, service.protocol)?),
        leaf: Arc::new(RwLock::new(leaf)),
        intentions: mesh.store.clone(),
        stats,
    })
}

/// Each sidecar's admin API (`/ready`, `/stats/prometheus`, `/certs`), on
/// `sidecar_admin_base + i` under `up`.
pub(super) async fn start_sidecar_admins(
    def: &StackDef,
    mesh: &StackMesh,
    services: &BTreeMap<String, Arc<ServiceHandle>>,
    stats: &BTreeMap<String, Arc<SidecarStats>>,
    clock: &StackClock,
    port: &impl Fn(u16) -> u16,
    token: Option<&ApiToken>,
) -> Result<BTreeMap<String, ServerHandle>, StackError> {
    let mut admins = BTreeMap::new();
    for (i, service) in def.topology.services.iter().enumerate() {
        let Some(guard) = services.get(&service.name).and_then(|h| h.inbound().mesh()) else {
            continue;
        };
        let fixed = def
            .topology
            .ports
            .sidecar_admin_base
            .saturating_add(u16::try_from(i).unwrap_or(u16::MAX));
        let what = format!("{} sidecar admin", service.name);
        let listener = bind(&what, port(fixed)).await?;
        let state = SidecarAdminState {
            service: service.name.clone(),
            stats: stats[&service.name].clone(),
            ca: mesh.ca.clone(),
            leaf: guard.leaf.clone(),
            clock: clock.clone(),
        };
        // Behind the API token like the control and admin APIs (`up --api-token`).
        let router = access::guard(sidecar_admin::router(state), token, access::Scheme::Bearer);
        let handle =
            serve_router(listener, router).map_err(|source| StackError::Serve { what, source })?;
        admins.insert(service.name.clone(), handle);
    }
    Ok(admins)
}

/// The Consul-shaped catalog API: services and their sidecars, health, intentions, CA roots.
pub(super) async fn start_catalog(
    def: &Arc<StackDef>,
    mesh: &StackMesh,
    services: &BTreeMap<String, Arc<ServiceHandle>>,
    outbounds: &[Outbound],
    clock: &StackClock,
    port: &impl Fn(u16) -> u16,
    token: Option<&ApiToken>,
) -> Result<ServerHandle, StackError> {
    let listener = bind("catalog API", port(def.topology.ports.catalog)).await?;
    let entries = def
        .topology
        .services
        .iter()
        .filter_map(|s| {
            let handle = services.get(&s.name)?;
            let upstreams = s
                .upstreams
                .iter()
                .map(|u| CatalogUpstream {
                    destination: u.service.clone(),
                    local_bind_port: outbounds
                        .iter()
                        .find(|o| o.source() == s.name && o.destination() == u.service)
                        .map_or(u.local_port, |o| o.addr().port()),
                })
                .collect();
            Some(CatalogService {
                name: s.name.clone(),
                protocol: s.protocol,
                address: handle.app_addr(),
                sidecar: handle.addr(),
                upstreams,
            })
        })
        .collect();
    let running = services.clone();
    // The topology console's data, behind the catalog's token like the rest of it.
    let topology = console::topology::router(console::topology::TopologyState {
        datacenter: "dc1".into(),
        def: def.clone(),
        services: Arc::new(services.clone()),
        store: mesh.store.clone(),
    });
    let state = CatalogState {
        datacenter: "dc1".into(),
        node: "gauntlet".into(),
        services: entries,
        health: Arc::new(move |name: &str| running.get(name).is_some_and(|s| s.is_running())),
        store: mesh.store.clone(),
        ca: mesh.ca.clone(),
        clock: clock.clone(),
    };
    let router = access::guard(
        catalog::router(state).merge(topology),
        token,
        access::Scheme::Consul,
    )
    // The console's pages carry no data: open, so a browser can load them and send the token.
    .merge(console::pages(console::Console::Topology));
    serve_router(listener, router).map_err(|source| StackError::Serve {
        what: "catalog API".into(),
        source,
    })
}
