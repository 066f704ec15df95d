//! A stack as containers (SPEC §13): one Docker network per run, each service as a pod of two
//! containers (its sidecar owning the namespace, the service joining it), and the gateway, all
//! from Gauntlet's own image, created, started and removed with testcontainers.
//!
//! ```text
//!   Engine ──► network <run> (labels) ──► per service, concurrently:
//!                 <run>-<svc>-sidecar  (aliases: the service's names)   sidecar role
//!                 <run>-<svc>          (--network container:<run>-<svc>-sidecar) service role
//!          ──► <run>-gateway (alias gateway) ──► every control endpoint answers ──► ready
//! ```
//! The host reaches the containers on the run's private network (their own addresses on it);
//! `gauntlet up` forwards its fixed loopback ports there. Process faults act on the engine
//! (stop, start, kill, pause, unpause, partition); clock jumps go to every container's control
//! endpoint and return once each has moved. [`DockerStack::shutdown`] removes every container and
//! the network; a run that dies leaves them labelled for [`super::prune`].

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use testcontainers::bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use testcontainers::bollard::query_parameters::{KillContainerOptions, LogsOptionsBuilder};
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::engine::Engine;
use super::image::BuiltImage;
use super::role;
use super::{labels, DockerError};
use crate::clock::Stopwatch;
use crate::config::StackDef;
use crate::mesh::bundle::MeshBundle;
use crate::mesh::runtime::StackMesh;

/// How long every container gets to answer on its control endpoint.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A process fault on the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineFault {
    Stop,
    Start,
    Kill,
    Pause,
    Unpause,
    /// Disconnect the service's pod from the network.
    Disconnect,
    /// Connect it again, with its aliases.
    Connect,
}

impl EngineFault {
    pub fn parse(action: &str) -> Option<EngineFault> {
        Some(match action {
            "stop" => EngineFault::Stop,
            "start" => EngineFault::Start,
            "kill" => EngineFault::Kill,
            "pause" => EngineFault::Pause,
            "unpause" | "resume" => EngineFault::Unpause,
            "disconnect" | "partition" => EngineFault::Disconnect,
            "connect" | "heal" => EngineFault::Connect,
            _ => return None,
        })
    }
}

type Container = ContainerAsync<GenericImage>;

/// One service's pod.
#[derive(Debug)]
struct Pod {
    /// Held for the pod's lifetime (removal goes by label).
    _sidecar: Container,
    service: Container,
    aliases: Vec<String>,
}

/// A running stack of containers.
#[derive(Debug)]
pub struct DockerStack {
    pub run: String,
    pub def: Arc<StackDef>,
    pub network: String,
    pub image: BuiltImage,
    pub seed: u64,
    pub mesh: Option<Arc<StackMesh>>,
    engine: Engine,
    pods: BTreeMap<String, Pod>,
    gateway: Option<Container>,
    /// Each service pod's address on the network, by service.
    pub pod_ips: BTreeMap<String, IpAddr>,
    pub gateway_ip: IpAddr,
    pub startup: Duration,
    removed: AtomicBool,
}

/// The container names of a run.
pub fn container_name(run: &str, service: &str) -> String {
    format!("{run}-{service}")
}

fn sidecar_name(run: &str, service: &str) -> String {
    format!("{run}-{service}-sidecar")
}

impl DockerStack {
    /// Starts `def` as containers of `image` on a new network named `run`.
    ///
    /// # Errors
    /// A service the container target cannot run, the engine refusing, or a container that
    /// dies or never answers (named, with its last log lines). Whatever started is removed.
    pub async fn start(
        engine: &Engine,
        image: &BuiltImage,
        def: Arc<StackDef>,
        run: &str,
        seed: u64,
    ) -> Result<DockerStack, DockerError> {
        let stopwatch = Stopwatch::start();
        for service in &def.topology.services {
            if !matches!(
                service.runtime,
                crate::config::topology::ServiceRuntime::Mock(_)
            ) {
                return Err(DockerError::Unsupported(format!(
                    "service {} is not a mock: the container target runs mock services only",
                    service.name
                )));
            }
        }
        let mesh = match &def.mesh {
            None => None,
            Some(mesh_def) => {
                let clock = crate::clock::StackClock::new();
                let identities = def
                    .topology
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .chain([def.topology.gateway_identity.as_str()]);
                let mesh = StackMesh::start(mesh_def, identities, &clock)
                    .map_err(|e| DockerError::Unsupported(e.to_string()))?;
                Some(Arc::new(mesh))
            }
        };
        engine
            .docker
            .create_network(NetworkCreateRequest {
                name: run.to_string(),
                driver: Some("bridge".into()),
                labels: Some(labels(run, def.name(), "network", None)),
                ..Default::default()
            })
            .await
            .map_err(|e| DockerError::Engine(format!("cannot create network {run}: {e}")))?;
        let mut stack = DockerStack {
            run: run.to_string(),
            def: def.clone(),
            network: run.to_string(),
            image: image.clone(),
            seed,
            mesh,
            engine: engine.clone(),
            pods: BTreeMap::new(),
            gateway: None,
            pod_ips: BTreeMap::new(),
            gateway_ip: IpAddr::from([0, 0, 0, 0]),
            startup: Duration::ZERO,
            removed: AtomicBool::new(false),
        };
        match stack.start_containers().await {
            Ok(()) => {
                stack.startup = stopwatch.elapsed();
                Ok(stack)
            }
            Err(e) => {
                stack.shutdown().await;
                Err(e)
            }
        }
    }

