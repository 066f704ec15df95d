//! Known equivalent mutants: `scenarios/<stack>/equivalent-mutants.yml`.
//!
//! An equivalent mutant changes a value in a way no observable behaviour of the stack can tell
//! apart (a connect timeout on a loopback connect that never waits). Each entry names mutants by
//! their exact mutation `path` or by a `pattern` (the `governs` syntax, where `[*]` is any name),
//! optionally only one `new` value, and says why:
//!
//! ```yaml
//! - pattern: "kong.yml:services[*].connect_timeout"
//!   reason: a loopback connect completes at once; no fault delays a TCP connect
//! - path: "intentions.hcl:config_entries.bootstrap[*].Sources[*]"
//!   reason: the default intention denies what this `*` → `*` deny denied
//! - path: "kong.yml:plugins[rate-limiting].config.limit_by"
//!   new: credential
//!   reason: every consumer has exactly one credential
//! ```
//!
//! Declared equivalents are still run: one that is killed is an error (the list must stay true),
//! and so is an entry that matches no mutant.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::generate::Mutant;
use crate::clauses::GovernsPattern;
use crate::config::kong::yaml::Source;
use crate::config::ConfigError;

/// The file name, in the stack folder.
pub const FILE_NAME: &str = "equivalent-mutants.yml";

/// One declared equivalence.
#[derive(Debug, Clone)]
pub struct Equivalent {
    pub path: Selector,
    /// Only the mutant with this new value (all of the path's mutants when absent).
    pub new: Option<String>,
    pub reason: String,
}

/// How an entry names mutants.
#[derive(Debug, Clone)]
pub enum Selector {
    /// Exactly this mutation path (`*` in it is a name, not a wildcard).
    Path(String),
    Pattern(GovernsPattern),
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Path(p) => f.write_str(p),
            Selector::Pattern(p) => write!(f, "{p}"),
        }
    }
}

impl Equivalent {
    pub fn matches(&self, mutant: &Mutant) -> bool {
        let path = match &self.path {
            Selector::Path(p) => *p == mutant.path.to_string(),
            Selector::Pattern(p) => p.matches(&mutant.path),
        };
        path && self.new.as_ref().is_none_or(|n| *n == mutant.new)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    new: Option<serde_json::Value>,
    reason: String,
}

/// The stack's declared equivalents, with the file they came from (`None`: no file).
#[derive(Debug, Clone, Default)]
pub struct Equivalents {
    pub file: Option<PathBuf>,
    pub entries: Vec<Equivalent>,
}

impl Equivalents {
    /// Reads `dir/equivalent-mutants.yml`, if present.
    ///
    /// # Errors
    /// Invalid YAML, an unknown key, a malformed pattern or an empty reason, naming file, line
    /// and key.
    pub fn load(dir: &Path) -> Result<Equivalents, ConfigError> {
        let file = dir.join(FILE_NAME);
        if !file.is_file() {
            return Ok(Equivalents::default());
        }
        let source = Source::read(&file)?;
        let raw: Vec<RawEntry> = source.parse()?;
        let mut entries = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let path = match (r.path, r.pattern) {
                (Some(path), None) => {
                    crate::clauses::MutationPath::parse(&path)
                        .map_err(|e| source.error(format!("[{i}].path"), e.to_string()))?;
                    Selector::Path(path)
                }
                (None, Some(pattern)) => Selector::Pattern(
                    GovernsPattern::parse(&pattern)
                        .map_err(|e| source.error(format!("[{i}].pattern"), e.to_string()))?,
                ),
                _ => {
                    return Err(source.error(
                        format!("[{i}]"),
                        "give either `path` (one mutation path) or `pattern` (with wildcards)",
                    ))
                }
            };
            if r.reason.trim().is_empty() {
                return Err(source.error(
                    format!("[{i}].reason"),
                    "empty; say why no scenario can tell this mutant apart",
                ));
            }
            let new = r.new.map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
            entries.push(Equivalent {
                path,
                new,
                reason: r.reason.trim().to_string(),
            });
        }
        Ok(Equivalents {
            file: Some(file),
            entries,
        })
    }

    /// The entry declaring `mutant` equivalent, if any.
    pub fn find(&self, mutant: &Mutant) -> Option<&Equivalent> {
        self.entries.iter().find(|e| e.matches(mutant))
    }

    /// Entries that match none of `mutants`: `[index] path` for each.
    pub fn unused(&self, mutants: &[Mutant]) -> Vec<String> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !mutants.iter().any(|m| e.matches(m)))
            .map(|(i, e)| {
                let new = e
                    .new
                    .as_ref()
                    .map(|n| format!(" → {n}"))
                    .unwrap_or_default();
                format!("[{i}] {}{new}", e.path)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutate::files::StackFiles;
    use crate::mutate::generate;

    fn load(text: &str) -> Result<Equivalents, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        Equivalents::load(dir.path())
    }

    #[test]
    fn a_path_is_exact_and_a_pattern_has_wildcards() {
        let files = StackFiles::read(Path::new("scenarios/valueverse")).unwrap();
        let mutants = generate(&files);
        let list = load(
            "- path: \"intentions.hcl:config_entries.bootstrap[*].Sources[*]\"\n  reason: default deny\n\
             - pattern: \"kong.yml:services[*].retries\"\n  new: 4\n  reason: r\n",
        )
        .unwrap();
        let matched: Vec<String> = mutants
            .iter()
            .filter(|m| list.find(m).is_some())
            .map(Mutant::describe)
            .collect();
        assert_eq!(
            matched,
            [
                "kong.yml:services[value-architect].retries: 3 → 4",
                "kong.yml:services[value-committer].retries: 3 → 4",
                "intentions.hcl:config_entries.bootstrap[*].Sources[*]: * → (removed)",
            ]
        );
        assert!(list.unused(&mutants).is_empty());
    }

    #[test]
    fn bad_entries_are_named_with_file_and_key() {
        let e = load("- pattern: \"kong.yml\"\n  reason: r\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("equivalent-mutants.yml") && e.contains("[0].pattern"),
            "{e}"
        );
        let e = load("- path: \"kong.yml:a\"\n  reason: \" \"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[0].reason"), "{e}");
        let e = load("- reason: r\n").unwrap_err().to_string();
        assert!(e.contains("either `path`"), "{e}");
        let e = load("- path: \"kong.yml:a\"\n  reasn: r\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reasn"), "{e}");
    }

    #[test]
    fn an_entry_matching_no_mutant_is_reported() {
        let files = StackFiles::read(Path::new("scenarios/valueverse")).unwrap();
        let mutants = generate(&files);
        let list = load("- path: \"kong.yml:services[nope].retries\"\n  reason: r\n").unwrap();
        assert_eq!(
            list.unused(&mutants),
            ["[0] kong.yml:services[nope].retries"]
        );
    }
}
