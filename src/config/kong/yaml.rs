//! YAML source handling shared by the stack-definition loaders (`kong.yml`, `stack.yml`).
//!
//! ```text
//!   file ─► Source::read (at most MAX_DOCUMENT_BYTES)
//!        ─► Source::parse::<Raw DTO>   serde_path_to_error over serde-saphyr, under a budget
//!                                       (depth, nodes, events): key path + line/column
//!           Source::error(key, msg) ─► locate(key) ─► ConfigError { file, line, column, key }
//! ```
//!
//! The parser is serde-saphyr (pure Rust, on the granit/saphyr YAML parser). It works in time
//! linear in the input and refuses a document nested deeper than [`MAX_DEPTH`] levels or
//! holding more than [`MAX_NODES`] nodes as soon as it gets there, so a hostile or broken file
//! cannot stall `check`, `run` or `up` (the archived serde_yaml/libyaml pair took time
//! quadratic in the nesting depth: 6 s for 50,000 nested `[`).
//!
//! Semantic errors found after deserialization only know their key path. [`locate`] finds that
//! path's line and column by walking the parser's events (each carries its span) down the path.
//! This works for block and flow style alike.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser, Span};

use crate::config::{ConfigError, ConfigWarning};

/// Keys whose values are secrets: their values never appear in a message.
const SECRET_KEYS: [&str; 4] = ["secret", "password", "redis_password", "sentinel_password"];

/// The largest stack file read (a decK dump of thousands of routes is a few MiB).
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// The deepest nesting of mappings and sequences accepted. Kong's deepest real structure
/// (`services[].routes[].plugins[].config.<field>[]`) is under ten levels.
pub const MAX_DEPTH: usize = 64;

/// The most nodes (scalars, mappings, sequences) one file may hold.
pub const MAX_NODES: usize = 2_000_000;

/// One YAML file being loaded: its path (for messages) and text (for locating keys).
pub(crate) struct Source {
    pub file: PathBuf,
    pub text: String,
}

impl Source {
    /// Reads `path`, refusing a file larger than [`MAX_DOCUMENT_BYTES`] before reading it.
    pub fn read(path: &Path) -> Result<Source, ConfigError> {
        let cannot = |e: std::io::Error| ConfigError::new(path, format!("cannot read file: {e}"));
        let file = std::fs::File::open(path).map_err(cannot)?;
        let mut text = String::new();
        // `take` also bounds files whose metadata has no size (a pipe, /dev/zero).
        file.take(MAX_DOCUMENT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(cannot)?;
        Source::from_string(path, text)
    }

    /// Text already read, named `path` in messages.
    pub fn from_text(path: &Path, text: &str) -> Result<Source, ConfigError> {
        if text.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(too_large(path));
        }
        Source::from_string(path, text.to_string())
    }

    fn from_string(path: &Path, text: String) -> Result<Source, ConfigError> {
        if text.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(too_large(path));
        }
        Ok(Source {
            file: path.to_path_buf(),
            text,
        })
    }

    /// Deserializes the whole file into `T`.
    ///
    /// # Errors
    /// Invalid YAML (with its line), a document over the size limits, or the first key that does
    /// not fit `T` (unknown key, wrong type, missing required key), with key path, line and column.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let mut path = String::new();
        let parsed =
            serde_saphyr::with_deserializer_from_str_with_options(&self.text, options(), |de| {
                serde_path_to_error::deserialize(de).map_err(|e| {
                    path = e.path().to_string();
                    e.into_inner()
                })
            });
        parsed.map_err(|e| self.parse_error(&path, &e))
    }

    /// The error for a failed [`Source::parse`] at key `path`.
    fn parse_error(&self, path: &str, err: &serde_saphyr::Error) -> ConfigError {
        let at = err
            .location()
            .filter(|l| l.line() > 0)
            .map(|l| (l.line() as usize, l.column() as usize));
        // A parser error inside a mapping leaves a `?` for the key it could not read.
        let path = path.trim_end_matches(".?").trim_end_matches('?');
        let (key, message, at) = match classify(err, &self.text) {
            Failure::Serde(msg) => {
                let (key, message) = describe(path, &msg);
                let at = match (&key, message.as_str()) {
                    // A missing key has no position of its own: point at its mapping.
                    (Some(k), "required field missing") => self.position(k).or(at),
                    (Some(k), _) => at.or_else(|| self.position(k)),
                    (None, _) => at,
                };
                (key, message, at)
            }
            Failure::Duplicate(msg) => (key_of(path), msg, at),
            Failure::Limit(msg) | Failure::Syntax(msg) => {
                (None, format!("invalid YAML: {msg}"), at)
            }
        };
        let mut e = ConfigError::new(&self.file, message);
        if let Some(key) = key {
            e = e.at_key(key);
        }
        if let Some((line, column)) = at {
            e = e.at_line(line, Some(column));
        }
        e
    }

    /// Deserializes a sub-tree already read as a JSON value (a plugin's `config`), reporting
    /// errors at `prefix` + the path inside the value, located in the source text.
    pub fn parse_value<T: DeserializeOwned>(
        &self,
        prefix: &str,
        value: serde_json::Value,
    ) -> Result<T, ConfigError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let inner_path = e.path().to_string();
            let path = join_key(prefix, &inner_path);
            let (key, message) = describe(&path, &e.inner().to_string());
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

    /// Where `key` (or its nearest enclosing key that exists) is in the text; the document's
    /// first node for a top-level key that is absent.
    fn position(&self, key: &str) -> Option<(usize, usize)> {
        let mut key = key;
        loop {
            if let Some(found) = locate(&self.text, key) {
                return Some(found);
            }
            // Drop the last `.field` or `[n]` segment and try the parent.
            match key.rfind(['.', '[']) {
                Some(cut) => key = &key[..cut],
                None => return locate(&self.text, ""),
            }
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

fn too_large(path: &Path) -> ConfigError {
    ConfigError::new(
        path,
        format!(
            "file too large: a stack file is at most {} MiB",
            MAX_DOCUMENT_BYTES >> 20
        ),
    )
}

/// The parser's limits: linear-time refusal of over-deep or oversized documents.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_events: 2 * MAX_NODES,
            max_documents: 1,
        },
    }
}

