//! A small HTTP/1.1 client for steps, `gauntlet up` checks and tests: exact control over
//! headers (repeated ones included) and a complete record of each exchange for assertions and
//! reports.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::clock::Stopwatch;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{method} {url} failed: {message}")]
    Transport {
        method: Method,
        url: String,
        message: String,
    },
    #[error("{method} {url}: no response within {timeout:?}")]
    Timeout {
        method: Method,
        url: String,
        timeout: Duration,
    },
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: Method,
    pub url: String,
    /// Headers in order; a name may repeat.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl OutgoingRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        OutgoingRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header (repeats allowed).
    ///
    /// # Errors
    /// An invalid header name or value.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ClientError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ClientError::Invalid(format!("header name {name:?}: {e}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| ClientError::Invalid(format!("header {name} value: {e}")))?;
        self.headers.push((name, value));
        Ok(self)
    }

    pub fn json_body(mut self, body: &serde_json::Value) -> Self {
        self.body = Bytes::from(body.to_string());
        self.headers.push((
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        self
    }
}

/// A received response, fully buffered.
#[derive(Debug, Clone)]
pub struct ReceivedResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Real time from sending to the last body byte.
    pub elapsed: Duration,
}

impl ReceivedResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The header's only value; an error naming every value when the response repeats it (a
    /// repeated `WWW-Authenticate` or `X-RateLimit-*` header is a bug worth seeing).
    ///
    /// # Errors
    /// The header appears more than once.
    pub fn single_header(&self, name: &str) -> Result<Option<&str>, String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<not text>"))
            .collect();
        match values.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            many => Err(format!(
                "the response has {} {name} headers: {many:?}",
                many.len()
            )),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A pooled HTTP client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(Duration::from_secs(120))
    }
}

impl HttpClient {
    /// A client giving up on a request after `timeout` of real time.
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        HttpClient {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// Sends `request` and buffers the response.
    ///
    /// # Errors
    /// Invalid URL, transport failure, or no response within the client timeout.
    pub async fn send(&self, request: &OutgoingRequest) -> Result<ReceivedResponse, ClientError> {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let hyper_request = builder
            .body(Full::new(request.body.clone()))
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let transport = |message: String| ClientError::Transport {
            method: request.method.clone(),
            url: request.url.clone(),
            message,
        };
        let stopwatch = Stopwatch::start();
        let exchange = async {
            let response = self
                .inner
                .request(hyper_request)
                .await
                .map_err(|e| transport(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| transport(error_chain(&e)))?
                .to_bytes();
            Ok(ReceivedResponse {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
                elapsed: stopwatch.elapsed(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                method: request.method.clone(),
                url: request.url.clone(),
                timeout: self.timeout,
            })?
    }
}

/// An error with its causes, `outer: inner: innermost`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
