//! Route matching (before every stage): which Kong route, and so which service, gets a request.
//! Its answer, a [`RouteMatch`], is the one record of the route on the request context.
//!
//! Kong 3's default router (`router_flavor = traditional_compatible`, `kong/router/compat.lua`)
//! turns each route into an expression and a 64-bit priority (`kong/router/transform.lua`
//! `get_expression`, `get_priority`), and the ATC router returns the first matching route by
//! priority, ties broken by the higher route id (`Kong/atc-router` `src/router.rs`: matchers
//! in a `BTreeMap<(priority, uuid)>` walked in reverse). Gauntlet evaluates the same
//! expressions and priorities directly:
//!
//! ```text
//!   priority bits  63..61  number of fields set (methods, hosts, headers, paths, snis, …)
//!                  60      every host is plain (no wildcard)
//!                  59..52  number of headers
//!                  51      the paths are regexes
//!                  50..19  regex_priority (regex routes only)
//!                  18..0   length of the prefix path
//! ```
//! A route whose paths differ in kind or length is split into one matcher per group (regexes
//! together, each prefix length apart), each with its own priority
//! (`split_routes_and_services_by_path`). The upstream path is Kong's `path_handling: v0` join
//! (`kong/router/utils.lua` `get_upstream_uri_v0`), the only one the traditional_compatible
//! router implements (`v1` is deprecated and not applied, `kong/db/schema/entities/routes.lua`).

use http::{HeaderMap, Method};
use uuid::Uuid;

use crate::config::gateway::{
    GatewayConfig, HeaderValueMatch, HostCriterion, HostWildcard, Route, RoutePath,
};

/// The route a request matched, with the upstream path computed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub route: usize,
    /// `None` for a route without a service (answered 503 after its plugins ran).
    pub service: Option<usize>,
    /// Path (and query) to send upstream, after `strip_path` and the service `path`.
    pub upstream_path_and_query: String,
    /// The prefix `strip_path` removed (Kong's `X-Forwarded-Prefix`), if any.
    pub stripped_prefix: Option<String>,
}

impl RouteMatch {
    /// Route `route` of service `service`, sending `upstream_path_and_query` upstream.
    pub fn new(route: usize, service: usize, upstream_path_and_query: impl Into<String>) -> Self {
        RouteMatch {
            route,
            service: Some(service),
            upstream_path_and_query: upstream_path_and_query.into(),
            stripped_prefix: None,
        }
    }
}

/// What the router looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a Method,
    /// The normalized path, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The `Host` header as sent (or the URI authority), port included.
    pub host: Option<&'a str>,
    pub headers: Option<&'a HeaderMap>,
    /// The proxy port the client connected to (Kong's `net.dst.port` when `Host` names none).
    pub port: u16,
}

impl<'a> RequestFacts<'a> {
    /// A request known only by method and path (no host, no headers).
    pub fn path_only(method: &'a Method, path: &'a str, query: Option<&'a str>) -> Self {
        RequestFacts {
            method,
            path,
            query,
            host: None,
            headers: None,
            port: 0,
        }
    }
}