    /// The files every container gets: the stack definition and the mesh material.
    fn files(&self) -> Result<Vec<(String, Vec<u8>)>, DockerError> {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(&self.def.dir).map_err(|e| {
            DockerError::Unsupported(format!("cannot read {}: {e}", self.def.dir.display()))
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                let bytes = std::fs::read(&path).map_err(|e| {
                    DockerError::Unsupported(format!("cannot read {}: {e}", path.display()))
                })?;
                let name = entry.file_name().to_string_lossy().to_string();
                files.push((format!("{}/{name}", role::STACK_DIR), bytes));
            }
        }
        if let Some(mesh) = &self.mesh {
            let json = serde_json::to_vec(&MeshBundle::export(mesh))
                .map_err(|e| DockerError::Unsupported(e.to_string()))?;
            files.push((role::MESH_FILE.to_string(), json));
        }
        Ok(files)
    }

    fn request(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        args: Vec<String>,
        files: &[(String, Vec<u8>)],
    ) -> testcontainers::ContainerRequest<GenericImage> {
        let image = GenericImage::new(self.image.name.clone(), self.image.tag.clone());
        let mut request = image
            .with_container_name(name)
            .with_labels(labels)
            .with_cmd(args)
            .with_startup_timeout(READY_WITHIN);
        for (target, bytes) in files {
            request = request.with_copy_to(target.clone(), bytes.clone());
        }
        // No /tmp in a scratch image; the roles write nothing else.
        request.with_mount(Mount::tmpfs_mount("/tmp"))
    }

