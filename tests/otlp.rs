//! OTLP export over HTTP (issue 13 item 4): the spans of a stack reach a collector on loopback
//! as OTLP/HTTP protobuf. The collector here is a small receiver written in the test: it keeps
//! each `POST /v1/traces` body, decodes it with `opentelemetry-proto`, and the test checks the
//! span names, the services (`service.name` per component) and the parent links across hops.
//! A non-loopback endpoint is refused with exit 2 by `run` and `up`.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use support::{bearer, gauntlet_bin, get, root, valueverse};

/// A span as received: its service, name, ids, parent.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
}

/// An OTLP/HTTP receiver on loopback: every request body to `/v1/traces`, decoded.
struct Receiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
    content_types: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
        let content_types: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s, c) = (spans.clone(), content_types.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, c) = (s.clone(), c.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let (s, c) = (s.clone(), c.clone());
                            async move {
                                assert_eq!(request.uri().path(), "/v1/traces");
                                let kind = request
                                    .headers()
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string();
                                c.lock().expect("lock").push(kind);
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .expect("body")
                                    .to_bytes();
                                let decoded =
                                    ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                                let mut got = s.lock().expect("lock");
                                for rs in decoded.resource_spans {
                                    let service = rs
                                        .resource
                                        .iter()
                                        .flat_map(|r| &r.attributes)
                                        .find(|a| a.key == "service.name")
                                        .and_then(|a| a.value.as_ref())
                                        .map(|v| format!("{:?}", v.value))
                                        .unwrap_or_default();
                                    for ss in rs.scope_spans {
                                        for span in ss.spans {
                                            got.push(Received {
                                                service: service.clone(),
                                                name: span.name,
                                                trace_id: hex(&span.trace_id),
                                                span_id: hex(&span.span_id),
                                                parent_id: hex(&span.parent_span_id),
                                            });
                                        }
                                    }
                                }
                                Ok::<_, std::convert::Infallible>(http::Response::new(
                                    http_body_util::Full::new(bytes::Bytes::new()),
                                ))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            spans,
            content_types,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("lock").clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks one request's trace as the collector got it: gateway root under the client's span,
/// stages and the upstream under the root, the attempt under the upstream, the sidecar hop
/// under the span the gateway sent upstream, and the fault under the hop.
fn check_faulted_trace(spans: &[Received], trace_id: &str) {
    let of_trace: Vec<&Received> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let by_name = |prefix: &str| {
        *of_trace
            .iter()
            .find(|s| s.name.starts_with(prefix))
            .unwrap_or_else(|| panic!("no span {prefix:?} among {of_trace:#?}"))
    };
    let root = by_name("gateway GET /api/v1/value-models");
    assert_eq!(root.parent_id, "00f067aa0ba902b7", "the client's span");
    assert!(root.service.contains("gateway"), "{root:?}");
    let by_id: HashMap<&str, &Received> =
        of_trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    assert_eq!(by_id.len(), of_trace.len(), "span ids are unique");
    for stage in ["jwt", "acl", "circuit-breaker", "upstream value-architect"] {
        assert_eq!(by_name(stage).parent_id, root.span_id, "{stage}");
    }
    let upstream = by_name("upstream value-architect");
    assert_eq!(by_name("attempt 1").parent_id, upstream.span_id);
    let inbound = by_name("inbound value-architect");
    assert_eq!(inbound.parent_id, upstream.span_id, "across the hop");
    assert!(
        inbound.service.contains("value-architect sidecar"),
        "{inbound:?}"
    );
    assert_eq!(by_name("intention ").parent_id, inbound.span_id);
    assert_eq!(by_name("fault: abort 503").parent_id, inbound.span_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stacks_spans_reach_a_local_collector_as_otlp_protobuf_with_their_parent_links() {
    let receiver = Receiver::start().await;
    let stack = valueverse().await;
    let admin = bearer(&stack, "admin-user");
    stack
        .service("value-architect")
        .expect("service")
        .inbound()
        .faults
        .add(
            serde_json::from_value(serde_json::json!({"action": "abort", "status": 503}))
                .expect("rule"),
        )
        .expect("fault");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = get(
        &format!("{}/api/v1/value-models", stack.proxy_url()),
        &[
            ("Authorization", &admin),
            ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
        ],
    )
    .await;
    assert_eq!(r.status, 503);

    let exporter = gauntlet::trace::otlp::OtlpExporter::new(&receiver.url()).expect("loopback");
    let spans = stack.traces().spans();
    let count = spans.len();
    exporter.send(spans);
    exporter.flush().await;
    assert_eq!(
        exporter.outcome().0,
        count as u64,
        "{:?}",
        exporter.outcome()
    );
    let received = receiver.spans();
    assert_eq!(received.len(), count);
    check_faulted_trace(&received, trace);
    let kinds = receiver.content_types.lock().expect("lock").clone();
    assert!(
        kinds.iter().all(|k| k == "application/x-protobuf"),
        "{kinds:?}"
    );
    // No secret in what leaves the process.
    let token = admin.trim_start_matches("Bearer ");
    assert!(received.iter().all(|s| !s.name.contains(token)));
}

/// `run --otlp-endpoint` exports each scenario's spans when it ends: the tracing feature's
/// requests reach the collector, gateway and sidecar spans of one trace linked across the hop.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_exports_every_scenarios_spans() {
    let receiver = Receiver::start().await;
    let exporter = gauntlet::trace::otlp::OtlpExporter::new(&receiver.url()).expect("loopback");
    let options = gauntlet::runner::RunOptions {
        paths: vec![root().join("features/mesh/tracing.feature")],
        stack_dir: root().join("scenarios/valueverse"),
        report_dir: None,
        quiet: true,
        otlp: Some(exporter.clone()),
        ..gauntlet::runner::RunOptions::default()
    };
    let outcome = gauntlet::runner::run(&options).await.expect("the run");
    assert!(outcome.passed());
    exporter.flush().await;
    let received = receiver.spans();
    let client_trace: Vec<&Received> = received
        .iter()
        .filter(|s| s.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736")
        .collect();
    let root_span = client_trace
        .iter()
        .find(|s| s.name == "gateway GET /api/v1/value-models")
        .unwrap_or_else(|| panic!("the client's request: {received:#?}"));
    assert_eq!(root_span.parent_id, "00f067aa0ba902b7");
    // The committer's call to the architect is one trace through two sidecars.
    let post = received
        .iter()
        .find(|s| s.name == "gateway POST /api/v1/commitments")
        .expect("the POST");
    let committer = received
        .iter()
        .find(|s| s.trace_id == post.trace_id && s.name.starts_with("inbound value-committer"))
        .expect("the committer's hop");
    let architect = received
        .iter()
        .find(|s| s.trace_id == post.trace_id && s.name.starts_with("inbound value-architect"))
        .expect("the architect's hop");
    assert_eq!(architect.parent_id, committer.span_id, "{received:#?}");
    // The committer's sidecar opened a connection to the architect's: an outbound span, under
    // the committer's hop when the first request's head had arrived by the handshake's end.
    let outbound = received
        .iter()
        .find(|s| s.name == "outbound value-committer → value-architect")
        .unwrap_or_else(|| panic!("no outbound span: {received:#?}"));
    assert!(
        outbound.service.contains("value-committer sidecar"),
        "{outbound:?}"
    );
    if outbound.trace_id == post.trace_id {
        assert_eq!(outbound.parent_id, committer.span_id);
    }
}

#[test]
fn a_non_loopback_endpoint_is_refused_with_exit_2() {
    for command in ["run", "up"] {
        let out = std::process::Command::new(gauntlet_bin())
            .args([
                command,
                "--otlp-endpoint",
                "http://collector.example.com:4318",
            ])
            .arg("--stack")
            .arg(root().join("scenarios/valueverse"))
            .output()
            .expect("run gauntlet");
        assert_eq!(out.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("collector.example.com is not a loopback address")
                && stderr.contains("only to loopback"),
            "{command}: {stderr}"
        );
    }
}
