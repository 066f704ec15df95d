//! `gauntlet container <role>` (hidden): what the binary runs inside a container of the
//! container target ([`crate::docker::role`]). Users never call it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Exit;
use crate::docker::{restart, role};

#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub role: Role,
    /// The stack definition inside the container.
    #[arg(long, global = true, default_value = role::STACK_DIR)]
    pub stack: PathBuf,
    /// The mesh material inside the container.
    #[arg(long, global = true, default_value = role::MESH_FILE)]
    pub mesh: PathBuf,
    /// The run's fault seed.
    #[arg(long, global = true, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum Role {
    /// A service's sidecar (owns the pod's network namespace).
    Sidecar {
        #[arg(long)]
        service: String,
    },
    /// The service itself, on the pod's loopback.
    Service {
        #[arg(long)]
        service: String,
    },
    /// The gateway.
    Gateway,
}

pub async fn execute(args: ContainerArgs) -> Exit {
    let mut seed = args.seed;
    loop {
        restart::starting();
        let run = async {
            match &args.role {
                Role::Sidecar { service } => {
                    role::sidecar(&args.stack, &args.mesh, service, seed).await
                }
                Role::Service { service } => role::service(&args.stack, service, seed).await,
                Role::Gateway => role::gateway(&args.stack, &args.mesh, seed).await,
            }
        };
        // As PID 1 of its container, the role must end on `docker stop`'s SIGTERM itself. A
        // restart drops the role with all its state and starts it again.
        let result = tokio::select! {
            result = run => result,
            next = restart::requested() => {
                seed = next;
                continue;
            }
            signal = super::interrupted() => return Exit::Interrupted(signal),
        };
        return match result {
            Ok(()) => Exit::Success,
            Err(e) => {
                eprintln!("error: {e}");
                Exit::Usage
            }
        };
    }
}
