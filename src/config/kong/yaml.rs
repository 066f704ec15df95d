//! YAML source handling shared by the stack-definition loaders (`kong.yml`, `stack.yml`).
//!
//! ```text
//!   file ─► Source::read ─► Source::parse::<Raw DTO>  (serde_path_to_error over serde_yaml:
//!                                                      key path + line/column of the failure)
//!           Source::error(key, msg)  ─► locate(key) ─► ConfigError { file, line, column, key }
//! ```
//!
//! Semantic errors found after deserialization only know their key path. [`locate`] finds that
//! path's line and column by deserializing the text once more with a probe that fails exactly at
//! the wanted key: serde_yaml stamps its errors with the position of the node being read, so the
//! probe's error carries the key's position. This works for block and flow style alike.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, Visitor};

use crate::config::{ConfigError, ConfigWarning};

/// Keys whose values are secrets: their values never appear in a message.
const SECRET_KEYS: [&str; 4] = ["secret", "password", "redis_password", "sentinel_password"];

/// One YAML file being loaded: its path (for messages) and text (for locating keys).
pub(crate) struct Source {
    pub file: PathBuf,
    pub text: String,
}

impl Source {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Source, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, format!("cannot read file: {e}")))?;
        Ok(Source {
            file: path.to_path_buf(),
            text,
        })
    }

    /// Deserializes the whole file into `T`, first checking that it is valid YAML at all.
    ///
    /// # Errors
    /// Invalid YAML (with its line), or the first key that does not fit `T` (unknown key, wrong
    /// type, missing required key), with key path, line and column.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&self.text) {
            let msg = strip_location(&e.to_string(), &e);
            // Structural errors (duplicate keys) come prefixed with the path of their mapping.
            let (key, msg) = match msg.split_once(": ") {
                Some((p, rest)) if !p.is_empty() && p.bytes().all(is_path_byte) => {
                    (Some(p.to_string()), rest.to_string())
                }
                _ => (None, msg),
            };
            let mut err = ConfigError::new(&self.file, format!("invalid YAML: {msg}"));
            if let Some(key) = key {
                err = err.at_key(key);
            }
            if let Some(loc) = e.location() {
                err = err.at_line(loc.line(), Some(loc.column()));
            }
            return Err(err);
        }
        let de = serde_yaml::Deserializer::from_str(&self.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let (key, message) = describe(&path, &inner);
            let mut err = ConfigError::new(&self.file, message);
            if let Some(key) = key {
                err = err.at_key(key);
            }
            if let Some(loc) = inner.location() {
                err = err.at_line(loc.line(), Some(loc.column()));
            }
            err
        })
    }

    /// Deserializes a sub-tree already read as a [`serde_yaml::Value`] (a plugin's `config`),
    /// reporting errors at `prefix` + the path inside the value, located in the source text.
    pub fn parse_value<T: DeserializeOwned>(
        &self,
        prefix: &str,
        value: serde_yaml::Value,
    ) -> Result<T, ConfigError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let inner_path = e.path().to_string();
            let path = join_key(prefix, &inner_path);
            let (key, message) = describe(&path, e.inner());
            self.error(key.unwrap_or_else(|| prefix.to_string()), message)
        })
    }

    /// An error at `key`, with the line and column of the key, or of its nearest enclosing key
    /// when it is missing from the text (a required field that is absent).
    pub fn error(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let key = key.into();
        let mut err = ConfigError::new(&self.file, message);
        if let Some((line, column)) = self.position(&key) {
            err = err.at_line(line, Some(column));
        }
        err.at_key(key)
    }

    /// Where `key` (or its nearest enclosing key that exists) is in the text.
    fn position(&self, key: &str) -> Option<(usize, usize)> {
        let mut key = key;
        loop {
            if let Some(found) = locate(&self.text, key) {
                return Some(found);
            }
            // Drop the last `.field` or `[n]` segment and try the parent.
            let cut = key.rfind(['.', '['])?;
            key = &key[..cut];
        }
    }

    /// A warning about a real Kong feature Gauntlet does not emulate.
    pub fn warning(
        &self,
        key: impl Into<String>,
        message: impl Into<String>,
        routes: Vec<String>,
    ) -> ConfigWarning {
        let key = key.into();
        ConfigWarning {
            file: self.file.clone(),
            line: self.position(&key).map(|(line, _)| line),
            key,
            message: message.into(),
            routes,
        }
    }
}

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.[]".contains(&b)
}

