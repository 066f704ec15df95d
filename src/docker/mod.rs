//! The container target (SPEC §13): the stack as real containers on a per-run Docker network,
//! built and run from Gauntlet's own binary with testcontainers.
//!
//! ```text
//!   engine   connect, API version (shim for older engines)
//!   image    FROM scratch + the binary + its shared libraries, tagged by digest, cached
//!   files    the stack definition and mesh material, one host folder per run, mounted read-only
//!   role     what the binary does inside a container: sidecar | service | gateway
//!   stack    network, pods (sidecar owns the namespace, service joins it), gateway, faults
//!   control  the host's control API over a container stack (fans clock jumps out)
//!   console  the live consoles' data over the containers (engine states, gateway, sidecars)
//!   mesh_api mesh calls from inside a pod, intention changes in every container
//!   restart  a role started afresh in its running container (a stack reused by the next scenario)
//!   prune    removes leftovers by label
//! ```

pub mod console;
pub mod control;
pub mod engine;
pub mod files;
pub mod image;
pub mod mesh_api;
pub mod prune;
pub mod restart;
pub mod role;
pub mod stack;

use std::collections::HashMap;

pub use engine::{Engine, EngineError};
pub use stack::{DockerStack, EngineFault};

/// Every container and network Gauntlet makes carries this label (`true`).
pub const LABEL_MANAGED: &str = "gauntlet.managed";
/// The run a container or network belongs to.
pub const LABEL_RUN: &str = "gauntlet.run";

/// The container target failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(transparent)]
    Connect(#[from] EngineError),
    #[error("{0}")]
    Image(#[from] image::ImageError),
    #[error("docker engine: {0}")]
    Engine(String),
    #[error("container target: {0}")]
    Unsupported(String),
    #[error("cannot start container {container}: {reason}")]
    Start { container: String, reason: String },
    #[error("container {container} died or never answered; its last log lines:\n{logs}")]
    Died { container: String, logs: String },
    #[error("service {service}: the image {image} is not in the local Docker engine, and no registry is used to pull it\n  build it (`docker build -t {image} .`) or load it (`docker load -i image.tar`), then try again")]
    MissingImage { service: String, image: String },
    #[error("no service named {0} in this stack; it has {1}")]
    UnknownService(String, String),
}

impl DockerError {
    /// Whether the cause is the user's setup (no engine, no permission, an unsupported stack):
    /// exit 2 rather than 1.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            DockerError::Connect(_)
                | DockerError::Unsupported(_)
                | DockerError::Image(_)
                | DockerError::MissingImage { .. }
        )
    }
}

/// The labels of one container (or the network) of `run`.
pub fn labels(
    run: &str,
    stack: &str,
    role: &str,
    service: Option<&str>,
) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_RUN.to_string(), run.to_string()),
        ("gauntlet.stack".to_string(), stack.to_string()),
        ("gauntlet.role".to_string(), role.to_string()),
    ]);
    if let Some(service) = service {
        labels.insert("gauntlet.service".to_string(), service.to_string());
    }
    labels
}

/// A fresh run name: `gauntlet-<8 hex>`.
pub fn run_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("gauntlet-{}", &id[..8])
}
