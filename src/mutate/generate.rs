//! Mutant generation (SPEC §12): every single-value change of a stack's config files.
//!
//! ```text
//!   StackFiles ─► walk every value (JSON pointer + mutation path) ─► rules ─► Vec<Mutant>
//! ```
//!
//! The operators, each applied wherever its pattern matches:
//! - numbers (retries, timeouts, breaker, bulkhead, rate limits, `maximum_expiration`): ±1, ×2, ÷2;
//! - jwt `claims_to_verify` entries, token sources and `maximum_expiration`: removed;
//!   breaker `failure_statuses` entries: removed;
//! - ACL groups: each known group added to or removed from each acl plugin's `allow`/`deny` and
//!   each consumer's `acls`;
//! - rate-limiting `limit_by`: every other value;
//! - intentions: each source's `Action` flipped, the source removed, its `Name` widened to `*`;
//!   L7 permissions: each adjacent pair swapped, each permission's `Action` flipped;
//! - `stack.yml` `mesh.default_intention`: flipped.
//!
//! List entries are named in paths as the clause catalogue names them: by `name` (or `Name`,
//! `username`, `group`, `key`) when they have one, by their value when they are strings, by
//! index otherwise.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::files::{FileKind, StackFiles};
use crate::clauses::pattern::Segment;
use crate::clauses::{GovernsPattern, MutationPath};

/// One single-value change of a stack.
#[derive(Debug, Clone)]
pub struct Mutant {
    /// 1-based, in generation order (stable for one stack).
    pub id: usize,
    pub file: FileKind,
    /// Which value changed (`kong.yml:services[value-architect].retries`).
    pub path: MutationPath,
    /// The value before, as written (`3`, `[exp, nbf]`, `(absent)`).
    pub old: String,
    /// The value after (`4`, `(removed)`).
    pub new: String,
    /// The whole mutated file.
    pub tree: Value,
}

impl Mutant {
    /// `kong.yml:services[value-architect].retries: 3 → 4`.
    pub fn describe(&self) -> String {
        format!("{}: {} → {}", self.path, self.old, self.new)
    }
}

/// Names that identify a list entry, in the order they are tried.
const ENTRY_NAMES: &[&str] = &["name", "Name", "username", "group", "key"];

/// Numbers mutated by ±1, ×2, ÷2.
const NUMBERS: &[&str] = &[
    "kong.yml:services[*].retries",
    "kong.yml:services[*].connect_timeout",
    "kong.yml:services[*].write_timeout",
    "kong.yml:services[*].read_timeout",
    "kong.yml:**.plugins[circuit-breaker].config.failure_threshold",
    "kong.yml:**.plugins[circuit-breaker].config.open_timeout",
    "kong.yml:**.plugins[circuit-breaker].config.half_open_successes",
    "kong.yml:**.plugins[circuit-breaker].config.half_open_max_concurrent",
    "kong.yml:**.plugins[bulkhead].config.max_concurrent_requests",
    "kong.yml:**.plugins[rate-limiting].config.second",
    "kong.yml:**.plugins[rate-limiting].config.minute",
    "kong.yml:**.plugins[rate-limiting].config.hour",
    "kong.yml:**.plugins[rate-limiting].config.day",
    "kong.yml:**.plugins[rate-limiting].config.month",
    "kong.yml:**.plugins[rate-limiting].config.year",
    "kong.yml:**.plugins[jwt].config.maximum_expiration",
    "kong.yml:**.plugins[request-size-limiting].config.allowed_payload_size",
    "kong.yml:**.plugins[ip-restriction].config.status",
    "kong.yml:**.plugins[cors].config.max_age",
];

/// List entries removed one at a time.
const REMOVED_ENTRIES: &[&str] = &[
    "kong.yml:**.plugins[jwt].config.claims_to_verify[*]",
    "kong.yml:**.plugins[jwt].config.uri_param_names[*]",
    "kong.yml:**.plugins[jwt].config.cookie_names[*]",
    "kong.yml:**.plugins[jwt].config.header_names[*]",
    "kong.yml:**.plugins[circuit-breaker].config.failure_statuses[*]",
    "kong.yml:**.plugins[key-auth].config.key_names[*]",
    "kong.yml:**.plugins[cors].config.origins[*]",
    "kong.yml:**.plugins[cors].config.headers[*]",
    "kong.yml:**.plugins[cors].config.exposed_headers[*]",
    "kong.yml:**.plugins[ip-restriction].config.allow[*]",
    "kong.yml:**.plugins[ip-restriction].config.deny[*]",
];

/// Keys removed.
const REMOVED_KEYS: &[&str] = &["kong.yml:**.plugins[jwt].config.maximum_expiration"];

