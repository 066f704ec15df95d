//! Outbound calls from one mock to the other (committer → architect on commitment creation,
//! architect → committer on publish), over hyper-util's pooled client with one time budget per call.
//!
//! ```text
//! handler --send(method, path)--> Upstream { base URL, client, timeout } --HTTP/1.1--> mesh listener
//!        <--UpstreamResponse { status, body } | UpstreamError (connect, timeout, body)--
//! ```
//!
//! In a stack the base URL is the caller's local mesh upstream listener, so a mesh denial comes
//! back as a 403 response and an outage as a connection error; the handler decides what that
//! means for its own client.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::{MockError, MockKind};

/// Largest upstream response body read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Idle pooled connections are dropped after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Request headers copied from the incoming request onto the outbound call (trace context).
pub(crate) const PROPAGATED_HEADERS: [&str; 3] = ["traceparent", "tracestate", "x-request-id"];

/// A configured peer service.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:9191`.
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    user_agent: HeaderValue,
}

/// What the peer answered.
#[derive(Debug)]
pub(crate) struct UpstreamResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

impl UpstreamResponse {
    /// `403 Forbidden: RBAC: access denied` — the status and the start of the body, one line.
    pub(crate) fn summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        if text.is_empty() {
            self.status.to_string()
        } else {
            format!("{}: {text}", self.status)
        }
    }
}

/// Why no response came back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("invalid request path `{path}`")]
    InvalidPath { path: String },
    #[error("{0}")]
    Request(String),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("cannot read response body: {0}")]
    Body(String),
}

/// A peer as configured for one mock.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    /// No URL given.
    NotConfigured,
    /// A URL was given but is unusable; the reason names the setting and the URL.
    Invalid(String),
    /// Shared: the client is large and axum clones the handler state for every request.
    Ready(Arc<Upstream>),
}

impl Peer {
    /// Builds the peer `setting` (`architect_url`/`committer_url`) of `caller` from its URL.
    pub(crate) fn configure(
        setting: &'static str,
        url: Option<&str>,
        caller: MockKind,
        timeout: Duration,
    ) -> Peer {
        match url.map(|url| Upstream::new(setting, url, caller, timeout)) {
            None => Peer::NotConfigured,
            Some(Ok(upstream)) => Peer::Ready(Arc::new(upstream)),
            Some(Err(err)) => {
                tracing::error!(service = caller.name(), error = %err, "peer unusable");
                Peer::Invalid(err.to_string())
            }
        }
    }
}

/// Checks a peer base URL (plain `http://host:port[/prefix]`) and returns it without a trailing
/// slash.
///
/// # Errors
/// [`MockError::InvalidUpstreamUrl`] naming `setting`.
pub(crate) fn parse_base_url(setting: &'static str, url: &str) -> Result<String, MockError> {
    let reject = |reason: &str| MockError::InvalidUpstreamUrl {
        setting,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|_| reject("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(reject("only http:// is supported"));
    }
    if uri.authority().is_none() {
        return Err(reject("a host and port are required"));
    }
    if uri.query().is_some() {
        return Err(reject("a query string is not allowed"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl Upstream {
    /// Validates `url` and builds a client for it.
    ///
    /// # Errors
    /// [`MockError::InvalidUpstreamUrl`] naming `setting` when the URL is not usable.
    pub(crate) fn new(
        setting: &'static str,
        url: &str,
        caller: MockKind,
        timeout: Duration,
    ) -> Result<Self, MockError> {
        let base = parse_base_url(setting, url)?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        let user_agent = HeaderValue::from_static(match caller {
            MockKind::ValueArchitect => "value-architect/0.1",
            MockKind::ValueCommitter => "value-committer/0.1",
            // The tcp mocks make no outbound calls; named anyway so the match stays exhaustive.
            MockKind::Postgres => "postgres/0.1",
            MockKind::Redis => "redis/0.1",
        });
        Ok(Upstream {
            base,
            client,
            timeout,
            user_agent,
        })
    }

    /// Sends one request to `path` (starting with `/`); a JSON `body` sets `Content-Type`.
    /// `incoming` is the request being served: its trace headers are propagated.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        incoming: &HeaderMap,
        json_body: Option<Bytes>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let invalid = || UpstreamError::InvalidPath {
            path: path.to_owned(),
        };
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|_| invalid())?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.user_agent.clone());
        for name in PROPAGATED_HEADERS {
            for value in incoming.get_all(name) {
                request = request.header(HeaderName::from_static(name), value.clone());
            }
        }
        if json_body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(json_body.unwrap_or_default()))
            .map_err(|_| invalid())?;

        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| UpstreamError::Request(error_chain(&err)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|err| UpstreamError::Body(error_chain(err.as_ref())))?
                .to_bytes();
            Ok(UpstreamResponse { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
    }
}

/// `outer: cause: root cause`, skipping a cause whose text its parent already contains.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> Result<Upstream, MockError> {
        Upstream::new(
            "architect_url",
            url,
            MockKind::ValueCommitter,
            Duration::from_secs(1),
        )
    }

    #[test]
    fn accepts_a_plain_http_base_url_with_a_trailing_slash() {
        let base = upstream("http://127.0.0.1:9191/").map(|u| u.base);
        assert_eq!(base.ok().as_deref(), Some("http://127.0.0.1:9191"));
    }

    #[test]
    fn rejects_https_and_relative_urls_naming_the_setting() {
        for url in ["https://127.0.0.1:1", "/relative", "not a url"] {
            let message = upstream(url)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.starts_with("invalid architect_url `"), "{message}");
        }
    }

    #[tokio::test]
    async fn reports_a_refused_connection_with_its_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0");
        let port = listener
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        // The listener is dropped here, so the port refuses connections.
        let client = upstream(&format!("http://127.0.0.1:{port}"));
        let Ok(client) = client else {
            panic!("valid url refused")
        };
        let result = client
            .send(Method::GET, "/health", &HeaderMap::new(), None)
            .await;
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.to_lowercase().contains("refused"), "{message}");
    }

    #[test]
    fn summarises_a_response_on_one_line() {
        let response = UpstreamResponse {
            status: StatusCode::FORBIDDEN,
            body: Bytes::from_static(b"RBAC: access denied\n"),
        };
        assert_eq!(response.summary(), "403 Forbidden: RBAC: access denied");
    }
}
