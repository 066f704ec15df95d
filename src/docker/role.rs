//! What Gauntlet's binary runs inside a container of the container target (SPEC §13), one role
//! per container (`gauntlet container <role>`, hidden from the help):
//!
//! ```text
//!   <run>-<service>-sidecar  (owns the pod's network namespace; network alias = the service)
//!     sidecar: public port (mTLS, intentions, faults, journal) ──► 127.0.0.1:APP_PORT
//!              upstream listeners 127.0.0.1:<local_port> ──► <destination>:<its public port>
//!              control API :SIDECAR_CONTROL (faults, journal, clock)
//!   <run>-<service>          (joins the sidecar's namespace: `--network container:`)
//!     service: the mock on 127.0.0.1:APP_PORT, its clock on :SERVICE_CONTROL
//!   <run>-gateway            (network alias `gateway`)
//!     gateway: proxy :8000, admin :8001, clock on :GATEWAY_CONTROL
//! ```
//! Every role reads the stack definition mounted at [`STACK_DIR`] and, with a mesh, the stack's
//! CA and leaves from [`MESH_FILE`] ([`crate::mesh::bundle`]). Each has its own stack clock; the
//! host moves them all together through their control endpoints.
//!
//! The sidecar owns the namespace (as a pod's pause container does) so that `docker stop` and
//! `docker start` of the service container leave the pod's address and public port in place:
//! the restarted service joins the same namespace, and meanwhile callers get the sidecar's
//! Envoy-style 503 `upstream connect error`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api;
use crate::clock::StackClock;
use crate::config::topology::{ServiceDef, ServiceRuntime};
use crate::config::StackDef;
use crate::gateway::upstream::{MeshTls, Upstream, UpstreamAddrs};
use crate::gateway::Gateway;
use crate::http::server::serve_router;
use crate::link::{link_name, Links};
use crate::mesh::bundle::MeshBundle;
use crate::mesh::runtime::StackMesh;
use crate::mesh::stats::SidecarStats;
use crate::protocol::Protocol;
use crate::service::ServiceHandle;
use crate::sidecar::{Outbound, UpstreamTarget};

/// Where the run's files are mounted (read-only) in each container ([`super::files`]).
pub const ETC_DIR: &str = "/etc/gauntlet";
/// Where the stack definition is in each container.
pub const STACK_DIR: &str = "/etc/gauntlet/stack";
/// Where the mesh material is in each container of a stack with a mesh.
pub const MESH_FILE: &str = "/etc/gauntlet/mesh.json";
/// Where a mock service listens inside its pod (loopback only: the sidecar owns the public port).
pub const APP_PORT: u16 = 9000;

/// Where `service` listens inside its pod: a user image on the port its `stack.yml` entry
/// names, a mock on [`APP_PORT`].
pub fn app_port(service: &ServiceDef) -> u16 {
    match service.runtime {
        ServiceRuntime::Image { port, .. } => port,
        _ => APP_PORT,
    }
}

/// Whether the service's own container follows the stack clock (has a control endpoint): the
/// mocks do, a user image does not.
pub fn has_clock(service: &ServiceDef) -> bool {
    !matches!(service.runtime, ServiceRuntime::Image { .. })
}
/// The service container's clock endpoint.
pub const SERVICE_CONTROL: u16 = 9098;
/// The sidecar's control API (faults, journal, clock).
pub const SIDECAR_CONTROL: u16 = 9099;
/// The sidecar's admin API with a mesh (`/ready`, `/stats/prometheus`, `/certs`), on Envoy's
/// admin port.
pub const SIDECAR_ADMIN: u16 = 19000;
/// The gateway's proxy, admin API and clock endpoint.
pub const GATEWAY_PROXY: u16 = 8000;
pub const GATEWAY_ADMIN: u16 = 8001;
pub const GATEWAY_CONTROL: u16 = 8099;
/// A service's public port when kong.yml names none.
pub const DEFAULT_PUBLIC_PORT: u16 = 8080;
/// How often a sidecar checks that its service listens.
const LIVENESS_EVERY: Duration = Duration::from_millis(20);
/// How long a role waits for a peer's name to resolve (its container may start later).
const RESOLVE_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {what} :{port}: {source}")]
    Bind {
        what: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} did not resolve within 20 s")]
    Resolve(String),
}