/// ACL plugin group lists.
const ACL_LISTS: &[&str] = &[
    "kong.yml:**.plugins[acl].config.allow",
    "kong.yml:**.plugins[acl].config.deny",
];

const LIMIT_BY: &str = "kong.yml:**.plugins[rate-limiting].config.limit_by";
/// `limit_by` values that need no other setting.
const LIMIT_BY_VALUES: &[&str] = &["consumer", "credential", "ip", "service"];

const INTENTION_SOURCES: &str = "intentions.*:**.Sources[*]";
const INTENTION_ACTIONS: &[&str] = &[
    "intentions.*:**.Sources[*].Action",
    "intentions.*:**.Sources[*].Permissions[*].Action",
];
const PERMISSIONS: &str = "intentions.*:**.Sources[*].Permissions";
const DEFAULT_INTENTION: &str = "stack.yml:mesh.default_intention";

/// One value of a file, where it is.
struct Located<'a> {
    /// JSON pointer into the file's tree.
    pointer: String,
    path: MutationPath,
    value: &'a Value,
}

/// Every mutant of `files`, numbered from 1.
pub fn generate(files: &StackFiles) -> Vec<Mutant> {
    let mut out = Vec::new();
    for kind in [FileKind::Kong, FileKind::Intentions, FileKind::Stack] {
        let Some(tree) = files.tree(kind) else {
            continue;
        };
        let name = files.name(kind).to_string();
        let mut values = Vec::new();
        walk(tree, kind, String::new(), Vec::new(), &name, &mut values);
        let mut gen = Generator {
            kind,
            tree,
            out: &mut out,
        };
        match kind {
            FileKind::Kong => gen.kong(&values),
            FileKind::Intentions => gen.intentions(&values),
            FileKind::Stack => gen.stack(&values),
        }
    }
    for (i, m) in out.iter_mut().enumerate() {
        m.id = i + 1;
    }
    out
}

/// Every value of the stack's files with its JSON pointer and mutation path, in file order
/// (kong.yml, intentions, stack.yml): what the catalogue's `governs` patterns are matched against
/// (the run report shows the values governing a failed clause).
pub fn values(files: &StackFiles) -> Vec<(FileKind, String, MutationPath, &Value)> {
    let mut out = Vec::new();
    for kind in [FileKind::Kong, FileKind::Intentions, FileKind::Stack] {
        let Some(tree) = files.tree(kind) else {
            continue;
        };
        let mut located = Vec::new();
        walk(
            tree,
            kind,
            String::new(),
            Vec::new(),
            files.name(kind),
            &mut located,
        );
        out.extend(
            located
                .into_iter()
                .map(|l| (kind, l.pointer, l.path, l.value)),
        );
    }
    out
}

fn walk<'a>(
    value: &'a Value,
    kind: FileKind,
    pointer: String,
    segments: Vec<Segment>,
    file: &str,
    out: &mut Vec<Located<'a>>,
) {
    if !segments.is_empty() {
        out.push(Located {
            pointer: pointer.clone(),
            path: MutationPath {
                file: file.to_string(),
                segments: segments.clone(),
            },
            value,
        });
    }
    match value {
        Value::Object(map) => {
            // stack.yml's `services` is a map of named services: `services[value-committer]`.
            let named_map = kind == FileKind::Stack
                && segments.len() == 1
                && segments[0].key == "services"
                && segments[0].selector.is_none();
            for (key, child) in map {
                let mut segs = segments.clone();
                if named_map {
                    segs[0].selector = Some(key.clone());
                } else {
                    segs.push(Segment {
                        key: key.clone(),
                        selector: None,
                    });
                }
                walk(child, kind, pointer_join(&pointer, key), segs, file, out);
            }
        }
        Value::Array(items) => {
            let names: Vec<Option<String>> = items.iter().map(entry_name).collect();
            for (i, child) in items.iter().enumerate() {
                let unique = names[i]
                    .as_ref()
                    .filter(|n| names.iter().filter(|m| m.as_ref() == Some(*n)).count() == 1);
                let selector = unique.cloned().unwrap_or_else(|| i.to_string());
                let mut segs = segments.clone();
                match segs.last_mut() {
                    Some(last) if last.selector.is_none() => last.selector = Some(selector),
                    _ => segs.push(Segment {
                        key: String::new(),
                        selector: Some(selector),
                    }),
                }
                walk(
                    child,
                    kind,
                    pointer_join(&pointer, &i.to_string()),
                    segs,
                    file,
                    out,
                );
            }
        }
        _ => {}
    }
}

