//! Redaction: the one place that decides what must never leave Gauntlet in a report or a log.
//!
//! ```text
//!   RunReport ──► RunReport::redacted() ──► redact_text / redact_headers ──► every writer
//!   (also used directly by anyone printing requests, tokens or errors)
//! ```
//!
//! Three things are removed:
//! - values of `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie` headers (the
//!   scheme word and cookie names are kept, so `Bearer [REDACTED]` still says what was sent), both
//!   in header lists and where such a header is written out in free text;
//! - anything shaped like a JWT (three base64url segments whose first decodes to a JSON object with
//!   an `"alg"` member), wherever it appears: step text, errors, bodies, URLs (`?jwt=`);
//! - every known secret string (the stack's JWT secrets), verbatim.

use std::sync::LazyLock;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use regex::{Captures, Regex};

/// What a secret or a sensitive header value is replaced with.
pub const REDACTED: &str = "[REDACTED]";
/// What a JWT is replaced with.
pub const REDACTED_JWT: &str = "[REDACTED JWT]";

/// Headers whose values are credentials.
const SENSITIVE_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// `true` for a header whose value is a credential (case-insensitive name).
pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name.trim()))
}

/// Redacts every header of a list: credential headers lose their value, all others go through
/// [`redact_text`] (a JWT or a secret in any header is removed too). Order and names are kept.
pub fn redact_headers(headers: &[(String, String)], secrets: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.clone(), redact_header_value(name, value, secrets)))
        .collect()
}

/// Redacts one header value, given its name.
///
/// `Authorization: Bearer abc` → `Bearer [REDACTED]`; `Cookie: a=1; b=2` → `a=[REDACTED];
/// b=[REDACTED]`; `Set-Cookie: s=1; Path=/` → `s=[REDACTED]; Path=/`.
pub fn redact_header_value(name: &str, value: &str, secrets: &[String]) -> String {
    let name = name.trim();
    if name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("proxy-authorization")
    {
        redact_credentials(value)
    } else if name.eq_ignore_ascii_case("cookie") {
        value
            .split(';')
            .map(|pair| redact_cookie_pair(pair.trim()))
            .collect::<Vec<_>>()
            .join("; ")
    } else if name.eq_ignore_ascii_case("set-cookie") {
        let mut parts = value.splitn(2, ';');
        let first = redact_cookie_pair(parts.next().unwrap_or("").trim());
        // Attributes (Path, Max-Age, HttpOnly...) carry no credential, but scrub them anyway.
        match parts.next() {
            Some(attributes) => format!("{first};{}", redact_text(attributes, secrets)),
            None => first,
        }
    } else {
        redact_text(value, secrets)
    }
}

/// `Bearer abc` → `Bearer [REDACTED]`; a value without a scheme → `[REDACTED]`.
fn redact_credentials(value: &str) -> String {
    let value = value.trim();
    match value.split_once(char::is_whitespace) {
        Some((scheme, rest)) if !rest.trim().is_empty() && is_scheme_word(scheme) => {
            format!("{scheme} {REDACTED}")
        }
        _ if value.is_empty() => String::new(),
        _ => REDACTED.to_string(),
    }
}

fn is_scheme_word(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 32
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `name=value` → `name=[REDACTED]`; a part without `=` is redacted whole.
fn redact_cookie_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, _)) if is_scheme_word(name.trim()) => format!("{}={REDACTED}", name.trim()),
        _ if pair.is_empty() => String::new(),
        _ => REDACTED.to_string(),
    }
}

/// Redacts free text: JWTs, known secrets, and credential headers written out in the text
/// (`Authorization: Bearer x`, `"authorization": "Bearer x"`, `Cookie: a=b`).
///
/// Empty secrets are ignored; longer secrets are replaced first so one containing another is
/// removed whole. The result is stable: redacting twice changes nothing more.
pub fn redact_text(s: &str, secrets: &[String]) -> String {
    let mut out = redact_jwts(s);
    let mut secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    redact_header_lines(&out)
}

static AUTH_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    // A name, an optional closing quote, ':' and an optional opening quote, then either
    // `<scheme> <credential>` or a lone credential; quotes and whitespace end the credential.
    Regex::new(
        r#"(?i)\b((?:proxy-)?authorization)("?\s*:\s*"?)(?:([A-Za-z][A-Za-z0-9_-]{0,31})[ \t]+)?(\[REDACTED(?: JWT)?\]|[^\s"'<>,]+)"#,
    )
    .expect("constant regex is valid")
});

static COOKIE_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(set-cookie|cookie)("?\s*:\s*"?)([^"'<>\r\n]+)"#)
        .expect("constant regex is valid")
});

static BEARER_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    // RFC 6750 b64token after the scheme word (also URL-encoded `Bearer%20...`); the character
    // after it is captured to tell `Bearer realm="kong"` (an auth-param, kept) from a credential.
    Regex::new(r#"(?i)\b(bearer)([ \t]+|%20|\+)([A-Za-z0-9._~+/-]+=*)("?)"#)
        .expect("constant regex is valid")
});