/// The port a service's sidecar listens on: the one kong.yml calls it on, else 8080.
pub fn public_port(def: &StackDef, service: &str) -> u16 {
    def.gateway
        .services
        .iter()
        .find(|k| {
            def.topology
                .service_for_host(&k.host)
                .is_some_and(|s| s.name == service)
        })
        .map_or(DEFAULT_PUBLIC_PORT, |k| k.port)
}

fn load(stack: &Path) -> Result<StackDef, RoleError> {
    StackDef::load(stack).map_err(|e| RoleError::Config(e.to_string()))
}

fn service_def<'a>(def: &'a StackDef, name: &str) -> Result<&'a ServiceDef, RoleError> {
    def.topology
        .service(name)
        .ok_or_else(|| RoleError::Config(format!("no service named {name} in stack.yml")))
}

fn mesh(
    def: &StackDef,
    bundle: &Path,
    clock: &StackClock,
) -> Result<Option<Arc<StackMesh>>, RoleError> {
    let Some(mesh_def) = &def.mesh else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(bundle)
        .map_err(|e| RoleError::Config(format!("{}: {e}", bundle.display())))?;
    let bundle: MeshBundle = serde_json::from_str(&text)
        .map_err(|e| RoleError::Config(format!("{}: {e}", bundle.display())))?;
    bundle
        .into_mesh(mesh_def, clock)
        .map(|mesh| Some(Arc::new(mesh)))
        .map_err(|e| RoleError::Config(e.to_string()))
}

/// Binds `ip:port`; after a restart ([`super::restart`]) the last start's listener may still be
/// closing, so a port in use is tried again for a while.
async fn listen(what: &str, ip: Ipv4Addr, port: u16) -> Result<TcpListener, RoleError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind((ip, port)).await {
            Ok(listener) => return Ok(listener),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(source) => {
                return Err(RoleError::Bind {
                    what: what.to_string(),
                    port,
                    source,
                })
            }
        }
    }
}

