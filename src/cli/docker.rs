//! `gauntlet docker prune`: removes the containers and networks runs of the container target
//! left behind (a killed run), by their `gauntlet.managed` label.

use clap::{Args, Subcommand};

use super::Exit;
use crate::docker::{engine, prune};

#[derive(Debug, Args)]
pub struct DockerArgs {
    #[command(subcommand)]
    pub action: DockerAction,
}

#[derive(Debug, Subcommand)]
pub enum DockerAction {
    /// Remove every container and network Gauntlet made (or one run's, with --run).
    Prune {
        /// Only this run (`gauntlet-xxxxxxxx`).
        #[arg(long)]
        run: Option<String>,
    },
}

pub async fn execute(args: DockerArgs) -> Exit {
    let DockerAction::Prune { run } = args.action;
    let engine = match engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let pruned = prune::prune_run(&engine, run.as_deref()).await;
    for name in &pruned.containers {
        println!("removed container {name}");
    }
    for name in &pruned.networks {
        println!("removed network {name}");
    }
    println!(
        "{} containers, {} networks removed",
        pruned.containers.len(),
        pruned.networks.len()
    );
    Exit::Success
}
