//! The explorer's negative controls (SPEC §11, issue 11 item 6): stacks under `scenarios/` with a
//! resilience weakness the explorer must find and shrink, each with a fixed seed and a fixed
//! budget of replays, asserting the minimal schedule's kind and the objective it breaks; and
//! the rerun figure: a shrunk reproducer fails under `gauntlet run` in at least 9 of 10 runs.
//!
//! Every schedule here is one the explorer plays in its singles (the action space's own
//! starting settings); shrinking is what the explorer does to a broken one.

#![cfg(feature = "e2e")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use gauntlet::config::StackDef;
use gauntlet::explore::action::{Action, HttpFault};
use gauntlet::explore::hypothesis::{self, Hypothesis};
use gauntlet::explore::schedule::{play, PlaySettings, Schedule};
use gauntlet::explore::shrink::{shrink, Limits, Shrunk};
use gauntlet::explore::{outcome_of, Outcome};
use gauntlet::link::{Stream, ToxicKind};
use support::*;

fn stack(name: &str) -> Arc<StackDef> {
    Arc::new(StackDef::load(&root().join("scenarios").join(name)).expect("stack loads"))
}

/// Reads of value models at 20/s, p99 below 400 ms (a loaded 2-core debug build meets it) and
/// 99% success.
fn reads(def: &StackDef) -> Vec<Hypothesis> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reads.feature");
    std::fs::write(
        &file,
        "Feature: x\n  Scenario: y\n    Given the steady state: \"frontend-app\" reads \"/api/v1/value-models\" at 20/s with p99 below 400 ms and success ratio at least 99%\n",
    )
    .unwrap();
    hypothesis::load(&[file], def).expect("hypotheses load")
}

fn settings(def: &Arc<StackDef>, seed: u64) -> PlaySettings {
    PlaySettings {
        def: def.clone(),
        window: Duration::from_millis(500),
        seed,
        stop_at_first_break: true,
        focus: None,
        target: gauntlet::target::RunTarget::Process,
    }
}

/// Plays `schedule` as the explorer does; when it breaks, shrinks it on the broken objective.
async fn explore_one(
    def: &Arc<StackDef>,
    seed: u64,
    schedule: &Schedule,
) -> Option<(String, Shrunk)> {
    let hypotheses = reads(def);
    let settings = settings(def, seed);
    let played = play(schedule, &hypotheses, &settings, 0).await;
    assert!(played.violations.is_empty(), "{:?}", played.violations);
    let Outcome::Broken(b) = outcome_of(&played, &hypotheses, 0) else {
        return None;
    };
    let shrunk = shrink(
        schedule,
        &hypotheses[b.hypothesis],
        b.objective,
        &settings,
        Limits {
            max_replays: 12,
            deadline: None,
        },
    )
    .await;
    Some((b.objective_text, shrunk))
}

/// What valueverse does under the same schedule (issue 11: it must report which of the
/// controls' weaknesses it survives).
async fn valueverse_under(schedule: &Schedule, seed: u64) -> String {
    let def = stack("valueverse");
    let hypotheses = reads(&def);
    let played = play(schedule, &hypotheses, &settings(&def, seed), 0).await;
    let verdict = match outcome_of(&played, &hypotheses, 0) {
        Outcome::Held => "held".to_string(),
        Outcome::Broken(b) => format!("broken: {} ({})", b.objective_text, b.detail),
        Outcome::Error { message } => format!("error: {message}"),
    };
    eprintln!("valueverse under {}: {verdict}", schedule.describe());
    verdict
}

fn latency_toxic() -> Schedule {
    Schedule::single(Action::Toxic(gauntlet::explore::toxic::LinkToxic {
        link: "gateway->value-architect".into(),
        kind: ToxicKind::Latency {
            latency: 1000,
            jitter: 0,
        },
        stream: Stream::Downstream,
        toxicity: 1.0,
    }))
}

/// `scenarios/slow-read-timeout`: value-architect's read_timeout is 120 s, far above the
/// objective, so the gateway waits out a slow link and the p99 follows it. The explorer's
/// latency toxic on the gateway's link breaks p99, and shrinking keeps a latency toxic on that
/// link, shorter (a TLS link pays it once per round trip, handshake included, so somewhat less
/// than the objective may still break it).
#[tokio::test]
async fn a_read_timeout_far_above_the_objective_lets_a_latency_toxic_break_p99() {
    let def = stack("slow-read-timeout");
    let (objective, shrunk) = explore_one(&def, 17, &latency_toxic())
        .await
        .expect("the latency toxic breaks a hypothesis");
    assert_eq!(objective, "p99 below 400ms");
    assert!(shrunk.alone);
    let Action::Toxic(ref t) = shrunk.schedule.actions[0].action else {
        panic!("{}", shrunk.schedule.describe())
    };
    assert_eq!(t.link, "gateway->value-architect");
    assert!(
        matches!(t.kind, ToxicKind::Latency { latency, .. } if (100..=1000).contains(&latency)),
        "{t}"
    );
    eprintln!(
        "slow-read-timeout: shrunk to {} in {} replays",
        shrunk.schedule.describe(),
        shrunk.replays
    );
    // valueverse's 30 s read_timeout is far above 400 ms too: it does not survive this either.
    assert!(valueverse_under(&latency_toxic(), 17)
        .await
        .starts_with("broken: p99"));
}