/// What went wrong while parsing, sorted for the message.
enum Failure {
    /// A serde error in serde's standard wording (so [`describe`] reads it like any other).
    Serde(String),
    /// The same key twice in one mapping.
    Duplicate(String),
    /// Over a size or depth limit.
    Limit(String),
    /// Not YAML.
    Syntax(String),
}

fn classify(err: &serde_saphyr::Error, text: &str) -> Failure {
    use serde_saphyr::budget::BudgetBreach;
    use serde_saphyr::Error as E;
    let quoted = |list: &[&str]| {
        list.iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match err {
        E::AliasError { error, .. } => classify(error, text),
        E::WithSnippet { error, .. } => classify(error, text),
        E::Message { msg, .. } => Failure::Serde(msg.clone()),
        E::SerdeUnknownField {
            field, expected, ..
        } if expected.is_empty() => {
            Failure::Serde(format!("unknown field `{field}`, there are no fields"))
        }
        E::SerdeUnknownField {
            field, expected, ..
        } => Failure::Serde(format!(
            "unknown field `{field}`, expected one of {}",
            quoted(expected)
        )),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => Failure::Serde(format!(
            "unknown variant `{variant}`, expected one of {}",
            quoted(expected)
        )),
        E::SerdeMissingField { field, .. } => Failure::Serde(format!("missing field `{field}`")),
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => Failure::Serde(format!("invalid type: {unexpected}, expected {expected}")),
        E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => Failure::Serde(format!("invalid value: {unexpected}, expected {expected}")),
        E::SerdeInvalidLength { len, expected, .. } => {
            Failure::Serde(format!("invalid length {len}, expected {expected}"))
        }
        E::Unexpected { expected, .. } => {
            let expected = match *expected {
                "string scalar" | "scalar" | "string" => "a string",
                "mapping start" | "map" => "a mapping",
                "sequence start" | "seq" => "a list",
                other => other,
            };
            Failure::Serde(format!("invalid type: expected {expected}"))
        }
        E::InvalidScalar { ty, location } => {
            let scalar = scalar_at(text, location.line() as usize, location.column() as usize);
            Failure::Serde(format!("invalid type: {scalar}, expected {ty}"))
        }
        E::DuplicateMappingKey { key, .. } => Failure::Duplicate(match key {
            Some(k) => format!("duplicate entry with key \"{k}\""),
            None => "duplicate entry".to_string(),
        }),
        E::Budget { breach, .. } => Failure::Limit(match breach {
            BudgetBreach::Depth { .. } => {
                format!("nested deeper than {MAX_DEPTH} levels")
            }
            BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
                format!("more than {MAX_NODES} nodes")
            }
            BudgetBreach::Documents { .. } => "more than one document".to_string(),
            other => format!("over a parser limit ({other:?})"),
        }),
        other => {
            let msg = serde_saphyr::MessageFormatter::format_message(
                &serde_saphyr::UserMessageFormatter,
                other,
            )
            .into_owned();
            if msg.contains("recursion limit") {
                Failure::Limit(format!("nested deeper than {MAX_DEPTH} levels"))
            } else {
                Failure::Syntax(msg)
            }
        }
    }
}

/// The scalar written at 1-based (`line`, `column`), for a type error's message: a quoted
/// scalar with its quotes, a plain one up to the next flow indicator, comment or line end.
fn scalar_at(text: &str, line: usize, column: usize) -> String {
    let Some(rest) = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.get(l.char_indices().nth(column.saturating_sub(1))?.0..))
    else {
        return "a scalar".to_string();
    };
    let scalar = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
        _ => rest
            .split([',', ']', '}', '#'])
            .next()
            .unwrap_or(rest)
            .trim_end(),
    };
    let scalar: String = scalar.chars().take(60).collect();
    format!("string {scalar:?}")
}

