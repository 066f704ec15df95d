//! What writing reports costs (`cargo bench --bench report`; issue 13's performance targets): a
//! benchmark, not a test — it prints figures and asserts nothing.
//!
//! 1. Every report of a synthetic 1000-scenario run (20 features × 50 scenarios, 8 steps each, a
//!    tenth of them failing with an exchange per step, every scenario tagged with a clause):
//!    `write_all` (index.html, junit.xml, cucumber.json, results.json, rerun.txt). Target ≤ 1 s.
//! 2. The history index (`reports/index.html`) over a history.jsonl of 1000 runs, each with 1000
//!    scenarios, 40 clauses and 5 histograms: load + render + write. Target ≤ 1 s.
//!
//! Prints the median of 5 rounds of each, and the size of index.html.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use gauntlet::clock::Stopwatch;
use gauntlet::report::history::{self, HistogramPoint, HistoryEntry};
use gauntlet::report::{
    trend, write_all, Exchange, FeatureReport, HttpRecord, HttpResponseRecord, RunReport,
    ScenarioReport, StackInfo, Status, StepReport,
};

const FEATURES: usize = 20;
const PER_FEATURE: usize = 50;
const STEPS: usize = 8;
const RUNS: usize = 1000;
const ROUNDS: usize = 5;

fn exchange(i: usize) -> Exchange {
    Exchange {
        request: HttpRecord {
            method: "GET".into(),
            url: format!("http://127.0.0.1:8000/api/v1/value-models/{i}"),
            headers: vec![("Authorization".into(), "Bearer x.y.z".into())],
            body: String::new(),
        },
        response: Some(HttpResponseRecord {
            status: 500,
            headers: vec![("X-Circuit-Breaker-State".into(), "CLOSED".into())],
            body: format!("{{\"message\":\"upstream failed\",\"attempt\":{i}}}"),
        }),
    }
}

fn synthetic_run() -> RunReport {
    let clauses = ["AUTH-1", "ACL-2", "RATE-1", "CB-2", "MESH-3"];
    let features = (0..FEATURES)
        .map(|f| FeatureReport {
            name: format!("Feature {f}"),
            path: format!("features/synthetic/f{f}.feature"),
            line: 1,
            description: Some("A synthetic feature".into()),
            tags: vec![],
            scenarios: (0..PER_FEATURE)
                .map(|s| {
                    let failing = (f * PER_FEATURE + s).is_multiple_of(10);
                    let steps = (0..STEPS)
                        .map(|k| {
                            let fails = failing && k == STEPS - 1;
                            StepReport {
                                keyword: "Then ".into(),
                                text: format!("the response status is 200 (step {k})"),
                                line: 10 + s * 12 + k,
                                status: if fails {
                                    Status::Failed
                                } else {
                                    Status::Passed
                                },
                                duration: Duration::from_micros(900),
                                error: fails.then(|| "expected status 200, got 500".to_string()),
                                exchange: fails.then(|| exchange(k)),
                                exchanges: if failing { vec![exchange(k)] } else { vec![] },
                                exchanges_omitted: 0,
                                docstring: None,
                                table: None,
                            }
                        })
                        .collect();
                    ScenarioReport {
                        name: format!("Scenario {s} of feature {f}"),
                        keyword: "Scenario".into(),
                        line: 9 + s * 12,
                        tags: vec![clauses[s % clauses.len()].to_string()],
                        clauses: vec![clauses[s % clauses.len()].to_string()],
                        status: if failing {
                            Status::Failed
                        } else {
                            Status::Passed
                        },
                        duration: Duration::from_millis(8),
                        steps,
                        examples: vec![],
                        repeats: vec![],
                        started_at: None,
                        evidence: Default::default(),
                    }
                })
                .collect(),
        })
        .collect();
    RunReport {
        run_id: "20261202-020000-valueverse".into(),
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        duration: Duration::from_secs(40),
        stack: StackInfo {
            name: "valueverse".into(),
            dir: "scenarios/valueverse".into(),
            warnings: vec![],
        },
        seed: 1,
        real_time: false,
        features,
        clauses: gauntlet::clauses::Catalogue::built_in().report_rows(),
        explain: Default::default(),
        secrets: Default::default(),
    }
}

fn history_entry(i: usize) -> HistoryEntry {
    HistoryEntry {
        run_id: format!(
            "2026{:02}{:02}-020000-valueverse",
            1 + i / 28 % 12,
            1 + i % 28
        ),
        started_at: "2026-12-02T02:00:00Z".into(),
        version: "0.1.0".into(),
        git_commit: Some("0123456789abcdef".into()),
        stack: "valueverse".into(),
        stack_digest: "sha256:00".into(),
        verdict: if i.is_multiple_of(7) {
            "failed"
        } else {
            "passed"
        }
        .into(),
        duration_ms: 40_000.0 + i as f64,
        seed: i as u64,
        passed: 999,
        failed: 1,
        skipped: 0,
        undefined: 0,
        clauses: (0..40)
            .map(|c| {
                (
                    format!("CL-{c}"),
                    if (c + i).is_multiple_of(13) {
                        "failed"
                    } else {
                        "passed"
                    }
                    .to_string(),
                )
            })
            .collect(),
        histograms: (0..5)
            .map(|h| {
                let p99 = 20.0 + (i % 17) as f64;
                (
                    format!("histogram-{h}"),
                    HistogramPoint {
                        count: 1000,
                        p50_ms: 5.0,
                        p99_ms: p99,
                        max_ms: p99 * 2.0,
                    },
                )
            })
            .collect(),
        scenarios: (0..PER_FEATURE * FEATURES)
            .map(|s| {
                let status = if (s + i).is_multiple_of(211) {
                    Status::Failed
                } else {
                    Status::Passed
                };
                (
                    format!(
                        "features/synthetic/f{}.feature:{} Scenario {s}",
                        s / PER_FEATURE,
                        s
                    ),
                    vec![status],
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let report = synthetic_run();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut times = Vec::new();
    let mut size = 0;
    for round in 0..ROUNDS {
        let stopwatch = Stopwatch::start();
        let paths = write_all(&report, &dir.path().join(format!("run-{round}"))).expect("write");
        times.push(stopwatch.elapsed());
        size = std::fs::metadata(&paths.index_html)
            .map(|m| m.len())
            .unwrap_or(0);
    }
    println!(
        "write_all, {} scenarios: median {:.0} ms over {ROUNDS} rounds (target ≤ 1000 ms); index.html {} KB",
        FEATURES * PER_FEATURE,
        median(times).as_secs_f64() * 1000.0,
        size / 1024
    );

    let root = tempfile::tempdir().expect("temp dir");
    let mut text = String::new();
    for i in 0..RUNS {
        text.push_str(&serde_json::to_string(&history_entry(i)).expect("json"));
        text.push('\n');
    }
    std::fs::write(root.path().join(history::HISTORY_FILE), &text).expect("write history");
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let stopwatch = Stopwatch::start();
        let (path, warnings) = trend::write_index(root.path()).expect("index");
        times.push(stopwatch.elapsed());
        assert!(warnings.is_empty() && path.is_file());
    }
    println!(
        "history index, {RUNS} runs of {} scenarios (history.jsonl {} MB): median {:.0} ms (target ≤ 1000 ms)",
        FEATURES * PER_FEATURE,
        text.len() >> 20,
        median(times).as_secs_f64() * 1000.0
    );
}
