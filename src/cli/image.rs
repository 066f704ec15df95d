//! `gauntlet image build`: Gauntlet's own container image for the container target (SPEC §13).

use clap::{Args, Subcommand};

use super::Exit;
use crate::docker::{engine, image};

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub action: ImageAction,
}

#[derive(Debug, Subcommand)]
pub enum ImageAction {
    /// Build `gauntlet:<version>-<digest>` from this binary (skipped when present).
    Build {
        /// Build again even when the engine has the image.
        #[arg(long)]
        force: bool,
    },
}

pub async fn execute(args: ImageArgs) -> Exit {
    let ImageAction::Build { force } = args.action;
    let engine = match engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let binary = match image::own_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    match image::ensure(&engine, &binary, force).await {
        Ok(built) => {
            let what = if built.built {
                "built"
            } else {
                "already present"
            };
            println!(
                "{} {what} ({:.1} s)",
                built.reference(),
                built.took.as_secs_f64()
            );
            Exit::Success
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Usage
        }
    }
}