/// Matches `method` and `path` against the configured routes (no host, no headers: for
/// callers that only know a path, like the in-flight and hypothesis steps).
pub fn match_route(
    config: &GatewayConfig,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<RouteMatch> {
    match_request(config, &RequestFacts::path_only(method, path, query))
}

/// Kong's router: the highest-priority matching route (then the highest matcher id).
pub fn match_request(config: &GatewayConfig, request: &RequestFacts<'_>) -> Option<RouteMatch> {
    // (priority, matcher id, route index, matched path length)
    let mut best: Option<(u64, Uuid, usize, Option<usize>)> = None;
    for (index, route) in config.routes.iter().enumerate() {
        if !route.matchable || !matches_besides_path(route, request) {
            continue;
        }
        for group in path_groups(route) {
            let matched = match group.paths.is_empty() {
                true => Some(None),
                false => group
                    .paths
                    .iter()
                    .find_map(|p| path_match_len(p, request.path))
                    .map(Some),
            };
            let Some(matched_len) = matched else {
                continue;
            };
            let key = (group.priority, group.id);
            if best.as_ref().is_none_or(|(p, id, _, _)| key > (*p, *id)) {
                best = Some((group.priority, group.id, index, matched_len));
            }
        }
    }
    let (_, _, index, matched_len) = best?;
    let route = &config.routes[index];
    let service_path = route
        .service
        .and_then(|s| config.services[s].path.as_deref())
        .unwrap_or("/");
    // `set_upstream_uri`: the prefix is the matched path when `strip_path`, else "/".
    let prefix_len = match (route.strip_path, matched_len) {
        (true, Some(len)) => len,
        _ => 1.min(request.path.len()),
    };
    let postfix = sanitize_uri_postfix(&request.path[prefix_len..]);
    let mut upstream = upstream_uri_v0(route.strip_path, postfix, request.path, service_path);
    if let Some(q) = request.query {
        upstream.push('?');
        upstream.push_str(q);
    }
    let stripped_prefix = match (route.strip_path, matched_len) {
        (true, Some(len)) if len > 0 => Some(request.path[..len].to_string()),
        _ => None,
    };
    Some(RouteMatch {
        route: index,
        service: route.service,
        upstream_path_and_query: upstream,
        stripped_prefix,
    })
}

/// Methods, hosts and headers: the parts of a route's expression other than its paths.
fn matches_besides_path(route: &Route, request: &RequestFacts<'_>) -> bool {
    if !route.methods.is_empty() && !route.methods.contains(request.method) {
        return false;
    }
    if !route.hosts.is_empty() {
        let Some((host, host_port)) = request.host.map(split_host_port) else {
            return false;
        };
        // `net.dst.port` is the Host header's port when it has one (`kong/router/fields.lua`).
        let port = host_port.unwrap_or(request.port);
        if !route.hosts.iter().any(|h| host_matches(h, host, port)) {
            return false;
        }
    }
    route.headers.iter().all(|criterion| {
        let Some(headers) = request.headers else {
            return false;
        };
        // `any(lower(http.headers.<name>))`: any instance of the header, lower-cased.
        headers
            .get_all(&criterion.name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_lowercase)
            .any(|value| {
                criterion.values.iter().any(|m| match m {
                    HeaderValueMatch::Exact(expected) => value == *expected,
                    HeaderValueMatch::Regex(re) => re.is_match(&value),
                })
            })
    })
}

/// `http.host == h`, `=^` (suffix) for `*.x`, `^=` (prefix) for `x.*`; with a port, also
/// `net.dst.port == port`.
fn host_matches(criterion: &HostCriterion, host: &str, port: u16) -> bool {
    let host_ok = match criterion.wildcard {
        HostWildcard::None => host == criterion.host,
        HostWildcard::Leading => host.ends_with(&criterion.host),
        HostWildcard::Trailing => host.starts_with(&criterion.host),
    };
    host_ok && criterion.port.is_none_or(|p| p == port)
}

/// `split_host_port` (`kong/router/transform.lua`): `host:123` → (`host`, 123); a part after
/// the first `:` that is not a number leaves the whole value as the host.
pub fn split_host_port(value: &str) -> (&str, Option<u16>) {
    match value.split_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => (host, Some(port)),
            Err(_) => (value, None),
        },
        None => (value, None),
    }
}

/// The matched length of `path` by one route path, if it matches.
fn path_match_len(route_path: &RoutePath, path: &str) -> Option<usize> {
    match route_path {
        RoutePath::Prefix(prefix) => path.starts_with(prefix.as_str()).then_some(prefix.len()),
        // Anchored at the start like Kong's `^` + regex; the match is the matched path.
        RoutePath::Regex(re) => re.find(path).filter(|m| m.start() == 0).map(|m| m.end()),
    }
}

/// One matcher of a route: a group of its paths (all regexes, or prefixes of one length).
struct PathGroup<'r> {
    paths: Vec<&'r RoutePath>,
    priority: u64,
    id: Uuid,
}

