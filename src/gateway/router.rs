//! Route matching (before every stage): which Kong route, and so which service, gets a request.
//! Its answer, a [`RouteMatch`], is the one record of the route on the request context.
//!
//! Kong semantics for the subset Gauntlet emulates: `paths` are prefixes (a `~` prefix marks a
//! regex), `methods` restrict, and among matching routes the most specific wins: regex paths
//! first, then the longest matching prefix, then a route that names methods over one that does
//! not, then file order.

use http::Method;

use crate::config::gateway::{GatewayConfig, Route, RoutePath};

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

/// Matches `method` and `path` against the configured routes.
pub fn match_route(
    config: &GatewayConfig,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<RouteMatch> {
    let mut best: Option<(Rank, usize, usize)> = None; // (rank, route index, matched prefix len)
    for (index, route) in config.routes.iter().enumerate() {
        if !route.matchable || (!route.methods.is_empty() && !route.methods.contains(method)) {
            continue;
        }
        let Some((rank, matched_len)) = best_path_match(route, path) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _, _)| rank > *b) {
            best = Some((rank, index, matched_len));
        }
    }
    let (_, index, matched_len) = best?;
    let route = &config.routes[index];
    let service_path = route
        .service
        .and_then(|s| config.services[s].path.as_deref());
    let remainder = if route.strip_path {
        &path[matched_len..]
    } else {
        path
    };
    let mut upstream = join_paths(service_path.unwrap_or("/"), remainder);
    if let Some(q) = query {
        upstream.push('?');
        upstream.push_str(q);
    }
    let stripped_prefix =
        (route.strip_path && matched_len > 0).then(|| path[..matched_len].to_string());
    Some(RouteMatch {
        route: index,
        service: route.service,
        upstream_path_and_query: upstream,
        stripped_prefix,
    })
}

/// Ordering key: regex first, then longer prefix, then routes with methods. Ties keep file order
/// because `match_route` only replaces on a strictly greater rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    regex: bool,
    prefix_len: usize,
    has_methods: bool,
}

fn best_path_match(route: &Route, path: &str) -> Option<(Rank, usize)> {
    let has_methods = !route.methods.is_empty();
    if route.paths.is_empty() {
        return Some((
            Rank {
                regex: false,
                prefix_len: 0,
                has_methods,
            },
            0,
        ));
    }
    route
        .paths
        .iter()
        .filter_map(|p| match p {
            RoutePath::Prefix(prefix) => path.starts_with(prefix.as_str()).then_some((
                Rank {
                    regex: false,
                    prefix_len: prefix.len(),
                    has_methods,
                },
                prefix.len(),
            )),
            RoutePath::Regex(re) => re.find(path).filter(|m| m.start() == 0).map(|m| {
                (
                    Rank {
                        regex: true,
                        prefix_len: m.end(),
                        has_methods,
                    },
                    m.end(),
                )
            }),
        })
        .max_by_key(|(rank, _)| *rank)
}

/// Kong's `path_handling: v0` join of the service path and the request remainder.
fn join_paths(service_path: &str, remainder: &str) -> String {
    if remainder.is_empty() {
        return service_path.to_string();
    }
    match (service_path.ends_with('/'), remainder.starts_with('/')) {
        (true, true) => format!("{service_path}{}", &remainder[1..]),
        (false, false) => format!("{service_path}/{remainder}"),
        _ => format!("{service_path}{remainder}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gateway::Service;
    use std::time::Duration;
    use uuid::Uuid;

    fn service(name: &str, path: Option<&str>) -> Service {
        Service {
            id: Uuid::nil(),
            name: name.into(),
            host: name.into(),
            port: 80,
            path: path.map(str::to_string),
            protocol: "http".into(),
            retries: 0,
            connect_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
        }
    }

    fn route(name: &str, service: usize, paths: &[&str], methods: &[Method], strip: bool) -> Route {
        Route {
            id: Uuid::nil(),
            name: name.into(),
            service: Some(service),
            paths: paths
                .iter()
                .map(|p| RoutePath::Prefix(p.to_string()))
                .collect(),
            methods: methods.to_vec(),
            strip_path: strip,
            preserve_host: false,
            matchable: true,
        }
    }

    fn config() -> GatewayConfig {
        GatewayConfig {
            services: vec![service("a", None), service("b", Some("/base"))],
            routes: vec![
                route("read", 0, &["/api/v1/models"], &[Method::GET], false),
                route("write", 0, &["/api/v1/models"], &[Method::POST], false),
                route("api", 1, &["/api"], &[], true),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn method_selects_between_routes_with_the_same_path() {
        let c = config();
        let read = match_route(&c, &Method::GET, "/api/v1/models/1", None).unwrap();
        let write = match_route(&c, &Method::POST, "/api/v1/models", None).unwrap();
        assert_eq!((read.route, write.route), (0, 1));
        assert_eq!(read.upstream_path_and_query, "/api/v1/models/1");
    }

    #[test]
    fn longest_prefix_wins_and_strip_path_removes_it() {
        let c = config();
        let m = match_route(&c, &Method::DELETE, "/api/v1/models", Some("x=1")).unwrap();
        assert_eq!(m.route, 2, "DELETE is not on the models routes");
        assert_eq!(m.upstream_path_and_query, "/base/v1/models?x=1");
    }

    #[test]
    fn no_match_returns_none() {
        assert!(match_route(&config(), &Method::GET, "/other", None).is_none());
    }
}
