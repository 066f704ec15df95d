//! What a load run does: the target, the request(s) to send, the arrival model and when to stop.
//! Built by `gauntlet load` and the load steps, validated here once (loopback only), then handed
//! to the generator.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// Why a plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("invalid URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error(
        "refusing to send load to {host}: Gauntlet only sends traffic to loopback addresses \
         (127.0.0.1, ::1, localhost)"
    )]
    NotLoopback { host: String },
    #[error("invalid header {header:?}: {message}")]
    Header { header: String, message: String },
    #[error("invalid load plan: {0}")]
    Invalid(String),
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// Constant arrival rate (requests per second), whatever the latency: request `i` is due at
    /// `i / rate` after the start, and its latency counts from then (coordinated omission is
    /// not hidden).
    Open { rate: f64 },
    /// Each connection sends its next request as soon as the previous response arrived
    /// (wrk/ab style); latency counts from the actual send.
    Closed,
}

/// When the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests.
    Requests(u64),
    /// After this long (open model: `rate × duration` requests).
    Duration(Duration),
}

/// One request shape, sent as-is (keep-alive HTTP/1.1, origin-form URI, `Host` set).
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    pub method: Method,
    /// Path and query (`/api/v1/value-models?x=1`).
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Histogram label of this request (`GET /api/v1/value-models`).
    pub label: String,
}

/// A validated load plan.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub addr: SocketAddr,
    /// Request shapes, sent in turn (request `i` uses `templates[i % len]`).
    pub templates: Vec<RequestTemplate>,
    pub model: Model,
    pub stop: Stop,
    /// Keep-alive connections (the open model's pool; the closed model's clients).
    pub connections: usize,
    /// Per-request limit; a request still unanswered then is a timeout error.
    pub timeout: Duration,
}

impl LoadPlan {
    /// A plan sending `template` to `addr`.
    ///
    /// # Errors
    /// Zero connections, a rate that is not a positive number, zero requests or duration, or no
    /// template.
    pub fn new(
        addr: SocketAddr,
        templates: Vec<RequestTemplate>,
        model: Model,
        stop: Stop,
        connections: usize,
        timeout: Duration,
    ) -> Result<LoadPlan, PlanError> {
        if templates.is_empty() {
            return Err(PlanError::Invalid("no request to send".into()));
        }
        if connections == 0 {
            return Err(PlanError::Invalid("connections must be at least 1".into()));
        }
        if let Model::Open { rate } = model {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(PlanError::Invalid(format!(
                    "the rate must be a positive number of requests per second, not {rate}"
                )));
            }
        }
        match stop {
            Stop::Requests(0) => return Err(PlanError::Invalid("zero requests to send".into())),
            Stop::Duration(d) if d.is_zero() => {
                return Err(PlanError::Invalid("the duration must be above zero".into()))
            }
            _ => {}
        }
        check_loopback(addr.ip(), &addr.ip().to_string())?;
        for t in &templates {
            if !t.path_and_query.starts_with('/') || t.path_and_query.parse::<Uri>().is_err() {
                return Err(PlanError::Invalid(format!(
                    "{:?} is not a request path (it must start with /)",
                    t.path_and_query
                )));
            }
        }
        Ok(LoadPlan {
            addr,
            templates,
            model,
            stop,
            connections,
            timeout,
        })
    }

    /// How many requests the run sends, when known in advance (`None`: a closed run for a
    /// duration).
    pub fn total_requests(&self) -> Option<u64> {
        match (self.stop, self.model) {
            (Stop::Requests(n), _) => Some(n),
            (Stop::Duration(d), Model::Open { rate }) => {
                Some(((d.as_secs_f64() * rate).round() as u64).max(1))
            }
            (Stop::Duration(_), Model::Closed) => None,
        }
    }

    /// Short description: `open model at 50/s, 100 requests over 10 connections`.
    pub fn describe(&self) -> String {
        let model = match self.model {
            Model::Open { rate } => format!("open model at {}/s", trim_float(rate)),
            Model::Closed => "closed model".to_string(),
        };
        let stop = match self.stop {
            Stop::Requests(n) => format!("{n} requests"),
            Stop::Duration(d) => format!("for {}", crate::units::Compact(d)),
        };
        let c = self.connections;
        let noun = if c == 1 { "connection" } else { "connections" };
        format!("{model}, {stop} over {c} {noun}")
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A loopback URL split into the address to connect to and the request's path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// `Host` header value (`127.0.0.1:8000`).
    pub authority: String,
    pub path_and_query: String,
}