fn pointer_join(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// A list entry's name: a naming field of an object, or a string's own value.
fn entry_name(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => ENTRY_NAMES
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str).map(str::to_string)),
        _ => None,
    }
}

/// A value as a mutation report shows it.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(_) => entry_name(value).unwrap_or_else(|| value.to_string()),
        other => other.to_string(),
    }
}

fn patterns(texts: &[&str]) -> Vec<GovernsPattern> {
    texts
        .iter()
        .filter_map(|t| GovernsPattern::parse(t).ok())
        .collect()
}

fn matches(texts: &[&str], path: &MutationPath) -> bool {
    patterns(texts).iter().any(|p| p.matches(path))
}

/// Whether the path's last segment names a list entry (`allow[admin]`), not the list itself.
fn is_entry(path: &MutationPath) -> bool {
    path.segments.last().is_some_and(|s| s.selector.is_some())
}

struct Generator<'a> {
    kind: FileKind,
    tree: &'a Value,
    out: &'a mut Vec<Mutant>,
}

impl Generator<'_> {
    /// Records a mutant whose tree is the file with `edit` applied at `pointer`.
    fn push(
        &mut self,
        path: MutationPath,
        old: String,
        new: String,
        pointer: &str,
        edit: impl FnOnce(&mut Value),
    ) {
        let mut tree = self.tree.clone();
        if let Some(target) = tree.pointer_mut(pointer) {
            edit(target);
            self.out.push(Mutant {
                id: 0,
                file: self.kind,
                path,
                old,
                new,
                tree,
            });
        }
    }

    /// Removes the entry at `pointer` (an array element or an object key).
    fn push_removal(&mut self, at: &Located<'_>) {
        let Some((parent, last)) = at.pointer.rsplit_once('/') else {
            return;
        };
        let last = last.replace("~1", "/").replace("~0", "~");
        self.push(
            at.path.clone(),
            show(at.value),
            "(removed)".to_string(),
            parent,
            |p| match p {
                Value::Array(items) => {
                    if let Ok(i) = last.parse::<usize>() {
                        if i < items.len() {
                            items.remove(i);
                        }
                    }
                }
                Value::Object(map) => {
                    map.remove(&last);
                }
                _ => {}
            },
        );
    }

    fn numbers(&mut self, at: &Located<'_>) {
        let Some(n) = at.value.as_u64() else {
            return;
        };
        let mut seen = BTreeSet::new();
        for candidate in [
            n.checked_sub(1),
            n.checked_add(1),
            n.checked_mul(2),
            Some(n / 2),
        ]
        .into_iter()
        .flatten()
        {
            if candidate == n || !seen.insert(candidate) {
                continue;
            }
            self.push(
                at.path.clone(),
                n.to_string(),
                candidate.to_string(),
                &at.pointer,
                |v| *v = Value::from(candidate),
            );
        }
    }

    /// `allow[admin]` removed, `allow[service]` added: one mutant per known group.
    fn groups(&mut self, at: &Located<'_>, groups: &BTreeSet<String>, entry: GroupEntry) {
        let Some(items) = at.value.as_array() else {
            return;
        };
        for group in groups {
            let position = items.iter().position(|item| match entry {
                GroupEntry::Plain => item.as_str() == Some(group),
                GroupEntry::Object => {
                    item.get("group").and_then(Value::as_str) == Some(group.as_str())
                }
            });
            let mut path = at.path.clone();
            if let Some(last) = path.segments.last_mut() {
                last.selector = Some(group.clone());
            }
            match position {
                Some(i) => self.push(
                    path,
                    group.clone(),
                    "(removed)".to_string(),
                    &at.pointer,
                    |v| {
                        if let Value::Array(items) = v {
                            items.remove(i);
                        }
                    },
                ),
                None => {
                    let added = match entry {
                        GroupEntry::Plain => Value::from(group.as_str()),
                        GroupEntry::Object => {
                            let mut map = Map::new();
                            map.insert("group".to_string(), Value::from(group.as_str()));
                            Value::Object(map)
                        }
                    };
                    self.push(
                        path,
                        "(absent)".to_string(),
                        group.clone(),
                        &at.pointer,
                        |v| {
                            if let Value::Array(items) = v {
                                items.push(added);
                            }
                        },
                    );
                }
            }
        }
    }

    fn flip_action(&mut self, at: &Located<'_>) {
        let flipped = match at.value.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("allow") => "deny",
            Some("deny") => "allow",
            _ => return,
        };
        self.push(
            at.path.clone(),
            show(at.value),
            flipped.to_string(),
            &at.pointer,
            |v| *v = Value::from(flipped),
        );
    }

    fn kong(&mut self, values: &[Located<'_>]) {
        let groups = known_groups(values);
        let consumers_acls = patterns(&["kong.yml:consumers[*].acls"])
            .into_iter()
            .collect::<Vec<_>>();
        for at in values {
            let path = &at.path;
            if matches(NUMBERS, path) && !is_entry(path) {
                self.numbers(at);
            }
            if is_entry(path) && matches(REMOVED_ENTRIES, path) {
                self.push_removal(at);
            }
            if !is_entry(path) && matches(REMOVED_KEYS, path) {
                self.push_removal(at);
            }
            if at.value.is_array() && matches(ACL_LISTS, path) {
                self.groups(at, &groups, GroupEntry::Plain);
            }
            if at.value.is_array() && consumers_acls.iter().any(|p| p.matches(path)) {
                self.groups(at, &groups, GroupEntry::Object);
            }
            if matches(&[LIMIT_BY], path) {
                if let Some(current) = at.value.as_str() {
                    for other in LIMIT_BY_VALUES.iter().filter(|v| **v != current) {
                        self.push(
                            path.clone(),
                            current.to_string(),
                            (*other).to_string(),
                            &at.pointer,
                            |v| *v = Value::from(*other),
                        );
                    }
                }
            }
        }
        // A consumer without `acls` can still be given a group.
        self.consumers_without_acls(values, &groups);
    }

    fn consumers_without_acls(&mut self, values: &[Located<'_>], groups: &BTreeSet<String>) {
        let consumer = patterns(&["kong.yml:consumers[*]"]);
        for at in values {
            let Some(map) = at.value.as_object() else {
                continue;
            };
            if !is_entry(&at.path)
                || at.path.segments.len() != 1
                || !consumer.iter().any(|p| p.matches(&at.path))
                || map.contains_key("acls")
            {
                continue;
            }
            for group in groups {
                let mut path = at.path.clone();
                path.segments.push(Segment {
                    key: "acls".to_string(),
                    selector: Some(group.clone()),
                });
                let group = group.clone();
                self.push(
                    path,
                    "(absent)".to_string(),
                    group.clone(),
                    &at.pointer,
                    |v| {
                        if let Value::Object(map) = v {
                            let mut entry = Map::new();
                            entry.insert("group".to_string(), Value::from(group));
                            map.insert(
                                "acls".to_string(),
                                Value::Array(vec![Value::Object(entry)]),
                            );
                        }
                    },
                );
            }
        }
    }

    fn intentions(&mut self, values: &[Located<'_>]) {
        let sources = patterns(&[INTENTION_SOURCES]);
        let permissions = patterns(&[PERMISSIONS]);
        for at in values {
            let path = &at.path;
            if matches(INTENTION_ACTIONS, path) && !is_entry(path) {
                self.flip_action(at);
            }
            let is_source = is_entry(path)
                && at.value.is_object()
                && path.segments.last().is_some_and(|s| s.key == "Sources")
                && sources.iter().any(|p| p.matches(path));
            if is_source {
                self.push_removal(at);
                let name = at.value.get("Name").and_then(Value::as_str);
                if let Some(name) = name.filter(|n| *n != "*") {
                    let mut widened = path.clone();
                    widened.segments.push(Segment {
                        key: "Name".to_string(),
                        selector: None,
                    });
                    self.push(
                        widened,
                        name.to_string(),
                        "*".to_string(),
                        &format!("{}/Name", at.pointer),
                        |v| *v = Value::from("*"),
                    );
                }
            }
            let is_permissions = !is_entry(path) && permissions.iter().any(|p| p.matches(path));
            if let (true, Some(items)) = (is_permissions, at.value.as_array()) {
                for i in 1..items.len() {
                    self.push(
                        path.clone(),
                        format!("permission {} before {}", i, i + 1),
                        format!("permission {} before {}", i + 1, i),
                        &at.pointer,
                        |v| {
                            if let Value::Array(items) = v {
                                items.swap(i - 1, i);
                            }
                        },
                    );
                }
            }
        }
    }

    fn stack(&mut self, values: &[Located<'_>]) {
        for at in values {
            if matches(&[DEFAULT_INTENTION], &at.path) {
                self.flip_action(at);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum GroupEntry {
    /// `allow: [admin, user]`.
    Plain,
    /// `acls: [{group: admin}]`.
    Object,
}

/// Every ACL group named in kong.yml: consumers' groups and acl plugins' lists.
fn known_groups(values: &[Located<'_>]) -> BTreeSet<String> {
    let consumer_groups = patterns(&["kong.yml:consumers[*].acls[*].group"]);
    let acl_entries = patterns(&[
        "kong.yml:**.plugins[acl].config.allow[*]",
        "kong.yml:**.plugins[acl].config.deny[*]",
    ]);
    values
        .iter()
        .filter(|at| {
            consumer_groups.iter().any(|p| p.matches(&at.path))
                || (is_entry(&at.path) && acl_entries.iter().any(|p| p.matches(&at.path)))
        })
        .filter_map(|at| at.value.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn valueverse() -> Vec<Mutant> {
        let files = StackFiles::read(Path::new("scenarios/valueverse")).unwrap();
        generate(&files)
    }

    fn find<'a>(mutants: &'a [Mutant], described: &str) -> &'a Mutant {
        mutants
            .iter()
            .find(|m| m.describe() == described)
            .unwrap_or_else(|| panic!("no mutant {described}"))
    }

    #[test]
    fn numbers_get_plus_minus_one_double_and_half() {
        let mutants = valueverse();
        for new in ["2", "4", "6", "1"] {
            let m = find(
                &mutants,
                &format!("kong.yml:services[value-committer].retries: 3 → {new}"),
            );
            let retries = &m.tree["services"][1]["retries"];
            assert_eq!(retries.to_string(), new);
        }
        find(
            &mutants,
            "kong.yml:services[value-architect].plugins[circuit-breaker].config.half_open_successes: 3 → 2",
        );
        find(
            &mutants,
            "kong.yml:plugins[rate-limiting].config.minute: 100 → 101",
        );
    }

    #[test]
    fn the_edge_plugins_values_are_mutated_too() {
        let mutants = valueverse();
        find(
            &mutants,
            "kong.yml:services[lab-plugins].routes[lab-size].plugins[request-size-limiting].config.allowed_payload_size: 1 → 2",
        );
        find(
            &mutants,
            "kong.yml:services[lab-plugins].routes[lab-cors].plugins[cors].config.max_age: 3600 → 3601",
        );
        find(
            &mutants,
            "kong.yml:services[lab-plugins].routes[lab-key-auth].plugins[key-auth].config.key_names[x-api-key]: x-api-key → (removed)",
        );
        find(
            &mutants,
            "kong.yml:services[lab-plugins].routes[lab-ip-custom].plugins[ip-restriction].config.status: 401 → 400",
        );
    }

    #[test]
    fn list_entries_and_groups_are_removed_and_added() {
        let mutants = valueverse();
        let m = find(
            &mutants,
            "kong.yml:plugins[jwt].config.claims_to_verify[exp]: exp → (removed)",
        );
        assert_eq!(
            show(&m.tree["plugins"][0]["config"]["claims_to_verify"]),
            "[nbf]"
        );
        let m = find(
            &mutants,
            "kong.yml:services[value-architect].routes[value-models-write].plugins[acl].config.allow[user]: (absent) → user",
        );
        let allow = &m.tree["services"][0]["routes"][1]["plugins"][0]["config"]["allow"];
        assert_eq!(show(allow), "[admin, user]");
        find(
            &mutants,
            "kong.yml:consumers[frontend-app].acls[admin]: (absent) → admin",
        );
        find(
            &mutants,
            "kong.yml:consumers[frontend-app].acls[user]: user → (removed)",
        );
        find(
            &mutants,
            "kong.yml:plugins[jwt].config.maximum_expiration: 86400 → (removed)",
        );
        find(
            &mutants,
            "kong.yml:plugins[rate-limiting].config.limit_by: consumer → ip",
        );
    }

    #[test]
    fn intentions_are_flipped_removed_and_widened() {
        let mutants = valueverse();
        find(
            &mutants,
            "intentions.hcl:config_entries.bootstrap[value-architect].Sources[value-committer].Action: allow → deny",
        );
        find(
            &mutants,
            "intentions.hcl:config_entries.bootstrap[value-architect].Sources[value-committer].Name: value-committer → *",
        );
        find(
            &mutants,
            "intentions.hcl:config_entries.bootstrap[value-committer].Sources[api-gateway]: api-gateway → (removed)",
        );
        find(&mutants, "stack.yml:mesh.default_intention: deny → allow");
    }

    #[test]
    fn every_mutant_changes_its_file_and_ids_count_from_one() {
        let files = StackFiles::read(Path::new("scenarios/valueverse")).unwrap();
        let mutants = generate(&files);
        assert!(mutants.len() > 100, "{}", mutants.len());
        for (i, m) in mutants.iter().enumerate() {
            assert_eq!(m.id, i + 1);
            assert_ne!(Some(&m.tree), files.tree(m.file), "{}", m.describe());
        }
    }
}
