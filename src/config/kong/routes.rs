//! Routes, nested under a service or top-level with a `service` reference, validated into
//! [`Route`]s: methods, Kong 3.0 paths (`~` marks a regex; 1.1/2.1 files detect regexes the way
//! Kong's migration does), and warnings for matching features Gauntlet does not emulate.
//! Part of the `kong.yml` builder (`validate.rs`).

use super::attach::Pending;
use super::raw::{is_set, RawRoute};
use super::validate::{Builder, HTTP_METHODS};
use super::yaml::closest;
use crate::config::gateway::{
    HeaderCriterion, HeaderValueMatch, HostCriterion, HostWildcard, Route, RoutePath,
};
use crate::config::ConfigError;
use crate::protocol::KONG_PROTOCOLS;
use serde_json::Value;

impl Builder<'_> {
    pub fn route(
        &mut self,
        key: String,
        raw: RawRoute,
        nested_in: Option<usize>,
    ) -> Result<(), ConfigError> {
        let service = match (nested_in, raw.service.as_ref()) {
            (Some(s), None) => Some(s),
            (Some(s), Some(r)) if self.find_service(r) == Some(s) => Some(s),
            (Some(s), Some(r)) => {
                return Err(self.err(
                    format!("{key}.service"),
                    format!(
                        "`{r}` conflicts with the enclosing service `{}`",
                        self.cfg.services[s].name
                    ),
                ))
            }
            (None, Some(r)) => Some(self.find_service(r).ok_or_else(|| {
                self.err(
                    format!("{key}.service"),
                    format!("invalid reference 'service: {r}' (no such entry in 'services')"),
                )
            })?),
            // Optional in Kong (`routes.lua`: `service` is a foreign key without `required`):
            // such a route matches, runs its plugins, then answers 503 `no Service found with
            // those values` (`kong/init.lua` `Kong.access`).
            (None, None) => None,
        };
        if let Some(name) = raw.name.as_deref() {
            if let Some(prev) = self.cfg.routes.iter().position(|r| r.name == name) {
                return Err(self.err(
                    format!("{key}.name"),
                    format!(
                        "uniqueness violation: 'routes' entity with name set to '{name}' already declared at {}",
                        self.route_keys[prev]
                    ),
                ));
            }
        }
        if raw.expression.as_ref().is_some_and(is_set) {
            return Err(self.err(
                format!("{key}.expression"),
                "routes of Kong's expressions router are not supported: use `paths` and `methods`",
            ));
        }
        let seed = match raw.name.as_deref() {
            Some(n) => format!("route:{n}"),
            None => format!("route:#{key}"),
        };
        let id = self.entity_id("routes", &key, raw.id.as_deref(), &seed)?;
        let name = raw.name.clone().unwrap_or_else(|| id.to_string());
        let methods = self.methods(&key, &name, raw.methods.as_deref().unwrap_or_default())?;
        let paths = self.paths(&key, raw.paths.as_deref().unwrap_or_default())?;
        let hosts = self.hosts(&key, raw.hosts.as_ref())?;
        let headers = self.headers(&key, raw.headers.as_ref())?;
        let matches_something =
            !methods.is_empty() || !paths.is_empty() || !hosts.is_empty() || !headers.is_empty();
        let protocols = raw
            .protocols
            .clone()
            .unwrap_or_else(|| vec!["http".into(), "https".into()]);
        for (i, p) in protocols.iter().enumerate() {
            if !KONG_PROTOCOLS.contains(&p.as_str()) {
                return Err(self.err(
                    format!("{key}.protocols[{i}]"),
                    format!("expected one of: {}", KONG_PROTOCOLS.join(", ")),
                ));
            }
        }
        let http_like = protocols.iter().any(|p| p == "http" || p == "https");
        if http_like && !matches_something {
            return Err(self.err(
                key,
                "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'",
            ));
        }
        if !protocols.iter().any(|p| p == "http")
            || protocols.iter().any(|p| p != "http" && p != "https")
        {
            self.warn(
                format!("{key}.protocols"),
                format!(
                    "protocols [{}] are not emulated: Gauntlet's proxy serves plain HTTP and matches this route on it",
                    protocols.join(", ")
                ),
                vec![name.clone()],
            );
        }
        self.route_warnings(&key, &name, &raw)?;
        // Matching on snis/sources/destinations alone: Gauntlet cannot tell which requests are
        // meant, and matching every request would swallow other routes' traffic, so it
        // matches none.
        let criteria = matches_something;
        let matchable = criteria && service.is_none_or(|s| !self.disabled_services.contains(&s));
        if !criteria {
            self.warn(
                key.clone(),
                "this route matches only on criteria Gauntlet does not emulate (snis, sources, \
                 destinations): Gauntlet never routes a request to it",
                vec![name.clone()],
            );
        }
        // They still count towards Kong's route priority (`get_priority`).
        let unmatched_fields = [&raw.snis, &raw.sources, &raw.destinations]
            .iter()
            .filter(|v| v.as_ref().is_some_and(is_set))
            .count() as u8;
        let index = self.cfg.routes.len();
        self.cfg.routes.push(Route {
            id,
            name,
            service,
            paths,
            methods,
            strip_path: raw.strip_path.unwrap_or(true),
            preserve_host: raw.preserve_host.unwrap_or(false),
            hosts,
            headers,
            regex_priority: raw.regex_priority.unwrap_or(0),
            unmatched_fields,
            matchable,
        });
        self.route_keys.push(key.clone());
        for (j, p) in raw.plugins.into_iter().flatten().enumerate() {
            self.pending
                .push(Pending::route(format!("{key}.plugins[{j}]"), p, index));
        }
        Ok(())
    }

    fn methods(
        &mut self,
        key: &str,
        route: &str,
        methods: &[String],
    ) -> Result<Vec<http::Method>, ConfigError> {
        let mut out = Vec::new();
        for (i, m) in methods.iter().enumerate() {
            let k = format!("{key}.methods[{i}]");
            let is_token = !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase());
            if !is_token {
                let hint = match closest(&m.to_ascii_uppercase(), HTTP_METHODS) {
                    Some(best) => format!("; did you mean `{best}`? (methods are upper case)"),
                    None => format!("; expected an HTTP method: {}", HTTP_METHODS.join(", ")),
                };
                return Err(self.err(k, format!("invalid value: {m}{hint}")));
            }
            if !HTTP_METHODS.contains(&m.as_str()) {
                let hint = closest(m, HTTP_METHODS)
                    .map(|b| format!(" (did you mean `{b}`?)"))
                    .unwrap_or_default();
                self.warn(
                    k.clone(),
                    format!("`{m}` is not a standard HTTP method{hint}; Kong accepts it and so does Gauntlet"),
                    vec![route.to_string()],
                );
            }
            let method = http::Method::from_bytes(m.as_bytes())
                .map_err(|_| self.err(k, format!("invalid value: {m}")))?;
            if !out.contains(&method) {
                out.push(method);
            }
        }
        Ok(out)
    }

    fn paths(&self, key: &str, paths: &[String]) -> Result<Vec<RoutePath>, ConfigError> {
        let mut out = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            let k = format!("{key}.paths[{i}]");
            let regex = if self.v3 {
                match p.strip_prefix('~') {
                    Some(re) => Some(re),
                    None if p.starts_with('/') => None,
                    None => {
                        return Err(self.err(
                            k,
                            format!(
                                "should start with: / (fixed path) or ~/ (regex path) (got `{p}`)"
                            ),
                        ))
                    }
                }
            } else if !p.starts_with('/') {
                return Err(self.err(k, format!("should start with: / (got `{p}`)")));
            } else if p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-~/%".contains(&b))
            {
                None
            } else {
                // Kong's 1.1/2.1 → 3.0 migration marks such paths as regex (`route_path.lua`).
                Some(p.as_str())
            };
            if regex.is_none() {
                check_fixed_path(p).map_err(|message| self.err(&k, message))?;
            }
            out.push(match regex {
                None => RoutePath::Prefix(p.clone()),
                Some(re) => {
                    RoutePath::Regex(regex::Regex::new(&format!("^(?:{re})")).map_err(|e| {
                        self.err(&k, format!("not a valid regex (Rust regex syntax): {e}"))
                    })?)
                }
            });
        }
        Ok(out)
    }

    /// `hosts` (`typedefs.hosts`): strings, at most one `*`, leftmost (`*.x`) or rightmost
    /// (`x.*`), an optional `:port`.
    fn hosts(&self, key: &str, raw: Option<&Value>) -> Result<Vec<HostCriterion>, ConfigError> {
        let items = match raw {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.err(format!("{key}.hosts"), "expected an array")),
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let k = format!("{key}.hosts[{i}]");
            let Some(text) = item.as_str() else {
                return Err(self.err(k, "expected a string"));
            };
            if text.matches('*').count() > 1 {
                return Err(self.err(k, "invalid wildcard: must have at most one wildcard"));
            }
            let (host, port) = match text.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => match p.parse::<u16>() {
                    Ok(port) if port > 0 => (h, Some(port)),
                    _ => return Err(self.err(k, format!("invalid port number: {text}"))),
                },
                _ => (text, None),
            };
            let (host, wildcard) = if host.starts_with("*.") {
                (&host[1..], HostWildcard::Leading)
            } else if host.ends_with(".*") {
                (&host[..host.len() - 1], HostWildcard::Trailing)
            } else if host.contains('*') {
                return Err(self.err(
                    k,
                    "invalid wildcard: must be placed at leftmost or rightmost label",
                ));
            } else {
                (host, HostWildcard::None)
            };
            let valid = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !valid {
                return Err(self.err(k, format!("invalid hostname: {text}")));
            }
            out.push(HostCriterion {
                host: host.to_string(),
                wildcard,
                port,
            });
        }
        Ok(out)
    }

    /// `headers` (`typedefs.headers`): a map of header name to values; `host` is refused
    /// like Kong; a `~*` value is a case-insensitive regex.
    fn headers(&self, key: &str, raw: Option<&Value>) -> Result<Vec<HeaderCriterion>, ConfigError> {
        let map = match raw {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(self.err(
                    format!("{key}.headers"),
                    "expected a map of header names to lists of values",
                ))
            }
        };
        let mut out = Vec::new();
        for (name, values) in map {
            let k = format!("{key}.headers.{name}");
            if name.eq_ignore_ascii_case("host") {
                return Err(self.err(
                    k,
                    "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
                ));
            }
            // The router names headers with dashes as underscores (`replace_dashes_lower`),
            // so `x_version` and `X-Version` are the same header.
            let header = http::HeaderName::from_bytes(name.replace('_', "-").as_bytes())
                .map_err(|_| self.err(&k, format!("invalid header name: {name}")))?;
            let Some(values) = values.as_array() else {
                return Err(self.err(k, "expected an array of strings"));
            };
            let mut matches = Vec::new();
            for (i, v) in values.iter().enumerate() {
                let Some(v) = v.as_str() else {
                    return Err(self.err(format!("{k}[{i}]"), "expected a string"));
                };
                matches.push(match v.strip_prefix("~*") {
                    Some(re) => HeaderValueMatch::Regex(
                        regex::Regex::new(&re.to_lowercase()).map_err(|e| {
                            self.err(format!("{k}[{i}]"), format!("invalid regex: '{re}' ({e})"))
                        })?,
                    ),
                    None => HeaderValueMatch::Exact(v.to_lowercase()),
                });
            }
            if matches.is_empty() {
                return Err(self.err(k, "length must be at least 1"));
            }
            out.push(HeaderCriterion {
                name: header,
                values: matches,
            });
        }
        Ok(out)
    }

    /// Warnings for real route features Gauntlet does not emulate (defaults stay silent).
    fn route_warnings(&mut self, key: &str, name: &str, raw: &RawRoute) -> Result<(), ConfigError> {
        let mut notes: Vec<(&str, String)> = Vec::new();
        let unmatched = |what: &str| {
            format!("`{what}` matching is not emulated: Gauntlet's plain-HTTP proxy matches this route on its paths, methods, hosts and headers only")
        };
        for (field, value) in [
            ("snis", &raw.snis),
            ("sources", &raw.sources),
            ("destinations", &raw.destinations),
        ] {
            if value.as_ref().is_some_and(is_set) {
                notes.push((field, unmatched(field)));
            }
        }
        if let Some(code) = raw.https_redirect_status_code {
            if ![426, 301, 302, 307, 308].contains(&code) {
                return Err(self.err(
                    format!("{key}.https_redirect_status_code"),
                    format!("expected one of: 426, 301, 302, 307, 308 (got {code})"),
                ));
            }
        }
        if raw.https_redirect_status_code.is_some_and(|c| c != 426) {
            notes.push((
                "https_redirect_status_code",
                "`https_redirect_status_code` is not emulated: Gauntlet serves plain HTTP and never redirects".into(),
            ));
        }
        match raw.path_handling.as_deref() {
            None | Some("v0") => {}
            // Kong's own deprecation (`kong/db/schema/entities/routes.lua`): its default
            // router joins paths the v0 way whatever the route says, and so does Gauntlet.
            Some("v1") => notes.push((
                "path_handling",
                "path_handling='v1' is deprecated and will not work under 'expressions' or \
                 'traditional_compatible' router_flavor, please use path_handling='v0' instead \
                 (Kong's default router, like Gauntlet, joins the paths the v0 way)"
                    .into(),
            )),
            Some(_) => {
                return Err(self.err(format!("{key}.path_handling"), "expected one of: v0, v1"))
            }
        }
        for (field, value) in [
            ("request_buffering", raw.request_buffering),
            ("response_buffering", raw.response_buffering),
        ] {
            if value == Some(false) {
                notes.push((field, format!("`{field}: false` is not emulated")));
            }
        }
        if raw.priority.as_ref().is_some_and(is_set) {
            notes.push((
                "priority",
                "`priority` (expressions router) is not emulated".into(),
            ));
        }
        for (field, msg) in notes {
            self.warn(format!("{key}.{field}"), msg, vec![name.to_string()]);
        }
        Ok(())
    }
}

