//! A position-keeping reader for Consul config-entry files: HCL (Consul's HCL 1 dialect) and
//! JSON, into one tree whose every key and value knows its line and column.
//!
//! ```text
//!   intentions.hcl ─► parse_hcl ──┐
//!                                 ├─► Node tree (line:col on every key and value) ─► decode
//!   intentions.json ─► parse_json ┘     (serde_json checks JSON syntax first)
//! ```
//!
//! Why not hcl-rs: it implements HCL 2, whose object expressions cannot contain blocks (hcl-rs 0.19
//! was tried: `invalid object value assignment; expected = or :` at `HTTP {`), while
//! Consul decodes its files with HCL 1, where `{ Action = "allow" HTTP { PathPrefix = "/api" } }`
//! (a block inside a list element) is the documented way to write a permission. HCL 1 also lets
//! object items go without commas. A small reader of that dialect also gives the loader what no
//! serde deserializer gives: the line of any key, for errors and warnings alike.
//!
//! Supported: `key = value`, `key: value`, `key { ... }` blocks (repeated blocks of one key
//! become a list, as in HCL 1), quoted keys, strings with escapes, heredocs (`<<EOF`, `<<-EOF`),
//! numbers, booleans, `null`, lists, objects, comments (`#`, `//`, `/* */`).

use std::fmt;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    List(Vec<Node>),
    Object(Vec<Item>),
}

impl Value {
    /// What a value is, in words a file author knows.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Num(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::List(_) => "a list",
            Value::Object(_) => "an object",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// One `key = value` (or block) of an object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A syntax error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.message)
    }
}

/// Consul's key matching: case-insensitive, underscores ignored (`path_prefix` = `PathPrefix`).
pub(crate) fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Parses an HCL file: a body of items, as the top of `consul config write` files.
pub(crate) fn parse_hcl(text: &str) -> Result<Node, SyntaxError> {
    let mut p = Parser::new(text);
    let pos = p.pos();
    let items = p.body(None)?;
    Ok(Node {
        value: Value::Object(items),
        pos,
    })
}

/// The tree as plain JSON (positions dropped; numbers kept as written when JSON can hold them).
pub(crate) fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Str(s) => J::String(s.clone()),
        Value::Num(n) => serde_json::from_str::<serde_json::Number>(n)
            .map(J::Number)
            .unwrap_or_else(|_| J::String(n.clone())),
        Value::Bool(b) => J::Bool(*b),
        Value::Null => J::Null,
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Object(items) => J::Object(
            items
                .iter()
                .map(|item| (item.key.clone(), to_json(&item.value)))
                .collect(),
        ),
    }
}

/// Parses a JSON file: strict JSON syntax first (serde_json), then the positional tree.
pub(crate) fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        let msg = e.to_string();
        let msg = msg
            .rsplit_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(msg);
        return Err(SyntaxError {
            pos: Pos {
                line: e.line(),
                col: e.column(),
            },
            message: format!("invalid JSON: {msg}"),
        });
    }
    let mut p = Parser::new(text);
    p.skip_space(true)?;
    let node = p.value()?;
    Ok(node)
}

/// The deepest nesting of objects, blocks and lists read. Consul's own entries need under ten
/// levels; the bound keeps a hostile file from overflowing the reader's stack (it recurses).
pub(crate) const MAX_DEPTH: usize = 64;

struct Parser {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    /// Objects, blocks and lists open around the current position.
    depth: usize,
}

impl Parser {
    fn new(text: &str) -> Self {
        Parser {
            chars: text.chars().collect(),
            i: 0,
            line: 1,
            col: 1,
            depth: 0,
        }
    }