fn key_of(path: &str) -> Option<String> {
    (path != "." && !path.is_empty()).then(|| path.to_string())
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

/// Turns a serde message at `path` into (key path, lowercase message without position).
fn describe(path: &str, msg: &str) -> (Option<String>, String) {
    let mut msg = msg.to_string();
    let mut key = key_of(path);
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
/// for a sequence index, the document's first node for the empty path. `None` when the path does
/// not exist in the text (or the text is not YAML).
pub(crate) fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let path = segments(key)?;
    let mut events = Events(Parser::new_from_str(text));
    loop {
        match events.next()? {
            (Event::StreamStart | Event::DocumentStart(..), _) => continue,
            node => return events.find(&path, node),
        }
    }
}

/// The parser's events, ending at the first error.
struct Events<'t>(Parser<'t, serde_saphyr::granit_parser::StrInput<'t>>);

impl<'t> Events<'t> {
    fn next(&mut self) -> Option<(Event<'t>, Span)> {
        self.0.next()?.ok()
    }

    /// Walks down `path` from the node that starts with `node`.
    fn find(&mut self, path: &[Seg], node: (Event<'t>, Span)) -> Option<(usize, usize)> {
        let mut path = path;
        let mut node = node;
        loop {
            let Some((step, rest)) = path.split_first() else {
                return Some(position(&node.1));
            };
            match (step, &node.0) {
                (Seg::Key(target), Event::MappingStart(..)) => loop {
                    let key = self.next()?;
                    let value = match &key.0 {
                        Event::MappingEnd => return None,
                        Event::Scalar(text, ..) if text.as_ref() == target => {
                            if rest.is_empty() {
                                return Some(position(&key.1));
                            }
                            self.next()?
                        }
                        _ => {
                            self.skip(&key.0)?;
                            let value = self.next()?;
                            self.skip(&value.0)?;
                            continue;
                        }
                    };
                    node = value;
                    break;
                },
                (Seg::Index(target), Event::SequenceStart(..)) => {
                    let mut index = 0;
                    loop {
                        let element = self.next()?;
                        if matches!(element.0, Event::SequenceEnd) {
                            return None;
                        }
                        if index == *target {
                            node = element;
                            break;
                        }
                        self.skip(&element.0)?;
                        index += 1;
                    }
                }
                _ => return None,
            }
            path = rest;
        }
    }

    /// Consumes the rest of the node that started with `first` (nothing for a scalar).
    fn skip(&mut self, first: &Event<'t>) -> Option<()> {
        let mut depth = usize::from(matches!(
            first,
            Event::MappingStart(..) | Event::SequenceStart(..)
        ));
        while depth > 0 {
            match self.next()?.0 {
                Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
                Event::MappingEnd | Event::SequenceEnd => depth -= 1,
                _ => {}
            }
        }
        Some(())
    }
}

/// A span's start as 1-based (line, column).
fn position(span: &Span) -> (usize, usize) {
    (span.start.line(), span.start.col() + 1)
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

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        name: Option<String>,
        anything: Option<serde_json::Value>,
    }

    fn parse_error(text: &str) -> String {
        let src = Source {
            file: "x.yml".into(),
            text: text.into(),
        };
        match src.parse::<Doc>() {
            Ok(_) => "<no error>".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn refuses_deep_flow_nesting_at_once_with_its_line() {
        let depth = 200_000;
        let text = format!(
            "name: a\nanything: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let err = parse_error(&text);
        assert!(err.starts_with("x.yml:2:"), "{err}");
        assert!(
            err.contains("invalid YAML: nested deeper than 64 levels"),
            "{err}"
        );
    }

    #[test]
    fn refuses_deep_block_nesting() {
        let mut text = String::from("anything:\n");
        for level in 1..=100 {
            text.push_str(&format!("{}k:\n", "  ".repeat(level)));
        }
        let err = parse_error(&text);
        assert!(
            err.contains("invalid YAML: nested deeper than 64 levels"),
            "{err}"
        );
    }

    #[test]
    fn accepts_nesting_up_to_the_limit() {
        let depth = MAX_DEPTH - 2;
        let text = format!("anything: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(parse_error(&text), "<no error>");
    }

    #[test]
    fn refuses_a_file_over_the_size_limit_before_parsing_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big.yml");
        let line = "# padding padding padding padding padding padding padding padding\n";
        let text = line.repeat((MAX_DOCUMENT_BYTES as usize / line.len()) + 1);
        std::fs::write(&path, text).expect("write");
        let err = Source::read(&path).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("file too large: a stack file is at most 16 MiB")),
            "{err:?}"
        );
    }

    #[test]
    fn a_collection_where_a_string_belongs_is_a_type_error_at_its_key() {
        let err = parse_error("name: [x]\n");
        assert_eq!(err, "x.yml:1:7: name: invalid type: expected a string");
    }

    #[test]
    fn a_duplicate_key_is_named_at_its_second_occurrence() {
        let err = parse_error("name: a\nname: b\n");
        assert_eq!(err, "x.yml:2:1: duplicate entry with key \"name\"");
    }

    #[test]
    fn the_empty_path_locates_the_document() {
        assert_eq!(locate("# c\n\nname: a\n", ""), Some((3, 1)));
    }
}
