//! Consul `service-intentions` (SPEC §6, MESH-3, MESH-5, MESH-6): loaded from a stack's
//! `intentions.hcl` or `intentions.json`, evaluated by a pure decision function, held in a
//! mutable store that the catalog API edits on a running stack.
//!
//! ```text
//!   intentions.hcl / .json ─► syntax (positional tree) ─► decode (+ MeshServices: protocols)
//!        ─► Vec<IntentionEntry> + warnings ─► Intentions { entries, default action }
//!                                                 │ decide(src, dst, Option<&HttpRequestView>)
//!   catalog API ─► IntentionStore (snapshot swap) ┘ put_exact / delete_exact / check / list
//! ```
//!
//! File forms: one config entry per file, exactly as `consul config write` takes it, or several
//! in Consul's agent-config form `config_entries { bootstrap = [ {Kind = ...}, ... ] }` (in JSON:
//! `{"config_entries": {"bootstrap": [...]}}`); other kinds in a bootstrap list are warned and
//! skipped. Keys match as Consul's decoder matches them: case-insensitively, underscores ignored.

pub mod decide;
mod decode;
pub mod model;
pub mod store;
mod syntax;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use decide::{Decision, Matched, Reason};
pub use model::{
    Action, HeaderMatch, HeaderMatchKind, HttpMatch, HttpRequestView, IntentionEntry, PathMatch,
    Pattern, Permission, Rule, ServiceMatch, SourceIntention,
};
pub use store::{CheckResponse, IntentionApiError, IntentionStore, IntentionView};

use crate::config::topology::{Protocol, Topology};
use crate::config::{ConfigError, ConfigWarning};

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

/// A validated, immutable set of intentions and the stack's default action.
#[derive(Debug, Clone, PartialEq)]
pub struct Intentions {
    entries: Vec<IntentionEntry>,
    default: Action,
}

impl Intentions {
    pub fn new(entries: Vec<IntentionEntry>, default: Action) -> Self {
        Intentions { entries, default }
    }

    pub fn entries(&self) -> &[IntentionEntry] {
        &self.entries
    }

    /// What applies when no intention governs a pair (valueverse: deny).
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// Decides `source` → `destination`; `request` is `None` for tcp traffic.
    pub fn decide(
        &self,
        source: &str,
        destination: &str,
        request: Option<&HttpRequestView<'_>>,
    ) -> Decision {
        decide::decide(&self.entries, self.default, source, destination, request)
    }

    /// Consul's `intentions/check`: the L4 answer, an L7 intention counting as deny.
    pub fn check(&self, source: &str, destination: &str) -> bool {
        self.decide(source, destination, None).allowed()
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

#[cfg(test)]
mod tests;
