//! A stack as containers (SPEC §13): one Docker network per run, each service as a pod of two
//! containers (its sidecar owning the namespace, the service joining it), and the gateway, all
//! from Gauntlet's own image.
//!
//! ```text
//!   files (stack + mesh material, host folder) ─► network <run> ─► all at once:
//!     per service: <run>-<svc>-sidecar  create (aliases = the service's names) + start
//!                  <run>-<svc>          testcontainers, --network container:<run>-<svc>-sidecar
//!                  ─► its ports answer (sidecar control, service control, public port)
//!     gateway:     <run>-gateway        create (alias gateway) + start ─► proxy, control answer
//! ```
//! Nothing waits for what it does not need: each pod and the gateway start side by side, a
//! service starts as soon as its sidecar runs, readiness is a connect every 5 ms (the engine is
//! asked about a container only every 250 ms), and the files reach every container through one
//! read-only bind mount instead of an upload per file and container (each upload mounts the
//! container's root filesystem in the engine). [`DockerStack::timeline`] says where the time went.
//!
//! The host reaches the containers on the run's private network (their own addresses on it);
//! `gauntlet up` forwards its fixed loopback ports there. Process faults act on the engine
//! (stop, start, kill, pause, unpause, partition); clock jumps go to every container's control
//! endpoint and return once each has moved. [`DockerStack::shutdown`] removes every container,
//! the network and the files; a run that dies leaves them labelled for [`super::prune`].

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use testcontainers::bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount as BollardMount, MountType,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig,
};
use testcontainers::bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, KillContainerOptions, LogsOptionsBuilder,
    StartContainerOptions,
};
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::engine::Engine;
use super::image::BuiltImage;
use super::{files, role};
use super::{labels, DockerError};
use crate::clock::Stopwatch;
use crate::config::topology::ServiceDef;
use crate::config::StackDef;
use crate::mesh::runtime::StackMesh;

/// How long every container gets to answer on its control endpoint.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long one readiness connect may take (a paused or unrouted peer never answers).
const CONNECT_WITHIN: Duration = Duration::from_millis(200);

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

/// One service's pod: the service container (testcontainers' handle; its sidecar, which owns
/// the namespace, is named after it and acted on by name).
#[derive(Debug)]
struct Pod {
    service: Container,
    aliases: Vec<String>,
}

/// When each step of a start-up happened (from the start), to show where the time goes.
#[derive(Debug, Clone)]
struct Timeline {
    stopwatch: Stopwatch,
    marks: Arc<Mutex<Vec<(Duration, String)>>>,
}

impl Timeline {
    fn new(stopwatch: Stopwatch) -> Self {
        Timeline {
            stopwatch,
            marks: Arc::default(),
        }
    }

    fn mark(&self, what: impl Into<String>) {
        let at = self.stopwatch.elapsed();
        if let Ok(mut marks) = self.marks.lock() {
            marks.push((at, what.into()));
        }
    }

    fn take(&self) -> Vec<(Duration, String)> {
        self.marks
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

/// Whether the container target can run every service of `def`: mocks, and user images the
/// engine already has (no registry is assumed), each listening on a port other than the one its
/// sidecar owns.
pub async fn check_runtimes(engine: &Engine, def: &StackDef) -> Result<(), DockerError> {
    use crate::config::topology::ServiceRuntime;
    for service in &def.topology.services {
        match &service.runtime {
            ServiceRuntime::Mock(_) => {}
            ServiceRuntime::Image { reference, port } => {
                let public = role::public_port(def, &service.name);
                if *port == public {
                    return Err(DockerError::Unsupported(format!(
                        "service {}: the image listens on {port}, the port its sidecar owns in \
                         the pod (the one kong.yml calls it on); make the image listen on another \
                         port and set `port:` to it",
                        service.name
                    )));
                }
                if engine.docker.inspect_image(reference).await.is_err() {
                    return Err(DockerError::MissingImage {
                        service: service.name.clone(),
                        image: reference.clone(),
                    });
                }
            }
            other => {
                return Err(DockerError::Unsupported(format!(
                    "service {} is {}: the container target runs mocks (`mock:`) and local \
                     images (`image:` with `port:`)",
                    service.name,
                    match other {
                        ServiceRuntime::Command { .. } => "a command",
                        _ => "an external URL",
                    }
                )));
            }
        }
    }
    Ok(())
}

/// `name:tag` split for testcontainers (`latest` when no tag is given).
fn split_reference(reference: &str) -> (String, String) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(colon) => (
            reference[..slash + colon].to_string(),
            reference[slash + colon + 1..].to_string(),
        ),
        None => (reference.to_string(), "latest".to_string()),
    }
}

