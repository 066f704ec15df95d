//! Stack definitions (SPEC §2): `scenarios/<name>/` read once and validated into domain types.
//!
//! ```text
//!   kong.yml ──► kong (raw DTOs) ──validate──► gateway::GatewayConfig ─┐
//!   stack.yml ─► stack_file (raw DTOs) ─────► topology::Topology ─────┼─► StackDef
//!   intentions.hcl|json ─► intentions (syntax, decode) ─► MeshDef ──────┘   (no file: no mesh)
//! ```

pub mod edge_plugins;
pub mod error;
pub mod gateway;
pub mod intentions;
pub mod kong;
pub mod stack_file;
pub mod topology;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigWarning};
pub use gateway::GatewayConfig;
use intentions::{Action, IntentionEntry, MeshServices};
pub use topology::Topology;

/// The intentions a stack definition brings (`intentions.hcl` or `intentions.json`).
#[derive(Debug, Clone)]
pub struct MeshDef {
    pub file: PathBuf,
    pub entries: Vec<IntentionEntry>,
    pub services: MeshServices,
    /// The action for a pair no intention matches (`stack.yml` `mesh.default_intention`).
    pub default: Action,
}

/// A loaded, validated stack definition.
#[derive(Debug, Clone)]
pub struct StackDef {
    pub dir: PathBuf,
    pub gateway: GatewayConfig,
    pub topology: Topology,
    /// The service mesh: present when the stack has an intentions file.
    pub mesh: Option<MeshDef>,
    /// Kong features present in the file that Gauntlet does not emulate, and intention keys
    /// Consul knows but Gauntlet does not enforce.
    pub warnings: Vec<ConfigWarning>,
}

impl StackDef {
    /// Reads and validates `dir/kong.yml` and `dir/stack.yml`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and key of the first problem.
    pub fn load(dir: &Path) -> Result<StackDef, ConfigError> {
        let (gateway, mut warnings) = kong::load(&dir.join("kong.yml"))?;
        let topology = stack_file::load(&dir.join("stack.yml"), &gateway)?;
        let mesh = match intentions::find_file(dir)? {
            None => None,
            Some(file) => {
                let services = MeshServices::from_topology(&topology);
                let (entries, mesh_warnings) = intentions::load(&file, &services)?;
                warnings.extend(mesh_warnings);
                let default = match topology.default_intention {
                    topology::DefaultIntention::Allow => Action::Allow,
                    topology::DefaultIntention::Deny => Action::Deny,
                };
                Some(MeshDef {
                    file,
                    entries,
                    services,
                    default,
                })
            }
        };
        Ok(StackDef {
            dir: dir.to_path_buf(),
            gateway,
            topology,
            mesh,
            warnings,
        })
    }

    /// The stack's display name.
    pub fn name(&self) -> &str {
        &self.topology.name
    }
}
