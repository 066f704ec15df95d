//! The clause catalogue (SPEC §8) as data: `features/clauses.yml`, read once by this module for
//! `gauntlet check`, the run report, `gauntlet mutate` and `gauntlet clauses`.
//!
//! ```text
//!   features/clauses.yml ─► Catalogue::load ─┬─► check (clause tags known, well-formed)
//!   (or the built-in copy)                   ├─► report (the clause matrix's rows)
//!                                            ├─► mutate (which clauses govern a mutated value)
//!                                            └─► gauntlet clauses
//! ```
//!
//! Which file: the nearest `clauses.yml` in a feature path or one of its parent folders
//! (`features/clauses.yml` for `features/auth/x.feature`), else `features/clauses.yml` in the
//! working folder, else the copy built into the binary (the repository's file).

pub mod expect;
pub mod pattern;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::kong::yaml::{closest, Source};
use crate::config::ConfigError;
use crate::report::ClauseDef;
pub use crate::report::{clause_ids, is_clause_id};
pub use pattern::{GovernsPattern, MutationPath, PathError};

/// The catalogue's file name, looked up beside the features.
pub const FILE_NAME: &str = "clauses.yml";

/// The repository's catalogue, built in.
const BUILT_IN: &str = include_str!("../../features/clauses.yml");

/// One clause of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// `CB-2` (tags are `@CB-2`).
    pub id: String,
    /// The `features/` folder of its scenarios (`resilience`).
    pub domain: String,
    pub text: String,
    /// The config values the clause governs.
    pub governs: Vec<GovernsPattern>,
}

impl Clause {
    /// Whether the clause governs the config value at `path`.
    pub fn governs(&self, path: &MutationPath) -> bool {
        self.governs.iter().any(|p| p.matches(path))
    }
}

/// Where a catalogue was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    BuiltIn,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::BuiltIn => write!(f, "the built-in catalogue (features/{FILE_NAME})"),
        }
    }
}

/// Every clause, in catalogue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    pub origin: Origin,
    pub clauses: Vec<Clause>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClause {
    id: String,
    domain: String,
    text: String,
    governs: Vec<String>,
}

/// What a scenario tag is, against the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagKind {
    /// Not about clauses (`@auth`, `@serial`).
    Other,
    /// A clause of the catalogue.
    Clause(String),
    /// Shaped like a clause id, but no clause has it (`@ACL-9`); the closest id, if any.
    Unknown { id: String, closest: Option<String> },
    /// Meant as a clause, written wrongly (`@ACL3`, `@acl-3`): the id it stands for (which the
    /// catalogue may not have either: `@ACL9` stands for `ACL-9`).
    Malformed { tag: String, id: String },
}

impl Catalogue {
    /// Reads and validates a catalogue file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and key: invalid YAML, an unknown key, a missing
    /// field, a malformed or repeated id, an empty domain or text, a malformed pattern.
    pub fn load(path: &Path) -> Result<Catalogue, ConfigError> {
        let source = Source::read(path)?;
        Self::from_source(&source, Origin::File(path.to_path_buf()))
    }

    /// The catalogue built into the binary (the repository's `features/clauses.yml`).
    pub fn built_in() -> Catalogue {
        let source = Source {
            file: PathBuf::from("features").join(FILE_NAME),
            text: BUILT_IN.to_string(),
        };
        // The built-in text is the repository's file; a unit test proves it is valid.
        Self::from_source(&source, Origin::BuiltIn)
            .unwrap_or_else(|e| panic!("the built-in clause catalogue is invalid: {e}"))
    }

    /// The catalogue for features under `paths`: the nearest `clauses.yml` in a path or one of
    /// its parents, else `features/clauses.yml` here, else the built-in one.
    ///
    /// # Errors
    /// As [`Catalogue::load`], for the file found.
    pub fn for_features(paths: &[PathBuf]) -> Result<Catalogue, ConfigError> {
        match Self::locate(paths) {
            Some(file) => Self::load(&file),
            None => Ok(Self::built_in()),
        }
    }