    /// Reads one nested object, block or list with `read`, refusing to go past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, SyntaxError>,
    ) -> Result<T, SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return self.error(format!(
                "nested deeper than {MAX_DEPTH} levels of objects, blocks and lists"
            ));
        }
        self.depth += 1;
        let out = read(self);
        self.depth -= 1;
        out
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            pos: self.pos(),
            message: message.into(),
        })
    }

    /// Skips blanks and comments; newlines too when `newlines`. Returns whether a newline or
    /// comma-free line break was crossed.
    fn skip_space(&mut self, newlines: bool) -> Result<bool, SyntaxError> {
        let mut crossed = false;
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some('\n'), _) if newlines => {
                    crossed = true;
                    self.bump();
                }
                (Some(c), _) if c != '\n' && c.is_whitespace() => {
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(), self.peek_at(1)) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                if self.bump() == Some('\n') {
                                    crossed = true;
                                }
                            }
                            (None, _) => {
                                return Err(SyntaxError {
                                    pos: start,
                                    message: "unterminated /* comment".into(),
                                })
                            }
                        }
                    }
                }
                _ => return Ok(crossed),
            }
        }
    }

    /// Items until `close` (or the end of the text when `None`).
    fn body(&mut self, close: Option<char>) -> Result<Vec<Item>, SyntaxError> {
        let mut items: Vec<Item> = Vec::new();
        loop {
            self.skip_space(true)?;
            match self.peek() {
                None if close.is_none() => return Ok(items),
                None => return self.error(format!("missing `{}`", close.unwrap_or('}'))),
                Some(c) if Some(c) == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(',') if !items.is_empty() => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let key_pos = self.pos();
            let key = self.key()?;
            self.skip_space(false)?;
            let value = match self.peek() {
                Some('=') | Some(':') => {
                    self.bump();
                    self.skip_space(false)?;
                    let node = self.value()?;
                    self.push(&mut items, key, key_pos, node, false)?;
                    continue;
                }
                Some('{') => {
                    let pos = self.pos();
                    self.bump();
                    Node {
                        value: Value::Object(self.nested(|p| p.body(Some('}')))?),
                        pos,
                    }
                }
                Some('"') => {
                    return self.error(format!(
                        "block labels are not supported here (after `{key}`)"
                    ))
                }
                _ => return self.error(format!("expected `=` or `{{` after `{key}`")),
            };
            self.push(&mut items, key, key_pos, value, true)?;
        }
    }

    /// Adds an item; a repeated block of one key joins a list, as HCL 1 decodes it.
    fn push(
        &mut self,
        items: &mut Vec<Item>,
        key: String,
        key_pos: Pos,
        value: Node,
        block: bool,
    ) -> Result<(), SyntaxError> {
        let norm = normalize_key(&key);
        if let Some(prev) = items.iter_mut().find(|it| normalize_key(&it.key) == norm) {
            if block {
                if let Value::List(list) = &mut prev.value.value {
                    if list.iter().all(|n| matches!(n.value, Value::Object(_))) {
                        list.push(value);
                        return Ok(());
                    }
                }
                if matches!(prev.value.value, Value::Object(_)) {
                    let first = prev.value.clone();
                    prev.value = Node {
                        pos: first.pos,
                        value: Value::List(vec![first, value]),
                    };
                    return Ok(());
                }
            }
            return Err(SyntaxError {
                pos: key_pos,
                message: format!(
                    "duplicate key `{key}` (first defined at line {})",
                    prev.key_pos.line
                ),
            });
        }
        items.push(Item {
            key,
            key_pos,
            value,
        });
        Ok(())
    }

    fn key(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Some('"') => self.string(),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let mut key = String::new();
                while let Some(c) = self.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' {
                        key.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                Ok(key)
            }
            Some(c) => self.error(format!("expected a key, found `{c}`")),
            None => self.error("expected a key, found the end of the file"),
        }
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        let pos = self.pos();
        let value = match self.peek() {
            Some('"') => Value::Str(self.string()?),
            Some('<') if self.peek_at(1) == Some('<') => Value::Str(self.heredoc()?),
            Some('[') => {
                self.bump();
                Value::List(self.nested(Self::list)?)
            }
            Some('{') => {
                self.bump();
                Value::Object(self.nested(|p| p.body(Some('}')))?)
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let mut num = String::new();
                while let Some(c) = self.peek() {
                    if c.is_ascii_digit() || "+-.eE".contains(c) {
                        num.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                if num.parse::<f64>().is_err() {
                    return Err(SyntaxError {
                        pos,
                        message: format!("invalid number `{num}`"),
                    });
                }
                Value::Num(num)
            }
            Some(c) if c.is_alphabetic() => {
                let word = self.key()?;
                match word.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => {
                        return Err(SyntaxError {
                            pos,
                            message: format!(
                                "expected a value, found `{word}` (strings need double quotes)"
                            ),
                        })
                    }
                }
            }
            Some(c) => return self.error(format!("expected a value, found `{c}`")),
            None => return self.error("expected a value, found the end of the file"),
        };
        Ok(Node { value, pos })
    }

    fn list(&mut self) -> Result<Vec<Node>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            self.skip_space(true)?;
            if self.peek() == Some(']') {
                self.bump();
                return Ok(out);
            }
            out.push(self.value()?);
            self.skip_space(true)?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                Some(c) => {
                    return self.error(format!("expected `,` or `]` in a list, found `{c}`"))
                }
                None => return self.error("missing `]`"),
            }
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos();
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(out),
                Some('\\') => {
                    let c = self.bump();
                    match c {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some('b') => out.push('\u{8}'),
                        Some('f') => out.push('\u{c}'),
                        Some('/') => out.push('/'),
                        Some('"') => out.push('"'),
                        Some('\\') => out.push('\\'),
                        Some('u') => {
                            let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                            let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                            match ch {
                                Some(ch) => out.push(ch),
                                None => return self.error(format!("invalid escape `\\u{hex}`")),
                            }
                        }
                        Some(other) => return self.error(format!("invalid escape `\\{other}`")),
                        None => break,
                    }
                }
                Some('\n') | None => break,
                Some(c) => out.push(c),
            }
        }
        Err(SyntaxError {
            pos: start,
            message: "unterminated string".into(),
        })
    }

    fn heredoc(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos();
        self.bump();
        self.bump();
        let indented = self.peek() == Some('-');
        if indented {
            self.bump();
        }
        let mut marker = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            marker.push(c);
            self.bump();
        }
        let marker = marker.trim().to_string();
        if marker.is_empty() {
            return self.error("a heredoc needs a marker (`<<EOF`)");
        }
        self.bump(); // newline
        let mut lines = Vec::new();
        loop {
            if self.peek().is_none() {
                return Err(SyntaxError {
                    pos: start,
                    message: format!("unterminated heredoc (no `{marker}` line)"),
                });
            }
            let mut line = String::new();
            while let Some(c) = self.peek() {
                if c == '\n' {
                    break;
                }
                line.push(c);
                self.bump();
            }
            if line.trim() == marker {
                break;
            }
            self.bump();
            lines.push(line);
        }
        if indented {
            let indent = lines
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            for l in &mut lines {
                *l = l.chars().skip(indent).collect();
            }
        }
        let mut text = lines.join("\n");
        text.push('\n');
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(node: &Node) -> &[Item] {
        match &node.value {
            Value::Object(items) => items,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn hcl1_blocks_inside_list_elements_and_comma_free_items_parse() {
        let text = r#"
Kind = "service-intentions"   # a comment
Name = "api"
Sources = [
  {
    Name = "web"
    Permissions = [
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/v2"   // another
          Methods = ["GET", "PUT",]
        }
      }
    ]
  },
  { Name = "db", Action = "deny" }
]
"#;
        let root = parse_hcl(text).unwrap();
        let items = obj(&root);
        assert_eq!(items.len(), 3);
        assert_eq!(items[2].key, "Sources");
        assert_eq!(items[2].key_pos, Pos { line: 4, col: 1 });
        let Value::List(sources) = &items[2].value.value else {
            panic!()
        };
        assert_eq!(sources.len(), 2);
        let web = obj(&sources[0]);
        let Value::List(perms) = &web[1].value.value else {
            panic!()
        };
        let perm = obj(&perms[0]);
        assert_eq!(perm[1].key, "HTTP");
        assert_eq!(perm[1].key_pos.line, 10);
        let http = obj(&perm[1].value);
        assert_eq!(http[0].value.value, Value::Str("/v2".into()));
    }

    #[test]
    fn repeated_blocks_become_a_list() {
        let root = parse_hcl("Sources { Name = \"a\" }\nSources { Name = \"b\" }\n").unwrap();
        let Value::List(list) = &obj(&root)[0].value.value else {
            panic!("not a list")
        };
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn a_duplicate_attribute_is_an_error_with_both_lines() {
        let err = parse_hcl("Name = \"a\"\nname = \"b\"\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("first defined at line 1"), "{err}");
    }

    #[test]
    fn nesting_past_the_bound_is_an_error_at_the_first_level_too_deep() {
        let depth = 20_000;
        let text = format!("x = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let err = parse_hcl(&text).unwrap_err();
        assert_eq!(
            err.pos,
            Pos {
                line: 1,
                col: 5 + MAX_DEPTH + 1
            }
        );
        assert!(
            err.message
                .contains("nested deeper than 64 levels of objects, blocks and lists"),
            "{err}"
        );
        let blocks = format!("{}{}", "a {\n".repeat(depth), "}\n".repeat(depth));
        assert!(parse_hcl(&blocks).is_err());
        let objects = format!("x = {}1{}", "{ a = ".repeat(depth), "}".repeat(depth));
        assert!(parse_hcl(&objects).is_err());
    }

    #[test]
    fn nesting_up_to_the_bound_is_read() {
        let text = format!("x = {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_hcl(&text).is_ok());
        let json = format!(
            "{{\"x\": {}{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_json(&json).is_ok());
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let err = parse_hcl("Kind = \"service-intentions\"\nName = api\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 8 });
        assert!(err.message.contains("double quotes"), "{err}");
        let err = parse_hcl("Sources = [\n  { Name = \"a\" \n").unwrap_err();
        assert!(err.message.contains("missing"), "{err}");
    }

    #[test]
    fn heredocs_and_escapes_are_read() {
        let root =
            parse_hcl("A = <<-EOF\n    one\n      two\n    EOF\nB = \"q\\\"\\u0041\"\n").unwrap();
        let items = obj(&root);
        assert_eq!(items[0].value.value, Value::Str("one\n  two\n".into()));
        assert_eq!(items[1].value.value, Value::Str("q\"A".into()));
    }

    #[test]
    fn json_is_checked_strictly_then_read_with_positions() {
        let root =
            parse_json("{\n  \"Kind\": \"service-intentions\",\n  \"Name\": \"api\"\n}").unwrap();
        let items = obj(&root);
        assert_eq!(items[1].key, "Name");
        assert_eq!(items[1].key_pos, Pos { line: 3, col: 3 });
        let err = parse_json("{\n  \"Kind\": \"x\",\n}").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(err.message.starts_with("invalid JSON"), "{err}");
    }

    #[test]
    fn keys_match_like_consul_case_and_underscores_aside() {
        assert_eq!(normalize_key("PathPrefix"), normalize_key("path_prefix"));
        assert_ne!(normalize_key("PathPrefix"), normalize_key("PathPrefx"));
    }
}
