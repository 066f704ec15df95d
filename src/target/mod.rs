//! Where a stack runs (SPEC §13), and the one interface the steps use to act on a scenario's
//! stack wherever it runs.
//!
//! ```text
//!   step ──► ScenarioStack ──┬─► process     the in-process Stack: its objects, directly
//!                            └─► containers  the container stack: its control APIs over 127.0.0.1
//!                                            published ports, process faults on the engine
//! ```
//! Each operation has one meaning on both targets (a clock jump returns once every component has
//! moved; a fault is in force when the call returns). What a target cannot do is an error that
//! says why, so a scenario needing it fails rather than passing unchecked.

pub mod containers;
pub mod process;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::fault::FaultRule;
use crate::clock::StackClock;
use crate::config::StackDef;
use crate::link::Toxic;
use crate::mesh::probe::{Caller, Outcome, Probe};
use crate::sidecar::journal::JournalEntry;
use crate::stack::Stack;

pub use crate::docker::EngineFault as ProcessAction;
pub use containers::{ContainerRun, ContainerStack};

/// Where a stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Target {
    /// Every component in this process, on loopback.
    #[default]
    Process,
    /// Each service, sidecar and the gateway in its own container (Docker Engine).
    Docker,
}

/// Where the scenarios of one run start their stacks.
#[derive(Debug, Clone, Default)]
pub enum RunTarget {
    #[default]
    Process,
    Containers(Arc<ContainerRun>),
}

/// What a mesh step says of a stack without one.
pub const NO_MESH: &str = "this stack has no mesh: add intentions.hcl (or intentions.json) to it";

/// An operation on a scenario's stack failed, or the target cannot do it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

impl TargetError {
    pub fn new(message: impl Into<String>) -> Self {
        TargetError(message.into())
    }
}

/// One toxic on one link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkToxic {
    pub link: String,
    pub toxic: Toxic,
}

/// A mesh connection kept open ("X opens a connection to Y over the mesh").
#[derive(Debug)]
pub enum MeshConnection {
    /// Held here, in process.
    Local(Box<crate::mesh::probe::OpenConnection>),
    /// Held inside the caller's pod: its control API and the connection's id there.
    InPod {
        control: std::net::SocketAddr,
        id: u64,
    },
}

impl MeshConnection {
    /// Writes `bytes` on the connection and reads the reply.
    pub async fn exchange(&mut self, bytes: &[u8]) -> Outcome {
        match self {
            MeshConnection::Local(connection) => connection.exchange(bytes).await,
            MeshConnection::InPod { control, id } => {
                containers::exchange(*control, *id, bytes).await
            }
        }
    }
}

/// A scenario's running stack.
#[derive(Debug)]
pub enum ScenarioStack {
    InProcess(Box<Stack>),
    Containers(Box<ContainerStack>),
}

impl ScenarioStack {
    /// Starts `def` where `target` says, for one scenario: in process a new stack; on containers
    /// a stack in its start state (a new one, or one a finished scenario handed back, restarted).
    ///
    /// # Errors
    /// What kept the stack from starting, worded for the QA engineer.
    pub async fn start(
        target: &RunTarget,
        def: Arc<StackDef>,
        seed: u64,
    ) -> Result<ScenarioStack, TargetError> {
        match target {
            RunTarget::Process => {
                let stack = Stack::start(def, crate::stack::PortPlan::Ephemeral, seed)
                    .await
                    .map_err(|e| TargetError(e.to_string()))?;
                Ok(ScenarioStack::InProcess(Box::new(stack)))
            }
            RunTarget::Containers(run) => Ok(ScenarioStack::Containers(Box::new(
                run.start(def, seed).await?,
            ))),
        }
    }

    pub fn def(&self) -> &Arc<StackDef> {
        match self {
            ScenarioStack::InProcess(s) => &s.def,
            ScenarioStack::Containers(s) => &s.stack.def,
        }
    }

    /// How long the stack took to start.
    pub fn startup(&self) -> Duration {
        match self {
            ScenarioStack::InProcess(s) => s.startup,
            ScenarioStack::Containers(s) => s.startup,
        }
    }

    /// The in-process stack, for what only it has; on the container target an error naming
    /// `what` and why it needs the in-process stack.
    ///
    /// # Errors
    /// The stack runs as containers.
    pub fn in_process(&self, what: &str) -> Result<&Stack, TargetError> {
        match self {
            ScenarioStack::InProcess(s) => Ok(s),
            ScenarioStack::Containers(_) => Err(TargetError(format!(
                "not available with --target docker: {what}"
            ))),
        }
    }

    /// The stack clock as the host reads it (on containers, the host's mirror of theirs).
    pub fn clock(&self) -> &StackClock {
        match self {
            ScenarioStack::InProcess(s) => &s.clock,
            ScenarioStack::Containers(s) => &s.clock,
        }
    }

