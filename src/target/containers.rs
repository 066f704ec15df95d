//! The container target of [`super::ScenarioStack`]: each scenario's stack as containers
//! ([`crate::docker::DockerStack`]), acted on from the host through the control APIs the engine
//! publishes on 127.0.0.1, and through the engine for process faults.
//!
//! ```text
//!   ContainerRun (one per `gauntlet run`): engine, image (built on first use), at most N stacks at once
//!     └─ ContainerStack (one per scenario, fresh): DockerStack + the host's mirror of its clock
//!          clock jump   ─► the mirror, then every container's control API; returns once all moved
//!          stand still  ─► the mirror, then every container at the mirror's wall time (to the ns)
//!          HTTP faults, journal ─► the service's sidecar       toxics ─► the container the link leaves
//!          stop/start/kill/pause/partition ─► the engine, then the sidecar sees the service go or come
//! ```
//! Tokens minted on the host use the mirror, so they agree with every container's clock. A
//! container that exits without a process fault asking for it fails the scenario's next step,
//! naming the container and its last log lines.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::Method;
use futures::future::join_all;
use serde_json::{json, Value};

use super::{LinkToxic, ProcessAction, TargetError};
use crate::chaos::fault::FaultRule;
use crate::clock::StackClock;
use crate::config::StackDef;
use crate::docker::control::{link_holders, link_owner, send};
use crate::docker::image::BuiltImage;
use crate::docker::stack::container_name;
use crate::docker::{prune, DockerError, DockerStack, Engine};
use crate::link::Toxic;
use crate::mesh::probe::{Caller, Outcome, Probe};
use crate::sidecar::journal::JournalEntry;

/// How long a started or stopped service may take to be seen so by its sidecar.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);
/// Port plans tried for a new stack.
const PORT_ATTEMPTS: usize = 3;
/// New stacks made at once.
const MAKING_AT_ONCE: usize = 2;
/// How long a call to a container's control API may take.
const CALL_WITHIN: Duration = Duration::from_secs(10);
/// How often the host asks a sidecar while it waits.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// The container target of one run: where its scenarios' stacks start.
#[derive(Debug)]
pub struct ContainerRun {
    engine: Engine,
    image: BuiltImage,
    /// `gauntlet-<8 hex>`; scenario stacks are `<name>-<n>`.
    name: String,
    next: AtomicUsize,
    slots: Arc<tokio::sync::Semaphore>,
    /// New stacks being made at once: the engine's work, which side by side only slows down.
    making: tokio::sync::Semaphore,
    stacks: usize,
    /// Every stack started, to remove what a scenario left (an interrupted run).
    runs: Mutex<Vec<String>>,
    /// Stacks a finished scenario handed back, whole, for the next to restart.
    idle: Mutex<Vec<Arc<DockerStack>>>,
}

impl ContainerRun {
    /// Connects to the engine, checks that it can run every service of `def`, and builds the
    /// image unless the engine has it; at most `stacks` scenario stacks will run at once.
    ///
    /// # Errors
    /// No engine (the socket tried and how to fix it), a service it cannot run, the image build.
    pub async fn prepare(def: &StackDef, stacks: usize) -> Result<Arc<ContainerRun>, DockerError> {
        let engine = crate::docker::engine::connect().await?;
        crate::docker::stack::check_runtimes(&engine, def).await?;
        let binary = crate::docker::image::own_binary()?;
        let image = crate::docker::image::ensure(&engine, &binary, false).await?;
        let stacks = stacks.max(1);
        Ok(Arc::new(ContainerRun {
            engine,
            image,
            name: crate::docker::run_name(),
            next: AtomicUsize::new(0),
            slots: Arc::new(tokio::sync::Semaphore::new(stacks)),
            making: tokio::sync::Semaphore::new(MAKING_AT_ONCE),
            stacks,
            runs: Mutex::default(),
            idle: Mutex::default(),
        }))
    }

    /// How many scenario stacks run at once.
    pub fn stacks(&self) -> usize {
        self.stacks
    }