/// Waits until the host says every peer has joined the network ([`super::files::NETWORK_READY`]
/// in the mounted run folder), so that no lookup leaves the network; gives up waiting after
/// [`RESOLVE_WITHIN`] (the lookups then wait for the peers themselves).
async fn network_ready() {
    let marker = Path::new(ETC_DIR).join(super::files::NETWORK_READY);
    let deadline = tokio::time::Instant::now() + RESOLVE_WITHIN;
    while !marker.exists() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Resolves `host:port` through the network's DNS, waiting for a peer still starting.
pub async fn resolve(host: &str, port: u16) -> Result<SocketAddr, RoleError> {
    let deadline = tokio::time::Instant::now() + RESOLVE_WITHIN;
    loop {
        if let Ok(mut addrs) = tokio::net::lookup_host((host, port)).await {
            if let Some(addr) = addrs.find(SocketAddr::is_ipv4) {
                return Ok(addr);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RoleError::Resolve(format!("{host}:{port}")));
        }
        // The peer's container is starting beside this one: its name resolves the moment the
        // engine joins it to the network.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The links of a role (the hops that leave its container), drawing their toxics' randomness
/// from the same seed as the in-process stack's links.
fn links(seed: u64, clock: &StackClock) -> Links {
    Links::new(crate::seed::derive_seed(seed, &["links"]), clock.clone())
}

/// What a role's control API acts on and reads.
fn control_target(
    stack: &StackDef,
    clock: &StackClock,
    seed: u64,
    services: BTreeMap<String, Arc<ServiceHandle>>,
    gateway: Option<Arc<Gateway>>,
    links: Links,
) -> api::control::ControlTarget {
    api::control::ControlTarget {
        stack: stack.name().to_string(),
        seed,
        clock: clock.clone(),
        services,
        links,
        gateway,
    }
}

/// The control API of a role: the one control router over the role's services and the links
/// that leave its container (Toxiproxy's API at the root), its clock; in the gateway's container
/// what the gateway observes (breakers, traffic, traces); with a mesh, the mesh calls and
/// intention changes of this container ([`super::mesh_api`]).
async fn serve_control(
    stack: &StackDef,
    target: api::control::ControlTarget,
    mesh: Option<&Arc<StackMesh>>,
    port: u16,
) -> Result<crate::http::server::ServerHandle, RoleError> {
    let listener = listen("control API", Ipv4Addr::UNSPECIFIED, port).await?;
    let service = target.services.values().next().cloned();
    let mut router = api::control::router(target).merge(super::restart::router());
    if let Some(mesh) = mesh {
        router = router.merge(super::mesh_api::router(
            mesh.clone(),
            Arc::new(stack.clone()),
            service,
        ));
    }
    serve_router(listener, router).map_err(|source| RoleError::Bind {
        what: "control API".into(),
        port,
        source,
    })
}

/// The sidecar of `service`: runs until the container stops.
///
/// # Errors
/// A bad definition, a port that cannot be bound, a peer that never resolves.
pub async fn sidecar(
    stack: &Path,
    bundle: &Path,
    service: &str,
    seed: u64,
) -> Result<(), RoleError> {
    let def = load(stack)?;
    let clock = StackClock::new();
    let mesh = mesh(&def, bundle, &clock)?;
    let me = service_def(&def, service)?.clone();
    let stats = Arc::new(SidecarStats::default());
    let links = links(seed, &clock);

    // Upstream listeners on the pod's loopback, towards each destination's public port.
    let mut outbounds = Vec::new();
    if let Some(mesh) = &mesh {
        if !me.upstreams.is_empty() {
            network_ready().await;
        }
        for upstream in &me.upstreams {
            let addr = resolve(&upstream.service, public_port(&def, &upstream.service)).await?;
            let (tls, server_name) = mesh
                .client_config(&me.name, &upstream.service)
                .map_err(|e| RoleError::Config(e.to_string()))?;
            let protocol = def
                .topology
                .service(&upstream.service)
                .map_or(Protocol::Http, |s| s.protocol);
            let listener = listen(
                "upstream listener",
                Ipv4Addr::LOCALHOST,
                upstream.local_port,
            )
            .await?;
            let link = listener
                .local_addr()
                .ok()
                .map(|local| links.declare(&link_name(&me.name, &upstream.service), local, addr));
            let target = UpstreamTarget {
                destination: upstream.service.clone(),
                protocol,
                addr,
                tls,
                server_name,
                link,
            };
            outbounds.push(
                Outbound::start(listener, &me.name, target, stats.clone()).map_err(|source| {
                    RoleError::Bind {
                        what: "upstream listener".into(),
                        port: upstream.local_port,
                        source,
                    }
                })?,
            );
        }
    }

    // The public port, in front of the service on the pod's loopback, opened once the service
    // listens: callers never meet a port that a liveness check is about to close.
    let app = app_port(&me);
    wait_listening(app).await;
    let port = public_port(&def, &me.name);
    let public = listen("public port", Ipv4Addr::UNSPECIFIED, port).await?;
    let guard = match &mesh {
        None => None,
        Some(mesh) => Some(
            crate::stack::mesh::guard(mesh, &me, stats.clone())
                .map_err(|e| RoleError::Config(e.to_string()))?,
        ),
    };
    let mut behind = me.clone();
    // The service runs in its own container: process faults go to the engine, not here.
    behind.runtime = ServiceRuntime::External {
        url: format!("http://127.0.0.1:{app}"),
    };
    let handle = ServiceHandle::launch(
        &behind,
        public,
        BTreeMap::new(),
        &clock,
        crate::seed::derive_seed(seed, &[&me.name]),
        guard,
    )
    .await
    .map_err(|e| RoleError::Config(e.to_string()))?;
    let handle = Arc::new(handle);
    // Closed before the control API answers if the service is gone again (or never came): once
    // the host sees the control port, the public port answering means the service itself does.
    follow_liveness(&handle, app).await;
    let _liveness = super::restart::TaskGuard(tokio::spawn(mirror_liveness(handle.clone(), app)));
    let _admin = match (&mesh, handle.inbound().mesh()) {
        (Some(mesh), Some(guard)) => {
            let listener = listen("sidecar admin", Ipv4Addr::UNSPECIFIED, SIDECAR_ADMIN).await?;
            let state = api::sidecar_admin::SidecarAdminState {
                service: me.name.clone(),
                stats: stats.clone(),
                ca: mesh.ca.clone(),
                leaf: guard.leaf.clone(),
                clock: clock.clone(),
            };
            let admin = serve_router(listener, api::sidecar_admin::router(state));
            Some(admin.map_err(|source| RoleError::Bind {
                what: "sidecar admin".into(),
                port: SIDECAR_ADMIN,
                source,
            })?)
        }
        _ => None,
    };
    let services = BTreeMap::from([(me.name.clone(), handle)]);
    let target = control_target(&def, &clock, seed, services, None, links);
    let _control = serve_control(&def, target, mesh.as_ref(), SIDECAR_CONTROL).await?;
    eprintln!("sidecar of {} ready on :{port}", me.name);
    std::future::pending::<()>().await;
    drop(outbounds);
    Ok(())
}

/// Waits until the service listens on the pod's loopback `port` (its container starts beside
/// this one); gives up waiting after [`RESOLVE_WITHIN`], the liveness check then opening the
/// public port whenever it does.
async fn wait_listening(port: u16) {
    let app = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = tokio::time::Instant::now() + RESOLVE_WITHIN;
    while tokio::net::TcpStream::connect(app).await.is_err()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Keeps the public port in step with the service container: closed while the service is
/// down (`docker stop`/`kill`: callers get connection refused, as in process), open again once
/// it listens. A paused service still accepts connections in the kernel: the port stays open
/// and requests hang, which is what pause means.
async fn mirror_liveness(handle: Arc<ServiceHandle>, port: u16) {
    loop {
        tokio::time::sleep(LIVENESS_EVERY).await;
        follow_liveness(&handle, port).await;
    }
}

/// Opens or closes the public port once, after whether the service listens on `port` now.
async fn follow_liveness(handle: &ServiceHandle, port: u16) {
    let app = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let up = tokio::net::TcpStream::connect(app).await.is_ok();
    let listening = handle.inbound().is_listening();
    if up && !listening {
        let _ = handle.inbound().reopen().await;
    } else if !up && listening {
        handle.inbound().close(false).await;
    }
}

/// The service itself (a mock), on the pod's loopback.
///
/// # Errors
/// A bad definition or a runtime the container target cannot run.
pub async fn service(stack: &Path, service: &str, seed: u64) -> Result<(), RoleError> {
    let def = load(stack)?;
    let clock = StackClock::new();
    let me = service_def(&def, service)?.clone();
    let ServiceRuntime::Mock(kind) = &me.runtime else {
        return Err(RoleError::Config(format!(
            "{service}: only mock services run in containers (this one is {:?})",
            me.runtime
        )));
    };
    let upstream_url = |destination: &str| {
        let declared = me.upstreams.iter().find(|u| u.service == destination)?;
        Some(if def.mesh.is_some() {
            // Through the sidecar's upstream listener on the shared loopback.
            format!("http://127.0.0.1:{}", declared.local_port)
        } else {
            format!("http://{destination}:{}", public_port(&def, destination))
        })
    };
    let config = mock_services::MockConfig {
        architect_url: upstream_url("value-architect"),
        committer_url: upstream_url("value-committer"),
        // The data stores speak raw tcp at the same addresses.
        redis_url: upstream_url("redis").map(|url| url.replacen("http://", "tcp://", 1)),
        postgres_url: upstream_url("postgres").map(|url| url.replacen("http://", "tcp://", 1)),
    };
    let wall = clock.clone();
    let options = mock_services::MockOptions {
        wall_clock: mock_services::WallClock::from_fn(move || wall.wall()),
        ..Default::default()
    };
    let kind = mock_services::MockKind::from(*kind);
    // The service first: once its control endpoint answers (the host waits for it, at the
    // start and after a restart), it listens.
    let listener = listen("service port", Ipv4Addr::LOCALHOST, APP_PORT).await?;
    let _mock = mock_services::start_with(kind, listener, config, options).await;
    let target = control_target(
        &def,
        &clock,
        seed,
        BTreeMap::new(),
        None,
        links(seed, &clock),
    );
    let _control = serve_control(&def, target, None, SERVICE_CONTROL).await?;
    eprintln!("{service} ready on 127.0.0.1:{APP_PORT}");
    std::future::pending::<()>().await;
    Ok(())
}

/// The gateway: kong.yml's services reached by their host names on the network.
///
/// # Errors
/// A bad definition, a port that cannot be bound, a service host that never resolves.
pub async fn gateway(stack: &Path, bundle: &Path, seed: u64) -> Result<(), RoleError> {
    let def = load(stack)?;
    let clock = StackClock::new();
    let mesh = mesh(&def, bundle, &clock)?;
    let links = links(seed, &clock);
    let upstreams = UpstreamAddrs::default();
    network_ready().await;
    for kong_service in &def.gateway.services {
        let Some(service) = def.topology.service_for_host(&kong_service.host) else {
            continue;
        };
        let addr = resolve(&kong_service.host, kong_service.port).await?;
        let tls = match &mesh {
            None => None,
            Some(mesh) => {
                let (config, server_name) = mesh
                    .client_config(&def.topology.gateway_identity, &service.name)
                    .map_err(|e| RoleError::Config(e.to_string()))?;
                Some(MeshTls {
                    config,
                    server_name,
                })
            }
        };
        upstreams.set(
            &kong_service.name,
            Upstream {
                addr,
                tls,
                link: Some(links.declare(&link_name("gateway", &service.name), addr, addr)),
            },
        );
    }
    let proxy = listen("gateway proxy", Ipv4Addr::UNSPECIFIED, GATEWAY_PROXY).await?;
    let admin = listen("gateway admin", Ipv4Addr::UNSPECIFIED, GATEWAY_ADMIN).await?;
    let client_link = proxy
        .local_addr()
        .ok()
        .map(|addr| links.declare(&link_name("client", "gateway"), addr, addr));
    let gateway = Gateway::new(Arc::new(def.gateway.clone()), clock.clone(), upstreams)
        .start_linked(proxy, client_link)
        .map_err(|source| RoleError::Bind {
            what: "gateway proxy".into(),
            port: GATEWAY_PROXY,
            source,
        })?;
    let _admin =
        serve_router(admin, api::admin::router(gateway.state.clone())).map_err(|source| {
            RoleError::Bind {
                what: "gateway admin".into(),
                port: GATEWAY_ADMIN,
                source,
            }
        })?;
    // Its breakers, traffic and traces too: the host's consoles read them here.
    let observed = Some(gateway.state.clone());
    let target = control_target(&def, &clock, seed, BTreeMap::new(), observed, links);
    let _control = serve_control(&def, target, mesh.as_ref(), GATEWAY_CONTROL).await?;
    eprintln!("gateway ready on :{GATEWAY_PROXY}");
    std::future::pending::<()>().await;
    drop(gateway);
    Ok(())
}