/// Parses `url` (plain `http://`, loopback host, explicit or default port).
///
/// # Errors
/// Not a URL, not `http`, or a host that is not loopback.
pub fn parse_target(url: &str) -> Result<Target, PlanError> {
    let err = |message: &str| PlanError::Url {
        url: url.to_string(),
        message: message.to_string(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| err(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(err(&format!("scheme {other} is not supported, use http"))),
        None => return Err(err("expected http://host:port/path")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| err("the URL has no host"))?
        .clone();
    let host = authority.host();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if bare.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bare.parse().map_err(|_| PlanError::NotLoopback {
            host: host.to_string(),
        })?
    };
    check_loopback(ip, host)?;
    let port = authority.port_u16().unwrap_or(80);
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_string());
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        authority: authority.as_str().to_string(),
        path_and_query,
    })
}

fn check_loopback(ip: IpAddr, host: &str) -> Result<(), PlanError> {
    if ip.is_loopback() {
        Ok(())
    } else {
        Err(PlanError::NotLoopback {
            host: host.to_string(),
        })
    }
}

/// Parses a `Name: value` header as curl takes it.
///
/// # Errors
/// No colon, or an invalid name or value.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), PlanError> {
    // Only the name is ever echoed: the value may be a credential.
    let shown = text
        .split([':', ' '])
        .next()
        .unwrap_or_default()
        .to_string();
    let err = |message: String| PlanError::Header {
        header: shown.clone(),
        message,
    };
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| err("expected 'Name: value'".into()))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|e| err(format!("bad name: {e}")))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| err("the value has characters a header cannot carry".into()))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted_with_their_path_and_port() {
        let t = parse_target("http://127.0.0.1:8000/api/v1/value-models?x=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(t.path_and_query, "/api/v1/value-models?x=1");
        let t = parse_target("http://localhost:9001").unwrap();
        assert_eq!(t.path_and_query, "/");
        assert_eq!(t.authority, "localhost:9001");
        let t = parse_target("http://[::1]:9001/health").unwrap();
        assert!(t.addr.ip().is_loopback());
    }

    #[test]
    fn other_hosts_are_refused() {
        for url in [
            "http://10.0.0.1:80/",
            "http://example.com/",
            "http://0.0.0.0:8000/",
        ] {
            assert!(
                matches!(parse_target(url), Err(PlanError::NotLoopback { .. })),
                "{url}"
            );
        }
        assert!(matches!(
            parse_target("https://127.0.0.1/"),
            Err(PlanError::Url { .. })
        ));
    }

    #[test]
    fn headers_parse_like_curl_and_errors_hide_credentials() {
        let (name, value) = parse_header("Authorization: Bearer abc.def.ghi").unwrap();
        assert_eq!(name, "authorization");
        assert_eq!(value, "Bearer abc.def.ghi");
        let e = parse_header("Authorization Bearer abc.def.ghi").unwrap_err();
        assert!(!e.to_string().contains("abc.def.ghi"), "{e}");
    }

    #[test]
    fn a_duration_in_the_open_model_fixes_the_request_count() {
        let template = RequestTemplate {
            method: Method::GET,
            path_and_query: "/".into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            label: "GET /".into(),
        };
        let plan = LoadPlan::new(
            "127.0.0.1:1".parse().unwrap(),
            vec![template],
            Model::Open { rate: 40.0 },
            Stop::Duration(Duration::from_secs(2)),
            4,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(plan.total_requests(), Some(80));
        assert_eq!(
            plan.describe(),
            "open model at 40/s, for 2s over 4 connections"
        );
    }
}