/// The namespace Kong derives split routes' ids from (`transform.lua` `uuid_generator`).
const SPLIT_ROUTE_NAMESPACE: Uuid = Uuid::from_u128(0x7f14_5bf9_0dce_4f91_98eb_debb_ce4b_9f6b);

/// `group_by_regex_or_length` + `split_routes_and_services_by_path`: groups in order of first
/// appearance; a route of one group keeps its id, split ones get `uuid5(id#n)`.
fn path_groups(route: &Route) -> Vec<PathGroup<'_>> {
    let mut groups: Vec<(Option<usize>, Vec<&RoutePath>)> = Vec::new();
    for path in &route.paths {
        let key = match path {
            RoutePath::Regex(_) => None,
            RoutePath::Prefix(p) => Some(p.len()),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, paths)) => paths.push(path),
            None => groups.push((key, vec![path])),
        }
    }
    if groups.is_empty() {
        groups.push((Some(0), Vec::new()));
    }
    let split = groups.len() > 1;
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (_, paths))| {
            let id = if split {
                Uuid::new_v5(
                    &SPLIT_ROUTE_NAMESPACE,
                    format!("{}#{}", route.id, i + 1).as_bytes(),
                )
            } else {
                route.id
            };
            PathGroup {
                priority: priority(route, &paths),
                paths,
                id,
            }
        })
        .collect()
}

/// Kong's `get_priority` for a route with `paths` (one group).
fn priority(route: &Route, paths: &[&RoutePath]) -> u64 {
    let mut weight = u64::from(route.unmatched_fields);
    weight += u64::from(!route.methods.is_empty());
    weight += u64::from(!route.hosts.is_empty());
    weight += u64::from(!route.headers.is_empty());
    weight += u64::from(!paths.is_empty());
    let plain_host_only =
        !route.hosts.is_empty() && route.hosts.iter().all(|h| h.wildcard == HostWildcard::None);
    let headers = (route.headers.len() as u64).min(255);
    let regex = paths
        .first()
        .is_some_and(|p| matches!(p, RoutePath::Regex(_)));
    let uri_length = match paths.first() {
        Some(RoutePath::Prefix(p)) => p.len() as u64,
        _ => 0,
    };
    // Kong shifts the integer as a uint64 (`lshift_uint64`): a negative regex_priority wraps.
    let regex_priority = if regex {
        (route.regex_priority as u64).wrapping_shl(19)
    } else {
        0
    };
    (weight.min(7) << 61)
        | (u64::from(plain_host_only) << 60)
        | (headers << 52)
        | (u64::from(regex) << 51)
        | regex_priority
        | (uri_length & 0x7FFFF)
}

/// `sanitize_uri_postfix` (`kong/router/utils.lua`).
fn sanitize_uri_postfix(postfix: &str) -> &str {
    match postfix {
        "." | ".." => "",
        _ => postfix
            .strip_prefix("./")
            .or_else(|| postfix.strip_prefix("../"))
            .unwrap_or(postfix),
    }
}

/// `get_upstream_uri_v0` (`kong/router/utils.lua`), line for line.
fn upstream_uri_v0(strip_path: bool, postfix: &str, req_uri: &str, base: &str) -> String {
    if let Some(trimmed) = base.strip_suffix('/') {
        if strip_path {
            if postfix.is_empty() {
                if base == "/" {
                    return "/".into();
                }
                if req_uri.ends_with('/') {
                    return base.into();
                }
                return trimmed.into();
            }
            if postfix.starts_with('/') {
                return format!("{trimmed}{postfix}");
            }
            return format!("{base}{postfix}");
        }
        return format!("{base}{}", req_uri.get(1..).unwrap_or(""));
    }
    if strip_path {
        if postfix.is_empty() {
            if req_uri.len() > 1 && req_uri.ends_with('/') {
                return format!("{base}/");
            }
            return base.into();
        }
        if postfix.starts_with('/') {
            return format!("{base}{postfix}");
        }
        return format!("{base}/{postfix}");
    }
    if req_uri == "/" {
        return base.into();
    }
    format!("{base}{req_uri}")
}

#[cfg(test)]
mod tests;