    /// The run's name: its scenario stacks are `<name>-1`, `<name>-2`, … (containers
    /// `<name>-<n>-<service>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image the stacks run.
    pub fn image(&self) -> &BuiltImage {
        &self.image
    }

    /// A stack in its start state for one scenario, once fewer than the limit are in use: one a
    /// finished scenario handed back, every role restarted with `seed` ([`restart`]), or
    /// else a new one.
    ///
    /// # Errors
    /// The engine refuses, or a container dies or never answers (named, with its last logs).
    pub async fn start(
        self: &Arc<Self>,
        def: Arc<StackDef>,
        seed: u64,
    ) -> Result<ContainerStack, TargetError> {
        let stopwatch = crate::clock::Stopwatch::start();
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| TargetError(e.to_string()))?;
        while let Some(stack) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            match restart(&stack, seed).await {
                Ok(()) => {
                    tracing::debug!(run = %stack.run, took = ?stopwatch.elapsed(), "stack restarted");
                    return Ok(ContainerStack::watch(self, stack, slot, stopwatch));
                }
                // Not whole: it goes, and the next (or a new one) is tried.
                Err(e) => {
                    tracing::debug!(run = %stack.run, error = %e, "stack removed: no restart");
                    stack.shutdown().await;
                }
            }
        }
        let _making = self
            .making
            .acquire()
            .await
            .map_err(|e| TargetError(e.to_string()))?;
        // The 127.0.0.1 ports are picked free just before the engine publishes them; another
        // process may take one meanwhile: a new plan is tried then.
        let mut attempts = 0;
        let stack = loop {
            attempts += 1;
            let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            let run = format!("{}-{n}", self.name);
            if let Ok(mut runs) = self.runs.lock() {
                runs.push(run.clone());
            }
            match DockerStack::start(&self.engine, &self.image, def.clone(), &run, seed).await {
                Ok(stack) => break stack,
                Err(e)
                    if attempts < PORT_ATTEMPTS
                        && e.to_string().contains("address already in use") => {}
                Err(e) => {
                    return Err(TargetError(format!(
                        "the stack's containers did not start: {e}"
                    )))
                }
            }
        };
        tracing::debug!(run = %stack.run, took = ?stopwatch.elapsed(), "stack started");
        Ok(ContainerStack::watch(
            self,
            Arc::new(stack),
            slot,
            stopwatch,
        ))
    }

    /// Removes every container and network of every stack of the run still there.
    pub async fn remove_all(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        let runs = self
            .runs
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        join_all(
            runs.iter()
                .map(|run| prune::prune_run(&self.engine, Some(run.as_str()))),
        )
        .await;
    }
}

/// Exits of the stack's containers: those a process fault asked for, and the others.
#[derive(Debug, Default)]
struct Exits {
    /// Exits still expected, by container (a stop or kill the scenario made).
    expected: BTreeMap<String, usize>,
    /// Exits nobody asked for: container and exit code.
    unexpected: Vec<(String, String)>,
}

/// The process faults in force on a stack, undone before another scenario gets it.
#[derive(Debug, Default)]
struct InForce {
    down: std::collections::BTreeSet<String>,
    /// Paused services, with the clock's offset when they froze.
    paused: BTreeMap<String, Duration>,
    disconnected: std::collections::BTreeSet<String>,
}

impl InForce {
    fn record(&mut self, service: &str, action: ProcessAction, offset: Duration) {
        let service = service.to_string();
        match action {
            ProcessAction::Stop | ProcessAction::Kill => {
                self.down.insert(service);
            }
            ProcessAction::Start => {
                self.down.remove(&service);
            }
            ProcessAction::Pause => {
                self.paused.insert(service, offset);
            }
            ProcessAction::Unpause => {
                self.paused.remove(&service);
            }
            ProcessAction::Disconnect => {
                self.disconnected.insert(service);
            }
            ProcessAction::Connect => {
                self.disconnected.remove(&service);
            }
        }
    }

