//! The last HTTP exchange of a failing step, as the report shows it: start line in bold, header
//! lines, then the body (JSON re-indented so a reader can find the field that differs).
//!
//! ```text
//!   Exchange (already redacted) ──exchange_view()──► ExchangeView ──► templates/index.html <pre>
//!                                   └── body_text(): indent_json() → redact_text() again → cut()
//! ```

use super::super::model::Exchange;
use super::super::redact::redact_text;

/// Bodies longer than this are cut in the page (the full exchange is in `results.json`).
const MAX_BODY_CHARS: usize = 16 * 1024;

/// What the template shows under "Last request" and "Last response".
pub(super) struct ExchangeView {
    pub request: HttpView,
    pub response: Option<HttpView>,
}

/// A request or response as text: `GET http://…` or `HTTP 200 OK`, header lines, body.
pub(super) struct HttpView {
    pub start: String,
    pub headers: String,
    pub body: String,
}

pub(super) fn exchange_view(e: &Exchange, secrets: &[String]) -> ExchangeView {
    let view = |start: String, headers: &[(String, String)], body: &str| HttpView {
        start,
        headers: headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect::<Vec<_>>()
            .join("\n"),
        body: if body.is_empty() {
            String::new()
        } else {
            body_text(body, secrets)
        },
    };
    let request = &e.request;
    ExchangeView {
        request: view(
            format!("{} {}", request.method, request.url),
            &request.headers,
            &request.body,
        ),
        response: e.response.as_ref().map(|r| {
            let reason = http::StatusCode::from_u16(r.status)
                .ok()
                .and_then(|s| s.canonical_reason());
            let start = match reason {
                Some(reason) => format!("HTTP {} {reason}", r.status),
                None => format!("HTTP {}", r.status),
            };
            view(start, &r.headers, &r.body)
        }),
    }
}

/// Bodies of a step's other exchanges are cut shorter: they place the failure, the last one
/// explains it.
const SHORT_BODY_CHARS: usize = 2 * 1024;

/// [`exchange_view`] with bodies cut at [`SHORT_BODY_CHARS`].
pub(super) fn short_exchange_view(e: &Exchange, secrets: &[String]) -> ExchangeView {
    let mut view = exchange_view(e, secrets);
    for part in std::iter::once(&mut view.request).chain(view.response.as_mut()) {
        if let Some((at, _)) = part.body.char_indices().nth(SHORT_BODY_CHARS) {
            let more = part.body.len() - at;
            part.body.truncate(at);
            part.body
                .push_str(&format!("\n… ({more} more bytes; see results.json)"));
        }
    }
    view
}

/// A (redacted) body for the page: JSON indented, then cut. Indenting moves no character
/// inside a string, but it makes new lines, and `redact_text`'s header patterns work line by
/// line, so the indented text is redacted once more.
fn body_text(body: &str, secrets: &[String]) -> String {
    match indent_json(body) {
        Some(pretty) => cut(&redact_text(&pretty, secrets)),
        None => cut(body),
    }
}

/// `body` re-indented two spaces per level when it is a JSON object or array, else `None`.
/// Only whitespace between tokens changes: strings, escapes and numbers are copied as written.
fn indent_json(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(trimmed).ok()?;
    let mut out = String::with_capacity(trimmed.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = trimmed.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|&n| n == '}' || n == ']') {
                    continue; // `{}` and `[]` stay on one line
                }
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                if !(out.ends_with('{') || out.ends_with('[')) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// At most [`MAX_BODY_CHARS`] characters, with a note saying how much was left out.
fn cut(body: &str) -> String {
    match body.char_indices().nth(MAX_BODY_CHARS) {
        Some((at, _)) => format!(
            "{}\n… ({} more bytes; see results.json)",
            &body[..at],
            body.len() - at
        ),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_bodies_on_a_character_boundary() {
        let body = "é".repeat(MAX_BODY_CHARS + 3);
        let out = cut(&body);
        assert!(out.ends_with("… (6 more bytes; see results.json)"));
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn indents_json_bodies_without_touching_strings_or_numbers() {
        let body =
            r#"{"a":[1,2.50],"b":{"c":"x, {y}: \"z\""},"e":{},"f":[ ],"n":12345678901234567890}"#;
        let expected = r#"{
  "a": [
    1,
    2.50
  ],
  "b": {
    "c": "x, {y}: \"z\""
  },
  "e": {},
  "f": [],
  "n": 12345678901234567890
}"#;
        assert_eq!(indent_json(body).as_deref(), Some(expected));
    }

    #[test]
    fn leaves_bodies_that_are_not_json_objects_alone() {
        assert_eq!(indent_json("plain text"), None);
        assert_eq!(indent_json("{not json"), None);
        assert_eq!(indent_json("42"), None);
        assert_eq!(body_text("{broken", &[]), "{broken");
    }

    #[test]
    fn indented_bodies_are_redacted_again() {
        // The model is redacted before rendering; this is the second pass after indenting.
        let out = body_text(r#"{"echo":"s3cret-value"}"#, &["s3cret-value".to_string()]);
        assert_eq!(out, "{\n  \"echo\": \"[REDACTED]\"\n}");
    }
}
