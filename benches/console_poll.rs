//! What one update cycle of both consoles costs the stack (`cargo bench --bench console_poll`):
//! a benchmark, not a test — it prints figures and asserts nothing but 200s (and 304s).
//!
//! One valueverse stack in this process on a single-threaded runtime, its control API served as
//! `gauntlet up` serves it. One *cycle* is what both pages fetch every 500 ms: the chaos
//! console's `/`, `/breakers`, `/traffic`, `/proxies`, `/clock` and `/traces?limit=15` (at once,
//! as its `Promise.all`), and the topology console's `/v1/internal/ui/topology`, each sent with
//! the ETag of its last answer as the pages send it. Two scenarios:
//!
//! ```text
//!   quiet   nothing happens between cycles: what watching an idle stack costs
//!   busy    20 gateway requests between cycles: every trace and traffic row changed
//! ```
//!
//! Wall-clock figures are meaningless on a loaded machine; instruction counts are not. With
//! `--callgrind` the benchmark runs itself under `valgrind --tool=callgrind`, collecting only
//! inside [`update_cycle`] (everything the cycle makes the stack do runs there: the runtime has
//! one thread), and prints the instructions per cycle:
//!
//! ```text
//!   cargo bench --bench console_poll -- --callgrind          # both scenarios, Ir per cycle
//!   cargo bench --bench console_poll -- busy                 # one scenario, µs per cycle
//! ```
//!
//! Measured (`cargo bench --profile dev`, the dev profile's opt-level 0 for this crate, under
//! callgrind; so load-independent): before the consoles kept their answers, 31.4 M
//! instructions per quiet cycle and 56.7 M per busy one; with the kept answers, ETags, the
//! coalesced traffic and `/traces` expanding only the traces it serves, 2.6 M and 16.0 M.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::{bearer, get, median};

use gauntlet::api::{console, control};
use gauntlet::clock::Stopwatch;
use gauntlet::config::StackDef;
use gauntlet::http::client::{HttpClient, OutgoingRequest};
use gauntlet::http::server::{bind_loopback, serve_router, ServerHandle};
use gauntlet::stack::{PortPlan, Stack};

/// Cycles measured per scenario (and as many before, to warm every cache and pool).
const CYCLES: usize = 40;
/// Gateway requests between two cycles of the busy scenario.
const BUSY_REQUESTS: usize = 20;

/// What both pages poll, with the ETag of each one's last answer.
struct Poller {
    client: HttpClient,
    urls: Vec<String>,
    etags: Vec<Option<String>>,
}

impl Poller {
    async fn cycle(&mut self) {
        let sends = self.urls.iter().zip(&self.etags).map(|(url, etag)| {
            let mut request = OutgoingRequest::new(http::Method::GET, url.clone());
            if let Some(etag) = etag {
                request = request.header("If-None-Match", etag).expect("an etag");
            }
            let client = &self.client;
            async move { client.send(&request).await.expect("an answer") }
        });
        let answers = futures::future::join_all(sends).await;
        for ((url, etag), answer) in self.urls.iter().zip(&mut self.etags).zip(answers) {
            assert!(
                answer.status == 200 || answer.status == 304,
                "{url}: {}",
                answer.status
            );
            if answer.status == 200 {
                *etag = answer.header("etag").map(str::to_string);
            }
        }
    }
}

/// One cycle of both consoles; under `--callgrind`, the only function whose instructions count.
#[inline(never)]
fn update_cycle(runtime: &tokio::runtime::Runtime, poller: &mut Poller) {
    runtime.block_on(poller.cycle());
}

async fn setup() -> (Stack, ServerHandle, Poller, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/valueverse");
    let def = Arc::new(StackDef::load(&dir).expect("valueverse"));
    let stack = Stack::start(def, PortPlan::Ephemeral, 1)
        .await
        .expect("stack");
    // The control API and the chaos console's pages, as `gauntlet up` serves them.
    let router =
        control::router(stack.control_target()).merge(console::pages(console::Console::Chaos));
    let control = serve_router(bind_loopback(0).await.expect("a port"), router).expect("serve");
    let catalog = stack
        .catalog
        .as_ref()
        .expect("valueverse has a mesh")
        .addr();
    let control_url = format!("http://{}", control.addr());
    let mut urls: Vec<String> = ["/", "/breakers", "/traffic", "/proxies", "/clock"]
        .iter()
        .map(|p| format!("{control_url}{p}"))
        .collect();
    urls.push(format!("{control_url}/traces?limit=15"));
    urls.push(format!("http://{catalog}/v1/internal/ui/topology"));
    let etags = vec![None; urls.len()];
    let poller = Poller {
        client: HttpClient::new(Duration::from_secs(10)),
        urls,
        etags,
    };
    let auth = bearer(&stack);
    (stack, control, poller, auth)
}

/// Runs `scenario` (quiet or busy): µs per cycle, median.
fn run(scenario: &str) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (stack, _control, mut poller, auth) = runtime.block_on(setup());
    let proxy = format!("{}/api/v1/value-models", stack.proxy_url());
    let client = HttpClient::new(Duration::from_secs(10));
    let busy = scenario == "busy";
    let mut took = Vec::new();
    for i in 0..2 * CYCLES {
        if busy || i == 0 {
            // Outside the measured function: the requests themselves are not the console's.
            runtime.block_on(async {
                for _ in 0..BUSY_REQUESTS {
                    get(&client, &proxy, &auth).await;
                }
                // Within valueverse's 100 requests a minute per consumer.
                stack.clock.advance(Duration::from_secs(60));
            });
        }
        let stopwatch = Stopwatch::start();
        update_cycle(&runtime, &mut poller);
        if i >= CYCLES {
            took.push(stopwatch.elapsed().as_secs_f64() * 1e6);
        }
    }
    // The warm-up half is counted by callgrind too: a whole run's total over every cycle.
    median(&mut took)
}

/// Runs each scenario under callgrind, collecting in [`update_cycle`] only; Ir per cycle.
fn callgrind(scenarios: &[&str]) {
    let me = std::env::current_exe().expect("own path");
    for scenario in scenarios {
        let out = std::env::temp_dir().join(format!(
            "console_poll.{scenario}.{}.callgrind",
            std::process::id()
        ));
        let status = Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--toggle-collect=*console_poll*update_cycle*",
                &format!("--callgrind-out-file={}", out.display()),
            ])
            .arg(&me)
            .arg(scenario)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("valgrind (apt-get install valgrind)");
        assert!(
            status.success(),
            "the {scenario} run under callgrind failed"
        );
        let text = std::fs::read_to_string(&out).expect("callgrind's output");
        let _ = std::fs::remove_file(&out);
        let total: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("totals: ")
                    .or_else(|| l.strip_prefix("summary: "))
            })
            .and_then(|v| v.trim().parse().ok())
            .expect("a total in callgrind's output");
        println!(
            "{scenario:>5}: {:>10.0} instructions per update cycle of both consoles ({} cycles)",
            total as f64 / (2 * CYCLES) as f64,
            2 * CYCLES
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenarios: Vec<&str> = ["quiet", "busy"]
        .into_iter()
        .filter(|s| args.iter().any(|a| a == s))
        .collect();
    let scenarios = if scenarios.is_empty() {
        vec!["quiet", "busy"]
    } else {
        scenarios
    };
    if args.iter().any(|a| a == "--callgrind") {
        callgrind(&scenarios);
        return;
    }
    for scenario in scenarios {
        println!(
            "{scenario:>5}: {:>8.1} µs per update cycle of both consoles (median of {CYCLES})",
            run(scenario)
        );
    }
}
