//! Validated intentions: the domain types the loader produces and the decision reads.
//!
//! ```text
//!   IntentionEntry (one destination) ─► SourceIntention* ─► Rule::L4(Action)
//!                                                         └► Rule::L7(Permission*) ─► HttpMatch
//! ```
//!
//! HTTP matching follows Consul's translation to Envoy RBAC (mesh.md §3): `PathExact`,
//! `PathPrefix` and `PathRegex` (a full match, RE2 syntax) on the path without its query string;
//! `Methods` an exact, case-sensitive match on the method (empty = all); every `Header` must match
//! (`Present`/`Exact`/`Prefix`/`Suffix`/`Regex`, negated by `Invert`), a header with several values
//! being matched against the values joined by `,`, as Envoy does.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "allow" => Some(Action::Allow),
            "deny" => Some(Action::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source or destination name: one service, or `*` (every service).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceMatch {
    Any,
    Exact(String),
}

impl ServiceMatch {
    pub fn parse(name: &str) -> ServiceMatch {
        if name == "*" {
            ServiceMatch::Any
        } else {
            ServiceMatch::Exact(name.to_string())
        }
    }

    pub fn matches(&self, service: &str) -> bool {
        match self {
            ServiceMatch::Any => true,
            ServiceMatch::Exact(name) => name == service,
        }
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, ServiceMatch::Exact(_))
    }

    pub fn as_str(&self) -> &str {
        match self {
            ServiceMatch::Any => "*",
            ServiceMatch::Exact(name) => name,
        }
    }
}

impl fmt::Display for ServiceMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Consul CE precedence (namespace always `default`): exact→exact 9, `*`→exact 8,
/// exact→`*` 6, `*`→`*` 5.
pub fn precedence(source: &ServiceMatch, destination: &ServiceMatch) -> u8 {
    let max = if destination.is_exact() { 9 } else { 6 };
    if source.is_exact() {
        max
    } else {
        max - 1
    }
}

/// One `service-intentions` config entry: the intentions of one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentionEntry {
    pub destination: ServiceMatch,
    pub meta: BTreeMap<String, String>,
    pub sources: Vec<SourceIntention>,
}

/// The intention of one source towards the entry's destination.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceIntention {
    pub source: ServiceMatch,
    pub rule: Rule,
    pub description: Option<String>,
}

/// L4 (`Action`) or L7 (`Permissions`), never both.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    L4(Action),
    L7(Vec<Permission>),
}

/// One L7 permission: the first one whose `http` matches a request decides it.
#[derive(Debug, Clone, PartialEq)]
pub struct Permission {
    pub action: Action,
    pub http: HttpMatch,
}

/// The `HTTP` block of a permission. Every present part must match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpMatch {
    pub path: Option<PathMatch>,
    /// Upper-case methods; empty = every method.
    pub methods: Vec<String>,
    pub headers: Vec<HeaderMatch>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
    Regex(Pattern),
}

/// A regular expression matched against a whole value (Envoy's safe_regex is a full match).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    full: Regex,
}

impl Pattern {
    /// # Errors
    /// The text is not a valid regular expression.
    pub fn new(source: &str) -> Result<Pattern, regex::Error> {
        Ok(Pattern {
            source: source.to_string(),
            full: Regex::new(&format!("^(?:{source})$"))?,
        })
    }

    /// The expression as written in the file.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_full_match(&self, text: &str) -> bool {
        self.full.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

/// One `Header` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderMatch {
    /// As written; compared case-insensitively.
    pub name: String,
    pub kind: HeaderMatchKind,
    pub invert: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeaderMatchKind {
    Present,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Regex(Pattern),
}

/// What an L7 decision looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestView<'a> {
    pub method: &'a str,
    /// The request target; a query string is ignored for path matching.
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
}

impl HttpMatch {
    pub fn matches(&self, request: &HttpRequestView<'_>) -> bool {
        let path = request
            .path
            .split_once('?')
            .map_or(request.path, |(p, _)| p);
        let path_ok = match &self.path {
            None => true,
            Some(PathMatch::Exact(p)) => path == p,
            Some(PathMatch::Prefix(p)) => path.starts_with(p.as_str()),
            Some(PathMatch::Regex(re)) => re.is_full_match(path),
        };
        let method_ok = self.methods.is_empty() || self.methods.iter().any(|m| m == request.method);
        path_ok && method_ok && self.headers.iter().all(|h| h.matches(request.headers))
    }
}

