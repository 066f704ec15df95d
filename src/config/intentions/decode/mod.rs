//! From the positional tree of an intentions file (or an API body) to validated domain types,
//! with errors and warnings naming file, line and key (`Sources[1].Permissions[0].HTTP.PathPrefx`).
//!
//! ```text
//!   Node tree ─► file(): one entry, or `config_entries { bootstrap = [...] }` (agent-config form)
//!               └─► entry() ─► source() ─► permission() ─► http() ─► header()
//!                   unknown key → error (with the closest known key)
//!                   real Consul key not emulated → warning (never silently ignored)
//! ```
//!
//! Consul's rules enforced here (mesh.md §2): `Kind` must be `service-intentions`; a source has
//! exactly one of `Action` and `Permissions`; `Permissions` need an http destination (a tcp
//! destination, or one the stack does not know — Consul's default protocol is tcp — is an
//! error) and a non-wildcard destination; at most one path match; one match kind per header;
//! one entry per destination and one intention per source within it.

mod http;

use std::collections::BTreeMap;
use std::path::Path;

use super::model::{Action, IntentionEntry, Rule, ServiceMatch, SourceIntention};
use super::syntax::{normalize_key, Item, Node, Pos, Value};
use super::MeshServices;
use crate::config::kong::yaml::closest;
use crate::config::{ConfigError, ConfigWarning};
use crate::protocol::Protocol;

const KIND: &str = "service-intentions";

/// Consul's other config entry kinds (`api/config_entry.go`): real, but not emulated, so one in
/// a bootstrap list is warned and skipped. Any other `Kind` is a typo and an error.
const OTHER_CONSUL_KINDS: &[&str] = &[
    "service-defaults",
    "proxy-defaults",
    "service-router",
    "service-splitter",
    "service-resolver",
    "ingress-gateway",
    "terminating-gateway",
    "mesh",
    "exported-services",
    "sameness-group",
    "api-gateway",
    "bound-api-gateway",
    "http-route",
    "tcp-route",
    "inline-certificate",
    "file-system-certificate",
    "jwt-provider",
    "control-plane-request-limit",
];
const READ_ONLY: &str = "a read-only field Consul fills in itself; ignored";

/// Consul's limits on opaque values (`agent/structs`: `metaValueMaxLength`, `metaKeyMaxLength`,
/// `metaMaxKeyPairs`), applied to `Description` and `Meta` as Consul's intention validation does.
const META_VALUE_MAX_LENGTH: usize = 512;
const META_KEY_MAX_LENGTH: usize = 128;
const META_MAX_PAIRS: usize = 64;

pub(crate) struct Decoder<'a> {
    file: &'a Path,
    services: &'a MeshServices,
    pub warnings: Vec<ConfigWarning>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn get<'n>(items: &'n [Item], key: &str) -> Option<&'n Item> {
    let norm = normalize_key(key);
    items.iter().find(|it| normalize_key(&it.key) == norm)
}

impl<'a> Decoder<'a> {
    pub fn new(file: &'a Path, services: &'a MeshServices) -> Self {
        Decoder {
            file,
            services,
            warnings: Vec::new(),
        }
    }

    fn err(&self, pos: Pos, key: &str, message: impl Into<String>) -> ConfigError {
        let mut e = ConfigError::new(self.file, message).at_line(pos.line, Some(pos.col));
        if !key.is_empty() {
            e = e.at_key(key);
        }
        e
    }

    fn warn(&mut self, pos: Pos, key: &str, message: impl Into<String>) {
        self.warnings.push(ConfigWarning {
            file: self.file.to_path_buf(),
            line: Some(pos.line),
            key: key.to_string(),
            message: message.into(),
            routes: Vec::new(),
        });
    }

    /// Every key must be `known` or `tolerated` (a real Consul key not emulated: warned).
    fn check_keys(
        &mut self,
        items: &[Item],
        path: &str,
        known: &[&str],
        tolerated: &[(&str, &str)],
    ) -> Result<(), ConfigError> {
        for item in items {
            let norm = normalize_key(&item.key);
            if known.iter().any(|k| normalize_key(k) == norm) {
                continue;
            }
            if let Some((_, why)) = tolerated.iter().find(|(k, _)| normalize_key(k) == norm) {
                if !why.is_empty() {
                    self.warn(item.key_pos, &join(path, &item.key), *why);
                }
                continue;
            }
            let all = known
                .iter()
                .chain(tolerated.iter().map(|(k, _)| k))
                .copied();
            let hint = closest(&item.key, all)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            return Err(self.err(
                item.key_pos,
                &join(path, &item.key),
                format!("unknown key{hint}"),
            ));
        }
        Ok(())
    }

