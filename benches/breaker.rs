//! What the circuit breaker costs a request (`cargo bench --bench breaker`): a benchmark, not a
//! test — it prints figures and asserts nothing.
//!
//! 1. The gate alone: `admit` + `record` + drop of the permit, in a loop (ns per request).
//! 2. The whole gateway path in process, the valueverse stack against the same stack without its
//!    circuit-breaker plugins, sequential requests interleaved in rounds so machine noise hits
//!    both alike; the ratio of medians is the breaker's share of a request.
//!
//! The rate limit (100/minute per consumer) stays on: the stack clock jumps a minute every 90
//! requests of each stack, which costs nothing and keeps every request a real 200.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::bearer;

use gauntlet::clock::{StackClock, Stopwatch};
use gauntlet::config::gateway::{CircuitBreakerConfig, PluginConfig};
use gauntlet::config::StackDef;
use gauntlet::gateway::breaker::Breaker;
use gauntlet::http::client::{HttpClient, OutgoingRequest};
use gauntlet::outcome::AttemptOutcome;
use gauntlet::stack::{PortPlan, Stack};

const GATE_ITERATIONS: u32 = 2_000_000;
const ROUNDS: usize = 20;
const PER_ROUND: usize = 90;

fn gate_ns() -> f64 {
    let breaker = Arc::new(Breaker::new(
        "bench".into(),
        CircuitBreakerConfig::default(),
        StackClock::new(),
    ));
    let ok = AttemptOutcome::Response(200);
    let stopwatch = Stopwatch::start();
    for _ in 0..GATE_ITERATIONS {
        if let Ok(permit) = breaker.admit() {
            std::hint::black_box(permit.record_attempt(&ok));
        }
    }
    stopwatch.elapsed().as_nanos() as f64 / f64::from(GATE_ITERATIONS)
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn round(stack: &Stack, client: &HttpClient, auth: &str, out: &mut Vec<Duration>) {
    let url = format!("{}/api/v1/value-models", stack.proxy_url());
    for _ in 0..PER_ROUND {
        let request = OutgoingRequest::new(http::Method::GET, url.clone())
            .header("Authorization", auth)
            .expect("header");
        let stopwatch = Stopwatch::start();
        let response = client.send(&request).await.expect("response");
        out.push(stopwatch.elapsed());
        assert_eq!(response.status, 200, "{}", response.text());
    }
    stack.clock.advance(Duration::from_secs(60));
}

fn main() {
    println!(
        "breaker gate alone: {:.0} ns per request (admit + record + release)",
        gate_ns()
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/valueverse");
        let with = StackDef::load(&dir).expect("valueverse");
        let mut without = with.clone();
        without
            .gateway
            .plugins
            .retain(|p| !matches!(p.config, PluginConfig::CircuitBreaker(_)));
        let with = Stack::start(Arc::new(with), PortPlan::Ephemeral, 1)
            .await
            .expect("stack");
        let without = Stack::start(Arc::new(without), PortPlan::Ephemeral, 1)
            .await
            .expect("stack");
        let client = HttpClient::new(Duration::from_secs(10));
        let (auth_with, auth_without) = (bearer(&with), bearer(&without));
        // Warm both pools and caches.
        round(&with, &client, &auth_with, &mut Vec::new()).await;
        round(&without, &client, &auth_without, &mut Vec::new()).await;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            round(&with, &client, &auth_with, &mut a).await;
            round(&without, &client, &auth_without, &mut b).await;
        }
        let (ma, mb) = (median(&mut a), median(&mut b));
        println!(
            "gateway path, {} sequential GETs each: median {:.1} µs with the breaker, {:.1} µs without; ratio {:.3}",
            a.len(),
            ma.as_secs_f64() * 1e6,
            mb.as_secs_f64() * 1e6,
            ma.as_secs_f64() / mb.as_secs_f64()
        );
    });
}
