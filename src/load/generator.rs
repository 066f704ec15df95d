//! The load generator: one tokio task per keep-alive HTTP/1.1 connection, sending requests on
//! schedule and emitting one raw [`Sample`] per request over a channel. It never aggregates.
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
    samples: UnboundedSender<Sample>,
    progress: Arc<Progress>,
) {
    let authority: Arc<str> = plan.addr.to_string().into();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.connections {
        let worker = Worker {
            plan: plan.clone(),
            authority: authority.clone(),
            start,
            next: next.clone(),
            samples: samples.clone(),
            progress: progress.clone(),
            connection: None,
        };
        workers.spawn(worker.run());
    }
    while workers.join_next().await.is_some() {}
}

struct Worker {
    plan: Arc<LoadPlan>,
    authority: Arc<str>,
    start: Instant,
    next: Arc<AtomicU64>,
    samples: UnboundedSender<Sample>,
    progress: Arc<Progress>,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl Worker {
    async fn run(mut self) {
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
            self.progress.sent.fetch_add(1, Ordering::Relaxed);
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
            self.progress.done.fetch_add(1, Ordering::Relaxed);
            if matches!(outcome, Outcome::Error(_)) {
                self.progress.errors.fetch_add(1, Ordering::Relaxed);
            }
            if self.samples.send(sample).is_err() {
                return;
            }
        }
    }

    fn request(&self, template: &RequestTemplate) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(template.body.clone()));
        *request.method_mut() = template.method.clone();
        if let Ok(uri) = template.path_and_query.parse() {
            *request.uri_mut() = uri;
        }
        *request.headers_mut() = template.headers.clone();
        if !request.headers().contains_key(http::header::HOST) {
            if let Ok(host) = http::HeaderValue::from_str(&self.authority) {
                request.headers_mut().insert(http::header::HOST, host);
            }
        }
        request
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
        let Some(template) = self.plan.templates.get(template_index) else {
            return Outcome::Error(ErrorKind::InvalidResponse);
        };
        let request = self.request(template);
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
                Err(_) => self.request(template),
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
        match response.into_body().collect().await {
            Ok(_) => {
                self.connection = Some(sender);
                Outcome::Status(status)
            }
            Err(e) => Outcome::Error(classify(&e)),
        }
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