/// Counts the containers with a network endpoint of their own still starting; the last one
/// marks the network complete ([`files::NETWORK_READY`]).
#[derive(Debug)]
struct NetworkGate {
    remaining: std::sync::atomic::AtomicUsize,
    dir: std::path::PathBuf,
}

impl NetworkGate {
    fn joined(&self, timeline: &Timeline) {
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            files::mark_network_ready(&self.dir);
            timeline.mark("every network endpoint joined");
        }
    }
}

/// The arguments of a role (`gauntlet container <role> …`).
fn role_args(role: &str, service: Option<&str>, seed: &str) -> Vec<String> {
    let mut args = vec!["container".to_string(), role.to_string()];
    if let Some(service) = service {
        args.extend(["--service".to_string(), service.to_string()]);
    }
    args.extend(["--seed".to_string(), seed.to_string()]);
    args
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
    /// The host folder mounted read-only at `/etc/gauntlet` in every container.
    pub files: std::path::PathBuf,
    engine: Engine,
    pods: BTreeMap<String, Pod>,
    /// Each service pod's address on the network, by service.
    pub pod_ips: BTreeMap<String, IpAddr>,
    pub gateway_ip: IpAddr,
    /// Where the host reaches each container's ports: 127.0.0.1 ports the engine publishes
    /// (chosen at creation, so a partition's reconnect keeps them), by container port; for
    /// each service's pod (its sidecar) and for the gateway ([`GATEWAY`]).
    published: BTreeMap<String, BTreeMap<u16, u16>>,
    pub startup: Duration,
    /// Where the start-up's time went: each step with when it finished.
    pub timeline: Vec<(Duration, String)>,
    removed: AtomicBool,
}

/// The key of the gateway's published ports.
const GATEWAY: &str = "gateway";

/// The 127.0.0.1 port of the host for each container port the host talks to: the control APIs
/// of each pod (sidecar, and the service's clock) and the gateway's proxy, admin and control
/// API. Free ports are picked here, so the engine publishes the same ones again when a
/// partitioned pod reconnects.
fn publish_plan(def: &StackDef) -> Result<BTreeMap<String, BTreeMap<u16, u16>>, DockerError> {
    let free = |port: u16| -> Result<(u16, u16), DockerError> {
        std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| (port, a.port()))
            .map_err(|e| DockerError::Engine(format!("no free loopback port: {e}")))
    };
    let mut plan = BTreeMap::new();
    for service in &def.topology.services {
        let mut ports = vec![role::SIDECAR_CONTROL];
        if role::has_clock(service) {
            ports.push(role::SERVICE_CONTROL);
        }
        if def.mesh.is_some() {
            ports.push(role::SIDECAR_ADMIN);
        }
        let ports = ports.into_iter().map(free).collect::<Result<_, _>>()?;
        plan.insert(service.name.clone(), ports);
    }
    let gateway = [
        role::GATEWAY_PROXY,
        role::GATEWAY_ADMIN,
        role::GATEWAY_CONTROL,
    ]
    .into_iter()
    .map(free)
    .collect::<Result<_, _>>()?;
    plan.insert(GATEWAY.to_string(), gateway);
    Ok(plan)
}