    /// The file [`Catalogue::for_features`] reads, if any: a `clauses.yml` in the folder of a
    /// feature path, or in a parent folder inside the working folder; else
    /// `features/clauses.yml` in the working folder.
    pub fn locate(paths: &[PathBuf]) -> Option<PathBuf> {
        let cwd = std::env::current_dir()
            .and_then(|d| d.canonicalize())
            .unwrap_or_default();
        for path in paths {
            let Ok(path) = path.canonicalize() else {
                continue;
            };
            let start = if path.is_dir() {
                Some(path.as_path())
            } else {
                path.parent()
            };
            let mut dir = start;
            while let Some(d) = dir {
                let candidate = d.join(FILE_NAME);
                if candidate.is_file() {
                    // Named as the user would (`features/clauses.yml`) when under the working folder.
                    return Some(match candidate.strip_prefix(&cwd) {
                        Ok(relative) if !cwd.as_os_str().is_empty() => relative.to_path_buf(),
                        _ => candidate,
                    });
                }
                // Never above the working folder: a stray /tmp/clauses.yml is not ours.
                dir = d
                    .parent()
                    .filter(|p| p.starts_with(&cwd) && !cwd.as_os_str().is_empty());
            }
        }
        let here = Path::new("features").join(FILE_NAME);
        here.is_file().then_some(here)
    }

    fn from_source(source: &Source, origin: Origin) -> Result<Catalogue, ConfigError> {
        let raw: Vec<RawClause> = source.parse()?;
        let mut clauses: Vec<Clause> = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let at = |key: &str| format!("[{i}].{key}");
            if !is_clause_id(&r.id) {
                return Err(source.error(
                    at("id"),
                    format!(
                        "`{}` is not a clause id: uppercase letters, `-`, a number (e.g. CB-2)",
                        r.id
                    ),
                ));
            }
            if let Some(first) = clauses.iter().position(|c| c.id == r.id) {
                return Err(source.error(
                    at("id"),
                    format!("`{}` is listed twice (first as entry {first})", r.id),
                ));
            }
            if r.domain.trim().is_empty() {
                return Err(source.error(
                    at("domain"),
                    "empty; name the features/ folder of its scenarios",
                ));
            }
            if r.text.trim().is_empty() {
                return Err(source.error(at("text"), "empty; state the clause"));
            }
            let mut governs = Vec::with_capacity(r.governs.len());
            for (j, text) in r.governs.iter().enumerate() {
                let pattern = GovernsPattern::parse(text)
                    .map_err(|e| source.error(format!("[{i}].governs[{j}]"), e.to_string()))?;
                governs.push(pattern);
            }
            clauses.push(Clause {
                id: r.id,
                domain: r.domain,
                text: r.text,
                governs,
            });
        }
        Ok(Catalogue { origin, clauses })
    }

    /// The rows of a run report's clause matrix, in catalogue order.
    pub fn report_rows(&self) -> Vec<ClauseDef> {
        self.clauses
            .iter()
            .map(|c| ClauseDef {
                id: c.id.clone(),
                text: c.text.clone(),
            })
            .collect()
    }

    /// The clause with this id (without `@`).
    pub fn get(&self, id: &str) -> Option<&Clause> {
        self.clauses.iter().find(|c| c.id == id)
    }

    /// The domains, in catalogue order, once each.
    pub fn domains(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in &self.clauses {
            if !out.contains(&c.domain.as_str()) {
                out.push(&c.domain);
            }
        }
        out
    }

    /// The clauses governing the config value at `path`, in catalogue order.
    pub fn governing<'a>(&'a self, path: &'a MutationPath) -> impl Iterator<Item = &'a Clause> {
        self.clauses.iter().filter(move |c| c.governs(path))
    }

    /// What `tag` (with or without `@`) is: another tag, a clause, an unknown clause id, or a
    /// clause written wrongly (`ACL3`, `acl-3`, `Acl_3`).
    pub fn classify_tag(&self, tag: &str) -> TagKind {
        let tag = tag.strip_prefix('@').unwrap_or(tag);
        if self.get(tag).is_some() {
            return TagKind::Clause(tag.to_string());
        }
        let squashed = squash(tag);
        if let Some(c) = self.clauses.iter().find(|c| squash(&c.id) == squashed) {
            return TagKind::Malformed {
                tag: tag.to_string(),
                id: c.id.clone(),
            };
        }
        if is_clause_id(tag) {
            let ids = self.clauses.iter().map(|c| c.id.as_str());
            return TagKind::Unknown {
                id: tag.to_string(),
                closest: closest(tag, ids).map(str::to_string),
            };
        }
        // `ACL9`, `cb_12`: a known clause prefix and a number, written another way.
        let letters: String = tag.chars().take_while(char::is_ascii_alphabetic).collect();
        let rest = &tag[letters.len()..];
        let number = rest.trim_start_matches(['-', '_', ' ']);
        let prefix = letters.to_ascii_uppercase();
        let known_prefix = self
            .clauses
            .iter()
            .any(|c| c.id.rsplit_once('-').is_some_and(|(p, _)| p == prefix));
        if known_prefix
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
            && rest.len() - number.len() <= 1
        {
            return TagKind::Malformed {
                tag: tag.to_string(),
                id: format!("{prefix}-{number}"),
            };
        }
        TagKind::Other
    }
}