/// Words that follow "bearer" in prose ("a bearer token", "Bearer or bearer"), never credentials.
const PROSE_AFTER_BEARER: [&str; 12] = [
    "token",
    "tokens",
    "or",
    "and",
    "scheme",
    "header",
    "auth",
    "authentication",
    "credential",
    "credentials",
    "prefix",
    "word",
];

fn redact_header_lines(s: &str) -> String {
    let s = BEARER_IN_TEXT.replace_all(s, |c: &Captures<'_>| {
        let prose = c[2].trim().is_empty()
            && PROSE_AFTER_BEARER.contains(&c[3].to_ascii_lowercase().as_str());
        if prose || (c[3].ends_with('=') && &c[4] == "\"") {
            c[0].to_string()
        } else {
            format!("{}{}{REDACTED}{}", &c[1], &c[2], &c[4])
        }
    });
    let s = AUTH_IN_TEXT.replace_all(&s, |c: &Captures<'_>| match c.get(3) {
        Some(scheme) => format!("{}{}{} {REDACTED}", &c[1], &c[2], scheme.as_str()),
        None => format!("{}{}{REDACTED}", &c[1], &c[2]),
    });
    COOKIE_IN_TEXT
        .replace_all(&s, |c: &Captures<'_>| {
            format!("{}{}{REDACTED}", &c[1], &c[2])
        })
        .into_owned()
}

/// Redacts a Gherkin data table. A cell naming a credential header makes the cells after it in
/// its row, and the cells below it in its column, values of that header (the two ways QA write
/// header tables); every other cell goes through [`redact_text`]. When a table could be read
/// both ways, both apply: redacting a harmless cell is preferred to leaking a credential.
pub fn redact_table(rows: &[Vec<String>], secrets: &[String]) -> Vec<Vec<String>> {
    let column_headers: Vec<Option<&str>> = rows.first().map_or_else(Vec::new, |first| {
        first
            .iter()
            .map(|c| is_sensitive_header(c).then_some(c.trim()))
            .collect()
    });
    rows.iter()
        .enumerate()
        .map(|(r, row)| {
            let mut row_header: Option<&str> = None;
            row.iter()
                .enumerate()
                .map(|(c, cell)| {
                    let header = row_header.or(if r > 0 {
                        column_headers.get(c).copied().flatten()
                    } else {
                        None
                    });
                    if is_sensitive_header(cell) {
                        row_header = Some(cell.trim());
                    }
                    match header {
                        Some(name) => redact_header_value(name, cell, secrets),
                        None => redact_text(cell, secrets),
                    }
                })
                .collect()
        })
        .collect()
}

/// Lenient base64url: JWT segments carry no padding, but tolerate it.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `true` when `header` (one base64url segment) decodes to a JSON object with an `alg` member.
fn is_jwt_header(header: &str) -> bool {
    let Ok(bytes) = B64URL.decode(header.trim_end_matches('=')) else {
        return false;
    };
    matches!(
        serde_json::from_slice::<serde_json::Value>(&bytes),
        Ok(serde_json::Value::Object(map)) if map.contains_key("alg")
    )
}

/// `true` when the whole of `candidate` is a JWT (see the module docs for the shape).
pub fn looks_like_jwt(candidate: &str) -> bool {
    match jwt_at(candidate.as_bytes(), 0) {
        Some(end) => {
            end == candidate.len() && is_jwt_header(candidate.split('.').next().unwrap_or(""))
        }
        None => false,
    }
}

/// If a `header.payload.signature` shape starts at `start`, the index just past it.
fn jwt_at(bytes: &[u8], start: usize) -> Option<usize> {
    let run = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !is_b64url(*b))
            .map_or(bytes.len(), |n| from + n)
    };
    let header_end = run(start);
    if header_end == start || bytes.get(header_end) != Some(&b'.') {
        return None;
    }
    let payload_end = run(header_end + 1);
    if payload_end == header_end + 1 || bytes.get(payload_end) != Some(&b'.') {
        return None;
    }
    // The signature may be empty (`alg: none`).
    Some(run(payload_end + 1))
}

