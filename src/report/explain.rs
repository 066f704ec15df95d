//! Failures that explain themselves (issue 13 item 3): the config values that govern each
//! failed clause, with file and line, and the stack's files as run (with a diff against
//! `--baseline-stack` when one is given).
//!
//! ```text
//!   failed clauses ─┐
//!   features/clauses.yml `governs` patterns ─┼─ build() ─► Explanation ─► RunReport.explain
//!   scenarios/<stack>/{kong.yml, intentions.*, stack.yml}
//!        └─ mutate::generate::values (mutation paths) ─┘        ├─► HTML: "governed by" under each
//!                                                                │   failure, the stack files with
//!                                                                │   line anchors, the baseline diff
//!                                                                ├─► results.json: `explain.governing`
//!                                                                └─► <run-dir>/stack/ (compare's config diff)
//! ```
//!
//! A value governs a clause when one of the clause's `governs` patterns matches its mutation
//! path: the same rule `gauntlet mutate` uses to decide that a kill was for the right reason.
//! Only leaves are listed (a number, a string, a list of scalars): the whole `circuit-breaker`
//! plugin matching `plugins[circuit-breaker]` would say nothing a reader can act on.
//! Redaction: [`Explanation::redact`] removes the stack's secrets from every file text and value.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::redact::redact_text;
use crate::clauses::Catalogue;
use crate::mutate::files::{FileKind, StackFiles};

/// Governing values listed per clause; the rest are counted.
pub const VALUES_PER_CLAUSE: usize = 16;
/// A value longer than this is cut (public keys, long lists).
const VALUE_CHARS: usize = 120;

/// What explains the run's failures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Explanation {
    /// The stack's files as run, in path order (written to `<run-dir>/stack/`).
    #[serde(skip)]
    pub files: Vec<StackFile>,
    /// `--baseline-stack`: its directory and files.
    #[serde(skip)]
    pub baseline: Option<Baseline>,
    /// For each failed clause, in catalogue order, the config values that govern it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub governing: Vec<ClauseConfig>,
}

impl Explanation {
    pub fn is_empty(&self) -> bool {
        self.governing.is_empty()
    }

    /// The values governing `clause`, if it failed.
    pub fn for_clause(&self, clause: &str) -> Option<&ClauseConfig> {
        self.governing.iter().find(|c| c.clause == clause)
    }

    /// Removes `secrets`, JWTs and credentials from every file text and value.
    pub fn redact(&mut self, secrets: &[String]) {
        let files = self
            .files
            .iter_mut()
            .chain(self.baseline.iter_mut().flat_map(|b| &mut b.files));
        for file in files {
            file.text = redact_text(&file.text, secrets);
        }
        for value in self.governing.iter_mut().flat_map(|c| &mut c.values) {
            value.value = redact_text(&value.value, secrets);
        }
    }
}

/// One file of a stack directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFile {
    /// Path relative to the stack directory (`kong.yml`).
    pub name: String,
    pub text: String,
}

/// The stack a run is compared with (`--baseline-stack`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    pub dir: String,
    pub files: Vec<StackFile>,
}

/// The config values governing one failed clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseConfig {
    pub clause: String,
    pub values: Vec<ConfigValue>,
    /// Governing values beyond [`VALUES_PER_CLAUSE`], not listed.
    pub omitted: usize,
}

/// One config value: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigValue {
    /// Mutation path (`kong.yml:services[value-architect].plugins[circuit-breaker].config.open_timeout`).
    pub path: String,
    /// As written (`30`, `[admin, user]`).
    pub value: String,
    /// The file, relative to the stack directory.
    pub file: String,
    /// 1-based line of the key, when it could be found in the text.
    pub line: Option<usize>,
}

impl ConfigValue {
    /// `kong.yml:17`, or the file alone.
    pub fn location(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        }
    }
}

/// The files of `dir` (every file, hidden ones aside), in path order.
///
/// # Errors
/// The directory or a file cannot be read.
pub fn read_files(dir: &Path) -> std::io::Result<Vec<StackFile>> {
    super::history::stack_files(dir)?
        .into_iter()
        .map(|(name, path)| {
            let bytes = std::fs::read(&path)?;
            Ok(StackFile {
                name,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            })
        })
        .collect()
}

