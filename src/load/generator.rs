//! The load generator: one tokio task per keep-alive HTTP/1.1 connection, sending requests on
//! schedule and emitting one raw [`Sample`] per request over a channel. It never aggregates.
//! Samples travel in small batches (at most 64, or what a worker gathered in 100 ms), so a fast
//! run does not wake the collector once per request.
//!
//! ```text
//!   next request index (shared atomic) ──► worker 1 ─┐
//!                                      ──► worker 2 ─┼─ Sample ──► channel ──► collector
//!                                      ──► worker C ─┘
//! ```
//! **Open model** (constant arrival rate): request `i` is due at `start + i / rate`. A free worker
//! takes the next index and sleeps until it is due; when every connection is busy, the next free
//! one takes the overdue request at once. Latency counts from the *intended* start when the
//! request had to wait for a connection (so a server stall shows in every request it delays, as
//! wrk2 reports it), and from the actual send when a connection was idle and only the timer
//! woke late (the generator's own lateness is not the server's latency).
//!
//! **Closed model**: each worker sends its next request as soon as the previous one ended;
//! latency counts from the send.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::collector::{ErrorKind, Outcome, Sample};
use super::plan::{LoadPlan, Model, RequestTemplate, Stop};
use super::Progress;

/// Runs the plan's workers to completion, sending every sample to `samples`.
pub async fn generate(
    plan: Arc<LoadPlan>,
    start: Instant,
    samples: UnboundedSender<Vec<Sample>>,
    progress: Arc<Progress>,
) {
    let prepared: Arc<[Prepared]> = plan
        .templates
        .iter()
        .map(|t| Prepared::new(t, &plan.addr.to_string()))
        .collect();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.connections {
        let worker = Worker {
            plan: plan.clone(),
            prepared: prepared.clone(),
            start,
            next: next.clone(),
            samples: samples.clone(),
            batch: Vec::with_capacity(BATCH),
            batch_since: Duration::ZERO,
            progress: progress.clone(),
            connection: None,
        };
        workers.spawn(worker.run());
    }
    while workers.join_next().await.is_some() {}
}

/// Most samples per batch.
const BATCH: usize = 64;
/// Oldest a batch gets before it is sent (checked when a request ends).
const BATCH_AGE: Duration = Duration::from_millis(100);