/// Replaces every JWT in `s`. A JSON object's base64url encoding starts with `ey` (`{"`, `{ `) or
/// `ew` (`{` and a newline or tab), so only those positions are tried; a token glued to other
/// base64 characters (`%20eyJ...`) is still found.
fn redact_jwts(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'e' && (bytes[i + 1] == b'y' || bytes[i + 1] == b'w') {
            if let Some(end) = jwt_at(bytes, i) {
                let header_end = i + s[i..].find('.').unwrap_or(0);
                if is_jwt_header(&s[i..header_end]) {
                    out.push_str(&s[copied..i]);
                    out.push_str(REDACTED_JWT);
                    copied = end;
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// header {"alg":"HS256","typ":"JWT"}, payload {"iss":"k"}, signature "sig".
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJrIn0.c2ln";

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keeps_the_scheme_word_of_an_authorization_header() {
        let out = redact_headers(&owned(&[("Authorization", "Bearer abc.def")]), &[]);
        assert_eq!(out, owned(&[("Authorization", "Bearer [REDACTED]")]));
        let out = redact_headers(&owned(&[("proxy-authorization", "opaque")]), &[]);
        assert_eq!(out, owned(&[("proxy-authorization", "[REDACTED]")]));
    }

    #[test]
    fn keeps_cookie_names_but_not_values() {
        let out = redact_headers(
            &owned(&[
                ("Cookie", "jwt=abc; theme=dark"),
                ("Set-Cookie", "s=1; Path=/; HttpOnly"),
            ]),
            &[],
        );
        assert_eq!(
            out,
            owned(&[
                ("Cookie", "jwt=[REDACTED]; theme=[REDACTED]"),
                ("Set-Cookie", "s=[REDACTED]; Path=/; HttpOnly"),
            ])
        );
    }

    #[test]
    fn removes_a_jwt_from_a_url_and_from_ordinary_headers() {
        let url = format!("http://127.0.0.1:8000/api/v1/value-models?jwt={JWT}&x=1");
        assert_eq!(
            redact_text(&url, &[]),
            "http://127.0.0.1:8000/api/v1/value-models?jwt=[REDACTED JWT]&x=1"
        );
        let out = redact_headers(&owned(&[("X-Token", JWT)]), &[]);
        assert_eq!(out[0].1, REDACTED_JWT);
    }

    #[test]
    fn finds_a_jwt_glued_to_url_encoding_and_an_unsigned_one() {
        let none_token = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJrIn0.";
        let text = format!("Bearer%20{JWT} and {none_token} end");
        assert_eq!(
            redact_text(&text, &[]),
            "Bearer%20[REDACTED JWT] and [REDACTED JWT] end"
        );
    }

    #[test]
    fn leaves_dotted_words_that_are_not_tokens_alone() {
        let text = "value-architect.service.consul and eyJub3QiOiJqd3QifQ.eyJ4IjoxfQ.x";
        assert_eq!(redact_text(text, &[]), text);
        assert!(looks_like_jwt(JWT));
        assert!(!looks_like_jwt("a.b.c"));
    }

    #[test]
    fn replaces_known_secrets_longest_first_and_ignores_empty_ones() {
        let secrets = vec![
            String::new(),
            "s3cr3t".to_string(),
            "s3cr3t-long".to_string(),
        ];
        assert_eq!(
            redact_text("a s3cr3t-long b s3cr3t", &secrets),
            "a [REDACTED] b [REDACTED]"
        );
    }

    #[test]
    fn redacts_credential_headers_written_in_text() {
        assert_eq!(
            redact_text(r#"sent "Authorization: Bearer opaque-value" twice"#, &[]),
            r#"sent "Authorization: Bearer [REDACTED]" twice"#
        );
        assert_eq!(
            redact_text(r#"{"authorization": "Basic dXNlcjpwdw=="}"#, &[]),
            r#"{"authorization": "Basic [REDACTED]"}"#
        );
        assert_eq!(
            redact_text("cookie: jwt=abc; other=1\nnext", &[]),
            "cookie: [REDACTED]\nnext"
        );
        let plain = "the request has no Authorization header";
        assert_eq!(redact_text(plain, &[]), plain);
    }

    #[test]
    fn redacts_bearer_credentials_written_without_a_header_name() {
        assert_eq!(
            redact_text(
                r#"with header "Authorization" set to "Bearer abc.def-1""#,
                &[]
            ),
            r#"with header "Authorization" set to "Bearer [REDACTED]""#
        );
        assert_eq!(
            redact_text("?auth=Bearer%20abc", &[]),
            "?auth=Bearer%20[REDACTED]"
        );
        let challenge = r#"WWW-Authenticate: Bearer realm="kong""#;
        assert_eq!(redact_text(challenge, &[]), challenge);
        let quoted = r#"the header "WWW-Authenticate" is "Bearer""#;
        assert_eq!(redact_text(quoted, &[]), quoted);
        let prose = "An Authorization header without a bearer token; Bearer or bearer, not BEARER";
        assert_eq!(redact_text(prose, &[]), prose);
    }

    #[test]
    fn redacts_header_tables_by_row_and_by_column() {
        let table = |rows: &[&[&str]]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect()
        };
        let by_row = table(&[
            &["header", "value"],
            &["authorization", "opaque"],
            &["Accept", "x"],
        ]);
        assert_eq!(
            redact_table(&by_row, &[]),
            table(&[
                &["header", "value"],
                &["authorization", "[REDACTED]"],
                &["Accept", "x"]
            ])
        );
        let by_column = table(&[&["Accept", "Cookie"], &["x", "jwt=abc"]]);
        assert_eq!(
            redact_table(&by_column, &[]),
            table(&[&["Accept", "Cookie"], &["x", "jwt=[REDACTED]"]])
        );
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let text = format!("Authorization: Bearer {JWT} s3cr3t");
        let secrets = vec!["s3cr3t".to_string()];
        let once = redact_text(&text, &secrets);
        assert_eq!(once, "Authorization: Bearer [REDACTED] [REDACTED]");
        assert_eq!(redact_text(&once, &secrets), once);
    }
}
