//! What the API token costs (`cargo bench --bench api_token`): a benchmark, not a test — it
//! prints figures and asserts nothing.
//!
//! 1. The gateway path in process: the valueverse stack started with an API token (admin and
//!    catalog APIs guarded) against the same stack without one, sequential GETs through the
//!    proxy interleaved in rounds so machine noise hits both alike. The token guards only the
//!    APIs beside the proxy, so the ratio of medians should be 1 within noise.
//! 2. An admin API request with the token checked against one without a token configured, the
//!    same way: the guard's own cost per API request.
//!
//! The rate limit stays on: the stack clock jumps a minute every 90 proxy requests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::bearer;

use gauntlet::api::access::ApiToken;
use gauntlet::clock::Stopwatch;
use gauntlet::config::StackDef;
use gauntlet::http::client::{HttpClient, OutgoingRequest};
use gauntlet::stack::{PortPlan, Stack};

const ROUNDS: usize = 20;
const PER_ROUND: usize = 90;

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `PER_ROUND` sequential GETs of `url` with `headers`, each timed into `out`.
async fn round(client: &HttpClient, url: &str, headers: &[(&str, &str)], out: &mut Vec<Duration>) {
    for _ in 0..PER_ROUND {
        let mut request = OutgoingRequest::new(http::Method::GET, url.to_string());
        for (name, value) in headers {
            request = request.header(name, value).expect("header");
        }
        let stopwatch = Stopwatch::start();
        let response = client.send(&request).await.expect("response");
        out.push(stopwatch.elapsed());
        assert_eq!(response.status, 200, "{url}: {}", response.text());
    }
}

/// Interleaves `a` and `b` for `ROUNDS` rounds and prints the medians and their ratio.
async fn compare(
    what: &str,
    client: &HttpClient,
    a: (&str, &[(&str, &str)], &Stack),
    b: (&str, &[(&str, &str)], &Stack),
) {
    round(client, a.0, a.1, &mut Vec::new()).await;
    round(client, b.0, b.1, &mut Vec::new()).await;
    a.2.clock.advance(Duration::from_secs(60));
    b.2.clock.advance(Duration::from_secs(60));
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        round(client, a.0, a.1, &mut sa).await;
        a.2.clock.advance(Duration::from_secs(60));
        round(client, b.0, b.1, &mut sb).await;
        b.2.clock.advance(Duration::from_secs(60));
    }
    let (ma, mb) = (median(&mut sa), median(&mut sb));
    println!(
        "{what}, {} sequential GETs each: median {:.1} µs with the API token, {:.1} µs without; ratio {:.3}",
        sa.len(),
        ma.as_secs_f64() * 1e6,
        mb.as_secs_f64() * 1e6,
        ma.as_secs_f64() / mb.as_secs_f64()
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/valueverse");
        let def = Arc::new(StackDef::load(&dir).expect("valueverse"));
        let token = ApiToken::new("bench-token");
        let guarded = Stack::start_guarded(def.clone(), PortPlan::Ephemeral, 1, token)
            .await
            .expect("stack");
        let open = Stack::start(def, PortPlan::Ephemeral, 1)
            .await
            .expect("stack");
        let client = HttpClient::new(Duration::from_secs(10));
        let (auth_guarded, auth_open) = (bearer(&guarded), bearer(&open));
        let proxy = |s: &Stack| format!("{}/api/v1/value-models", s.proxy_url());
        let (pg, po) = (proxy(&guarded), proxy(&open));
        compare(
            "gateway path",
            &client,
            (&pg, &[("Authorization", &auth_guarded)], &guarded),
            (&po, &[("Authorization", &auth_open)], &open),
        )
        .await;
        let admin = |s: &Stack| format!("{}/status", s.admin_url());
        let (ag, ao) = (admin(&guarded), admin(&open));
        compare(
            "admin API /status",
            &client,
            (&ag, &[("Authorization", "Bearer bench-token")], &guarded),
            (&ao, &[], &open),
        )
        .await;
    });
}
