//! The files every container of a run reads: the stack definition and, with a mesh, the stack's
//! CA and leaves ([`crate::mesh::bundle`]), written to one host folder per run and bind-mounted
//! read-only at [`super::role::ETC_DIR`]. A mount costs the engine nothing per file; copying
//! into a container uploads a tar per file and mounts the container's root filesystem each time.
//!
//! ```text
//!   <temp>/gauntlet-docker/<run>/        (0700; removed with the run, or by `docker prune`)
//!     stack/stack.yml, kong.yml, …  ──►  /etc/gauntlet/stack/
//!     mesh.json                      ──►  /etc/gauntlet/mesh.json
//! ```

use std::path::PathBuf;

use super::DockerError;
use crate::config::StackDef;
use crate::mesh::bundle::MeshBundle;
use crate::mesh::runtime::StackMesh;

/// Written into the run's folder once every container with its own network endpoint (each
/// sidecar, the gateway) has started, so every name of the stack resolves on the network: the
/// roles wait for it before their first lookup. A name looked up earlier is not the network's
/// yet, and the engine's DNS forwards it to the host's resolvers (a round trip out, or a
/// resolver timeout where none answers).
pub const NETWORK_READY: &str = "network-ready";

/// Marks the network of the run in `dir` complete ([`NETWORK_READY`]).
pub fn mark_network_ready(dir: &std::path::Path) {
    let _ = std::fs::write(dir.join(NETWORK_READY), b"");
}

/// Where every run's folder goes.
pub fn root() -> PathBuf {
    std::env::temp_dir().join("gauntlet-docker")
}

/// The folder of `run`.
pub fn dir(run: &str) -> PathBuf {
    root().join(run)
}

/// Writes the files of `run`; returns its folder.
///
/// # Errors
/// The stack folder cannot be read or the run's folder written.
pub fn write(run: &str, def: &StackDef, mesh: Option<&StackMesh>) -> Result<PathBuf, DockerError> {
    let dir = dir(run);
    let stack = dir.join("stack");
    let io = |what: &std::path::Path, e: std::io::Error| {
        DockerError::Unsupported(format!("cannot write {}: {e}", what.display()))
    };
    std::fs::create_dir_all(&stack).map_err(|e| io(&stack, e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        // The mesh material holds the CA's private key: the run's folder is the owner's only
        // (the containers read it as root).
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    let entries = std::fs::read_dir(&def.dir)
        .map_err(|e| DockerError::Unsupported(format!("cannot read {}: {e}", def.dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            let target = stack.join(entry.file_name());
            std::fs::copy(&path, &target).map_err(|e| io(&target, e))?;
        }
    }
    if let Some(mesh) = mesh {
        let json = serde_json::to_vec(&MeshBundle::export(mesh))
            .map_err(|e| DockerError::Unsupported(e.to_string()))?;
        let target = dir.join("mesh.json");
        std::fs::write(&target, json).map_err(|e| io(&target, e))?;
    }
    Ok(dir)
}

/// Removes the folder of `run`, or every run's when `None`.
pub fn remove(run: Option<&str>) {
    let _ = std::fs::remove_dir_all(match run {
        Some(run) => dir(run),
        None => root(),
    });
}
