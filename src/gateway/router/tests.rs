//! Kong's router cases (`spec/01-unit/08-router_spec.lua`, flavor `traditional_compatible`,
//! at the commit `shared/reference/kong.md` cites), ported as route × request tables.

use super::*;
use crate::config::gateway::{HeaderCriterion, Service};
use std::time::Duration;

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

/// A route from Kong-spec-like fields: `id` is the last hex digits of the spec's
/// `e8fb37f1-102d-461e-9c51-6608a6bb81xx` ids.
#[derive(Default)]
struct R {
    id: u8,
    paths: &'static [&'static str],
    methods: &'static [&'static str],
    hosts: &'static [&'static str],
    headers: &'static [(&'static str, &'static [&'static str])],
    regex_priority: i64,
    strip_path: bool,
}

fn build(r: R) -> Route {
    let hosts = r
        .hosts
        .iter()
        .map(|h| {
            let (host, port) = split_host_port(h);
            let (host, wildcard) = if let Some(rest) = host.strip_prefix('*') {
                (rest, HostWildcard::Leading)
            } else if let Some(rest) = host.strip_suffix('*') {
                (rest, HostWildcard::Trailing)
            } else {
                (host, HostWildcard::None)
            };
            HostCriterion {
                host: host.into(),
                wildcard,
                port,
            }
        })
        .collect();
    let headers = r
        .headers
        .iter()
        .map(|(name, values)| HeaderCriterion {
            name: http::HeaderName::from_bytes(name.replace('_', "-").as_bytes()).unwrap(),
            values: values
                .iter()
                .map(|v| match v.strip_prefix("~*") {
                    Some(re) => {
                        HeaderValueMatch::Regex(regex::Regex::new(&re.to_lowercase()).unwrap())
                    }
                    None => HeaderValueMatch::Exact(v.to_lowercase()),
                })
                .collect(),
        })
        .collect();
    Route {
        id: Uuid::parse_str(&format!("e8fb37f1-102d-461e-9c51-6608a6bb81{:02x}", r.id)).unwrap(),
        name: format!("r{:02x}", r.id),
        service: Some(0),
        paths: r
            .paths
            .iter()
            .map(|p| match p.strip_prefix('~') {
                Some(re) => RoutePath::Regex(regex::Regex::new(&format!("^(?:{re})")).unwrap()),
                None => RoutePath::Prefix(p.to_string()),
            })
            .collect(),
        methods: r
            .methods
            .iter()
            .map(|m| Method::from_bytes(m.as_bytes()).unwrap())
            .collect(),
        strip_path: r.strip_path,
        preserve_host: false,
        hosts,
        headers,
        regex_priority: r.regex_priority,
        unmatched_fields: 0,
        matchable: true,
    }
}

fn config(routes: Vec<R>) -> GatewayConfig {
    GatewayConfig {
        services: vec![service("s", None)],
        routes: routes.into_iter().map(build).collect(),
        ..Default::default()
    }
}

/// The matched route's name (`r<id>`), or `404`.
fn select(
    c: &GatewayConfig,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
) -> String {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let facts = RequestFacts {
        method: &method,
        path,
        query: None,
        host,
        headers: Some(&map),
        port: 8000,
    };
    match match_request(c, &facts) {
        Some(m) => c.routes[m.route].name.clone(),
        None => "404".into(),
    }
}

#[test]
fn host_ports_follow_the_host_header_else_the_proxy_port() {
    // "[host] ignores default port", "[host] matches specific port", "[host] fails just
    // because of port on port-only route" (L388-L441).
    let c = config(vec![
        R {
            id: 1,
            hosts: &["domain-1.org"],
            ..R::default()
        },
        R {
            id: 13,
            hosts: &["domain-1.org:321"],
            ..R::default()
        },
        R {
            id: 14,
            hosts: &["domain-3.org:321"],
            ..R::default()
        },
    ]);
    assert_eq!(select(&c, "GET", "/", Some("domain-1.org:80"), &[]), "r01");
    assert_eq!(select(&c, "GET", "/", Some("domain-1.org:321"), &[]), "r0d");
    assert_eq!(select(&c, "GET", "/", Some("domain-3.org:321"), &[]), "r0e");
    assert_eq!(select(&c, "GET", "/", Some("domain-3.org:123"), &[]), "404");
    // No port in Host: the port the client connected to (8000 here).
    let c = config(vec![R {
        id: 1,
        hosts: &["www.example.com:8000"],
        ..R::default()
    }]);
    assert_eq!(select(&c, "GET", "/", Some("www.example.com"), &[]), "r01");
}