    /// An object, or (an HCL 1 block decoded as a one-element list) a list of one object.
    fn object<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [Item], ConfigError> {
        match &node.value {
            Value::Object(items) => Ok(items),
            Value::List(list) if list.len() == 1 => self.object(&list[0], path),
            other => Err(self.err(
                node.pos,
                path,
                format!("expected an object, found {}", other.kind()),
            )),
        }
    }

    /// A list; a lone object (one HCL 1 block) counts as a list of one.
    fn list<'n>(&self, node: &'n Node, path: &str) -> Result<Vec<&'n Node>, ConfigError> {
        match &node.value {
            Value::List(list) => Ok(list.iter().collect()),
            Value::Object(_) => Ok(vec![node]),
            other => Err(self.err(
                node.pos,
                path,
                format!("expected a list, found {}", other.kind()),
            )),
        }
    }

    fn string<'n>(&self, node: &'n Node, path: &str) -> Result<&'n str, ConfigError> {
        match &node.value {
            Value::Str(s) => Ok(s),
            other => Err(self.err(
                node.pos,
                path,
                format!("expected a string, found {}", other.kind()),
            )),
        }
    }

    fn boolean(&self, node: &Node, path: &str) -> Result<bool, ConfigError> {
        match &node.value {
            Value::Bool(b) => Ok(*b),
            other => Err(self.err(
                node.pos,
                path,
                format!("expected true or false, found {}", other.kind()),
            )),
        }
    }

    fn required<'n>(
        &self,
        items: &'n [Item],
        key: &str,
        path: &str,
        at: Pos,
    ) -> Result<&'n Item, ConfigError> {
        get(items, key).ok_or_else(|| self.err(at, &join(path, key), "required key missing"))
    }

    fn action(&self, node: &Node, path: &str) -> Result<Action, ConfigError> {
        let text = self.string(node, path)?;
        Action::parse(text).ok_or_else(|| {
            self.err(
                node.pos,
                path,
                format!("must be \"allow\" or \"deny\", found \"{text}\""),
            )
        })
    }

    fn service_name(&mut self, node: &Node, path: &str) -> Result<ServiceMatch, ConfigError> {
        let name = self.string(node, path)?;
        let valid = name == "*"
            || (!name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        if !valid {
            return Err(self.err(
                node.pos,
                path,
                format!(
                    "`{name}` is not a service name or `*` (a wildcard must be the whole name)"
                ),
            ));
        }
        if name != "*" && !self.services.knows(name) {
            self.warn(
                node.pos,
                path,
                format!("`{name}` is not a service of this stack nor the gateway's identity: this intention never applies"),
            );
        }
        Ok(ServiceMatch::parse(name))
    }

    /// Whether an optional Enterprise/peering scope key keeps the item in this CE stack.
    fn in_local_scope(
        &mut self,
        items: &[Item],
        path: &str,
        what: &str,
    ) -> Result<bool, ConfigError> {
        for key in ["Namespace", "Partition"] {
            if let Some(item) = get(items, key) {
                let value = self.string(&item.value, &join(path, &item.key))?;
                if !value.is_empty() && value != "default" {
                    self.warn(
                        item.key_pos,
                        &join(path, &item.key),
                        format!("{key} \"{value}\" is not emulated (every service is in the default one): this {what} is skipped"),
                    );
                    return Ok(false);
                }
            }
        }
        for key in ["Peer", "SamenessGroup"] {
            if let Some(item) = get(items, key) {
                let value = self.string(&item.value, &join(path, &item.key))?;
                if !value.is_empty() {
                    self.warn(
                        item.key_pos,
                        &join(path, &item.key),
                        format!("{key} \"{value}\" (cluster peering) is not emulated: this {what} is skipped"),
                    );
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// A whole file: one entry, or an agent-config `config_entries { bootstrap = [...] }`.
    pub fn file(&mut self, root: &Node) -> Result<Vec<IntentionEntry>, ConfigError> {
        let items = self.object(root, "")?;
        let mut entries: Vec<(IntentionEntry, Pos, String)> = Vec::new();
        if let Some(ce) = get(items, "config_entries") {
            // A Consul agent configuration file: `config_entries.bootstrap` sits beside agent
            // settings (`acl`, `enable_central_service_config`, `ports`, …; Consul's agent
            // config reference). Gauntlet reads the entries and says once which keys it ignores.
            let others: Vec<&Item> = items
                .iter()
                .filter(|i| normalize_key(&i.key) != normalize_key("config_entries"))
                .collect();
            if let Some(first) = others.first() {
                let names: Vec<&str> = others.iter().map(|i| i.key.as_str()).collect();
                self.warn(
                    first.key_pos,
                    &first.key,
                    format!(
                        "a Consul agent configuration: Gauntlet reads only its `config_entries` and ignores the agent settings {}",
                        names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            let ce_path = ce.key.clone();
            let ce_items = self.object(&ce.value, &ce_path)?;
            self.check_keys(ce_items, &ce_path, &["bootstrap"], &[])?;
            let boot = self.required(ce_items, "bootstrap", &ce_path, ce.value.pos)?;
            let boot_path = join(&ce_path, &boot.key);
            for (i, node) in self.list(&boot.value, &boot_path)?.into_iter().enumerate() {
                let path = format!("{boot_path}[{i}]");
                if let Some(entry) = self.entry(node, &path, true)? {
                    entries.push((entry, node.pos, join(&path, "Name")));
                }
            }
        } else if let Some(entry) = self.entry(root, "", false)? {
            entries.push((entry, root.pos, "Name".to_string()));
        }
        let mut out: Vec<IntentionEntry> = Vec::new();
        let mut seen: Vec<(ServiceMatch, Pos)> = Vec::new();
        for (entry, pos, key) in entries {
            if let Some((_, first)) = seen.iter().find(|(d, _)| *d == entry.destination) {
                return Err(self.err(
                    pos,
                    &key,
                    format!(
                        "a second service-intentions entry for `{}` (the first is at line {}): Consul keeps one entry per destination",
                        entry.destination, first.line
                    ),
                ));
            }
            seen.push((entry.destination.clone(), pos));
            out.push(entry);
        }
        Ok(out)
    }

    /// One config entry; `None` when skipped (another kind in a bootstrap list, another scope).
    fn entry(
        &mut self,
        node: &Node,
        path: &str,
        in_bootstrap: bool,
    ) -> Result<Option<IntentionEntry>, ConfigError> {
        let items = self.object(node, path)?;
        let kind_item = self.required(items, "Kind", path, node.pos)?;
        let kind_path = join(path, &kind_item.key);
        let kind = self.string(&kind_item.value, &kind_path)?;
        if kind != KIND {
            let real = OTHER_CONSUL_KINDS.contains(&kind);
            if in_bootstrap && real {
                self.warn(
                    kind_item.key_pos,
                    &kind_path,
                    format!("config entry kind \"{kind}\" is not emulated (service protocols come from stack.yml): entry skipped"),
                );
                return Ok(None);
            }
            // A typo would silently drop the mesh policy: never skip what Consul would refuse.
            let message = if real {
                format!("must be \"{KIND}\", found \"{kind}\" (one entry per file; other kinds go in a config_entries bootstrap list, where Gauntlet skips them)")
            } else {
                let candidates = std::iter::once(KIND).chain(OTHER_CONSUL_KINDS.iter().copied());
                match closest(kind, candidates) {
                    Some(best) => {
                        format!("unknown config entry kind \"{kind}\" (did you mean \"{best}\"?)")
                    }
                    None => format!(
                        "unknown config entry kind \"{kind}\"; intentions are Kind = \"{KIND}\""
                    ),
                }
            };
            return Err(self.err(kind_item.value.pos, &kind_path, message));
        }
        self.check_keys(
            items,
            path,
            &["Kind", "Name", "Sources", "Meta", "Namespace", "Partition"],
            &[
                (
                    "JWT",
                    "JWT requirements are not emulated: the intentions apply without them",
                ),
                ("CreateIndex", READ_ONLY),
                ("ModifyIndex", READ_ONLY),
            ],
        )?;
        let name_item = self.required(items, "Name", path, node.pos)?;
        let destination = self.service_name(&name_item.value, &join(path, &name_item.key))?;
        if !self.in_local_scope(items, path, "entry")? {
            return Ok(None);
        }
        let meta = match get(items, "Meta") {
            Some(item) => self.meta(&item.value, &join(path, &item.key))?,
            None => BTreeMap::new(),
        };
        let mut sources: Vec<SourceIntention> = Vec::new();
        let mut source_lines: Vec<usize> = Vec::new();
        if let Some(item) = get(items, "Sources") {
            let sources_path = join(path, &item.key);
            for (i, src) in self
                .list(&item.value, &sources_path)?
                .into_iter()
                .enumerate()
            {
                let src_path = format!("{sources_path}[{i}]");
                let Some(source) = self.source(src, &src_path, &destination)? else {
                    continue;
                };
                if let Some(j) = sources.iter().position(|s| s.source == source.source) {
                    return Err(self.err(
                        src.pos,
                        &join(&src_path, "Name"),
                        format!(
                            "source `{}` is defined more than once (also at line {})",
                            source.source, source_lines[j]
                        ),
                    ));
                }
                source_lines.push(src.pos.line);
                sources.push(source);
            }
        }
        Ok(Some(IntentionEntry {
            destination,
            meta,
            sources,
        }))
    }

    /// `Meta`: string values, within Consul's limits (`validateConfigEntryMeta`: 64 pairs,
    /// keys of at most 128 bytes, values of at most 512).
    fn meta(&self, node: &Node, path: &str) -> Result<BTreeMap<String, String>, ConfigError> {
        let items = self.object(node, path)?;
        if items.len() > META_MAX_PAIRS {
            return Err(self.err(
                node.pos,
                path,
                format!("exceeds maximum element count {META_MAX_PAIRS}"),
            ));
        }
        let mut out = BTreeMap::new();
        for item in items {
            let key = join(path, &item.key);
            if item.key.len() > META_KEY_MAX_LENGTH {
                return Err(self.err(
                    item.key_pos,
                    &key,
                    format!("key exceeds maximum length {META_KEY_MAX_LENGTH}"),
                ));
            }
            let value = self.string(&item.value, &key)?;
            if value.len() > META_VALUE_MAX_LENGTH {
                return Err(self.err(
                    item.value.pos,
                    &key,
                    format!("value exceeds maximum length {META_VALUE_MAX_LENGTH}"),
                ));
            }
            out.insert(item.key.clone(), value.to_string());
        }
        Ok(out)
    }

    /// `Description`: a string of at most 512 bytes (Consul's `metaValueMaxLength`).
    fn description(&self, items: &[Item], path: &str) -> Result<Option<String>, ConfigError> {
        let Some(item) = get(items, "Description") else {
            return Ok(None);
        };
        let key = join(path, &item.key);
        let text = self.string(&item.value, &key)?;
        if text.len() > META_VALUE_MAX_LENGTH {
            return Err(self.err(
                item.value.pos,
                &key,
                format!("exceeds maximum length {META_VALUE_MAX_LENGTH}"),
            ));
        }
        Ok(Some(text.to_string()))
    }

    /// A client-sent `Precedence`: Consul decodes it into an integer and then recomputes it, so
    /// anything but an integer that fits is refused and the value itself is never used.
    fn precedence_type(&self, items: &[Item], path: &str) -> Result<(), ConfigError> {
        let Some(item) = get(items, "Precedence") else {
            return Ok(());
        };
        match &item.value.value {
            Value::Num(n) if n.parse::<i64>().is_ok() => Ok(()),
            other => Err(self.err(
                item.value.pos,
                &join(path, &item.key),
                format!(
                    "expected an integer (a read-only field Consul computes), found {}",
                    match other {
                        Value::Num(n) => format!("`{n}`"),
                        v => v.kind().to_string(),
                    }
                ),
            )),
        }
    }

    fn source(
        &mut self,
        node: &Node,
        path: &str,
        destination: &ServiceMatch,
    ) -> Result<Option<SourceIntention>, ConfigError> {
        let items = self.object(node, path)?;
        self.check_keys(
            items,
            path,
            &[
                "Name",
                "Action",
                "Permissions",
                "Description",
                "Type",
                "Precedence",
                "Namespace",
                "Partition",
                "Peer",
                "SamenessGroup",
            ],
            &[
                ("LegacyID", READ_ONLY),
                ("LegacyMeta", READ_ONLY),
                ("LegacyCreateTime", READ_ONLY),
                ("LegacyUpdateTime", READ_ONLY),
            ],
        )?;
        let name_item = self.required(items, "Name", path, node.pos)?;
        let source = self.service_name(&name_item.value, &join(path, &name_item.key))?;
        if let Some(item) = get(items, "Type") {
            let key = join(path, &item.key);
            let ty = self.string(&item.value, &key)?;
            if ty != "consul" {
                return Err(self.err(
                    item.value.pos,
                    &key,
                    format!("must be \"consul\", found \"{ty}\""),
                ));
            }
        }
        self.precedence_type(items, path)?;
        if let Some(item) = get(items, "Precedence") {
            let computed = super::model::precedence(&source, destination);
            self.warn(
                item.key_pos,
                &join(path, &item.key),
                format!("read-only: Consul computes it from the names (here {computed}); ignored"),
            );
        }
        let description = self.description(items, path)?;
        let rule = self.rule(items, path, node.pos, destination)?;
        if !self.in_local_scope(items, path, "source")? {
            return Ok(None);
        }
        Ok(Some(SourceIntention {
            source,
            rule,
            description,
        }))
    }

    /// `Action` (L4) or `Permissions` (L7), exactly one.
    fn rule(
        &mut self,
        items: &[Item],
        path: &str,
        at: Pos,
        destination: &ServiceMatch,
    ) -> Result<Rule, ConfigError> {
        match (get(items, "Action"), get(items, "Permissions")) {
            (Some(a), None) => Ok(Rule::L4(self.action(&a.value, &join(path, &a.key))?)),
            (None, Some(p)) => {
                let perms_path = join(path, &p.key);
                if let ServiceMatch::Exact(dst) = destination {
                    if self.services.protocol(dst) != Protocol::Http {
                        let why = if self.services.is_service(dst) {
                            format!("`{dst}` is tcp in stack.yml")
                        } else {
                            format!("`{dst}` is not a service of this stack, so its protocol is Consul's default, tcp")
                        };
                        return Err(self.err(
                            p.key_pos,
                            &perms_path,
                            format!("L7 permissions need an http destination: {why}"),
                        ));
                    }
                } else {
                    return Err(self.err(
                        p.key_pos,
                        &perms_path,
                        "L7 permissions cannot be used when the destination Name is `*`",
                    ));
                }
                let list = self.list(&p.value, &perms_path)?;
                if list.is_empty() {
                    return Err(self.err(
                        p.value.pos,
                        &perms_path,
                        "must list at least one permission",
                    ));
                }
                let mut perms = Vec::new();
                for (i, perm) in list.into_iter().enumerate() {
                    perms.push(self.permission(perm, &format!("{perms_path}[{i}]"))?);
                }
                Ok(Rule::L7(perms))
            }
            (Some(a), Some(_)) => Err(self.err(
                a.key_pos,
                &join(path, &a.key),
                "Action must be omitted when Permissions are given (L4 and L7 are exclusive)",
            )),
            (None, None) => Err(self.err(
                at,
                &join(path, "Action"),
                "required key missing (or give Permissions)",
            )),
        }
    }

    /// The body of `PUT /v1/connect/intentions/exact`: `{Action}` or `{Permissions}`, plus
    /// `Description`/`SourceType`; the read-only fields of a GET answer are accepted and ignored
    /// so that a GET-edit-PUT round trip works.
    pub fn exact_body(
        &mut self,
        root: &Node,
        source: &ServiceMatch,
        destination: &ServiceMatch,
    ) -> Result<SourceIntention, ConfigError> {
        let items = self.object(root, "")?;
        self.check_keys(
            items,
            "",
            &["SourceType", "Action", "Permissions", "Description", "Meta"],
            &[
                ("ID", ""),
                ("SourceNS", ""),
                ("SourceName", ""),
                ("DestinationNS", ""),
                ("DestinationName", ""),
                ("SourcePartition", ""),
                ("DestinationPartition", ""),
                ("SourcePeer", ""),
                ("Precedence", ""),
                ("CreatedAt", ""),
                ("UpdatedAt", ""),
                ("CreateIndex", ""),
                ("ModifyIndex", ""),
                ("Hash", ""),
                ("LegacyMeta", ""),
            ],
        )?;
        if let Some(item) = get(items, "SourceType") {
            let ty = self.string(&item.value, &item.key)?;
            if ty != "consul" {
                return Err(self.err(
                    item.value.pos,
                    &item.key,
                    format!("must be \"consul\", found \"{ty}\""),
                ));
            }
        }
        let description = self.description(items, "")?;
        self.precedence_type(items, "")?;
        if let Some(item) = get(items, "Meta") {
            self.meta(&item.value, &item.key)?;
        }
        let rule = self.rule(items, "", root.pos, destination)?;
        Ok(SourceIntention {
            source: source.clone(),
            rule,
            description,
        })
    }
}