/// `prefix` + `inner` as one key path (`plugins[0].config` + `minute`).
pub(crate) fn join_key(prefix: &str, inner: &str) -> String {
    match (prefix, inner) {
        (p, ".") | (p, "") => p.to_string(),
        ("", i) | (".", i) => i.to_string(),
        (p, i) if i.starts_with('[') => format!("{p}{i}"),
        (p, i) => format!("{p}.{i}"),
    }
}

/// Turns a serde_yaml error at `path` into (key path, lowercase message without position).
fn describe(path: &str, inner: &serde_yaml::Error) -> (Option<String>, String) {
    let mut msg = strip_location(&inner.to_string(), inner);
    // serde_yaml prefixes its own idea of the path ("services[0].routes[0]: ..."); drop it.
    if let Some((prefix, rest)) = msg.split_once(": ") {
        // A document that is a list: serde_yaml writes `.[0]` where the key path has `[0]`.
        let prefix = prefix
            .strip_prefix('.')
            .filter(|p| p.starts_with('['))
            .unwrap_or(prefix);
        let is_path = !prefix.contains(char::is_whitespace)
            && (path == prefix
                || path.starts_with(&format!("{prefix}."))
                || path.starts_with(&format!("{prefix}[")));
        if is_path {
            msg = rest.to_string();
        }
    }
    let mut key = (path != "." && !path.is_empty()).then(|| path.to_string());
    if let Some(field) = backticked(&msg, "missing field `") {
        key = Some(join_key(path, &field));
        msg = "required field missing".to_string();
    } else if let Some(field) = backticked(&msg, "unknown field `") {
        msg = unknown_key_message(&field, &msg);
    } else if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        let last = key
            .as_deref()
            .and_then(|k| k.rsplit('.').next())
            .unwrap_or_default();
        if SECRET_KEYS.contains(&last) {
            msg = format!("invalid value (not shown: `{last}` holds a secret); expected a string");
        } else {
            msg = friendly_types(&msg);
        }
    }
    (key, msg)
}

/// The text between `start` and the next backtick, when `msg` begins with `start`.
fn backticked(msg: &str, start: &str) -> Option<String> {
    let rest = msg.strip_prefix(start)?;
    rest.split_once('`').map(|(field, _)| field.to_string())
}

/// "unknown field `stip_path`" with the closest known key as a suggestion.
fn unknown_key_message(field: &str, serde_msg: &str) -> String {
    let known: Vec<&str> = serde_msg
        .split_once("expected ")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    match closest(field, known.iter().copied()) {
        Some(best) => format!("unknown key `{field}`; did you mean `{best}`?"),
        None if known.is_empty() => format!("unknown key `{field}`; no keys are allowed here"),
        None => format!("unknown key `{field}`; known keys: {}", known.join(", ")),
    }
}

/// The candidate closest to `word`, when it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Replaces Rust type names in serde messages with words a YAML author knows.
fn friendly_types(msg: &str) -> String {
    let mut out = msg.to_string();
    if let Some(i) = out.find("expected struct ") {
        out.truncate(i);
        out.push_str("expected a mapping");
    }
    for (rust, word) in [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected an integer from 0 to 65535"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        out = out.replace(rust, word);
    }
    out
}

/// Removes serde_yaml's " at line L column C" (it goes into the error's own line/column).
fn strip_location(msg: &str, err: &serde_yaml::Error) -> String {
    match err.location() {
        Some(loc) => msg.replacen(
            &format!(" at line {} column {}", loc.line(), loc.column()),
            "",
            1,
        ),
        None => msg.to_string(),
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Splits `services[0].routes[1].methods` into its steps.
fn segments(key: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (index, tail) = r.split_once(']')?;
            out.push(Seg::Index(index.parse().ok()?));
            rest = tail;
        }
    }
    Some(out)
}