/// A tag reduced to its letters and digits, uppercase: `acl-3`, `ACL3`, `Acl_3` → `ACL3`.
fn squash(tag: &str) -> String {
    tag.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Catalogue, ConfigError> {
        let source = Source {
            file: PathBuf::from("clauses.yml"),
            text: text.to_string(),
        };
        Catalogue::from_source(&source, Origin::BuiltIn)
    }

    #[test]
    fn the_built_in_catalogue_holds_every_clause_of_the_spec_once_with_its_domain() {
        let c = Catalogue::built_in();
        assert_eq!(c.clauses.len(), 40);
        assert_eq!(c.clauses[13].id, "CB-1");
        assert_eq!(c.clauses[13].text, "A breaker starts CLOSED.");
        assert_eq!(
            c.domains(),
            [
                "auth",
                "acl",
                "rate_limit",
                "resilience",
                "mesh",
                "observability",
                "latency",
                "network"
            ]
        );
        assert_eq!(c.get("LAT-1").map(|c| c.domain.as_str()), Some("latency"));
    }

    #[test]
    fn the_repository_file_is_the_built_in_one_and_is_found_from_a_feature_path() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let found = Catalogue::locate(&[root.join("features/auth/token_lifetime.feature")]);
        assert_eq!(
            found.map(|f| root.join(f).canonicalize().unwrap()),
            Some(root.join("features/clauses.yml").canonicalize().unwrap())
        );
        let loaded = Catalogue::load(&root.join("features/clauses.yml")).unwrap();
        assert_eq!(loaded.clauses, Catalogue::built_in().clauses);
    }

    fn governed_by(path: &str) -> Vec<String> {
        let c = Catalogue::built_in();
        let path = MutationPath::parse(path).unwrap();
        c.governing(&path).map(|c| c.id.clone()).collect()
    }

    #[test]
    fn each_policy_value_of_valueverse_is_governed_by_its_clauses() {
        let cb = "kong.yml:services[value-committer].plugins[circuit-breaker].config";
        assert_eq!(
            governed_by(&format!("{cb}.failure_threshold")),
            ["CB-2", "NET-2"]
        );
        assert_eq!(
            governed_by(&format!("{cb}.open_timeout")),
            ["CB-3", "CB-4", "CB-5"]
        );
        assert_eq!(governed_by(&format!("{cb}.half_open_successes")), ["CB-5"]);
        assert_eq!(
            governed_by("kong.yml:plugins[rate-limiting].config.minute"),
            ["RATE-1"]
        );
        assert_eq!(
            governed_by("kong.yml:plugins[rate-limiting].config.limit_by"),
            ["RATE-1", "RATE-2", "RATE-3"]
        );
        assert_eq!(
            governed_by("kong.yml:plugins[jwt].config.claims_to_verify[1]"),
            ["AUTH-4"]
        );
        assert_eq!(
            governed_by("kong.yml:plugins[jwt].config.maximum_expiration"),
            ["AUTH-4"]
        );
        assert_eq!(
            governed_by("kong.yml:services[value-committer].retries"),
            ["RETRY-1", "NET-2"]
        );
        assert_eq!(
            governed_by("kong.yml:services[value-architect].read_timeout"),
            ["TIMEOUT-1", "NET-3"]
        );
        assert_eq!(
            governed_by("kong.yml:services[value-architect].plugins[bulkhead].config.max_concurrent_requests"),
            ["BULK-1"]
        );
        assert_eq!(
            governed_by("kong.yml:services[value-architect].routes[value-models-write].plugins[acl].config.allow[admin]"),
            ["ACL-1", "ACL-2", "ACL-3"]
        );
        assert_eq!(
            governed_by("kong.yml:consumers[frontend-app].acls[user]"),
            ["ACL-2", "ACL-4"]
        );
        assert_eq!(
            governed_by("intentions.hcl:config_entries.bootstrap[value-architect].Sources[value-committer].Action"),
            ["MESH-3"]
        );
        assert_eq!(
            governed_by("stack.yml:mesh.default_intention"),
            ["MESH-3", "MESH-6"]
        );
    }

    #[test]
    fn tags_are_told_apart_as_clauses_unknown_ids_and_misspelt_clauses() {
        let c = Catalogue::built_in();
        assert_eq!(c.classify_tag("@ACL-3"), TagKind::Clause("ACL-3".into()));
        assert_eq!(c.classify_tag("@auth"), TagKind::Other);
        assert_eq!(c.classify_tag("serial"), TagKind::Other);
        assert_eq!(
            c.classify_tag("@ACL-9"),
            TagKind::Unknown {
                id: "ACL-9".into(),
                closest: Some("ACL-1".into())
            }
        );
        assert_eq!(
            c.classify_tag("@ACL9"),
            TagKind::Malformed {
                tag: "ACL9".into(),
                id: "ACL-9".into()
            }
        );
        assert_eq!(c.classify_tag("@rate-limit"), TagKind::Other);
        assert_eq!(c.classify_tag("@cbs-2"), TagKind::Other);
        for tag in ["@ACL3", "@acl-3", "@Acl_3"] {
            assert_eq!(
                c.classify_tag(tag),
                TagKind::Malformed {
                    tag: tag[1..].to_string(),
                    id: "ACL-3".into()
                },
                "{tag}"
            );
        }
    }

    #[test]
    fn a_bad_catalogue_names_the_line_and_key() {
        let e = parse("- id: CB-1\n  domain: resilience\n  text: x\n  governs: []\n- id: CB-1\n  domain: resilience\n  text: y\n  governs: []\n").unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(
            e.to_string().contains("[1].id: `CB-1` is listed twice"),
            "{e}"
        );
        let e = parse("- id: cb-1\n  domain: r\n  text: x\n  governs: []\n").unwrap_err();
        assert!(e.to_string().contains("not a clause id"), "{e}");
        let e = parse("- id: CB-1\n  domain: r\n  text: x\n").unwrap_err();
        assert!(
            e.to_string().contains("governs"),
            "governs is required: {e}"
        );
        let e =
            parse("- id: CB-1\n  domain: r\n  text: x\n  governs: [\"kong.yml\"]\n").unwrap_err();
        assert!(e.to_string().contains("[0].governs[0]"), "{e}");
        assert_eq!(e.line, Some(4), "{e}");
        let e = parse("- id: CB-1\n  domian: r\n  text: x\n  governs: []\n").unwrap_err();
        assert!(e.to_string().contains("did you mean `domain`"), "{e}");
    }
}