    async fn start_containers(&mut self) -> Result<(), DockerError> {
        let files = self.files()?;
        let seed = self.seed.to_string();
        let run = self.run.clone();
        let stack = self.def.name().to_string();
        // The sidecars first (they own the pods' namespaces), all at once.
        let sidecars = self.def.topology.services.iter().map(|service| {
            let name = sidecar_name(&run, &service.name);
            let request = self
                .request(
                    &name,
                    labels(&run, &stack, "sidecar", Some(&service.name)),
                    vec![
                        "container".into(),
                        "sidecar".into(),
                        "--service".into(),
                        service.name.clone(),
                        "--seed".into(),
                        seed.clone(),
                    ],
                    &files,
                )
                .with_network(self.network.clone())
                .with_host_config_modifier(|hc| hc.publish_all_ports = Some(false));
            let mut aliases = vec![service.name.clone()];
            aliases.extend(service.aliases.iter().cloned());
            async move {
                let container = request.start().await.map_err(|e| DockerError::Start {
                    container: name.clone(),
                    reason: e.to_string(),
                })?;
                Ok::<_, DockerError>((name, container, aliases))
            }
        });
        let mut started = Vec::new();
        let mut first_error = None;
        for result in join_all(sidecars).await {
            match result {
                Ok(s) => started.push(s),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // Aliases: the network DNS answers the service's names with its pod.
        let reconnects = started
            .iter()
            .map(|(name, _, aliases)| self.connect(name, aliases, true));
        for result in join_all(reconnects).await {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        // The services, each in its sidecar's namespace.
        let services = started.iter().map(|(sidecar, _, _)| {
            let service = sidecar
                .strip_prefix(&format!("{run}-"))
                .and_then(|s| s.strip_suffix("-sidecar"))
                .unwrap_or_default()
                .to_string();
            let name = container_name(&run, &service);
            let namespace = format!("container:{sidecar}");
            let request = self
                .request(
                    &name,
                    labels(&run, &stack, "service", Some(&service)),
                    vec![
                        "container".into(),
                        "service".into(),
                        "--service".into(),
                        service.clone(),
                        "--seed".into(),
                        seed.clone(),
                    ],
                    &files,
                )
                .with_host_config_modifier(move |hc| {
                    hc.network_mode = Some(namespace.clone());
                    hc.publish_all_ports = Some(false);
                    hc.port_bindings = None;
                });
            async move {
                let container = request.start().await.map_err(|e| DockerError::Start {
                    container: name.clone(),
                    reason: e.to_string(),
                })?;
                Ok::<_, DockerError>((service, container))
            }
        });
        let service_results = join_all(services).await;
        let mut by_service: BTreeMap<String, Container> = BTreeMap::new();
        for result in service_results {
            match result {
                Ok((service, container)) => {
                    by_service.insert(service, container);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        for (sidecar_container, sidecar, aliases) in started {
            let service = sidecar_container
                .strip_prefix(&format!("{run}-"))
                .and_then(|s| s.strip_suffix("-sidecar"))
                .unwrap_or_default()
                .to_string();
            match by_service.remove(&service) {
                Some(container) => {
                    self.pods.insert(
                        service,
                        Pod {
                            _sidecar: sidecar,
                            service: container,
                            aliases,
                        },
                    );
                }
                None => {
                    let _ = sidecar.rm().await;
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // The gateway.
        let name = container_name(&run, "gateway");
        let gateway = self
            .request(
                &name,
                labels(&run, &stack, "gateway", None),
                vec![
                    "container".into(),
                    "gateway".into(),
                    "--seed".into(),
                    seed.clone(),
                ],
                &files,
            )
            .with_network(self.network.clone())
            .with_host_config_modifier(|hc| hc.publish_all_ports = Some(false))
            .start()
            .await
            .map_err(|e| DockerError::Start {
                container: name.clone(),
                reason: e.to_string(),
            })?;
        self.gateway = Some(gateway);
        self.connect(&name, &["gateway".to_string()], true).await?;

        // Addresses, then every control endpoint must answer.
        for service in self.pods.keys().cloned().collect::<Vec<_>>() {
            let ip = self.ip_of(&sidecar_name(&run, &service)).await?;
            self.pod_ips.insert(service, ip);
        }
        self.gateway_ip = self.ip_of(&name).await?;
        let mut checks = Vec::new();
        for (service, ip) in &self.pod_ips {
            checks.push((
                sidecar_name(&run, service),
                SocketAddr::new(*ip, role::SIDECAR_CONTROL),
            ));
            checks.push((
                container_name(&run, service),
                SocketAddr::new(*ip, role::SERVICE_CONTROL),
            ));
        }
        checks.push((
            name.clone(),
            SocketAddr::new(self.gateway_ip, role::GATEWAY_CONTROL),
        ));
        checks.push((
            name.clone(),
            SocketAddr::new(self.gateway_ip, role::GATEWAY_PROXY),
        ));
        let waits = checks
            .iter()
            .map(|(container, addr)| self.wait_ready(container, *addr));
        for result in join_all(waits).await {
            result?;
        }
        Ok(())
    }

    /// Connects `container` to the run's network with `aliases` (reconnecting first when
    /// `reconnect`, since aliases are set only on connecting).
    async fn connect(
        &self,
        container: &str,
        aliases: &[String],
        reconnect: bool,
    ) -> Result<(), DockerError> {
        let docker = &self.engine.docker;
        if reconnect {
            docker
                .disconnect_network(
                    &self.network,
                    NetworkDisconnectRequest {
                        container: container.to_string(),
                        force: Some(true),
                    },
                )
                .await
                .map_err(|e| DockerError::Engine(format!("cannot disconnect {container}: {e}")))?;
        }
        docker
            .connect_network(
                &self.network,
                NetworkConnectRequest {
                    container: container.to_string(),
                    endpoint_config: Some(EndpointSettings {
                        aliases: Some(aliases.to_vec()),
                        ..Default::default()
                    }),
                },
            )
            .await
            .map_err(|e| DockerError::Engine(format!("cannot connect {container}: {e}")))
    }

    async fn ip_of(&self, container: &str) -> Result<IpAddr, DockerError> {
        let info = self
            .engine
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| DockerError::Engine(format!("cannot inspect {container}: {e}")))?;
        info.network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get(&self.network).cloned())
            .and_then(|e| e.ip_address)
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| {
                DockerError::Engine(format!(
                    "{container} has no address on network {}",
                    self.network
                ))
            })
    }

    async fn wait_ready(&self, container: &str, addr: SocketAddr) -> Result<(), DockerError> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            let running = self
                .engine
                .docker
                .inspect_container(container, None)
                .await
                .ok()
                .and_then(|i| i.state)
                .and_then(|s| s.running)
                .unwrap_or(false);
            if !running || tokio::time::Instant::now() >= deadline {
                return Err(DockerError::Died {
                    container: container.to_string(),
                    logs: self.last_logs(container, 20).await,
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The last `lines` lines `container` wrote.
    pub async fn last_logs(&self, container: &str, lines: usize) -> String {
        use futures::StreamExt;
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.engine.docker.logs(container, Some(options));
        let mut out = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&chunk.to_string());
        }
        out
    }

    /// The service container of `service`.
    fn pod(&self, service: &str) -> Result<&Pod, DockerError> {
        self.pods.get(service).ok_or_else(|| {
            DockerError::UnknownService(
                service.to_string(),
                self.pods.keys().cloned().collect::<Vec<_>>().join(", "),
            )
        })
    }

    /// Applies a process fault to `service` on the engine.
    ///
    /// # Errors
    /// An unknown service or the engine refusing.
    pub async fn fault(&self, service: &str, fault: EngineFault) -> Result<(), DockerError> {
        let pod = self.pod(service)?;
        let name = container_name(&self.run, service);
        let engine_error = |e: testcontainers::TestcontainersError| {
            DockerError::Engine(format!("{fault:?} {name}: {e}"))
        };
        match fault {
            EngineFault::Stop => pod
                .service
                .stop_with_timeout(Some(5))
                .await
                .map_err(engine_error),
            EngineFault::Start => pod.service.start().await.map_err(engine_error),
            EngineFault::Pause => pod.service.pause().await.map_err(engine_error),
            EngineFault::Unpause => pod.service.unpause().await.map_err(engine_error),
            EngineFault::Kill => self
                .engine
                .docker
                .kill_container(&name, None::<KillContainerOptions>)
                .await
                .map_err(|e| DockerError::Engine(format!("kill {name}: {e}"))),
            EngineFault::Disconnect => self
                .engine
                .docker
                .disconnect_network(
                    &self.network,
                    NetworkDisconnectRequest {
                        container: sidecar_name(&self.run, service),
                        force: Some(true),
                    },
                )
                .await
                .map_err(|e| DockerError::Engine(format!("disconnect {service}: {e}"))),
            EngineFault::Connect => {
                self.connect(&sidecar_name(&self.run, service), &pod.aliases, false)
                    .await
            }
        }
    }

    /// Every control endpoint of the run: each sidecar's, each service's, the gateway's.
    pub fn control_endpoints(&self) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for ip in self.pod_ips.values() {
            out.push(SocketAddr::new(*ip, role::SIDECAR_CONTROL));
            out.push(SocketAddr::new(*ip, role::SERVICE_CONTROL));
        }
        out.push(SocketAddr::new(self.gateway_ip, role::GATEWAY_CONTROL));
        out
    }

    /// The sidecar control API of `service` (faults, journal).
    pub fn sidecar_control(&self, service: &str) -> Option<SocketAddr> {
        self.pod_ips
            .get(service)
            .map(|ip| SocketAddr::new(*ip, role::SIDECAR_CONTROL))
    }

    /// The gateway proxy on the network.
    pub fn proxy_addr(&self) -> SocketAddr {
        SocketAddr::new(self.gateway_ip, role::GATEWAY_PROXY)
    }

    /// The gateway admin API on the network.
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::new(self.gateway_ip, role::GATEWAY_ADMIN)
    }

    /// Removes every container and the network (forcibly, by the run's label, so a container
    /// that is paused or half-started goes too).
    pub async fn shutdown(&self) {
        if self.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        super::prune::prune_run(&self.engine, Some(&self.run)).await;
    }
}

impl Drop for DockerStack {
    fn drop(&mut self) {
        // The containers go by label below or went in `shutdown`: the handles' own removal
        // would only race it.
        std::mem::forget(std::mem::take(&mut self.pods));
        std::mem::forget(self.gateway.take());
        if self.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        // Not shut down (a panic, an early return): remove by label on a thread of its own.
        let engine = self.engine.clone();
        let run = self.run.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(super::prune::prune_run(&engine, Some(&run)));
            }
        })
        .join();
    }
}
