//! Stack definitions (SPEC §2): `scenarios/<name>/` read once and validated into domain types.
//!
//! ```text
//!   kong.yml ──► kong (raw DTOs) ──validate──► gateway::GatewayConfig ─┐
//!   stack.yml ─► stack_file (raw DTOs) ─────► topology::Topology ─────┴─► StackDef
//! ```

pub mod error;
pub mod gateway;
pub mod kong;
pub mod stack_file;
pub mod topology;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigWarning};
pub use gateway::GatewayConfig;
pub use topology::Topology;

/// A loaded, validated stack definition.
#[derive(Debug, Clone)]
pub struct StackDef {
    pub dir: PathBuf,
    pub gateway: GatewayConfig,
    pub topology: Topology,
    /// Kong features present in the file that Gauntlet does not emulate.
    pub warnings: Vec<ConfigWarning>,
}

impl StackDef {
    /// Reads and validates `dir/kong.yml` and `dir/stack.yml`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and key of the first problem.
    pub fn load(dir: &Path) -> Result<StackDef, ConfigError> {
        let (gateway, warnings) = kong::load(&dir.join("kong.yml"))?;
        let topology = stack_file::load(&dir.join("stack.yml"), &gateway)?;
        Ok(StackDef {
            dir: dir.to_path_buf(),
            gateway,
            topology,
            warnings,
        })
    }

    /// The stack's display name.
    pub fn name(&self) -> &str {
        &self.topology.name
    }
}