impl HeaderMatch {
    pub fn matches(&self, headers: &http::HeaderMap) -> bool {
        let values: Vec<&str> = headers
            .get_all(self.name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let joined = (!values.is_empty()).then(|| values.join(","));
        let hit = match (&self.kind, joined.as_deref()) {
            (_, None) => false,
            (HeaderMatchKind::Present, Some(_)) => true,
            (HeaderMatchKind::Exact(v), Some(got)) => got == v,
            (HeaderMatchKind::Prefix(v), Some(got)) => got.starts_with(v.as_str()),
            (HeaderMatchKind::Suffix(v), Some(got)) => got.ends_with(v.as_str()),
            (HeaderMatchKind::Regex(re), Some(got)) => re.is_full_match(got),
        };
        hit != self.invert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        headers: &'a http::HeaderMap,
    ) -> HttpRequestView<'a> {
        HttpRequestView {
            method,
            path,
            headers,
        }
    }

    #[test]
    fn precedence_follows_consul_ce() {
        let exact = ServiceMatch::parse("web");
        let any = ServiceMatch::parse("*");
        assert_eq!(precedence(&exact, &exact), 9);
        assert_eq!(precedence(&any, &exact), 8);
        assert_eq!(precedence(&exact, &any), 6);
        assert_eq!(precedence(&any, &any), 5);
    }

    #[test]
    fn paths_ignore_the_query_and_regexes_match_the_whole_path() {
        let h = http::HeaderMap::new();
        let prefix = HttpMatch {
            path: Some(PathMatch::Prefix("/api".into())),
            ..Default::default()
        };
        assert!(prefix.matches(&req("GET", "/api/v1?x=1", &h)));
        assert!(!prefix.matches(&req("GET", "/ap", &h)));
        let exact = HttpMatch {
            path: Some(PathMatch::Exact("/health".into())),
            ..Default::default()
        };
        assert!(exact.matches(&req("GET", "/health?verbose", &h)));
        assert!(!exact.matches(&req("GET", "/health/x", &h)));
        let regex = HttpMatch {
            path: Some(PathMatch::Regex(Pattern::new("/v[0-9]+/items").unwrap())),
            ..Default::default()
        };
        assert!(regex.matches(&req("GET", "/v2/items", &h)));
        assert!(
            !regex.matches(&req("GET", "/v2/items/7", &h)),
            "full match only"
        );
    }

    #[test]
    fn methods_match_exactly_and_empty_means_all() {
        let h = http::HeaderMap::new();
        let get_only = HttpMatch {
            methods: vec!["GET".into()],
            ..Default::default()
        };
        assert!(get_only.matches(&req("GET", "/", &h)));
        assert!(!get_only.matches(&req("POST", "/", &h)));
        assert!(!get_only.matches(&req("get", "/", &h)));
        assert!(HttpMatch::default().matches(&req("DELETE", "/", &h)));
    }

    #[test]
    fn header_conditions_all_apply_and_invert_negates() {
        let mut h = http::HeaderMap::new();
        h.insert("x-tenant", "acme-prod".parse().unwrap());
        let cond = |kind, invert| HeaderMatch {
            name: "X-Tenant".into(),
            kind,
            invert,
        };
        assert!(cond(HeaderMatchKind::Present, false).matches(&h));
        assert!(cond(HeaderMatchKind::Exact("acme-prod".into()), false).matches(&h));
        assert!(cond(HeaderMatchKind::Prefix("acme".into()), false).matches(&h));
        assert!(cond(HeaderMatchKind::Suffix("-prod".into()), false).matches(&h));
        assert!(cond(
            HeaderMatchKind::Regex(Pattern::new("acme-.*").unwrap()),
            false
        )
        .matches(&h));
        assert!(!cond(HeaderMatchKind::Exact("acme".into()), false).matches(&h));
        assert!(!cond(HeaderMatchKind::Present, true).matches(&h));
        let empty = http::HeaderMap::new();
        assert!(!cond(HeaderMatchKind::Present, false).matches(&empty));
        assert!(cond(HeaderMatchKind::Exact("x".into()), true).matches(&empty));

        let both = HttpMatch {
            headers: vec![
                cond(HeaderMatchKind::Prefix("acme".into()), false),
                cond(HeaderMatchKind::Suffix("-dev".into()), false),
            ],
            ..Default::default()
        };
        assert!(
            !both.matches(&req("GET", "/", &h)),
            "all headers must match"
        );
    }

    #[test]
    fn several_header_values_are_matched_joined_by_commas() {
        let mut h = http::HeaderMap::new();
        h.append("x-role", "a".parse().unwrap());
        h.append("x-role", "b".parse().unwrap());
        let m = HeaderMatch {
            name: "x-role".into(),
            kind: HeaderMatchKind::Exact("a,b".into()),
            invert: false,
        };
        assert!(m.matches(&h));
    }
}