/// Kong's `validate_path_with_regexes` for a fixed path: valid `%XX` escapes only, and already
/// normalized (the router matches normalized request paths, so a path like `/a/../b` or `/a//b`
/// could never match).
fn check_fixed_path(path: &str) -> Result<(), String> {
    let bytes = path.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let valid_escape = bytes.len() > i + 2
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        if *b == b'%' && !valid_escape {
            let end = (i + 3).min(path.len());
            let bad = path.get(i..end).unwrap_or("%");
            return Err(format!("invalid url-encoded value: '{bad}'"));
        }
    }
    let normalized = crate::http::path::normalize_path(path);
    if normalized != path {
        return Err(format!(
            "non-normalized path, consider use '{normalized}' instead"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod fixed_path_tests {
    use super::check_fixed_path;

    #[test]
    fn fixed_paths_must_be_normalized_with_valid_escapes_like_kong() {
        assert!(check_fixed_path("/api/v1/value-models").is_ok());
        assert!(check_fixed_path("/a%2Fb").is_ok());
        assert_eq!(
            check_fixed_path("/a/../b").unwrap_err(),
            "non-normalized path, consider use '/b' instead"
        );
        assert!(check_fixed_path("/foo//bar").is_err());
        assert_eq!(
            check_fixed_path("/some%2words").unwrap_err(),
            "invalid url-encoded value: '%2w'"
        );
    }
}
