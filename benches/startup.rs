//! What starting a scenario's stack costs (`cargo bench --bench startup`): a benchmark, not a
//! test — it prints figures and asserts nothing.
//!
//! Starts and drops valueverse's stack (mesh on: a CA, a leaf per identity, every sidecar)
//! `STARTUP_ROUNDS` times (default 200) one after another in one process, as `gauntlet run`
//! starts one per scenario, and prints the median, p10 and p90 of [`Stack::startup`] (what the
//! report's evidence records per scenario). The first start is left out (it warms the
//! allocator and the TLS library).
//!
//! For a figure that does not depend on the machine's load, count instructions:
//! `valgrind --tool=callgrind target/release/deps/startup-* ` and divide by the rounds.

use std::path::Path;
use std::sync::Arc;

use gauntlet::config::StackDef;
use gauntlet::stack::{PortPlan, Stack};

fn main() {
    let rounds: usize = std::env::var("STARTUP_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/valueverse");
    let def = Arc::new(StackDef::load(&dir).expect("valueverse loads"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut took: Vec<f64> = runtime.block_on(async {
        let mut took = Vec::with_capacity(rounds);
        for round in 0..=rounds {
            let stack = Stack::start(def.clone(), PortPlan::Ephemeral, round as u64)
                .await
                .expect("stack starts");
            if round > 0 {
                took.push(stack.startup.as_secs_f64() * 1000.0);
            }
            drop(stack);
        }
        took
    });
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    println!(
        "stack start-up (valueverse, mesh on), {rounds} starts: median {:.3} ms, p10 {:.3} ms, \
         p90 {:.3} ms",
        at(0.5),
        at(0.1),
        at(0.9)
    );
}