    /// What undoes them, in order.
    fn undo(&self) -> Vec<(String, ProcessAction)> {
        let paused = self
            .paused
            .keys()
            .map(|s| (s.clone(), ProcessAction::Unpause));
        let down = self.down.iter().map(|s| (s.clone(), ProcessAction::Start));
        let cut = self
            .disconnected
            .iter()
            .map(|s| (s.clone(), ProcessAction::Connect));
        paused.chain(down).chain(cut).collect()
    }

    /// Whether `service`'s own container cannot follow the clock now (stopped or frozen).
    fn frozen(&self, service: &str) -> bool {
        self.down.contains(service) || self.paused.contains_key(service)
    }
}

/// One scenario's stack of containers.
#[derive(Debug)]
pub struct ContainerStack {
    pub stack: Arc<DockerStack>,
    /// The host's mirror of the containers' clocks.
    pub clock: StackClock,
    exits: Arc<Mutex<Exits>>,
    in_force: Mutex<InForce>,
    watcher: tokio::task::JoinHandle<()>,
    /// How long the scenario waited for its stack (a new one, or one restarted).
    pub startup: Duration,
    run: Arc<ContainerRun>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

fn failed(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError(format!("{what}: {e}"))
}

/// The message of a refusal: a control API's `{"message"}` or Toxiproxy's `{"error"}`.
fn refusal(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).to_string())
}

/// One call to a container's control API; the answer's body on success.
async fn call(
    addr: std::net::SocketAddr,
    method: Method,
    path: &str,
    body: Value,
) -> Result<Bytes, TargetError> {
    let body = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    match tokio::time::timeout(CALL_WITHIN, send(addr, method.clone(), path, body)).await {
        Ok(Ok((status, answer))) if status.is_success() => Ok(answer),
        Ok(Ok((status, answer))) => Err(TargetError(format!(
            "{method} {path}: {status} {}",
            refusal(&answer)
        ))),
        Ok(Err(e)) => Err(TargetError(format!(
            "{method} {path}: the container did not answer ({e})"
        ))),
        Err(_) => Err(TargetError(format!(
            "{method} {path}: no answer from the container within {} s",
            CALL_WITHIN.as_secs()
        ))),
    }
}

/// Whether `service`'s sidecar sees it listening.
async fn listening(stack: &DockerStack, service: &str) -> Result<bool, TargetError> {
    let sidecar = stack
        .sidecar_control(service)
        .ok_or_else(|| TargetError(format!("no service named {service}")))?;
    let answer = call(sidecar, Method::GET, "/", Value::Null).await?;
    let overview: Value = serde_json::from_slice(&answer).unwrap_or_default();
    Ok(overview["services"]
        .as_array()
        .and_then(|s| s.first())
        .and_then(|s| s["running"].as_bool())
        .unwrap_or(false))
}

/// How many times the role at `addr` started; `None` while it does not answer.
async fn generation(addr: std::net::SocketAddr) -> Option<u64> {
    let answer = call(addr, Method::GET, "/generation", Value::Null)
        .await
        .ok()?;
    serde_json::from_slice::<Value>(&answer).ok()?["generation"].as_u64()
}

