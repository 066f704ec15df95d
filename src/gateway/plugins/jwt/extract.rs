//! Token extraction: Kong's `retrieve_tokens`, byte for byte.
//!
//! ```text
//!   ?jwt=a&jwt=b  (every value of every uri_param_name; empty ignored; percent-decoded, + = space)
//!   Cookie: c=t   (nginx $cookie_<name>: first match, case-insensitive name, raw value)
//!   Authorization (first occurrence of each header_name, unanchored \s*[Bb]earer\s+(.+))
//!        └──────────────► set (dedup) ──► 0: none · 1: the token · >1: multiple
//! ```
//!
//! A query parameter without `=` (`?jwt`) is Lua `true`, not a string: alone it is an
//! "Unrecognizable token", with another token it makes "Multiple tokens provided".

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, Uri};
use regex::bytes::Regex;

use crate::config::gateway::JwtConfig;

/// What the request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    None,
    /// Exactly one distinct token (raw bytes: it may not be UTF-8).
    One(Vec<u8>),
    /// Exactly one distinct value, and it is the flag of a bare `?jwt`.
    Unrecognizable,
    Multiple,
}

/// One member of Kong's `token_set`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Candidate {
    Text(Vec<u8>),
    Flag,
}

/// Kong's `lua_max_uri_args` default: further query arguments are not seen.
const MAX_URI_ARGS: usize = 100;

/// `\s*[Bb]earer\s+(.+)` as PCRE sees it without flags: ASCII whitespace, `.` = any byte but LF.
static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)[\t\n\x0B\x0C\r ]*[Bb]earer[\t\n\x0B\x0C\r ]+(.+)")
        .expect("constant regex compiles")
});

/// Collects the tokens of a request the way Kong does.
pub fn retrieve_tokens(config: &JwtConfig, uri: &Uri, headers: &HeaderMap) -> Found {
    let mut set: Vec<Candidate> = Vec::new();
    let mut add = |c: Candidate| {
        if !set.contains(&c) {
            set.push(c);
        }
    };

    let args = uri.query().map(query_args).unwrap_or_default();
    for name in &config.uri_param_names {
        for (key, value) in &args {
            if key.as_slice() != name.as_bytes() {
                continue;
            }
            match value {
                Some(v) if v.is_empty() => {}
                Some(v) => add(Candidate::Text(v.clone())),
                None => add(Candidate::Flag),
            }
        }
    }

    for name in &config.cookie_names {
        if let Some(value) = cookie(headers, name.as_bytes()) {
            if !value.is_empty() {
                add(Candidate::Text(value.to_vec()));
            }
        }
    }

    for name in &config.header_names {
        let Some(value) = first_header(headers, name) else {
            continue;
        };
        if let Some(token) = bearer_token(value) {
            if !token.is_empty() {
                add(Candidate::Text(token.to_vec()));
            }
        }
    }

    match set.as_slice() {
        [] => Found::None,
        [Candidate::Text(token)] => Found::One(token.clone()),
        [Candidate::Flag] => Found::Unrecognizable,
        _ => Found::Multiple,
    }
}

/// The capture of [`BEARER`] in `value`: what follows the leftmost `[Bb]earer` and its run of
/// whitespace. A value without a line feed (every value hyper accepts) is matched by hand, with
/// the regex's leftmost-first semantics: `.` then matches any byte, so the capture is the rest of
/// the value after the run, or, when the run reaches the end, its last byte (the greedy run
/// gives one back so that `.+` matches). Anything else goes to the regex.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    if value.contains(&b'\n') {
        return BEARER
            .captures(value)
            .and_then(|c| c.get(1))
            .map(|m| m.as_bytes());
    }
    let space = |b: &u8| matches!(b, b'\t' | b'\x0B' | b'\x0C' | b'\r' | b' ');
    let len = value.len();
    let mut at = 0;
    while at + 6 <= len {
        if matches!(value[at], b'B' | b'b') && &value[at + 1..at + 6] == b"earer" {
            let run = value[at + 6..].iter().take_while(|b| space(b)).count();
            let rest = at + 6 + run;
            if run >= 1 && rest < len {
                return Some(&value[rest..]);
            }
            if run >= 2 {
                return Some(&value[len - 1..]);
            }
        }
        at += 1;
    }
    None
}

