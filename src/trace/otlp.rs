//! OTLP export over HTTP (`--otlp-endpoint URL` on `run` and `up`, off by default): the same
//! spans as the report and the console, sent to an OpenTelemetry Collector or Jaeger on
//! loopback with the `opentelemetry-otlp` exporter (HTTP, protobuf; no gRPC).
//!
//! ```text
//!   run: each scenario's stack, after it ends ──┐
//!   up:  the stack's store, every second ───────┴─► OtlpExporter::send ─► (one exporter per
//!        (only what is new)                          component: service.name "gateway",
//!                                                    "value-architect sidecar") ─► POST /v1/traces
//! ```
//! Gauntlet sends network traffic only to loopback: an endpoint whose host is not
//! `127.0.0.0/8`, `::1` or `localhost` is refused before anything starts (exit 2). A collector
//! that is down or slow never fails a run: failures are counted and reported once.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind as OtelKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;

use super::span::{Span, SpanKind};
use super::store::TraceStore;

/// Spans per export request.
const BATCH: usize = 512;

/// How long one export may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why an endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpError {
    #[error("--otlp-endpoint {url}: not a URL ({reason})")]
    NotAUrl { url: String, reason: String },
    #[error("--otlp-endpoint {url}: only http:// is supported (OTLP over HTTP to a collector on loopback)")]
    Scheme { url: String },
    #[error("--otlp-endpoint {url}: {host} is not a loopback address; Gauntlet sends network traffic only to loopback (127.0.0.0/8, ::1, localhost)")]
    NotLoopback { url: String, host: String },
    #[error("--otlp-endpoint {url}: cannot make the exporter: {reason}")]
    Exporter { url: String, reason: String },
}

/// The traces URL of `text`: a base URL (`http://127.0.0.1:4318`, spans go to `/v1/traces`)
/// or the full traces URL, on a loopback host.
///
/// # Errors
/// [`OtlpError`] naming the URL and what is wrong with it.
pub fn traces_url(text: &str) -> Result<String, OtlpError> {
    let uri: http::Uri = text
        .parse()
        .map_err(|e: http::uri::InvalidUri| OtlpError::NotAUrl {
            url: text.to_string(),
            reason: e.to_string(),
        })?;
    if uri.scheme_str() != Some("http") {
        return Err(OtlpError::Scheme {
            url: text.to_string(),
        });
    }
    let host = uri.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(OtlpError::NotLoopback {
            url: text.to_string(),
            host: host.to_string(),
        });
    }
    let base = text.trim_end_matches('/');
    Ok(match uri.path() {
        "" | "/" => format!("{base}/v1/traces"),
        _ => text.to_string(),
    })
}

/// Sends spans to one collector (cheap to clone).
#[derive(Clone)]
pub struct OtlpExporter {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    /// One exporter per component, each with its own `service.name`.
    exporters: Mutex<BTreeMap<String, Arc<opentelemetry_otlp::SpanExporter>>>,
    /// Exports in flight, for [`OtlpExporter::flush`].
    pending: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    sent: AtomicU64,
    failed: AtomicU64,
    /// The store cursor [`OtlpExporter::follow`] has sent up to.
    followed: AtomicU64,
    /// The first failure, said once.
    first_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// An exporter to `endpoint` (see [`traces_url`]).
    ///
    /// # Errors
    /// The endpoint is not an http URL on loopback.
    pub fn new(endpoint: &str) -> Result<OtlpExporter, OtlpError> {
        let url = traces_url(endpoint)?;
        let exporter = OtlpExporter {
            inner: Arc::new(Inner {
                url,
                exporters: Mutex::new(BTreeMap::new()),
                pending: Mutex::new(Vec::new()),
                sent: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                followed: AtomicU64::new(0),
                first_error: Mutex::new(None),
            }),
        };
        // Made once now, so a bad configuration shows before anything starts.
        exporter.exporter_for("gauntlet")?;
        Ok(exporter)
    }