#[test]
fn wildcard_hosts_match_leftmost_and_rightmost_and_yield_to_plain_hosts() {
    // "[wildcard host]": "matches leftmost wildcards", "matches rightmost wildcards",
    // "does not take precedence over a plain host" (L1207-L1360).
    let c = config(vec![
        R {
            id: 1,
            hosts: &["*.route.com"],
            ..R::default()
        },
        R {
            id: 2,
            hosts: &["route.*"],
            ..R::default()
        },
        R {
            id: 3,
            hosts: &["plain.route.com"],
            ..R::default()
        },
    ]);
    assert_eq!(select(&c, "GET", "/", Some("foo.route.com"), &[]), "r01");
    assert_eq!(select(&c, "GET", "/", Some("route.org"), &[]), "r02");
    assert_eq!(select(&c, "GET", "/", Some("plain.route.com"), &[]), "r03");
    assert_eq!(select(&c, "GET", "/", Some("route.com"), &[]), "r02");
    assert_eq!(select(&c, "GET", "/", Some("other.org"), &[]), "404");
}

#[test]
fn host_and_uri_outrank_method() {
    // "[host] and [uri] have higher priority than [method]" (L2492): each field set counts.
    let c = config(vec![
        R {
            id: 1,
            hosts: &["domain-1.org", "domain-2.org"],
            ..R::default()
        },
        R {
            id: 2,
            methods: &["TRACE"],
            ..R::default()
        },
        R {
            id: 3,
            paths: &["/my-route"],
            ..R::default()
        },
        R {
            id: 4,
            hosts: &["domain-1.org"],
            paths: &["/my-route"],
            ..R::default()
        },
    ]);
    assert_eq!(select(&c, "TRACE", "/", Some("domain-2.org"), &[]), "r01");
    assert_eq!(
        select(&c, "TRACE", "/my-route", Some("domain-1.org"), &[]),
        "r04"
    );
    assert_eq!(select(&c, "TRACE", "/", Some("x.org"), &[]), "r02");
}

#[test]
fn more_headers_win_and_names_and_values_ignore_case() {
    // "evaluates Routes with more [headers] first" (L1614), "more [headers] has priority
    // over longer [paths]" (L2862), "names are case-insensitive".
    let c = config(vec![
        R {
            id: 1,
            headers: &[("version", &["v1", "v2"]), ("user_agent", &["foo", "bar"])],
            ..R::default()
        },
        R {
            id: 2,
            headers: &[
                ("version", &["v1", "v2"]),
                ("user_agent", &["foo", "bar"]),
                ("location", &["east", "west"]),
            ],
            ..R::default()
        },
    ]);
    let headers = [
        ("version", "v1"),
        ("user-agent", "FOO"),
        ("location", "north"),
        ("location", "west"),
    ];
    assert_eq!(select(&c, "GET", "/", None, &headers), "r02");
    assert_eq!(select(&c, "GET", "/", None, &headers[..2]), "r01");
    assert_eq!(select(&c, "GET", "/", None, &[("version", "v3")]), "404");
    let c = config(vec![
        R {
            id: 1,
            headers: &[("version", &["v1"])],
            paths: &["/my-route/hello"],
            ..R::default()
        },
        R {
            id: 2,
            headers: &[("version", &["v1"]), ("location", &["us-east"])],
            paths: &["/my-route"],
            ..R::default()
        },
    ]);
    let headers = [("version", "v1"), ("location", "us-east")];
    assert_eq!(select(&c, "GET", "/my-route/hello", None, &headers), "r02");
}

#[test]
fn header_regexes_match_the_lower_cased_value_anywhere() {
    // `~*` values: `any(lower(http.headers.x)) ~ "<lower-cased regex>"` (transform.lua).
    let c = config(vec![R {
        id: 1,
        headers: &[("x-version", &["~*^V[12]$"])],
        ..R::default()
    }]);
    assert_eq!(select(&c, "GET", "/", None, &[("X-Version", "V2")]), "r01");
    assert_eq!(select(&c, "GET", "/", None, &[("X-Version", "v3")]), "404");
}