/// The first value of a configured header. Names are case-insensitive; like the metatable of
/// `ngx.req.get_headers()`, `x_token` also finds `X-Token`.
pub(crate) fn first_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    let lower = name.to_ascii_lowercase();
    let lookup = |n: &str| {
        HeaderName::from_bytes(n.as_bytes())
            .ok()
            .and_then(|h| headers.get(h))
            .map(|v| v.as_bytes())
    };
    lookup(&lower).or_else(|| {
        if lower.contains('_') {
            lookup(&lower.replace('_', "-"))
        } else {
            None
        }
    })
}

/// `ngx.req.get_uri_args()`: `&`-separated, split at the first `=`, both sides unescaped,
/// a key without `=` has no value (Lua `true`), empty keys without a value are dropped.
pub fn query_args(query: &str) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut args = Vec::new();
    for part in query.as_bytes().split(|&b| b == b'&') {
        if args.len() >= MAX_URI_ARGS {
            break;
        }
        match part.iter().position(|&b| b == b'=') {
            Some(eq) => args.push((unescape(&part[..eq]), Some(unescape(&part[eq + 1..])))),
            None => {
                let key = unescape(part);
                if !key.is_empty() {
                    args.push((key, None));
                }
            }
        }
    }
    args
}

/// `ngx.unescape_uri`: `%XX` decoded (either case), `+` becomes a space, invalid escapes kept
/// as they are.
pub fn unescape(input: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                input.get(i + 1).and_then(|&b| hex(b)),
                input.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    // Not an escape: keep the '%' and read what follows as ordinary text
                    // (`ngx.unescape_uri("try %search%%20%again%")` is "try %search% %again%").
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// nginx's `$cookie_<name>` (`ngx_http_parse_multi_header_lines`): every `Cookie` header in
/// order, pairs separated by `;` or `,`, name compared case-insensitively, optional spaces
/// around `=`, value up to the next `;`, first match wins. Not percent-decoded.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &[u8]) -> Option<&'a [u8]> {
    for line in headers.get_all(http::header::COOKIE) {
        let s = line.as_bytes();
        let end = s.len();
        let mut start = 0;
        while start < end {
            if s.len() - start >= name.len()
                && s[start..start + name.len()].eq_ignore_ascii_case(name)
            {
                let mut p = start + name.len();
                while p < end && s[p] == b' ' {
                    p += 1;
                }
                if p < end && s[p] == b'=' {
                    p += 1;
                    while p < end && s[p] == b' ' {
                        p += 1;
                    }
                    let last = s[p..]
                        .iter()
                        .position(|&b| b == b';')
                        .map_or(end, |i| p + i);
                    return Some(&s[p..last]);
                }
            }
            // skip to the next pair
            while start < end {
                let ch = s[start];
                start += 1;
                if ch == b';' || ch == b',' {
                    break;
                }
            }
            while start < end && s[start] == b' ' {
                start += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_hand_matched_bearer_is_the_regex_capture() {
        let regex = |v: &[u8]| {
            BEARER
                .captures(v)
                .and_then(|c| c.get(1))
                .map(|m| m.as_bytes().to_vec())
        };
        let fixed: [&[u8]; 16] = [
            b"Bearer abc",
            b"bearer abc",
            b"  \tBearer \t abc def ",
            b"Bearer",
            b"Bearer ",
            b"Bearer  ",
            b"Bearer \t",
            b"Bearerabc",
            b"xBearer abc",
            b"Basic x, Bearer abc",
            b"BEARER abc",
            b"Bearer Bearer abc",
            b"Bearer\x0B\x0Cabc",
            b"Bearer \r\n abc",
            b"Bearer \n",
            b"",
        ];
        for value in fixed {
            assert_eq!(
                bearer_token(value).map(<[u8]>::to_vec),
                regex(value),
                "{value:?}"
            );
        }
        // Every string of up to 8 bytes over the bytes that matter, and some random longer ones.
        let alphabet = b"Bbear \t\rx";
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        for len in 0..=8usize {
            for _ in 0..3000 {
                let value: Vec<u8> = (0..len)
                    .map(|_| alphabet[rand::Rng::random_range(&mut rng, 0..alphabet.len())])
                    .collect();
                let mut with_bearer = value.clone();
                let at = rand::Rng::random_range(&mut rng, 0..=value.len());
                with_bearer.splice(at..at, b"Bearer".iter().copied());
                for v in [value, with_bearer] {
                    assert_eq!(bearer_token(&v).map(<[u8]>::to_vec), regex(&v), "{v:?}");
                }
            }
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    fn found(config: &JwtConfig, uri: &str, pairs: &[(&str, &str)]) -> Found {
        retrieve_tokens(config, &uri.parse().expect("uri"), &headers(pairs))
    }

    fn one(t: &str) -> Found {
        Found::One(t.as_bytes().to_vec())
    }

    #[test]
    fn bearer_prefix_matches_either_case_of_b_only() {
        let c = JwtConfig::default();
        assert_eq!(found(&c, "/", &[("authorization", "Bearer t1")]), one("t1"));
        assert_eq!(found(&c, "/", &[("authorization", "bearer t1")]), one("t1"));
        assert_eq!(
            found(&c, "/", &[("authorization", "BEARER t1")]),
            Found::None
        );
        assert_eq!(
            found(&c, "/", &[("authorization", "Token t1")]),
            Found::None
        );
        assert_eq!(found(&c, "/", &[("authorization", "Bearer")]), Found::None);
        assert_eq!(
            found(&c, "/", &[("authorization", "Basic abc")]),
            Found::None
        );
    }

    #[test]
    fn bearer_match_is_unanchored_and_takes_the_rest_of_the_line() {
        let c = JwtConfig::default();
        assert_eq!(
            found(&c, "/", &[("authorization", "xBearer a b")]),
            one("a b")
        );
        assert_eq!(
            found(&c, "/", &[("authorization", "Bearer   t1")]),
            one("t1")
        );
        assert_eq!(
            found(&c, "/", &[("authorization", "Bearer\tt1")]),
            one("t1")
        );
    }

    #[test]
    fn only_the_first_occurrence_of_a_header_counts() {
        let c = JwtConfig::default();
        let got = found(
            &c,
            "/",
            &[
                ("authorization", "Bearer good"),
                ("authorization", "Bearer junk"),
            ],
        );
        assert_eq!(got, one("good"));
    }

    #[test]
    fn custom_header_names_are_case_insensitive_and_underscores_find_dashes() {
        let c = JwtConfig {
            header_names: vec!["CustomAuthorization".into(), "x_token".into()],
            ..JwtConfig::default()
        };
        assert_eq!(
            found(&c, "/", &[("customauthorization", "Bearer t")]),
            one("t")
        );
        assert_eq!(found(&c, "/", &[("x-token", "Bearer t")]), one("t"));
        assert_eq!(
            found(&c, "/", &[("authorization", "Bearer t")]),
            Found::None
        );
    }

    #[test]
    fn every_value_of_every_uri_param_is_collected_and_empty_ones_ignored() {
        let c = JwtConfig {
            uri_param_names: vec!["token".into(), "jwt".into()],
            ..JwtConfig::default()
        };
        assert_eq!(found(&c, "/?token=a", &[]), one("a"));
        assert_eq!(found(&c, "/?jwt=&token=a", &[]), one("a"));
        assert_eq!(found(&c, "/?jwt=a&jwt=a", &[]), one("a"));
        assert_eq!(found(&c, "/?jwt=a&jwt=b", &[]), Found::Multiple);
        assert_eq!(found(&c, "/?token=a&jwt=b", &[]), Found::Multiple);
        assert_eq!(found(&c, "/?other=a", &[]), Found::None);
    }

    #[test]
    fn a_bare_query_flag_is_an_unrecognizable_token() {
        let c = JwtConfig::default();
        assert_eq!(found(&c, "/?jwt", &[]), Found::Unrecognizable);
        assert_eq!(found(&c, "/?jwt&jwt=a", &[]), Found::Multiple);
    }

    #[test]
    fn query_values_are_percent_decoded_with_plus_as_space() {
        let c = JwtConfig::default();
        assert_eq!(found(&c, "/?jwt=a%2Eb%2ec", &[]), one("a.b.c"));
        assert_eq!(found(&c, "/?j%77t=x", &[]), one("x"));
        assert_eq!(unescape(b"a+b"), b"a b");
        assert_eq!(unescape(b"100%"), b"100%");
        assert_eq!(unescape(b"%zz%4"), b"%zz%4");
        assert_eq!(unescape(b"%4g"), b"%4g");
        assert_eq!(unescape(b"try %search%%20%again%"), b"try %search% %again%");
    }

    #[test]
    fn a_value_may_contain_equals_signs() {
        assert_eq!(
            query_args("jwt=a=b&x"),
            vec![
                (b"jwt".to_vec(), Some(b"a=b".to_vec())),
                (b"x".to_vec(), None)
            ]
        );
        assert_eq!(query_args("&&"), vec![]);
    }

    #[test]
    fn cookies_are_found_among_several_and_across_headers() {
        let c = JwtConfig {
            cookie_names: vec!["silly".into(), "crumble".into()],
            ..JwtConfig::default()
        };
        let h = [("cookie", "a=1; crumble=tok; b=2")];
        assert_eq!(found(&c, "/", &h), one("tok"));
        let h = [("cookie", "a=1"), ("cookie", "CRUMBLE = tok")];
        assert_eq!(found(&c, "/", &h), one("tok"));
        let h = [("cookie", "crumblex=1; xcrumble=2")];
        assert_eq!(found(&c, "/", &h), Found::None);
        let h = [("cookie", "crumble=")];
        assert_eq!(found(&c, "/", &h), Found::None);
        let h = [("cookie", "crumble=one; crumble=two")];
        assert_eq!(found(&c, "/", &h), one("one"));
        let h = [("cookie", "x=1, crumble=tok")];
        assert_eq!(found(&c, "/", &h), one("tok"));
    }

    #[test]
    fn cookies_are_ignored_unless_configured() {
        let c = JwtConfig::default();
        assert_eq!(found(&c, "/", &[("cookie", "jwt=tok")]), Found::None);
    }

    #[test]
    fn the_same_token_in_several_places_counts_once() {
        let c = JwtConfig {
            cookie_names: vec!["jwt".into()],
            ..JwtConfig::default()
        };
        let got = found(
            &c,
            "/?jwt=t",
            &[("authorization", "Bearer t"), ("cookie", "jwt=t")],
        );
        assert_eq!(got, one("t"));
        let got = found(&c, "/?jwt=t", &[("authorization", "Bearer u")]);
        assert_eq!(got, Found::Multiple);
    }

    #[test]
    fn query_arguments_beyond_the_hundredth_are_not_seen() {
        let mut q: Vec<String> = (0..100).map(|i| format!("a{i}=1")).collect();
        q.push("jwt=t".into());
        let c = JwtConfig::default();
        assert_eq!(found(&c, &format!("/?{}", q.join("&")), &[]), Found::None);
    }
}
