//! Kong's `cors` plugin (priority 2000, before every auth plugin): answers CORS preflights
//! itself and adds the CORS headers to every other response.
//!
//! ```text
//!   OPTIONS + Origin + Access-Control-Request-Method ──► preflight_continue? proxy it as is
//!                                                  └──► 200, empty body, the Allow-* headers
//!   anything else ──► (proxied or refused) ──► Access-Control-Allow-Origin / -Credentials /
//!                                               -Expose-Headers, Vary: Origin
//! ```
//!
//! A port of `kong/plugins/cors/handler.lua` (`configure_origin`, `configure_credentials`,
//! `access`, `header_filter`); origin entries are compiled at load
//! (`config::kong::edge_plugins::origin_matcher`).

use http::header::{HeaderName, HeaderValue, VARY};
use http::{HeaderMap, Method};

use crate::config::gateway::{CorsConfig, OriginMatcher};
use crate::config::kong::edge_plugins::normalize_origin;

const ACAO: HeaderName = HeaderName::from_static("access-control-allow-origin");
const ACAC: HeaderName = HeaderName::from_static("access-control-allow-credentials");

/// Whether `access` answers this request as a preflight (and which headers it sends), or
/// lets it through (`None`).
pub fn preflight(config: &CorsConfig, method: &Method, request: &HeaderMap) -> Option<HeaderMap> {
    let origin = origin(request)?;
    if method != Method::OPTIONS || !request.contains_key("access-control-request-method") {
        return None;
    }
    if config.preflight_continue {
        return None;
    }
    let mut headers = HeaderMap::new();
    let allow_all = configure_origin(config, &mut headers, false, Some(origin));
    configure_credentials(config, &mut headers, allow_all, false, Some(origin));
    if !config.headers.is_empty() {
        set(
            &mut headers,
            "access-control-allow-headers",
            &config.headers.join(","),
        );
    } else if let Some(acrh) = request.get("access-control-request-headers") {
        headers.insert("access-control-allow-headers", acrh.clone());
    }
    set(
        &mut headers,
        "access-control-allow-methods",
        &config.methods.join(","),
    );
    if let Some(max_age) = config.max_age {
        set(&mut headers, "access-control-max-age", &lua_number(max_age));
    }
    let private = request
        .get("access-control-request-private-network")
        .is_some_and(|v| v.as_bytes() == b"true");
    if config.private_network && private {
        set(&mut headers, "access-control-allow-private-network", "true");
    }
    Some(headers)
}

/// Whether a request is a preflight the plugin handles (answered, or passed on under
/// `preflight_continue`): such requests get no headers from `header_filter`.
pub fn is_preflight(method: &Method, request: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && origin(request).is_some()
        && request.contains_key("access-control-request-method")
}

/// What `header_filter` needs to know about the request, kept by `access` (the request's
/// headers go upstream before the response comes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRequest {
    pub origin: Option<String>,
    pub preflight: bool,
}

impl CorsRequest {
    pub fn of(method: &Method, request: &HeaderMap) -> Self {
        CorsRequest {
            origin: origin(request).map(str::to_string),
            preflight: is_preflight(method, request),
        }
    }
}

/// `header_filter`: the CORS headers of an ordinary response.
pub fn respond(config: &CorsConfig, request: &CorsRequest, response: &mut HeaderMap) {
    if request.preflight {
        return;
    }
    let origin = request.origin.as_deref();
    if origin.is_none() && !config.allow_origin_absent {
        return;
    }
    let allow_all = configure_origin(config, response, true, origin);
    configure_credentials(config, response, allow_all, true, origin);
    if !config.exposed_headers.is_empty() {
        set(
            response,
            "access-control-expose-headers",
            &config.exposed_headers.join(","),
        );
    }
}

fn origin(request: &HeaderMap) -> Option<&str> {
    request
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty())
}

/// `configure_origin`: sets `Access-Control-Allow-Origin`; true when it is `*`.
fn configure_origin(
    config: &CorsConfig,
    headers: &mut HeaderMap,
    header_filter: bool,
    origin: Option<&str>,
) -> bool {
    let n = config.origins.len();
    if n == 0 || (n == 1 && config.origins[0] == "*") {
        set(headers, ACAO.as_str(), "*");
        return true;
    }
    add_vary(headers, header_filter);
    if n == 1 {
        let plain = config.origins[0]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:/-".contains(&b));
        if plain && !config.origins[0].is_empty() {
            set(headers, ACAO.as_str(), &config.origins[0]);
            return false;
        }
    }
    if let Some(origin) = origin {
        let (domain, host) = normalize_origin(origin);
        for matcher in &config.matchers {
            let found = match matcher {
                OriginMatcher::Any => {
                    set(headers, ACAO.as_str(), "*");
                    return true;
                }
                OriginMatcher::Exact { domain: d } => *d == domain,
                OriginMatcher::Regex { regex, by_host } => {
                    let subject = if *by_host { &host } else { &domain };
                    regex.is_match(subject)
                }
            };
            if found {
                set(headers, ACAO.as_str(), &domain);
                return false;
            }
        }
    }
    headers.remove(ACAO);
    false
}

