//! Accuracy of the load engine against a tiny in-process server on a loopback port whose
//! latency we inject: a fixed delay, a bimodal delay, and a stall. These sleep for real, because
//! the latency they measure is real (SPEC §3); each stays well under two seconds, and the
//! tolerances leave room for a noisy two-core machine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gauntlet::http::server::{bind_loopback, serve, ServerHandle};
use gauntlet::load::summary::{percentile, summarize, Summary};
use gauntlet::load::{self, LoadPlan, LoadResult, Model, Progress, RequestTemplate, Stop};
use http::{HeaderMap, Method, Response};

const MS: Duration = Duration::from_millis(1);

/// A server whose `n`th request (counted from 0, in arrival order) is answered after
/// `delay(n)`.
async fn server(delay: impl Fn(u64) -> Duration + Send + Sync + 'static) -> ServerHandle {
    let count = Arc::new(AtomicU64::new(0));
    let delay = Arc::new(delay);
    let listener = bind_loopback(0).await.expect("loopback listener");
    serve(listener, move |_req, _peer| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let wait = delay(n);
        async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            Response::new(gauntlet::http::body::full("ok"))
        }
    })
    .expect("server")
}

fn plan(server: &ServerHandle, model: Model, requests: u64, connections: usize) -> LoadPlan {
    let template = RequestTemplate {
        method: Method::GET,
        path_and_query: "/".into(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        label: "GET /".into(),
    };
    LoadPlan::new(
        server.addr(),
        vec![template],
        model,
        Stop::Requests(requests),
        connections,
        Duration::from_secs(10),
    )
    .expect("a valid plan")
}

async fn run(plan: LoadPlan) -> (LoadResult, Summary) {
    let result = load::run(plan, "accuracy test", Arc::new(Progress::default()))
        .await
        .expect("the run completes");
    let summary = summarize(&result);
    (result, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_delay_shows_as_the_median() {
    let server = server(|_| 20 * MS).await;
    let (_, s) = run(plan(&server, Model::Open { rate: 50.0 }, 40, 8)).await;
    assert_eq!(s.requests, 40);
    assert_eq!(s.success_ratio, 1.0, "{}", s.outcomes_line());
    assert!(
        s.latency.p50 >= 20 * MS && s.latency.p50 <= 26 * MS,
        "p50 {:?} should be 20 ms plus a little ({})",
        s.latency.p50,
        s.latency_line()
    );
    assert!(
        s.latency.min >= 20 * MS,
        "no response can beat the injected delay: min {:?}",
        s.latency.min
    );
    assert!(
        (s.achieved_rate - 50.0).abs() < 2.5,
        "achieved {:.2}/s for a target of 50/s",
        s.achieved_rate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bimodal_delay_puts_the_slow_mode_at_p95_and_above() {
    // Every tenth request is slow (40 ms), the rest answer at once.
    let server = server(|n| if n % 10 == 9 { 40 * MS } else { Duration::ZERO }).await;
    let (result, s) = run(plan(&server, Model::Open { rate: 200.0 }, 200, 16)).await;
    assert_eq!(s.requests, 200);
    let p85 = percentile(&result.latency, 85.0);
    assert!(p85 < 10 * MS, "the fast mode reaches p85: {p85:?}");
    assert!(s.latency.p50 < 10 * MS, "p50 is fast: {}", s.latency_line());
    let p95 = percentile(&result.latency, 95.0);
    assert!(
        p95 >= 40 * MS && p95 < 60 * MS,
        "p95 is the slow mode: {p95:?} ({})",
        s.latency_line()
    );
    assert!(s.latency.p99 >= 40 * MS, "p99: {}", s.latency_line());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_inflates_corrected_percentiles_as_wrk2_reports_them() {
    // Request 20 stalls the server's only connection for 500 ms.
    let stall = |n| if n == 20 { 500 * MS } else { Duration::ZERO };

    // Open model, one connection, 100/s: the 50 requests due during the stall wait for it.
    let open_server = server(stall).await;
    let (open, s) = run(plan(&open_server, Model::Open { rate: 100.0 }, 150, 1)).await;
    assert_eq!(s.requests, 150);
    let corrected_p90 = percentile(&open.latency, 90.0);
    let uncorrected_p90 = percentile(&open.service_time, 90.0);
    assert!(
        corrected_p90 >= 200 * MS,
        "requests due during the stall waited for it: corrected p90 {corrected_p90:?}"
    );
    assert!(
        uncorrected_p90 < 20 * MS,
        "measured from the send, the stall hides: service-time p90 {uncorrected_p90:?}"
    );
    assert!(s.latency.max >= 490 * MS, "max {:?}", s.latency.max);

    // Closed model (wrk without correction): the stall is one slow sample among 150.
    let closed_server = server(stall).await;
    let (closed, c) = run(plan(&closed_server, Model::Closed, 150, 1)).await;
    let closed_p90 = percentile(&closed.latency, 90.0);
    assert!(
        closed_p90 < 20 * MS,
        "closed-model p90 {closed_p90:?} hides the stall"
    );
    assert!(
        c.latency.max >= 490 * MS,
        "but its max shows it: {:?}",
        c.latency.max
    );
    assert!(
        corrected_p90 > closed_p90 * 10,
        "corrected p90 {corrected_p90:?} vs uncorrected {closed_p90:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_reported_as_connect_errors() {
    let listener = bind_loopback(0).await.expect("listener");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let template = RequestTemplate {
        method: Method::GET,
        path_and_query: "/".into(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        label: "GET /".into(),
    };
    let plan = LoadPlan::new(
        addr,
        vec![template],
        Model::Closed,
        Stop::Requests(5),
        1,
        Duration::from_secs(2),
    )
    .expect("plan");
    let (_, s) = run(plan).await;
    assert_eq!(s.requests, 5);
    assert_eq!(s.success_ratio, 0.0);
    assert_eq!(s.outcomes_line(), "errors: connect 5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interval_log_of_a_run_reads_back_with_every_sample() {
    let server = server(|_| Duration::ZERO).await;
    let (result, s) = run(plan(&server, Model::Open { rate: 400.0 }, 200, 4)).await;
    let (intervals, total) = load::hlog::read_total(&result.hlog).expect("the log parses");
    assert!(intervals >= 1);
    assert_eq!(total.len(), s.requests);
    assert_eq!(total.max(), result.latency.max());
}