/// `scenarios/no-breaker`: value-architect has no circuit breaker. A hang there holds every
/// request for its read timeouts, retries included (no breaker sheds them), so the p99 of its
/// routes breaks first; shrinking keeps the hang on value-architect (a hang has no gentler
/// setting but its share of requests). A stop, on loopback, is refused at once and piles up
/// nothing: it breaks the success ratio, not p99.
#[tokio::test]
async fn without_a_breaker_a_hang_breaks_p99_and_a_stop_the_success_ratio() {
    let def = stack("no-breaker");
    let hang = Schedule::single(Action::Fault {
        service: "value-architect".into(),
        fault: HttpFault::Hang,
        probability: 1.0,
    });
    let (objective, shrunk) = explore_one(&def, 19, &hang)
        .await
        .expect("the hang breaks a hypothesis");
    assert_eq!(objective, "p99 below 400ms");
    assert!(shrunk.alone);
    assert!(
        matches!(
            shrunk.schedule.actions[0].action,
            Action::Fault {
                fault: HttpFault::Hang,
                ref service,
                ..
            } if service == "value-architect"
        ),
        "{}",
        shrunk.schedule.describe()
    );
    let stop = Schedule::single(Action::Stop {
        service: "value-architect".into(),
    });
    let hypotheses = reads(&def);
    let played = play(&stop, &hypotheses, &settings(&def, 19), 0).await;
    match outcome_of(&played, &hypotheses, 0) {
        Outcome::Broken(b) => assert_eq!(b.objective_text, "success ratio at least 99%"),
        other => panic!("a stop without a breaker: {other:?}"),
    }
    valueverse_under(&hang, 19).await;
}

/// The rerun figure (issue 11 item 7): a shrunk reproducer fails under `gauntlet run` in at
/// least 9 of 10 runs on this machine, for the same objective: one shrunk on a share of
/// requests (an abort), one on a toxic's parameter (a timeout toxic's silence).
#[tokio::test]
async fn shrunk_reproducers_fail_in_at_least_nine_of_ten_reruns() {
    let def = stack("valueverse");
    let hypotheses = reads(&def);
    let abort = Schedule::single(Action::Fault {
        service: "value-architect".into(),
        fault: HttpFault::Abort { status: 503 },
        probability: 1.0,
    });
    let silence = Schedule::single(Action::Toxic(gauntlet::explore::toxic::LinkToxic {
        link: "gateway->value-architect".into(),
        kind: ToxicKind::Timeout { timeout: 2000 },
        stream: Stream::Downstream,
        toxicity: 1.0,
    }));
    let cases = [
        (abort, 1, "the success ratio was"),
        (silence, 0, "the p99 latency was"),
    ];
    for (found, objective, message) in cases {
        let settings = settings(&def, 23);
        let shrunk = shrink(
            &found,
            &hypotheses[0],
            objective,
            &settings,
            Limits::default(),
        )
        .await;
        assert!(shrunk.alone, "{}", found.describe());
        let feature = gauntlet::explore::repro::render(&gauntlet::explore::repro::ReproInput {
            number: 1,
            stack: &def,
            seed: 23,
            window: settings.window,
            hypothesis: &hypotheses[0],
            objective,
            schedule: &shrunk.schedule,
            played: &shrunk.played,
            original: &found,
        });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("repro-1.feature");
        std::fs::write(&file, &feature).unwrap();
        let mut failed = 0;
        for run in 0..10 {
            let out = std::process::Command::new(gauntlet_bin())
                .args(["run", "--stack", "scenarios/valueverse", "--report-dir"])
                .arg(dir.path().join(format!("reports-{run}")))
                .arg(&file)
                .current_dir(root())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            if out.status.code() == Some(1) && stdout.contains(message) {
                failed += 1;
            }
        }
        eprintln!(
            "rerun figure: {} (shrunk from {}) fails in {failed} of 10 reruns",
            shrunk.schedule.describe(),
            found.describe()
        );
        assert!(failed >= 9, "{failed} of 10 reruns failed:\n{feature}");
    }
}