/// The engine's form of `publish`: each container port on its 127.0.0.1 port.
fn port_bindings(publish: &BTreeMap<u16, u16>) -> testcontainers::bollard::models::PortMap {
    publish
        .iter()
        .map(|(port, host)| {
            let binding = testcontainers::bollard::models::PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(host.to_string()),
            };
            (format!("{port}/tcp"), Some(vec![binding]))
        })
        .collect()
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
        let timeline = Timeline::new(stopwatch);
        check_runtimes(engine, &def).await?;
        // The CA, the leaves and the files while the engine makes the network.
        let material = async {
            let mesh = crate::stack::mesh::start(&def, &crate::clock::StackClock::new())
                .map_err(|e| DockerError::Unsupported(e.to_string()))?;
            let files = files::write(run, &def, mesh.as_deref())?;
            timeline.mark("stack files and mesh material written");
            Ok::<_, DockerError>((mesh, files))
        };
        let docker = engine.docker.clone();
        let request = NetworkCreateRequest {
            name: run.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels(run, def.name(), "network", None)),
            ..Default::default()
        };
        // A task of its own: the CA and leaves are made synchronously meanwhile.
        let network = tokio::spawn(async move { docker.create_network(request).await });
        let material = material.await;
        let created = match network.await {
            Ok(created) => created.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let (mesh, files) = match (material, created) {
            (Ok(material), Ok(_)) => material,
            (material, created) => {
                // Whichever half was made goes again.
                files::remove(Some(run));
                if created.is_ok() {
                    let _ = engine.docker.remove_network(run).await;
                }
                return Err(match (material, created) {
                    (Err(e), _) => e,
                    (_, Err(e)) => DockerError::Engine(format!("cannot create network {run}: {e}")),
                    _ => unreachable!("one half failed"),
                });
            }
        };
        timeline.mark(format!("network {run} created"));
        let mut stack = DockerStack {
            run: run.to_string(),
            def: def.clone(),
            network: run.to_string(),
            image: image.clone(),
            seed,
            mesh,
            files,
            engine: engine.clone(),
            pods: BTreeMap::new(),
            pod_ips: BTreeMap::new(),
            gateway_ip: IpAddr::from([0, 0, 0, 0]),
            published: BTreeMap::new(),
            startup: Duration::ZERO,
            timeline: Vec::new(),
            removed: AtomicBool::new(false),
        };
        stack.published = publish_plan(&def)?;
        let started = stack.start_containers(&timeline).await;
        stack.timeline = timeline.take();
        match started {
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

    /// The mounts every container gets: the run's files read-only at `/etc/gauntlet`, and a
    /// `/tmp` (a scratch image has none).
    fn mounts(&self) -> Vec<BollardMount> {
        vec![
            BollardMount {
                target: Some(role::ETC_DIR.to_string()),
                source: Some(self.files.display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            },
            BollardMount {
                target: Some("/tmp".to_string()),
                typ: Some(MountType::TMPFS),
                ..Default::default()
            },
        ]
    }

    /// Creates and starts a container of its own on the run network, answering to `aliases`
    /// there from its first moment (set at creation: testcontainers 0.28 has no alias option,
    /// and connecting again afterwards costs a disconnect and a reconnect per container).
    async fn create_networked(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        args: Vec<String>,
        aliases: Vec<String>,
        publish: &BTreeMap<u16, u16>,
        timeline: &Timeline,
    ) -> Result<(), DockerError> {
        let start_error = |e: testcontainers::bollard::errors::Error| DockerError::Start {
            container: name.to_string(),
            reason: e.to_string(),
        };
        let config = ContainerCreateBody {
            image: Some(self.image.reference()),
            cmd: Some(args),
            labels: Some(labels),
            exposed_ports: Some(publish.keys().map(|p| format!("{p}/tcp")).collect()),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                mounts: Some(self.mounts()),
                port_bindings: Some(port_bindings(publish)),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings {
                        aliases: Some(aliases),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let docker = &self.engine.docker;
        docker
            .create_container(
                Some(CreateContainerOptionsBuilder::new().name(name).build()),
                config,
            )
            .await
            .map_err(start_error)?;
        timeline.mark(format!("{name} created"));
        docker
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(start_error)?;
        timeline.mark(format!("{name} started"));
        Ok(())
    }

    /// One service's pod: its sidecar (owning the namespace, with the service's names), then
    /// the service in that namespace (testcontainers), then both answering.
    async fn start_pod(
        &self,
        service: &ServiceDef,
        gate: &NetworkGate,
        timeline: &Timeline,
    ) -> Result<(String, Pod, IpAddr), DockerError> {
        let run = &self.run;
        let stack = self.def.name();
        let seed = self.seed.to_string();
        let sidecar = sidecar_name(run, &service.name);
        let mut aliases = vec![service.name.clone()];
        aliases.extend(service.aliases.iter().cloned());
        self.create_networked(
            &sidecar,
            labels(run, stack, "sidecar", Some(&service.name)),
            role_args("sidecar", Some(&service.name), &seed),
            aliases.clone(),
            &self.published[&service.name],
            timeline,
        )
        .await?;
        gate.joined(timeline);
        let name = container_name(run, &service.name);
        let namespace = format!("container:{sidecar}");
        let labels = labels(run, stack, "service", Some(&service.name));
        let request = match &service.runtime {
            crate::config::topology::ServiceRuntime::Image { reference, .. } => {
                let (image, tag) = split_reference(reference);
                // The user's service: its own entrypoint, told where its upstreams are (the
                // sidecar's listeners on the pod's loopback).
                self.upstream_env(service).into_iter().fold(
                    GenericImage::new(image, tag)
                        .with_container_name(&name)
                        .with_labels(labels),
                    |request, (key, value)| request.with_env_var(key, value),
                )
            }
            _ => GenericImage::new(self.image.name.clone(), self.image.tag.clone())
                .with_container_name(&name)
                .with_labels(labels)
                .with_cmd(role_args("service", Some(&service.name), &seed))
                .with_mount(
                    Mount::bind_mount(self.files.display().to_string(), role::ETC_DIR)
                        .with_access_mode(AccessMode::ReadOnly),
                )
                .with_mount(Mount::tmpfs_mount("/tmp")),
        };
        let request = request
            .with_startup_timeout(READY_WITHIN)
            .with_host_config_modifier(move |hc| {
                hc.network_mode = Some(namespace.clone());
                hc.publish_all_ports = Some(false);
                hc.port_bindings = None;
            });
        let (started, ip) = futures::join!(request.start(), self.ip_of(&sidecar));
        let container = started.map_err(|e| DockerError::Start {
            container: name.clone(),
            reason: e.to_string(),
        })?;
        timeline.mark(format!("{name} started"));
        let ip = ip?;
        let public = role::public_port(&self.def, &service.name);
        let clock = async {
            if role::has_clock(service) {
                self.wait_ready(&name, SocketAddr::new(ip, role::SERVICE_CONTROL))
                    .await
            } else {
                Ok(())
            }
        };
        let (a, b) = futures::join!(
            self.wait_ready(&sidecar, SocketAddr::new(ip, role::SIDECAR_CONTROL)),
            clock,
        );
        a?;
        b?;
        // The sidecar keeps its public port closed until the service listens behind it (the
        // sidecar role follows the service before its control API answers), so this waits for
        // the service itself, and a service that dies is seen dead here.
        self.wait_ready(&name, SocketAddr::new(ip, public)).await?;
        timeline.mark(format!("pod {} answers", service.name));
        Ok((
            service.name.clone(),
            Pod {
                service: container,
                aliases,
            },
            ip,
        ))
    }

    /// What a user image is told about its upstreams: `GAUNTLET_UPSTREAM_<NAME>` (upper case,
    /// `-` as `_`) = the sidecar's listener for it on the pod's loopback (with a mesh), else
    /// the upstream's name and public port on the network.
    fn upstream_env(&self, service: &ServiceDef) -> Vec<(String, String)> {
        service
            .upstreams
            .iter()
            .map(|u| {
                let key = format!(
                    "GAUNTLET_UPSTREAM_{}",
                    u.service.to_uppercase().replace('-', "_")
                );
                let url = if self.def.mesh.is_some() {
                    format!("http://127.0.0.1:{}", u.local_port)
                } else {
                    format!(
                        "http://{}:{}",
                        u.service,
                        role::public_port(&self.def, &u.service)
                    )
                };
                (key, url)
            })
            .collect()
    }

    async fn start_gateway(
        &self,
        gate: &NetworkGate,
        timeline: &Timeline,
    ) -> Result<IpAddr, DockerError> {
        let name = container_name(&self.run, "gateway");
        self.create_networked(
            &name,
            labels(&self.run, self.def.name(), "gateway", None),
            role_args("gateway", None, &self.seed.to_string()),
            vec!["gateway".to_string()],
            &self.published[GATEWAY],
            timeline,
        )
        .await?;
        gate.joined(timeline);
        let ip = self.ip_of(&name).await?;
        let (a, b) = futures::join!(
            self.wait_ready(&name, SocketAddr::new(ip, role::GATEWAY_CONTROL)),
            self.wait_ready(&name, SocketAddr::new(ip, role::GATEWAY_PROXY)),
        );
        a?;
        b?;
        timeline.mark("gateway answers");
        Ok(ip)
    }

    /// Every pod and the gateway at once; each is ready when all its ports answer.
    async fn start_containers(&mut self, timeline: &Timeline) -> Result<(), DockerError> {
        let services = self.def.topology.services.clone();
        let gate = NetworkGate {
            remaining: (services.len() + 1).into(),
            dir: self.files.clone(),
        };
        let pods = join_all(services.iter().map(|s| self.start_pod(s, &gate, timeline)));
        let (pods, gateway) = futures::join!(pods, self.start_gateway(&gate, timeline));
        let mut first_error = None;
        for pod in pods {
            match pod {
                Ok((service, pod, ip)) => {
                    self.pods.insert(service.clone(), pod);
                    self.pod_ips.insert(service, ip);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match gateway {
            Ok(ip) => self.gateway_ip = ip,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Connects `container` to the run's network again, with `aliases`.
    async fn connect(&self, container: &str, aliases: &[String]) -> Result<(), DockerError> {
        let docker = &self.engine.docker;
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

    /// Waits until `addr` accepts a connection: tried every 5 ms (a refused connect costs
    /// nothing), with the engine asked whether `container` still runs only every 250 ms (asking
    /// on every try would load the engine while it starts the others).
    async fn wait_ready(&self, container: &str, addr: SocketAddr) -> Result<(), DockerError> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        let mut next_check = tokio::time::Instant::now() + Duration::from_millis(250);
        loop {
            if let Ok(Ok(_)) =
                tokio::time::timeout(CONNECT_WITHIN, tokio::net::TcpStream::connect(addr)).await
            {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= next_check {
                next_check = now + Duration::from_millis(250);
                let running = self
                    .engine
                    .docker
                    .inspect_container(container, None)
                    .await
                    .ok()
                    .and_then(|i| i.state)
                    .and_then(|s| s.running)
                    .unwrap_or(false);
                if !running || now >= deadline {
                    return Err(DockerError::Died {
                        container: container.to_string(),
                        logs: self.last_logs(container, 20).await,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
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

    /// Every container of the run that exits from now on (a fault, `docker stop` from outside,
    /// or a crash), as the engine reports it: its name and exit code. Pushed by the engine's
    /// event stream, not polled.
    pub fn exits(&self) -> impl futures::Stream<Item = (String, String)> + Send + 'static {
        use futures::StreamExt;
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["die".to_string()]),
            (
                "label".to_string(),
                vec![format!("{}={}", super::LABEL_RUN, self.run)],
            ),
        ]);
        let options = EventsOptionsBuilder::new().filters(&filters).build();
        self.engine
            .docker
            .events(Some(options))
            .filter_map(|event| async move {
                let attributes = event.ok()?.actor?.attributes?;
                let name = attributes.get("name")?.clone();
                let code = attributes.get("exitCode").cloned().unwrap_or_default();
                Some((name, code))
            })
    }

    /// Every state change of the run's service containers from now on, as the engine reports
    /// it: the service, the action (`start`, `die`, `kill`, `stop`, `pause`, `unpause`) and the
    /// event's attributes (`exitCode` of a `die`, `signal` of a `kill`). Pushed, not polled.
    pub fn service_events(
        &self,
    ) -> impl futures::Stream<Item = (String, String, HashMap<String, String>)> + Send + 'static
    {
        use futures::StreamExt;
        let actions = ["start", "die", "kill", "stop", "pause", "unpause"];
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), actions.map(String::from).to_vec()),
            (
                "label".to_string(),
                vec![
                    format!("{}={}", super::LABEL_RUN, self.run),
                    "gauntlet.role=service".to_string(),
                ],
            ),
        ]);
        let options = EventsOptionsBuilder::new().filters(&filters).build();
        self.engine
            .docker
            .events(Some(options))
            .filter_map(|event| async move {
                let event = event.ok()?;
                let attributes = event.actor?.attributes?;
                let service = attributes.get("gauntlet.service")?.clone();
                Some((service, event.action?, attributes))
            })
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
                self.connect(&sidecar_name(&self.run, service), &pod.aliases)
                    .await
            }
        }
    }

    /// Every control endpoint of the run: each sidecar's, each mock service's, the gateway's.
    pub fn control_endpoints(&self) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for service in self.pod_ips.keys() {
            out.extend(self.host_addr(service, role::SIDECAR_CONTROL));
            out.extend(self.host_addr(service, role::SERVICE_CONTROL));
        }
        out.push(self.gateway_control());
        out
    }

    /// Where the host reaches `port` of `owner`'s container (a service's pod, or [`GATEWAY`]):
    /// the 127.0.0.1 port the engine publishes it on.
    fn host_addr(&self, owner: &str, port: u16) -> Option<SocketAddr> {
        let host = self.published.get(owner)?.get(&port)?;
        Some(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, *host)))
    }

    /// The sidecar control API of `service` (faults, journal, links), from the host.
    pub fn sidecar_control(&self, service: &str) -> Option<SocketAddr> {
        self.host_addr(service, role::SIDECAR_CONTROL)
    }

    /// The clock endpoint of `service`'s own container (a mock), from the host.
    pub fn service_control(&self, service: &str) -> Option<SocketAddr> {
        self.host_addr(service, role::SERVICE_CONTROL)
    }

    /// The sidecar admin API of `service` (a stack with a mesh), from the host.
    pub fn sidecar_admin(&self, service: &str) -> Option<SocketAddr> {
        self.host_addr(service, role::SIDECAR_ADMIN)
    }

    /// The gateway's control API (its clock, its links), from the host.
    pub fn gateway_control(&self) -> SocketAddr {
        self.gateway_addr(role::GATEWAY_CONTROL)
    }

    fn gateway_addr(&self, port: u16) -> SocketAddr {
        self.host_addr(GATEWAY, port)
            .unwrap_or_else(|| SocketAddr::new(self.gateway_ip, port))
    }

    /// The gateway proxy, from the host.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.gateway_addr(role::GATEWAY_PROXY)
    }

    /// The gateway admin API, from the host.
    pub fn admin_addr(&self) -> SocketAddr {
        self.gateway_addr(role::GATEWAY_ADMIN)
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
