//! A stack's config files as plain trees that mutants edit, and the folder each mutant runs from.
//!
//! ```text
//!   scenarios/<stack>/kong.yml ──────► serde_json::Value ─┐                    ┌─► <tmp>/kong.yml (JSON is YAML)
//!   scenarios/<stack>/stack.yml ─────► serde_json::Value ─┼─ one value edited ─┼─► <tmp>/stack.yml
//!   scenarios/<stack>/intentions.* ──► serde_json::Value ─┘   (a Mutant)        └─► <tmp>/intentions.json
//! ```
//!
//! Every file is written back as JSON: YAML 1.2 reads JSON, and Consul takes intentions as JSON
//! as well as HCL, so a mutant's folder loads with the same loaders `run` uses. The unmutated
//! folder is written the same way and must pass the suite first (the baseline), which proves the
//! round trip changes nothing the features can see.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::config::intentions;
use crate::config::kong::yaml::Source;
use crate::config::ConfigError;

/// Which config file of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    Kong,
    Stack,
    Intentions,
}

/// The stack's mutable files, read once.
#[derive(Debug, Clone)]
pub struct StackFiles {
    pub dir: PathBuf,
    pub kong: Value,
    pub stack: Value,
    /// The intentions tree and the file's name as the user wrote it (`intentions.hcl`).
    pub intentions: Option<(String, Value)>,
}

impl StackFiles {
    /// Reads `dir/kong.yml`, `dir/stack.yml` and the intentions file, if any.
    ///
    /// # Errors
    /// A file that cannot be read or parsed.
    pub fn read(dir: &Path) -> Result<StackFiles, ConfigError> {
        let kong = Source::read(&dir.join("kong.yml"))?.parse::<Value>()?;
        let stack = Source::read(&dir.join("stack.yml"))?.parse::<Value>()?;
        let intentions = match intentions::find_file(dir)? {
            None => None,
            Some(file) => {
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "intentions.hcl".to_string());
                Some((name, intentions::read_tree(&file)?))
            }
        };
        Ok(StackFiles {
            dir: dir.to_path_buf(),
            kong,
            stack,
            intentions,
        })
    }

    /// The file name a mutation path uses for `kind` (`kong.yml`, `intentions.hcl`).
    pub fn name(&self, kind: FileKind) -> &str {
        match kind {
            FileKind::Kong => "kong.yml",
            FileKind::Stack => "stack.yml",
            FileKind::Intentions => self
                .intentions
                .as_ref()
                .map_or("intentions.hcl", |(n, _)| n.as_str()),
        }
    }

    /// The tree of `kind`, if the stack has that file.
    pub fn tree(&self, kind: FileKind) -> Option<&Value> {
        match kind {
            FileKind::Kong => Some(&self.kong),
            FileKind::Stack => Some(&self.stack),
            FileKind::Intentions => self.intentions.as_ref().map(|(_, t)| t),
        }
    }

    /// Writes the stack into a fresh folder under the system's temporary folder, with `kind`'s
    /// tree replaced by `replacement` when given. The folder is removed when the guard drops.
    ///
    /// # Errors
    /// The folder or a file cannot be written.
    pub fn write(&self, replacement: Option<(FileKind, &Value)>) -> std::io::Result<MutantDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gauntlet-mutant-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let guard = MutantDir { path: dir };
        let pick = |kind: FileKind, original: &Value| -> String {
            let tree = match replacement {
                Some((k, tree)) if k == kind => tree,
                _ => original,
            };
            serde_json::to_string_pretty(tree).unwrap_or_default()
        };
        std::fs::write(
            guard.path.join("kong.yml"),
            pick(FileKind::Kong, &self.kong),
        )?;
        std::fs::write(
            guard.path.join("stack.yml"),
            pick(FileKind::Stack, &self.stack),
        )?;
        if let Some((_, tree)) = &self.intentions {
            std::fs::write(
                guard.path.join("intentions.json"),
                pick(FileKind::Intentions, tree),
            )?;
        }
        Ok(guard)
    }
}

/// A mutant's stack folder; removed on drop.
#[derive(Debug)]
pub struct MutantDir {
    pub path: PathBuf,
}

impl Drop for MutantDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
