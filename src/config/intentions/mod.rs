//! Consul `service-intentions` files (SPEC §6): a stack's `intentions.hcl` or
//! `intentions.json` read once and validated into the intention model that the mesh decides
//! with ([`crate::mesh::intentions`]).
//!
//! ```text
//!   intentions.hcl / .json ─► syntax (positional tree) ─► decode (+ MeshServices: protocols)
//!        ─► Vec<IntentionEntry> + warnings ─► config::MeshDef
//!   PUT /v1/connect/intentions/exact body ─► syntax::parse_json ─► decode_exact_body
//! ```
//!
//! File forms: one config entry per file, exactly as `consul config write` takes it, or several
//! in Consul's agent-config form `config_entries { bootstrap = [ {Kind = ...}, ... ] }` (in JSON:
//! `{"config_entries": {"bootstrap": [...]}}`); other kinds in a bootstrap list are warned and
//! skipped. Keys match as Consul's decoder matches them: case-insensitively, underscores ignored.

mod decode;
pub mod model;
mod syntax;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use model::{
    Action, HeaderMatch, HeaderMatchKind, HttpMatch, HttpRequestView, IntentionEntry, PathMatch,
    Pattern, Permission, Rule, ServiceMatch, SourceIntention,
};

use crate::config::topology::Topology;
use crate::config::{ConfigError, ConfigWarning};
use crate::protocol::Protocol;

/// What the loader knows of the stack: each service's protocol (L7 needs http) and every mesh
/// identity (services and the gateway), to warn about names that never match.
#[derive(Debug, Clone, Default)]
pub struct MeshServices {
    protocols: BTreeMap<String, Protocol>,
    other_identities: BTreeSet<String>,
}

impl MeshServices {
    pub fn new(
        services: impl IntoIterator<Item = (String, Protocol)>,
        other_identities: impl IntoIterator<Item = String>,
    ) -> Self {
        MeshServices {
            protocols: services.into_iter().collect(),
            other_identities: other_identities.into_iter().collect(),
        }
    }

    /// The services of `stack.yml` and the gateway's mesh identity.
    pub fn from_topology(topology: &Topology) -> Self {
        MeshServices::new(
            topology
                .services
                .iter()
                .map(|s| (s.name.clone(), s.protocol)),
            [topology.gateway_identity.clone()],
        )
    }

    /// A service's protocol; Consul's default, tcp, for a name the stack does not define.
    pub fn protocol(&self, service: &str) -> Protocol {
        self.protocols
            .get(service)
            .copied()
            .unwrap_or(Protocol::Tcp)
    }

    pub fn is_service(&self, name: &str) -> bool {
        self.protocols.contains_key(name)
    }

    /// A service or another mesh identity (the gateway).
    pub fn knows(&self, name: &str) -> bool {
        self.is_service(name) || self.other_identities.contains(name)
    }
}

/// The intentions file of a stack directory: `intentions.hcl` or `intentions.json`, or `None`.
///
/// # Errors
/// Both files exist (which one applies would be a guess).
pub fn find_file(dir: &Path) -> Result<Option<PathBuf>, ConfigError> {
    let hcl = dir.join("intentions.hcl");
    let json = dir.join("intentions.json");
    match (hcl.is_file(), json.is_file()) {
        (true, true) => Err(ConfigError::new(
            &json,
            "both intentions.hcl and intentions.json exist: keep one",
        )),
        (true, false) => Ok(Some(hcl)),
        (false, true) => Ok(Some(json)),
        (false, false) => Ok(None),
    }
}

/// Reads and validates an intentions file (HCL, or JSON when it ends in `.json`).
///
/// # Errors
/// The first problem, as `file:line:col: key: message`.
pub fn load(
    path: &Path,
    services: &MeshServices,
) -> Result<(Vec<IntentionEntry>, Vec<ConfigWarning>), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read file: {e}")))?;
    parse(path, &text, services)
}

/// [`load`] on text already read; `path` names it in messages and picks the syntax.
///
/// # Errors
/// As [`load`].
pub fn parse(
    path: &Path,
    text: &str,
    services: &MeshServices,
) -> Result<(Vec<IntentionEntry>, Vec<ConfigWarning>), ConfigError> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let tree = if is_json {
        syntax::parse_json(text)
    } else {
        syntax::parse_hcl(text)
    }
    .map_err(|e| ConfigError::new(path, e.message).at_line(e.pos.line, Some(e.pos.col)))?;
    let mut decoder = decode::Decoder::new(path, services);
    let entries = decoder.file(&tree)?;
    Ok((entries, decoder.warnings))
}

/// An intentions file as a plain JSON tree, as `intentions.json` would hold it (HCL blocks become
/// objects, repeated blocks lists), for `gauntlet mutate`, which mutates the tree and writes it
/// back as JSON.
///
/// # Errors
/// The file cannot be read or parsed, as [`load`] says it.
pub fn read_tree(path: &Path) -> Result<serde_json::Value, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read file: {e}")))?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    let tree = if is_json {
        syntax::parse_json(&text)
    } else {
        syntax::parse_hcl(&text)
    }
    .map_err(|e| ConfigError::new(path, e.message).at_line(e.pos.line, Some(e.pos.col)))?;
    Ok(syntax::to_json(&tree))
}

/// The body of `PUT /v1/connect/intentions/exact?source=..&destination=..` (JSON): the one
/// source intention it sets on `destination`.
///
/// # Errors
/// The body is not JSON, or not a valid intention, as a message naming the key.
pub(crate) fn decode_exact_body(
    body: &str,
    services: &MeshServices,
    source: &ServiceMatch,
    destination: &ServiceMatch,
) -> Result<SourceIntention, String> {
    let tree = syntax::parse_json(body).map_err(|e| format!("request body: {}", e.message))?;
    decode::Decoder::new(Path::new("request body"), services)
        .exact_body(&tree, source, destination)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests;