/// A template made ready to send once per run: URI parsed, `Host` added.
struct Prepared {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Prepared {
    fn new(template: &RequestTemplate, host: &str) -> Prepared {
        let mut headers = template.headers.clone();
        if !headers.contains_key(http::header::HOST) {
            if let Ok(value) = http::HeaderValue::from_str(host) {
                headers.insert(http::header::HOST, value);
            }
        }
        Prepared {
            method: template.method.clone(),
            uri: template
                .path_and_query
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/")),
            headers,
            body: template.body.clone(),
        }
    }
}

struct Worker {
    plan: Arc<LoadPlan>,
    prepared: Arc<[Prepared]>,
    start: Instant,
    next: Arc<AtomicU64>,
    samples: UnboundedSender<Vec<Sample>>,
    batch: Vec<Sample>,
    /// When the oldest sample of `batch` ended.
    batch_since: Duration,
    progress: Arc<Progress>,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl Worker {
    async fn run(mut self) {
        self.send_all().await;
        self.flush();
    }

    async fn send_all(&mut self) {
        let total = self.plan.total_requests().unwrap_or(u64::MAX);
        let duration = match self.plan.stop {
            Stop::Duration(d) => Some(d),
            Stop::Requests(_) => None,
        };
        loop {
            if self.progress.stopped() {
                return;
            }
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= total {
                return;
            }
            let took = self.start.elapsed();
            let latency_from = match self.plan.model {
                Model::Open { rate } => {
                    let intended = Duration::from_secs_f64(index as f64 / rate);
                    if took < intended {
                        tokio::time::sleep_until(self.start + intended).await;
                        None
                    } else {
                        // Every connection was busy when this request was due.
                        Some(intended)
                    }
                }
                Model::Closed => {
                    if duration.is_some_and(|d| took >= d) {
                        return;
                    }
                    None
                }
            };
            let len = self.plan.templates.len().max(1);
            let template_index = usize::try_from(index).unwrap_or(0) % len;
            let sent_at = self.start.elapsed();
            let outcome = self.send(template_index).await;
            let done_at = self.start.elapsed();
            let from = latency_from.unwrap_or(sent_at);
            let sample = Sample {
                template: template_index,
                sent_at,
                done_at,
                latency: done_at.saturating_sub(from),
                service_time: done_at.saturating_sub(sent_at),
                outcome,
            };
            if self.batch.is_empty() {
                self.batch_since = done_at;
            }
            self.batch.push(sample);
            if (self.batch.len() >= BATCH
                || done_at - self.batch_since >= BATCH_AGE
                || self.progress.is_live())
                && !self.flush()
            {
                return;
            }
        }
    }

    /// Sends the batch to the collector; `false` when the collector is gone.
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        // Progress moves per batch: a display needs no more, and one shared counter bumped
        // per request would be contended between the runtime's threads.
        let errors = batch
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Error(_)))
            .count();
        self.progress
            .done
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.progress
            .errors
            .fetch_add(errors as u64, Ordering::Relaxed);
        self.samples.send(batch).is_ok()
    }

    fn request(&self, template_index: usize) -> Option<Request<Full<Bytes>>> {
        let prepared = self.prepared.get(template_index)?;
        let mut request = Request::new(Full::new(prepared.body.clone()));
        *request.method_mut() = prepared.method.clone();
        *request.uri_mut() = prepared.uri.clone();
        *request.headers_mut() = prepared.headers.clone();
        Some(request)
    }

    /// Sends one request on this worker's connection (reconnecting when needed) and reads the
    /// whole response.
    async fn send(&mut self, template_index: usize) -> Outcome {
        let timeout = self.plan.timeout;
        match tokio::time::timeout(timeout, self.exchange(template_index)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                // The response may still come on this connection: never reuse it.
                self.connection = None;
                Outcome::Error(ErrorKind::Timeout)
            }
        }
    }

    async fn exchange(&mut self, template_index: usize) -> Outcome {
        let Some(request) = self.request(template_index) else {
            return Outcome::Error(ErrorKind::InvalidResponse);
        };
        // A kept-alive connection the server closed meanwhile: try once more on a fresh one,
        // as every HTTP client does; that retry is not an error.
        let request = match self.connection.take() {
            Some(mut sender) if !sender.is_closed() => match sender.ready().await {
                Ok(()) => match sender.try_send_request(request).await {
                    Ok(response) => return self.finish(sender, response).await,
                    Err(mut e) => match e.take_message() {
                        Some(unsent) => unsent,
                        None => return Outcome::Error(classify(&e.into_error())),
                    },
                },
                Err(_) => match self.request(template_index) {
                    Some(request) => request,
                    None => return Outcome::Error(ErrorKind::InvalidResponse),
                },
            },
            _ => request,
        };
        let mut sender = match connect(self.plan.addr).await {
            Ok(sender) => sender,
            Err(kind) => return Outcome::Error(kind),
        };
        match sender.send_request(request).await {
            Ok(response) => self.finish(sender, response).await,
            Err(e) => Outcome::Error(classify(&e)),
        }
    }

    async fn finish(
        &mut self,
        sender: SendRequest<Full<Bytes>>,
        response: http::Response<hyper::body::Incoming>,
    ) -> Outcome {
        let status = response.status().as_u16();
        // Read the body to its end (the response is complete only then) without keeping it.
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(e) = frame {
                return Outcome::Error(classify(&e));
            }
        }
        self.connection = Some(sender);
        Outcome::Status(status)
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| ErrorKind::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ErrorKind::Connect)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A response that is not HTTP is an invalid response; anything else after connecting is a
/// broken connection.
fn classify(error: &hyper::Error) -> ErrorKind {
    if error.is_parse() || error.is_parse_status() || error.is_parse_too_large() {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::Reset
    }
}