/// The explanation for a run of the stack in `stack_dir` whose `failed_clauses` failed, and the
/// problems met building it (they never fail the run: the report says what it could not show).
pub fn build(
    stack_dir: &Path,
    baseline_dir: Option<&Path>,
    catalogue: &Catalogue,
    failed_clauses: &[String],
) -> (Explanation, Vec<String>) {
    let mut warnings = Vec::new();
    let files = read_files(stack_dir).unwrap_or_else(|e| {
        warnings.push(format!(
            "{}: cannot read the stack files for the report: {e}",
            stack_dir.display()
        ));
        Vec::new()
    });
    let baseline = baseline_dir.and_then(|dir| match read_files(dir) {
        Ok(files) => Some(Baseline {
            dir: dir.display().to_string(),
            files,
        }),
        Err(e) => {
            warnings.push(format!(
                "--baseline-stack {}: cannot read it: {e}",
                dir.display()
            ));
            None
        }
    });
    let governing = if failed_clauses.is_empty() {
        Vec::new()
    } else {
        match StackFiles::read(stack_dir) {
            Ok(tree) => governing(&tree, &files, catalogue, failed_clauses),
            Err(e) => {
                warnings.push(format!("cannot list the governing config values: {e}"));
                Vec::new()
            }
        }
    };
    (
        Explanation {
            files,
            baseline,
            governing,
        },
        warnings,
    )
}

/// For each failed clause, the leaves of `tree` one of its patterns matches.
fn governing(
    tree: &StackFiles,
    texts: &[StackFile],
    catalogue: &Catalogue,
    failed_clauses: &[String],
) -> Vec<ClauseConfig> {
    let values = crate::mutate::generate::values(tree);
    let mut out = Vec::new();
    for id in failed_clauses {
        let Some(clause) = catalogue.get(id) else {
            continue;
        };
        let matching: Vec<_> = values
            .iter()
            .filter(|(_, _, path, value)| is_leaf(path, value) && clause.governs(path))
            .collect();
        let mut values: Vec<ConfigValue> = matching
            .into_iter()
            .map(|(kind, pointer, path, value)| {
                let file = tree.name(*kind).to_string();
                let text = texts
                    .iter()
                    .find(|f| f.name == file)
                    .map(|f| f.text.as_str());
                let tree_root = tree.tree(*kind);
                ConfigValue {
                    path: path.to_string(),
                    value: shorten(&crate::mutate::generate::show(value)),
                    line: text.and_then(|text| match kind {
                        FileKind::Kong | FileKind::Stack => {
                            tree_root.and_then(|root| yaml_line(text, root, pointer))
                        }
                        FileKind::Intentions => search_line(text, path),
                    }),
                    file,
                }
            })
            .collect();
        // In the order a reader finds them in the files (the walk goes by key name).
        let file_order = |name: &str| texts.iter().position(|f| f.name == name);
        values.sort_by_key(|v| (file_order(&v.file), v.line));
        let omitted = values.len().saturating_sub(VALUES_PER_CLAUSE);
        values.truncate(VALUES_PER_CLAUSE);
        out.push(ClauseConfig {
            clause: id.clone(),
            values,
            omitted,
        });
    }
    out
}