/// The 1-based (line, column) of `key` in `text`: the key itself for a mapping key, the element
/// for a sequence index. `None` when the path does not exist in the text.
pub(crate) fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let path = segments(key)?;
    if path.is_empty() {
        return None;
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match (Probe { path: &path }).deserialize(de) {
        Ok(()) => None,
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        Err(_) => None,
    }
}

/// The probe's own error text; any other error means "not found".
const FOUND: &str = "\u{1}probe-found";

struct Probe<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.first() {
            None => d.deserialize_any(Fail),
            Some(Seg::Key(_)) => d.deserialize_map(self),
            Some(Seg::Index(_)) => d.deserialize_seq(self),
        }
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping or sequence on the probed path")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(target), rest)) = self.path.split_first() else {
            return Ok(());
        };
        while let Some(hit) = map.next_key_seed(KeyProbe {
            target,
            last: rest.is_empty(),
        })? {
            if hit {
                map.next_value_seed(Probe { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(target), rest)) = self.path.split_first() else {
            return Ok(());
        };
        let mut index = 0;
        loop {
            let found = if index == *target {
                seq.next_element_seed(Probe { path: rest })?
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if found.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// Reads a mapping key: `Ok(true)` when it is the target, the FOUND error when it is the last
/// step of the path (so the error carries the key's position).
struct KeyProbe<'p> {
    target: &'p str,
    last: bool,
}

impl KeyProbe<'_> {
    fn check<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        match (key == self.target, self.last) {
            (true, true) => Err(E::custom(FOUND)),
            (hit, _) => Ok(hit),
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.check(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Fails on whatever node it is given, so the error carries that node's position.
struct Fail;

impl<'de> Visitor<'de> for Fail {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_some<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
_format_version: \"3.0\"
services:
  - name: a
    retries: 3
    routes:
      - name: r1
        methods: [GET, POST]
      - name: r2
        paths:
          - /x
plugins: [{name: jwt, config: {maximum_expiration: 5}}]
";

    #[test]
    fn locates_block_keys_at_the_key_itself() {
        assert_eq!(locate(DOC, "services[0].retries"), Some((4, 5)));
        assert_eq!(locate(DOC, "services[0].routes[1].paths"), Some((9, 9)));
        assert_eq!(locate(DOC, "_format_version"), Some((1, 1)));
    }

    #[test]
    fn locates_sequence_elements_in_block_and_flow_style() {
        assert_eq!(
            locate(DOC, "services[0].routes[1].paths[0]"),
            Some((10, 13))
        );
        assert_eq!(
            locate(DOC, "services[0].routes[0].methods[1]"),
            Some((7, 24))
        );
        assert_eq!(locate(DOC, "services[0].routes[1]"), Some((8, 9)));
    }

    #[test]
    fn locates_keys_inside_flow_mappings() {
        assert_eq!(
            locate(DOC, "plugins[0].config.maximum_expiration"),
            Some((11, 32))
        );
    }

    #[test]
    fn missing_paths_are_not_located() {
        assert_eq!(locate(DOC, "services[3].name"), None);
        assert_eq!(locate(DOC, "consumers"), None);
        assert_eq!(locate(DOC, "services[0].retries.x"), None);
    }

    #[test]
    fn splits_key_paths_into_steps() {
        assert_eq!(
            segments("a[1][2].b"),
            Some(vec![
                Seg::Key("a".into()),
                Seg::Index(1),
                Seg::Index(2),
                Seg::Key("b".into())
            ])
        );
    }

    #[test]
    fn suggests_the_closest_known_key() {
        let msg = unknown_key_message(
            "stip_path",
            "unknown field `stip_path`, expected one of `name`, `strip_path`, `paths`",
        );
        assert_eq!(msg, "unknown key `stip_path`; did you mean `strip_path`?");
        assert_eq!(closest("zzzzzz", ["jwt", "acl"]), None);
    }

    #[test]
    fn never_shows_secret_values_in_type_errors() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            redis_password: u32,
        }
        let src = Source {
            file: "x.yml".into(),
            text: "redis_password: hunter2\n".into(),
        };
        let err = src
            .parse::<S>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("x.yml:1:17: redis_password: invalid value"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