#[test]
fn regex_priority_orders_regex_routes_and_never_prefix_ones() {
    // "[prefix matching ignore regex_priority]" (L4941); "[assigns different priorities to
    // regex and non-regex path]" (L4993).
    let c = config(vec![
        R {
            id: 1,
            paths: &["~/.*"],
            hosts: &["domain-1.org"],
            ..R::default()
        },
        R {
            id: 2,
            paths: &["/"],
            hosts: &["domain-2.org"],
            regex_priority: 5,
            ..R::default()
        },
        R {
            id: 3,
            paths: &["/v1"],
            hosts: &["domain-2.org"],
            ..R::default()
        },
    ]);
    assert_eq!(select(&c, "GET", "/v1", Some("domain-2.org"), &[]), "r03");
    let c = config(vec![
        R {
            id: 1,
            paths: &["~/some/thing/else", "/foo"],
            hosts: &["domain-1.org"],
            ..R::default()
        },
        R {
            id: 2,
            paths: &["/foo/bar"],
            hosts: &["domain-1.org"],
            ..R::default()
        },
    ]);
    assert_eq!(
        select(&c, "GET", "/some/thing/else", Some("domain-1.org"), &[]),
        "r01"
    );
    assert_eq!(
        select(&c, "GET", "/foo/bar", Some("domain-1.org"), &[]),
        "r02"
    );
    assert_eq!(
        select(&c, "GET", "/foo/baz", Some("domain-1.org"), &[]),
        "r01"
    );
    // Two regexes: the higher regex_priority wins, whatever the file order; a regex outranks
    // any prefix (bit 51 above the prefix length).
    let c = config(vec![
        R {
            id: 1,
            paths: &["~/api/.+"],
            ..R::default()
        },
        R {
            id: 2,
            paths: &["~/api/v1/.+"],
            regex_priority: 10,
            ..R::default()
        },
        R {
            id: 3,
            paths: &["/api/v1/very/long/prefix"],
            ..R::default()
        },
    ]);
    assert_eq!(select(&c, "GET", "/api/v1/x", None, &[]), "r02");
    assert_eq!(
        select(&c, "GET", "/api/v1/very/long/prefix", None, &[]),
        "r02"
    );
    assert_eq!(select(&c, "GET", "/api/v2/x", None, &[]), "r01");
}

#[test]
fn equal_priorities_go_to_the_higher_route_id() {
    // The ATC router walks `(priority, uuid)` from the top (`atc-router` `src/router.rs`).
    let c = config(vec![
        R {
            id: 0x10,
            paths: &["/same"],
            ..R::default()
        },
        R {
            id: 0x20,
            paths: &["/same"],
            ..R::default()
        },
    ]);
    assert_eq!(select(&c, "GET", "/same", None, &[]), "r20");
}

#[test]
fn strip_path_removes_the_matched_prefix_or_regex_match() {
    // "strips the specified paths from the given uri if matching" (L3754), "strips a [uri
    // regex]" and "... with a capture group" (L3884, L3905).
    let c = config(vec![
        R {
            id: 1,
            paths: &["/my-route", "/xx-route"],
            strip_path: true,
            ..R::default()
        },
        R {
            id: 2,
            paths: &[r"~/users/(\d+)/profile"],
            strip_path: true,
            ..R::default()
        },
    ]);
    let m = match_route(&c, &Method::GET, "/my-route/hello/world", None).unwrap();
    assert_eq!(m.upstream_path_and_query, "/hello/world");
    assert_eq!(m.stripped_prefix.as_deref(), Some("/my-route"));
    let m = match_route(&c, &Method::GET, "/users/123/profile/hello/world", None).unwrap();
    assert_eq!(m.upstream_path_and_query, "/hello/world");
    assert_eq!(m.stripped_prefix.as_deref(), Some("/users/123/profile"));
}

#[test]
fn upstream_paths_join_the_v0_way() {
    // Kong's path-handling table for v0 (docs "Proxy reference", `get_upstream_uri_v0`):
    // (service path, route path, strip_path, request path) → upstream path.
    let cases = [
        ("/s", "/fv0", false, "/fv0req", "/s/fv0req"),
        ("/s", "/fv0", true, "/fv0req", "/s/req"),
        ("/s", "/fv0", true, "/fv0", "/s"),
        ("/s", "/fv0", true, "/fv0/", "/s/"),
        ("/s/", "/fv0", false, "/fv0req", "/s/fv0req"),
        ("/s/", "/fv0", true, "/fv0req", "/s/req"),
        ("/s/", "/fv0", true, "/fv0", "/s"),
        ("/s/", "/fv0/", true, "/fv0/", "/s/"),
        ("/s/", "/fv0/", true, "/fv0/req", "/s/req"),
        ("/", "/a", true, "/a", "/"),
        ("/", "/a", false, "/a/b", "/a/b"),
    ];
    for (service_path, route_path, strip, request, expected) in cases {
        let mut c = config(vec![R {
            id: 1,
            paths: &[],
            strip_path: strip,
            ..R::default()
        }]);
        c.services[0].path = Some(service_path.into());
        c.routes[0].paths = vec![RoutePath::Prefix(route_path.into())];
        let m = match_route(&c, &Method::GET, request, None).unwrap();
        assert_eq!(
            m.upstream_path_and_query, expected,
            "service {service_path}, route {route_path}, strip {strip}, request {request}"
        );
    }
}

#[test]
fn a_route_that_cannot_be_matched_is_skipped() {
    let mut c = config(vec![R {
        id: 1,
        paths: &["/a"],
        ..R::default()
    }]);
    c.routes[0].matchable = false;
    assert!(match_route(&c, &Method::GET, "/a", None).is_none());
}