/// `configure_credentials`.
fn configure_credentials(
    config: &CorsConfig,
    headers: &mut HeaderMap,
    allow_all: bool,
    header_filter: bool,
    origin: Option<&str>,
) {
    if !config.credentials {
        return;
    }
    if !allow_all {
        set(headers, ACAC.as_str(), "true");
        return;
    }
    // `*` cannot go with credentials: the request's origin is echoed instead.
    if let Some(origin) = origin {
        add_vary(headers, header_filter);
        set(headers, ACAO.as_str(), origin);
        set(headers, ACAC.as_str(), "true");
    }
}

/// `Vary: Origin`: added beside the upstream's in `header_filter`, set in `access`.
fn add_vary(headers: &mut HeaderMap, header_filter: bool) {
    let value = HeaderValue::from_static("Origin");
    if header_filter {
        headers.append(VARY, value);
    } else {
        headers.insert(VARY, value);
    }
}

fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}

/// Lua's `tostring` of a number: integers without a fraction.
fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gateway::CORS_METHODS;
    use crate::config::kong::edge_plugins::origin_matcher;

    fn config(origins: &[&str]) -> CorsConfig {
        CorsConfig {
            origins: origins.iter().map(|o| o.to_string()).collect(),
            matchers: origins.iter().map(|o| origin_matcher(o).unwrap()).collect(),
            headers: vec![],
            exposed_headers: vec![],
            methods: CORS_METHODS.iter().map(|m| m.to_string()).collect(),
            max_age: None,
            credentials: false,
            private_network: false,
            preflight_continue: false,
            allow_origin_absent: true,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn req(pairs: &[(&str, &str)]) -> CorsRequest {
        CorsRequest::of(&Method::GET, &headers(pairs))
    }

    fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
        h.get(name).and_then(|v| v.to_str().ok())
    }

    // Cases of `spec/03-plugins/13-cors/01-access_spec.lua`.
    #[test]
    fn a_preflight_is_answered_with_the_defaults() {
        let req = headers(&[
            ("origin", "http://example.com"),
            ("access-control-request-method", "GET"),
        ]);
        let h = preflight(&config(&[]), &Method::OPTIONS, &req).unwrap();
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            get(&h, "access-control-allow-methods"),
            Some("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT")
        );
        assert!(h.get("access-control-allow-headers").is_none());
        assert!(h.get("access-control-max-age").is_none());
        assert!(preflight(&config(&[]), &Method::GET, &req).is_none());
    }

    #[test]
    fn a_preflight_carries_the_configured_values() {
        let mut c = config(&["example.com"]);
        c.headers = vec!["origin".into(), "type".into(), "accepts".into()];
        c.methods = vec!["GET".into()];
        c.max_age = Some(23.0);
        c.credentials = true;
        let req = headers(&[
            ("origin", "example.com"),
            ("access-control-request-method", "GET"),
        ]);
        let h = preflight(&c, &Method::OPTIONS, &req).unwrap();
        assert_eq!(get(&h, "access-control-allow-origin"), Some("example.com"));
        assert_eq!(
            get(&h, "access-control-allow-headers"),
            Some("origin,type,accepts")
        );
        assert_eq!(get(&h, "access-control-allow-methods"), Some("GET"));
        assert_eq!(get(&h, "access-control-max-age"), Some("23"));
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(&h, "vary"), Some("Origin"));
    }

    #[test]
    fn regex_origins_match_the_host_and_echo_the_normalized_origin() {
        let c = config(&[r"(.*)\.example\.org", "http://my-site.com"]);
        let mut out = HeaderMap::new();
        respond(
            &c,
            &req(&[("origin", "http://www.example.org:80")]),
            &mut out,
        );
        assert_eq!(
            get(&out, "access-control-allow-origin"),
            Some("http://www.example.org")
        );
        let mut out = HeaderMap::new();
        respond(&c, &req(&[("origin", "http://evil.org")]), &mut out);
        assert!(out.get("access-control-allow-origin").is_none());
        assert_eq!(get(&out, "vary"), Some("Origin"));
    }

    #[test]
    fn credentials_with_a_wildcard_echo_the_origin() {
        let mut c = config(&["*"]);
        c.credentials = true;
        let mut out = HeaderMap::new();
        respond(&c, &req(&[("origin", "http://a.com")]), &mut out);
        assert_eq!(
            get(&out, "access-control-allow-origin"),
            Some("http://a.com")
        );
        assert_eq!(get(&out, "access-control-allow-credentials"), Some("true"));
    }
}