    /// Base URL of the gateway proxy on 127.0.0.1.
    pub fn proxy_url(&self) -> String {
        match self {
            ScenarioStack::InProcess(s) => s.proxy_url(),
            ScenarioStack::Containers(s) => format!("http://{}", s.stack.proxy_addr()),
        }
    }

    /// Base URL of the gateway admin API on 127.0.0.1.
    pub fn admin_url(&self) -> String {
        match self {
            ScenarioStack::InProcess(s) => s.admin_url(),
            ScenarioStack::Containers(s) => format!("http://{}", s.stack.admin_addr()),
        }
    }

    /// Base URL of `service`'s sidecar admin API (`/stats/prometheus`, …) on 127.0.0.1.
    ///
    /// # Errors
    /// No such service, or a stack without a mesh (no sidecar admin API).
    pub fn sidecar_admin_url(&self, service: &str) -> Result<String, TargetError> {
        let addr = match self {
            ScenarioStack::InProcess(s) => s.sidecar_admins.get(service).map(|a| a.addr()),
            ScenarioStack::Containers(s) => s.stack.sidecar_admin(service),
        };
        addr.map(|a| format!("http://{a}"))
            .ok_or_else(|| TargetError(format!("{service} has no sidecar admin API (no mesh?)")))
    }

    /// Jumps the stack clock by `by`; returns once every component has moved.
    ///
    /// # Errors
    /// The jump is refused (too far), or a container does not answer.
    pub async fn advance(&self, by: Duration) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => s
                .clock
                .try_advance(by)
                .map(|_| ())
                .map_err(|e| TargetError(e.to_string())),
            ScenarioStack::Containers(s) => s.advance(by).await,
        }
    }

    /// Stops the stack clock following real time, at the same instant for every component.
    ///
    /// # Errors
    /// A container does not answer.
    pub async fn stand_still(&self) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => {
                s.clock.stand_still();
                Ok(())
            }
            ScenarioStack::Containers(s) => s.stand_still().await,
        }
    }

    /// A process fault on `service` (stop, start, kill, pause, unpause, partition, heal).
    ///
    /// # Errors
    /// An unknown service, or the fault cannot apply (an external service, a stopped one).
    pub async fn process(&self, service: &str, action: ProcessAction) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::act(s, service, action).await,
            ScenarioStack::Containers(s) => s.process(service, action).await,
        }
    }

    /// Adds an HTTP fault rule at `service`'s inbound stage.
    ///
    /// # Errors
    /// An unknown service or an invalid rule.
    pub async fn add_fault(&self, service: &str, rule: FaultRule) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::add_fault(s, service, rule),
            ScenarioStack::Containers(s) => s.add_fault(service, &rule).await,
        }
    }

    /// Clears every HTTP fault of `service`.
    ///
    /// # Errors
    /// An unknown service.
    pub async fn clear_faults(&self, service: &str) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => {
                s.service(service)
                    .map_err(|e| TargetError(e.to_string()))?
                    .inbound()
                    .faults
                    .clear();
                Ok(())
            }
            ScenarioStack::Containers(s) => s.clear_faults(service).await,
        }
    }

    /// How many requests reached `service`, and the last `last` of them (oldest first).
    ///
    /// # Errors
    /// An unknown service, or its sidecar does not answer.
    pub async fn journal(
        &self,
        service: &str,
        last: usize,
    ) -> Result<(u64, Vec<JournalEntry>), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::journal(s, service, last),
            ScenarioStack::Containers(s) => s.journal(service, last).await,
        }
    }

    /// Waits up to `patience` (real time) until `service` has received `n` requests; returns
    /// how many it received.
    ///
    /// # Errors
    /// An unknown service, or its sidecar does not answer.
    pub async fn wait_for_requests(
        &self,
        service: &str,
        n: u64,
        patience: Duration,
    ) -> Result<u64, TargetError> {
        match self {
            ScenarioStack::InProcess(s) => Ok(s
                .service(service)
                .map_err(|e| TargetError(e.to_string()))?
                .inbound()
                .journal
                .wait_for(n, patience)
                .await),
            ScenarioStack::Containers(s) => s.wait_for_requests(service, n, patience).await,
        }
    }

    /// How many requests each service received so far.
    ///
    /// # Errors
    /// A sidecar does not answer.
    pub async fn request_counts(&self) -> Result<BTreeMap<String, u64>, TargetError> {
        let mut counts = BTreeMap::new();
        for service in &self.def().topology.services {
            let (count, _) = self.journal(&service.name, 0).await?;
            counts.insert(service.name.clone(), count);
        }
        Ok(counts)
    }

    /// The names of every link of the stack.
    ///
    /// # Errors
    /// A container does not answer.
    pub async fn link_names(&self) -> Result<Vec<String>, TargetError> {
        match self {
            ScenarioStack::InProcess(s) => Ok(s.links.names()),
            ScenarioStack::Containers(s) => s.link_names().await,
        }
    }

    /// Every toxic on every link.
    ///
    /// # Errors
    /// A container does not answer.
    pub async fn toxics(&self) -> Result<Vec<LinkToxic>, TargetError> {
        match self {
            ScenarioStack::InProcess(s) => Ok(process::toxics(s)),
            ScenarioStack::Containers(s) => s.toxics().await,
        }
    }

    /// Adds `toxic` to the link named `link`.
    ///
    /// # Errors
    /// No such link, a duplicate name, or a container that does not answer.
    pub async fn add_toxic(&self, link: &str, toxic: Toxic) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::add_toxic(s, link, toxic),
            ScenarioStack::Containers(s) => s.add_toxic(link, &toxic).await,
        }
    }

    /// Removes the toxic `name` from `link`.
    ///
    /// # Errors
    /// No such link or toxic.
    pub async fn remove_toxic(&self, link: &str, name: &str) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::remove_toxic(s, link, name),
            ScenarioStack::Containers(s) => s.remove_toxic(link, name).await,
        }
    }

    /// Enables or disables `link` (disabled: new connections refused, open ones closed).
    ///
    /// # Errors
    /// No such link.
    pub async fn set_link_enabled(&self, link: &str, enabled: bool) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => {
                s.links
                    .get(link)
                    .map_err(|e| TargetError(format!("{link}: {e}")))?
                    .set_enabled(enabled);
                Ok(())
            }
            ScenarioStack::Containers(s) => s.set_link_enabled(link, enabled).await,
        }
    }

    /// Every link enabled, every toxic removed.
    ///
    /// # Errors
    /// A container does not answer.
    pub async fn reset_links(&self) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => {
                s.links.clone().reset().await;
                Ok(())
            }
            ScenarioStack::Containers(s) => s.reset_links().await,
        }
    }

    /// How many connections `link` has carried.
    ///
    /// # Errors
    /// No such link, or a container that does not answer.
    pub async fn connections_opened(&self, link: &str) -> Result<u64, TargetError> {
        match self {
            ScenarioStack::InProcess(s) => Ok(s
                .links
                .get(link)
                .map_err(|e| TargetError(format!("{link}: {e}")))?
                .connections_opened()),
            ScenarioStack::Containers(s) => s.connections_opened(link).await,
        }
    }

    /// A mesh call from `caller` to `destination` (on containers, made inside the caller's pod,
    /// or the gateway's container for a caller that is no service of the stack).
    ///
    /// # Errors
    /// No mesh, an unknown destination, or the container does not answer.
    pub async fn mesh_call(
        &self,
        caller: &Caller,
        destination: &str,
        probe: &Probe,
    ) -> Result<Outcome, TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::mesh_call(s, caller, destination, probe).await,
            ScenarioStack::Containers(s) => s.mesh_call(caller, destination, probe).await,
        }
    }

    /// Opens a mesh connection from `source` (its certificate) to `destination` and keeps it.
    ///
    /// # Errors
    /// No mesh, an unknown destination, or the connection or handshake failed.
    pub async fn open_mesh_connection(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<MeshConnection, TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::open_mesh_connection(s, source, destination)
                .await
                .map(|c| MeshConnection::Local(Box::new(c))),
            ScenarioStack::Containers(s) => s.open_mesh_connection(source, destination).await,
        }
    }

    /// `service`'s sidecar presents a leaf for `identity` from the stack's CA from now on.
    ///
    /// # Errors
    /// No mesh, or an unknown service.
    pub async fn present_identity(&self, service: &str, identity: &str) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(s) => process::present_identity(s, service, identity),
            ScenarioStack::Containers(s) => s.present_identity(service, identity).await,
        }
    }

    /// Changes (`PUT`, with Consul's body) or deletes (`DELETE`) the exact intention from
    /// `source` to `destination`; in force everywhere when the call returns.
    ///
    /// # Errors
    /// No mesh, or the change is refused (its reason).
    pub async fn change_intention(
        &self,
        method: http::Method,
        source: &str,
        destination: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(), TargetError> {
        let path =
            format!("/v1/connect/intentions/exact?source={source}&destination={destination}");
        match self {
            ScenarioStack::InProcess(s) => process::change_intention(s, method, &path, body).await,
            ScenarioStack::Containers(s) => s.change_intention(method, &path, body).await,
        }
    }

    /// Fails when a container of the stack died (or exited) without a process fault asking for
    /// it, naming the container and its last log lines.
    ///
    /// # Errors
    /// That container.
    pub async fn check_alive(&self) -> Result<(), TargetError> {
        match self {
            ScenarioStack::InProcess(_) => Ok(()),
            ScenarioStack::Containers(s) => s.check_alive().await,
        }
    }

    /// Stops the stack (in process: removes all it started; on containers: hands it back for the
    /// next scenario, or removes it when it is not whole).
    pub async fn shutdown(self) {
        match self {
            ScenarioStack::InProcess(s) => drop(s),
            ScenarioStack::Containers(s) => {
                let s = *s;
                s.shutdown().await;
            }
        }
    }
}
