//! What recording traces costs the gateway path (`cargo bench --bench traces`): a benchmark,
//! not a test — it prints figures and asserts nothing but 200s.
//!
//! One valueverse stack, its trace store switched on and off request by request
//! ([`TraceStore::set_recording`]): the same sockets, pools and caches serve both members of
//! every pair, so the difference is the recording alone (the gateway's record: a clock read per
//! stage and one store push; the sidecar's: one record per request).
//!
//! 1. Latency: sequential GETs alternating recording on and off request by request; each
//!    side's p50 and the median of the paired differences (on − off), the cost per request.
//! 2. Throughput: batches of concurrent GETs on 8 connections, alternating on and off batch
//!    by batch and the order within a pair; the median of the order-balanced paired ratios.
//!
//! The rate limit (100/minute per consumer) stays on: the stack clock jumps a minute after every
//! 88 requests, which costs nothing and keeps every request a real 200.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::{bearer, get, median};

use gauntlet::clock::Stopwatch;
use gauntlet::config::StackDef;
use gauntlet::http::client::HttpClient;
use gauntlet::stack::{PortPlan, Stack};

const ROUNDS: usize = 40;
const PER_ROUND: usize = 88;
const CONCURRENCY: usize = 8;

/// `PER_ROUND / 2` pairs of sequential GETs, recording on for one and off for the other.
async fn latency_round(stack: &Stack, auth: &str, client: &HttpClient, out: &mut Vec<(f64, f64)>) {
    let url = format!("{}/api/v1/value-models", stack.proxy_url());
    let store = stack.traces();
    for i in 0..PER_ROUND / 2 {
        let time = |on: bool| {
            store.set_recording(on);
            let (url, auth) = (url.clone(), auth.to_string());
            async move {
                let stopwatch = Stopwatch::start();
                get(client, &url, &auth).await;
                stopwatch.elapsed().as_secs_f64() * 1e6
            }
        };
        // Alternate which goes first, so neither always follows the other.
        let pair = if i % 2 == 0 {
            let on = time(true).await;
            (on, time(false).await)
        } else {
            let off = time(false).await;
            (time(true).await, off)
        };
        out.push(pair);
    }
    stack.clock.advance(Duration::from_secs(60));
}

/// `PER_ROUND` GETs on `CONCURRENCY` connections at once, recording `on`; requests per second.
async fn throughput_round(stack: &Stack, clients: &[HttpClient], auth: &str, on: bool) -> f64 {
    stack.traces().set_recording(on);
    common::throughput_round(stack, clients, auth, PER_ROUND).await
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/valueverse");
        let def = Arc::new(StackDef::load(&dir).expect("valueverse"));
        let stack = Stack::start(def, PortPlan::Ephemeral, 1).await.expect("stack");
        let auth = bearer(&stack);

        // 1. Sequential latency on one keep-alive connection.
        let client = HttpClient::new(Duration::from_secs(10));
        latency_round(&stack, &auth, &client, &mut Vec::new()).await;
        let mut pairs = Vec::new();
        for _ in 0..ROUNDS {
            latency_round(&stack, &auth, &client, &mut pairs).await;
        }
        let mut diffs: Vec<f64> = pairs.iter().map(|(on, off)| on - off).collect();
        let mut ons: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let mut offs: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        println!(
            "latency, {} sequential GET pairs: p50 {:.1} µs recording, {:.1} µs not; median paired difference {:+.2} µs per request",
            pairs.len(),
            median(&mut ons),
            median(&mut offs),
            median(&mut diffs),
        );

        // 2. Throughput on CONCURRENCY connections.
        let clients: Vec<HttpClient> = (0..CONCURRENCY)
            .map(|_| HttpClient::new(Duration::from_secs(10)))
            .collect();
        throughput_round(&stack, &clients, &auth, true).await;
        throughput_round(&stack, &clients, &auth, false).await;
        let (mut t_on, mut t_off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let (on, off) = if i % 2 == 0 {
                let on = throughput_round(&stack, &clients, &auth, true).await;
                (on, throughput_round(&stack, &clients, &auth, false).await)
            } else {
                let off = throughput_round(&stack, &clients, &auth, false).await;
                (throughput_round(&stack, &clients, &auth, true).await, off)
            };
            t_on.push(on);
            t_off.push(off);
            ratios.push(on / off);
        }
        // Each pair run in one order is combined with the next, run in the other (geometric
        // mean), which cancels the order.
        let mut ratios: Vec<f64> = ratios
            .chunks(2)
            .map(|c| c.iter().product::<f64>().powf(1.0 / c.len() as f64))
            .collect();
        println!(
            "throughput, {ROUNDS} pairs of {PER_ROUND}-GET batches on {CONCURRENCY} connections: median {:.0} req/s recording, {:.0} req/s not; median paired ratio {:.3}: recording costs {:.1}%",
            median(&mut t_on),
            median(&mut t_off),
            median(&mut ratios),
            (1.0 - median(&mut ratios)) * 100.0,
        );
        let held = stack.traces().spans().len();
        println!("the store holds {held} spans of the last requests (bounded ring)");
    });
}
