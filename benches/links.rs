//! What a link without a toxic costs the gateway path (`cargo bench --bench links`): a benchmark,
//! not a test — it prints figures and asserts nothing but 200s.
//!
//! Two valueverse stacks in one process, one whose hops are links ([`LinkMode::Linked`], what
//! every stack runs) and one with plain sockets ([`LinkMode::Bypassed`]); rounds interleaved so
//! machine noise hits both alike. Each request crosses two links on the linked stack
//! (`client->gateway`, `gateway->value-architect`, the latter under the mesh's TLS).
//!
//! 1. Latency: sequential GETs alternating between the stacks request by request; each stack's
//!    p50, and the median of the paired differences (linked − bypassed, the request just before
//!    or after), which is the links' cost per request (target: at most 5 µs at p50).
//! 2. Throughput: batches of concurrent GETs on 8 connections, alternating stacks batch by
//!    batch and the order within a pair; the median of the order-balanced paired ratios is the
//!    links' share (target: at most 3% fewer).
//!
//! Pairing matters on a shared machine: load moves both members of a pair alike, so their
//! difference keeps the links' cost while the noise between pairs cancels in the median.
//!
//! The rate limit (100/minute per consumer) stays on: the stack clock jumps a minute after every
//! 88 requests of each stack, which costs nothing and keeps every request a real 200.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::{bearer, get, median};

use gauntlet::clock::Stopwatch;
use gauntlet::config::StackDef;
use gauntlet::http::client::HttpClient;
use gauntlet::stack::{LinkMode, PortPlan, Stack};

const ROUNDS: usize = 40;
const PER_ROUND: usize = 88;
const CONCURRENCY: usize = 8;

/// `PER_ROUND` pairs of sequential GETs, one on each stack in turn; each one's time.
async fn latency_round(
    linked: (&Stack, &str),
    bypassed: (&Stack, &str),
    client: &HttpClient,
    out: &mut Vec<(Duration, Duration)>,
) {
    let url_l = format!("{}/api/v1/value-models", linked.0.proxy_url());
    let url_b = format!("{}/api/v1/value-models", bypassed.0.proxy_url());
    for i in 0..PER_ROUND {
        // Alternate which goes first, so neither always follows the other.
        let time = |url: String, auth: String| async move {
            let stopwatch = Stopwatch::start();
            get(client, &url, &auth).await;
            stopwatch.elapsed()
        };
        let (l, b) = if i % 2 == 0 {
            let l = time(url_l.clone(), linked.1.to_string()).await;
            (l, time(url_b.clone(), bypassed.1.to_string()).await)
        } else {
            let b = time(url_b.clone(), bypassed.1.to_string()).await;
            (time(url_l.clone(), linked.1.to_string()).await, b)
        };
        out.push((l, b));
    }
    linked.0.clock.advance(Duration::from_secs(60));
    bypassed.0.clock.advance(Duration::from_secs(60));
}

/// `PER_ROUND` GETs on `CONCURRENCY` connections at once; requests per second.
async fn throughput_round(stack: &Stack, clients: &[HttpClient], auth: &str) -> f64 {
    common::throughput_round(stack, clients, auth, PER_ROUND).await
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/valueverse");
        let def = Arc::new(StackDef::load(&dir).expect("valueverse"));
        let linked = Stack::start_with(def.clone(), PortPlan::Ephemeral, 1, None, LinkMode::Linked)
            .await
            .expect("stack");
        let bypassed = Stack::start_with(def, PortPlan::Ephemeral, 1, None, LinkMode::Bypassed)
            .await
            .expect("stack");
        assert!(!linked.links.names().is_empty() && bypassed.links.names().is_empty());
        let (auth_l, auth_b) = (bearer(&linked), bearer(&bypassed));

        // 1. Sequential latency, one keep-alive connection per stack.
        let client = HttpClient::new(Duration::from_secs(10));
        let (l, b) = ((&linked, auth_l.as_str()), (&bypassed, auth_b.as_str()));
        latency_round(l, b, &client, &mut Vec::new()).await;
        let mut pairs = Vec::new();
        for _ in 0..ROUNDS {
            latency_round(l, b, &client, &mut pairs).await;
        }
        let mut diffs: Vec<f64> = pairs
            .iter()
            .map(|(l, b)| (l.as_secs_f64() - b.as_secs_f64()) * 1e6)
            .collect();
        let mut ls: Vec<Duration> = pairs.iter().map(|p| p.0).collect();
        let mut bs: Vec<Duration> = pairs.iter().map(|p| p.1).collect();
        println!(
            "latency, {} sequential GET pairs: p50 {:.1} µs linked, {:.1} µs bypassed; median paired difference {:+.1} µs per request (target ≤ 5 µs)",
            pairs.len(),
            median(&mut ls).as_secs_f64() * 1e6,
            median(&mut bs).as_secs_f64() * 1e6,
            median(&mut diffs),
        );

        // 2. Throughput on CONCURRENCY connections.
        let clients: Vec<HttpClient> = (0..CONCURRENCY)
            .map(|_| HttpClient::new(Duration::from_secs(10)))
            .collect();
        throughput_round(&linked, &clients, &auth_l).await;
        throughput_round(&bypassed, &clients, &auth_b).await;
        let (mut tl, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let (rl, rb) = if i % 2 == 0 {
                let rl = throughput_round(&linked, &clients, &auth_l).await;
                (rl, throughput_round(&bypassed, &clients, &auth_b).await)
            } else {
                let rb = throughput_round(&bypassed, &clients, &auth_b).await;
                (throughput_round(&linked, &clients, &auth_l).await, rb)
            };
            tl.push(rl);
            tb.push(rb);
            ratios.push(rl / rb);
        }
        // The batch that runs second in a pair is systematically faster or slower (warm pools,
        // the clock jump between): each pair run in one order is combined with the next, run in
        // the other (geometric mean), which cancels the order.
        let mut ratios: Vec<f64> = ratios.chunks(2).map(|c| c.iter().product::<f64>().powf(1.0 / c.len() as f64)).collect();
        println!(
            "throughput, {ROUNDS} pairs of {PER_ROUND}-GET batches on {CONCURRENCY} connections: median {:.0} req/s linked, {:.0} req/s bypassed; median paired ratio {:.3}: links cost {:.1}% (target ≤ 3%)",
            median(&mut tl),
            median(&mut tb),
            median(&mut ratios),
            (1.0 - median(&mut ratios)) * 100.0,
        );
    });
}