/// A value a reader can act on: a scalar or a list of scalars, not an entry of such a list (the
/// list is shown whole) nor an object.
fn is_leaf(path: &crate::clauses::MutationPath, value: &Value) -> bool {
    let entry = path.segments.last().is_some_and(|s| s.selector.is_some());
    match value {
        Value::Object(_) => false,
        Value::Array(items) => {
            !entry
                && items
                    .iter()
                    .all(|v| !matches!(v, Value::Object(_) | Value::Array(_)))
        }
        _ => !entry,
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The line of the value at JSON `pointer` in a YAML `text` (the key's line).
fn yaml_line(text: &str, root: &Value, pointer: &str) -> Option<usize> {
    let mut key = String::new();
    let mut node = root;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        match node {
            Value::Array(items) => {
                let index: usize = token.parse().ok()?;
                key.push_str(&format!("[{index}]"));
                node = items.get(index)?;
            }
            Value::Object(map) => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(&token);
                node = map.get(&token)?;
            }
            _ => return None,
        }
    }
    crate::config::kong::yaml::locate(text, &key).map(|(line, _)| line)
}

/// The line of `path` in a text no YAML parser reads (HCL): each segment's key, then its entry
/// name, searched for in turn from where the previous one was found.
fn search_line(text: &str, path: &crate::clauses::MutationPath) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0;
    let is_key = |line: &str, key: &str| {
        let t = line.trim_start().trim_start_matches(['"', '-', ' ']);
        t.strip_prefix(key).is_some_and(|rest| {
            let rest = rest.trim_start_matches('"').trim_start();
            rest.starts_with('=') || rest.starts_with(':') || rest.starts_with('{')
        })
    };
    for segment in &path.segments {
        if !segment.key.is_empty() {
            at += lines[at..].iter().position(|l| is_key(l, &segment.key))?;
        }
        if let Some(name) = segment
            .selector
            .as_deref()
            .filter(|s| s.parse::<usize>().is_err())
        {
            let quoted = format!("\"{name}\"");
            at += lines[at..].iter().position(|l| l.contains(&quoted))?;
        }
    }
    Some(at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn stack(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name)
    }

    fn catalogue() -> Catalogue {
        Catalogue::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("features/clauses.yml"))
            .expect("the clause catalogue loads")
    }

    #[test]
    fn a_failed_breaker_clause_lists_the_breaker_values_with_their_lines() {
        let dir = stack("broken-breaker");
        let (explain, warnings) = build(&dir, None, &catalogue(), &["CB-2".to_string()]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let cb2 = explain.for_clause("CB-2").expect("CB-2 is explained");
        let threshold = cb2
            .values
            .iter()
            .find(|v| {
                v.path
                    == "kong.yml:services[value-architect].plugins[circuit-breaker].config.failure_threshold"
            })
            .unwrap_or_else(|| panic!("{:#?}", cb2.values));
        assert_eq!(threshold.value, "6");
        let text = std::fs::read_to_string(dir.join("kong.yml")).unwrap();
        let line = threshold.line.expect("a line");
        assert!(
            text.lines()
                .nth(line - 1)
                .unwrap()
                .contains("failure_threshold: 6"),
            "line {line}"
        );
        assert!(cb2
            .values
            .iter()
            .all(|v| !v.path.ends_with("plugins[circuit-breaker]")));
        assert!(explain.files.iter().any(|f| f.name == "kong.yml"));
    }

    #[test]
    fn intention_values_are_found_in_hcl() {
        let dir = stack("valueverse");
        let (explain, _) = build(&dir, None, &catalogue(), &["MESH-3".to_string()]);
        let mesh3 = explain.for_clause("MESH-3").expect("MESH-3");
        let action = mesh3
            .values
            .iter()
            .find(|v| v.path.ends_with("Sources[value-committer].Action"))
            .unwrap_or_else(|| panic!("{:#?}", mesh3.values));
        let text = std::fs::read_to_string(dir.join("intentions.hcl")).unwrap();
        let line = text.lines().nth(action.line.expect("a line") - 1).unwrap();
        assert!(line.contains("Action"), "{line}");
        assert_eq!(action.value, "allow");
    }

    #[test]
    fn redaction_reaches_files_and_values() {
        let mut explain = Explanation {
            files: vec![StackFile {
                name: "kong.yml".into(),
                text: "secret: hunter2\n".into(),
            }],
            baseline: None,
            governing: vec![ClauseConfig {
                clause: "AUTH-2".into(),
                values: vec![ConfigValue {
                    path: "kong.yml:x".into(),
                    value: "hunter2".into(),
                    file: "kong.yml".into(),
                    line: Some(1),
                }],
                omitted: 0,
            }],
        };
        explain.redact(&["hunter2".to_string()]);
        assert!(!explain.files[0].text.contains("hunter2"));
        assert!(!explain.governing[0].values[0].value.contains("hunter2"));
    }
}