/// Restarts the roles at `endpoints` with `seed` and waits until each answers as a new start.
async fn restart_roles(endpoints: &[std::net::SocketAddr], seed: u64) -> Result<(), TargetError> {
    let before: Vec<Option<u64>> = join_all(endpoints.iter().map(|a| generation(*a))).await;
    let body = json!({ "seed": seed });
    // The answer may be cut by the restart itself: what counts is the new start below.
    join_all(
        endpoints
            .iter()
            .map(|a| call(*a, Method::POST, "/restart", body.clone())),
    )
    .await;
    let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
    for (addr, before) in endpoints.iter().zip(before) {
        // A role that did not answer yet (a service just started again) counts from none.
        let before = before.unwrap_or_default();
        while generation(*addr).await.is_none_or(|g| g <= before) {
            if tokio::time::Instant::now() >= deadline {
                return Err(TargetError(format!("{addr} did not start again")));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
    Ok(())
}

/// Brings a stack a scenario handed back to its start state: the services first (each listens
/// once its control endpoint answers), then every sidecar (each opens its public port once its
/// service listens) and the gateway; then each sidecar must see its service.
async fn restart(stack: &DockerStack, seed: u64) -> Result<(), TargetError> {
    let services: Vec<std::net::SocketAddr> = stack
        .pod_ips
        .keys()
        .filter_map(|s| stack.service_control(s))
        .collect();
    restart_roles(&services, seed).await?;
    let mut others: Vec<std::net::SocketAddr> = stack
        .pod_ips
        .keys()
        .filter_map(|s| stack.sidecar_control(s))
        .collect();
    others.push(stack.gateway_control());
    restart_roles(&others, seed).await?;
    for service in stack.pod_ips.keys() {
        if !listening(stack, service).await? {
            return Err(TargetError(format!(
                "{service} is not up after the restart"
            )));
        }
    }
    Ok(())
}

/// Writes `bytes` on connection `id` kept in the pod whose control API is `control`.
pub async fn exchange(control: std::net::SocketAddr, id: u64, bytes: &[u8]) -> Outcome {
    let body = json!({ "bytes": crate::docker::mesh_api::bytes_json(bytes) });
    let path = format!("/mesh/connections/{id}");
    match call(control, Method::POST, &path, body).await {
        Ok(answer) => crate::docker::mesh_api::outcome_from(
            &serde_json::from_slice(&answer).unwrap_or_default(),
        ),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn unix_nanos(wall: std::time::SystemTime) -> u64 {
    let since = wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// `gateway->value-architect` as a path segment.
fn segment(link: &str) -> String {
    link.replace('>', "%3E")
}

impl ContainerStack {
    fn watch(
        run: &Arc<ContainerRun>,
        stack: Arc<DockerStack>,
        slot: tokio::sync::OwnedSemaphorePermit,
        stopwatch: crate::clock::Stopwatch,
    ) -> ContainerStack {
        use futures::StreamExt;
        let exits = Arc::new(Mutex::new(Exits::default()));
        let stream = stack.exits();
        let seen = exits.clone();
        let watcher = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some((container, code)) = stream.next().await {
                let Ok(mut exits) = seen.lock() else { return };
                match exits.expected.get_mut(&container) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => exits.unexpected.push((container, code)),
                }
            }
        });
        ContainerStack {
            stack,
            clock: StackClock::new(),
            exits,
            in_force: Mutex::default(),
            watcher,
            startup: stopwatch.elapsed(),
            run: run.clone(),
            _slot: slot,
        }
    }

    async fn call(
        &self,
        addr: std::net::SocketAddr,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<Bytes, TargetError> {
        call(addr, method, path, body).await
    }

    fn sidecar(&self, service: &str) -> Result<std::net::SocketAddr, TargetError> {
        self.stack.sidecar_control(service).ok_or_else(|| {
            TargetError(format!(
                "no service named {service} in this stack; it has {}",
                self.stack
                    .pod_ips
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The same request to every control endpoint at once (but those of services stopped or
    /// paused: each catches up when it runs again); the first failure.
    async fn to_every(&self, path: &str, body: &Value) -> Result<(), TargetError> {
        let frozen: Vec<std::net::SocketAddr> = self
            .in_force
            .lock()
            .map(|f| {
                self.stack
                    .pod_ips
                    .keys()
                    .filter(|s| f.frozen(s))
                    .filter_map(|s| self.stack.service_control(s))
                    .collect()
            })
            .unwrap_or_default();
        let endpoints: Vec<std::net::SocketAddr> = self
            .stack
            .control_endpoints()
            .into_iter()
            .filter(|a| !frozen.contains(a))
            .collect();
        let calls = endpoints
            .iter()
            .map(|addr| self.call(*addr, Method::POST, path, body.clone()));
        join_all(calls)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(())
    }

    pub async fn advance(&self, by: Duration) -> Result<(), TargetError> {
        self.clock
            .try_advance(by)
            .map_err(|e| TargetError(e.to_string()))?;
        self.to_every("/clock/advance", &json!({"seconds": by.as_secs_f64()}))
            .await
            .map_err(|e| failed("the clock jump did not reach every container", e))
    }

    pub async fn stand_still(&self) -> Result<(), TargetError> {
        self.clock.stand_still();
        let nanos = unix_nanos(self.clock.wall());
        self.to_every("/clock/stand-still", &json!({ "unix_nanos": nanos }))
            .await
            .map_err(|e| failed("the clock did not stand still in every container", e))
    }

    /// Waits until `service`'s sidecar sees it `up` (or down), as a process fault in process
    /// has taken effect when it returns.
    async fn settle(&self, service: &str, up: bool) -> Result<(), TargetError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        while listening(&self.stack, service).await? != up {
            if tokio::time::Instant::now() >= deadline {
                return Err(TargetError(format!(
                    "{service} was still {} {} s after the engine {} it",
                    if up { "down" } else { "up" },
                    SETTLE_WITHIN.as_secs(),
                    if up { "started" } else { "stopped" }
                )));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        Ok(())
    }

    pub async fn process(&self, service: &str, action: ProcessAction) -> Result<(), TargetError> {
        self.sidecar(service)?;
        let container = container_name(&self.stack.run, service);
        let exits = matches!(action, ProcessAction::Stop | ProcessAction::Kill);
        if exits {
            if let Ok(mut e) = self.exits.lock() {
                *e.expected.entry(container.clone()).or_default() += 1;
            }
        }
        self.stack
            .fault(service, action)
            .await
            .map_err(|e| TargetError(e.to_string()))?;
        let paused_at = self
            .in_force
            .lock()
            .map(|mut f| {
                let paused_at = f.paused.get(service).copied();
                f.record(service, action, self.clock.offset());
                paused_at
            })
            .unwrap_or_default();
        match action {
            ProcessAction::Stop | ProcessAction::Kill => self.settle(service, false).await,
            ProcessAction::Start => {
                self.settle(service, true).await?;
                // A new process: its clock starts at real time.
                self.catch_up(service, Duration::ZERO).await
            }
            ProcessAction::Unpause => self.catch_up(service, paused_at.unwrap_or_default()).await,
            _ => Ok(()),
        }
    }

    /// Brings the clock of `service`'s own container, at `offset` so far, to the stack's.
    async fn catch_up(&self, service: &str, offset: Duration) -> Result<(), TargetError> {
        let Some(control) = self.stack.service_control(service) else {
            return Ok(());
        };
        // A service started again listens before its clock endpoint answers.
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        while generation(control).await.is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL_EVERY).await;
        }
        let behind = self.clock.offset().saturating_sub(offset);
        if !behind.is_zero() {
            let body = json!({ "seconds": behind.as_secs_f64() });
            self.call(control, Method::POST, "/clock/advance", body)
                .await?;
        }
        if self.clock.stands_still() {
            let body = json!({ "unix_nanos": unix_nanos(self.clock.wall()) });
            self.call(control, Method::POST, "/clock/stand-still", body)
                .await?;
        }
        Ok(())
    }

    pub async fn add_fault(&self, service: &str, rule: &FaultRule) -> Result<(), TargetError> {
        let body = serde_json::to_value(rule).map_err(|e| TargetError(e.to_string()))?;
        let path = format!("/services/{service}/faults");
        self.call(self.sidecar(service)?, Method::POST, &path, body)
            .await
            .map(|_| ())
    }

    pub async fn clear_faults(&self, service: &str) -> Result<(), TargetError> {
        let path = format!("/services/{service}/faults");
        self.call(self.sidecar(service)?, Method::DELETE, &path, Value::Null)
            .await
            .map(|_| ())
    }

    pub async fn journal(
        &self,
        service: &str,
        last: usize,
    ) -> Result<(u64, Vec<JournalEntry>), TargetError> {
        let path = format!("/services/{service}/journal");
        let answer = self
            .call(self.sidecar(service)?, Method::GET, &path, Value::Null)
            .await?;
        #[derive(serde::Deserialize)]
        struct Journal {
            count: u64,
            data: Vec<JournalEntry>,
        }
        let journal: Journal = serde_json::from_slice(&answer)
            .map_err(|e| failed(&format!("the journal of {service}"), e))?;
        let mut entries = journal.data;
        entries.drain(..entries.len().saturating_sub(last));
        Ok((journal.count, entries))
    }

    pub async fn wait_for_requests(
        &self,
        service: &str,
        n: u64,
        patience: Duration,
    ) -> Result<u64, TargetError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let (count, _) = self.journal(service, 0).await?;
            if count >= n || tokio::time::Instant::now() >= deadline {
                return Ok(count);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Every link as Toxiproxy's API shows it, gathered from the gateway and every sidecar.
    async fn proxies(&self) -> Result<serde_json::Map<String, Value>, TargetError> {
        let holders = link_holders(&self.stack);
        let calls = holders
            .iter()
            .map(|addr| self.call(*addr, Method::GET, "/proxies", Value::Null));
        let mut all = serde_json::Map::new();
        for answer in join_all(calls).await {
            if let Ok(Value::Object(links)) = serde_json::from_slice(&answer?) {
                all.extend(links);
            }
        }
        Ok(all)
    }

    pub async fn link_names(&self) -> Result<Vec<String>, TargetError> {
        Ok(self.proxies().await?.keys().cloned().collect())
    }

    pub async fn toxics(&self) -> Result<Vec<LinkToxic>, TargetError> {
        let mut out = Vec::new();
        for (link, proxy) in self.proxies().await? {
            for toxic in proxy["toxics"].as_array().into_iter().flatten() {
                let toxic =
                    Toxic::from_json(toxic.to_string().as_bytes()).map_err(|e| failed(&link, e))?;
                out.push(LinkToxic {
                    link: link.clone(),
                    toxic,
                });
            }
        }
        Ok(out)
    }

    fn owner(&self, link: &str) -> Result<std::net::SocketAddr, TargetError> {
        link_owner(&self.stack, link)
            .ok_or_else(|| TargetError(format!("this stack has no link {link}")))
    }

    pub async fn add_toxic(&self, link: &str, toxic: &Toxic) -> Result<(), TargetError> {
        let path = format!("/proxies/{}/toxics", segment(link));
        self.call(self.owner(link)?, Method::POST, &path, toxic.to_json())
            .await
            .map(|_| ())
            .map_err(|e| failed(link, e))
    }

    pub async fn remove_toxic(&self, link: &str, name: &str) -> Result<(), TargetError> {
        let path = format!("/proxies/{}/toxics/{name}", segment(link));
        self.call(self.owner(link)?, Method::DELETE, &path, Value::Null)
            .await
            .map(|_| ())
            .map_err(|e| failed(link, e))
    }

    pub async fn set_link_enabled(&self, link: &str, enabled: bool) -> Result<(), TargetError> {
        let path = format!("/proxies/{}", segment(link));
        self.call(
            self.owner(link)?,
            Method::POST,
            &path,
            json!({ "enabled": enabled }),
        )
        .await
        .map(|_| ())
        .map_err(|e| failed(link, e))
    }

    pub async fn connections_opened(&self, link: &str) -> Result<u64, TargetError> {
        let answer = self
            .call(self.owner(link)?, Method::GET, "/links", Value::Null)
            .await?;
        let links: Value = serde_json::from_slice(&answer).unwrap_or_default();
        links[link]["connections_opened"]
            .as_u64()
            .ok_or_else(|| TargetError(format!("this stack has no link {link}")))
    }

    pub async fn reset_links(&self) -> Result<(), TargetError> {
        let holders = link_holders(&self.stack);
        let calls = holders
            .iter()
            .map(|addr| self.call(*addr, Method::POST, "/reset", Value::Null));
        join_all(calls)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(())
    }

    pub async fn mesh_call(
        &self,
        caller: &Caller,
        destination: &str,
        probe: &Probe,
    ) -> Result<Outcome, TargetError> {
        use crate::docker::mesh_api;
        if self.stack.def.mesh.is_none() {
            return Err(TargetError::new(super::NO_MESH));
        }
        self.sidecar(destination)?;
        // From the caller's own pod; a caller that is no service of the stack calls from the
        // gateway's container, on the same network.
        let from = match caller {
            Caller::Identity(name) => self.stack.sidecar_control(name),
            _ => None,
        }
        .unwrap_or_else(|| self.stack.gateway_control());
        let body = json!({
            "caller": mesh_api::caller_json(caller),
            "destination": destination,
            "probe": mesh_api::probe_json(probe),
        });
        let answer = self.call(from, Method::POST, "/mesh/call", body).await?;
        let outcome: Value = serde_json::from_slice(&answer).unwrap_or_default();
        Ok(mesh_api::outcome_from(&outcome))
    }

    pub async fn open_mesh_connection(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<super::MeshConnection, TargetError> {
        use crate::docker::mesh_api;
        if self.stack.def.mesh.is_none() {
            return Err(TargetError::new(super::NO_MESH));
        }
        self.sidecar(destination)?;
        let control = self.sidecar(source)?;
        let caller = Caller::Identity(source.to_string());
        let body = json!({
            "caller": mesh_api::caller_json(&caller),
            "destination": destination,
        });
        let answer = self
            .call(control, Method::POST, "/mesh/connections", body)
            .await?;
        let id = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v["id"].as_u64());
        let id = id.ok_or_else(|| TargetError::new("the sidecar kept no connection"))?;
        Ok(super::MeshConnection::InPod { control, id })
    }

    pub async fn present_identity(&self, service: &str, identity: &str) -> Result<(), TargetError> {
        if self.stack.def.mesh.is_none() {
            return Err(TargetError::new(super::NO_MESH));
        }
        let body = json!({ "identity": identity });
        self.call(self.sidecar(service)?, Method::POST, "/mesh/present", body)
            .await
            .map(|_| ())
    }

    /// The change in every container holding the mesh (the gateway and each sidecar).
    pub async fn change_intention(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), TargetError> {
        if self.stack.def.mesh.is_none() {
            return Err(TargetError::new(super::NO_MESH));
        }
        let body = body.cloned().unwrap_or(Value::Null);
        let holders = link_holders(&self.stack);
        let calls = holders
            .iter()
            .map(|addr| self.call(*addr, method.clone(), path, body.clone()));
        join_all(calls)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed("the intention change was refused", e))?;
        Ok(())
    }

    pub async fn check_alive(&self) -> Result<(), TargetError> {
        let died = self
            .exits
            .lock()
            .ok()
            .and_then(|e| e.unexpected.first().cloned());
        let Some((container, code)) = died else {
            return Ok(());
        };
        let logs = self.stack.last_logs(&container, 10).await;
        Err(TargetError(format!(
            "container {container} exited (code {code}) without a process fault asking for it; its last log lines:\n{logs}"
        )))
    }

    /// Hands the stack back for the next scenario once the process faults in force are undone;
    /// a stack with a container that died, or that will not come back, is removed instead.
    pub async fn shutdown(self) {
        self.watcher.abort();
        let undo = self.in_force.lock().map(|f| f.undo()).unwrap_or_default();
        let mut whole = self.exits.lock().is_ok_and(|e| e.unexpected.is_empty());
        for (service, action) in undo {
            whole = whole && self.stack.fault(&service, action).await.is_ok();
        }
        if whole {
            if let Ok(mut idle) = self.run.idle.lock() {
                idle.push(self.stack.clone());
                return;
            }
        }
        self.stack.shutdown().await;
    }
}

impl Drop for ContainerStack {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}