    /// Where spans go.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    fn exporter_for(
        &self,
        component: &str,
    ) -> Result<Arc<opentelemetry_otlp::SpanExporter>, OtlpError> {
        let mut map = self
            .inner
            .exporters
            .lock()
            .map_err(|_| self.error("the exporter table is poisoned".into()))?;
        if let Some(e) = map.get(component) {
            return Ok(e.clone());
        }
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.inner.url.clone())
            .with_timeout(TIMEOUT)
            .build()
            .map_err(|e| self.error(e.to_string()))?;
        exporter.set_resource(
            &Resource::builder_empty()
                .with_service_name(component.to_string())
                .build(),
        );
        let exporter = Arc::new(exporter);
        map.insert(component.to_string(), exporter.clone());
        Ok(exporter)
    }

    fn error(&self, reason: String) -> OtlpError {
        OtlpError::Exporter {
            url: self.inner.url.clone(),
            reason,
        }
    }

    /// Sends `spans` in the background (one request per component and batch).
    pub fn send(&self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        let mut by_component: BTreeMap<String, Vec<SpanData>> = BTreeMap::new();
        for span in &spans {
            by_component
                .entry(span.component.clone())
                .or_default()
                .push(span_data(span));
        }
        for (component, data) in by_component {
            let exporter = match self.exporter_for(&component) {
                Ok(e) => e,
                Err(e) => {
                    self.failed(data.len(), e.to_string());
                    continue;
                }
            };
            let mut data = data;
            while !data.is_empty() {
                let batch: Vec<SpanData> = data.drain(..data.len().min(BATCH)).collect();
                let this = self.clone();
                let exporter = exporter.clone();
                let task = tokio::spawn(async move {
                    let n = batch.len();
                    match exporter.export(batch).await {
                        Ok(()) => {
                            this.inner.sent.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) => this.failed(n, e.to_string()),
                    }
                });
                if let Ok(mut pending) = self.inner.pending.lock() {
                    pending.retain(|t| !t.is_finished());
                    pending.push(task);
                }
            }
        }
    }

    fn failed(&self, spans: usize, reason: String) {
        self.inner.failed.fetch_add(spans as u64, Ordering::Relaxed);
        if let Ok(mut first) = self.inner.first_error.lock() {
            if first.is_none() {
                tracing::warn!(url = %self.inner.url, %reason, "OTLP export failed");
                *first = Some(reason);
            }
        }
    }

    /// Waits for every export in flight.
    pub async fn flush(&self) {
        let pending: Vec<_> = self
            .inner
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        for task in pending {
            let _ = task.await;
        }
    }

    /// Spans sent and spans that could not be, and the first reason.
    pub fn outcome(&self) -> (u64, u64, Option<String>) {
        (
            self.inner.sent.load(Ordering::Relaxed),
            self.inner.failed.load(Ordering::Relaxed),
            self.inner.first_error.lock().ok().and_then(|f| f.clone()),
        )
    }

    /// The store cursor [`OtlpExporter::follow`] has sent up to (what to send last).
    pub fn followed(&self) -> u64 {
        self.inner.followed.load(Ordering::Relaxed)
    }

    /// Sends what `store` records from now on, every `every`, until the task is aborted
    /// (`gauntlet up`).
    pub fn follow(&self, store: TraceStore, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let cursor = this.followed();
                let (spans, next) = store.spans_since(cursor);
                this.inner.followed.store(next, Ordering::Relaxed);
                this.send(spans);
            }
        })
    }
}

/// One span as the OpenTelemetry SDK's exporters take it.
fn span_data(span: &Span) -> SpanData {
    let nanos = |n: u64| UNIX_EPOCH + Duration::from_nanos(n);
    let context = SpanContext::new(
        TraceId::from(span.trace_id),
        SpanId::from(span.span_id),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let mut attributes: Vec<KeyValue> = span
        .attributes
        .iter()
        .map(|(k, v)| KeyValue::new(*k, v.clone()))
        .collect();
    attributes.push(KeyValue::new("gauntlet.component", span.component.clone()));
    SpanData {
        span_context: context,
        parent_span_id: span.parent_id.map_or(SpanId::INVALID, SpanId::from),
        parent_span_is_remote: false,
        span_kind: match span.kind {
            SpanKind::Server => OtelKind::Server,
            SpanKind::Client => OtelKind::Client,
            SpanKind::Internal => OtelKind::Internal,
        },
        name: span.name.clone().into(),
        start_time: nanos(span.start_unix_nanos()),
        end_time: nanos(span.start_unix_nanos().saturating_add(span.duration)),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: if span.error {
            Status::error("")
        } else {
            Status::Unset
        },
        instrumentation_scope: InstrumentationScope::builder("gauntlet")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_loopback_http_endpoints_and_adds_the_traces_path() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318").as_deref(),
            Ok("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://localhost:4318/").as_deref(),
            Ok("http://localhost:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://[::1]:4318/v1/traces").as_deref(),
            Ok("http://[::1]:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://127.1.2.3:9/custom").as_deref(),
            Ok("http://127.1.2.3:9/custom")
        );
    }

    #[test]
    fn refuses_anything_but_loopback_over_http() {
        for (url, says) in [
            (
                "http://collector.example.com:4318",
                "is not a loopback address",
            ),
            ("http://10.0.0.5:4318", "is not a loopback address"),
            ("http://0.0.0.0:4318", "is not a loopback address"),
            ("https://127.0.0.1:4318", "only http://"),
            ("127.0.0.1:4318", "only http://"),
            ("http://exa mple", "not a URL"),
        ] {
            let e = traces_url(url).expect_err(url).to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(e.starts_with("--otlp-endpoint "), "{e}");
        }
    }
}
