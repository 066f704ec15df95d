//! `gauntlet explore` (SPEC §11) on the valueverse stack: hypotheses read from experiments/,
//! schedules that are the same for the same seed, schedules played window by window against a
//! fresh stack, and the command's exit codes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use gauntlet::config::StackDef;
use gauntlet::explore::action::{Action, HttpFault};
use gauntlet::explore::schedule::{play, PlaySettings, Schedule};
use gauntlet::explore::{hypothesis, outcome_of, plan, ExploreSettings, Outcome};
use support::*;

fn valueverse() -> Arc<StackDef> {
    Arc::new(StackDef::load(&root().join("scenarios/valueverse")).expect("valueverse loads"))
}

/// Hypotheses with latency objectives a loaded 2-core machine meets in a debug build: these
/// tests are about what breaks the success ratio.
const TOLERANT: &str = r#"Feature: tolerant steady state
  Scenario: reads and writes
    Given the steady state: "frontend-app" reads "/api/v1/value-models" at 20/s with p99 below 5 s and success ratio at least 99%
    And the steady state: "frontend-app" reads "/api/v1/commitments" at 10/s with p99 below 5 s and success ratio at least 99%
"#;

fn settings(seed: u64) -> ExploreSettings {
    let def = valueverse();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tolerant.feature");
    std::fs::write(&file, TOLERANT).unwrap();
    let hypotheses = hypothesis::load(&[file], &def).expect("hypotheses load");
    // The shipped experiments load too.
    hypothesis::load(&[root().join("experiments")], &def).expect("experiments load");
    ExploreSettings {
        def,
        hypotheses,
        seed,
        window: Duration::from_millis(500),
        budget: None,
        max_schedules: None,
        pairs: true,
        max_repros: 0,
        target: gauntlet::target::RunTarget::Process,
    }
}

#[test]
fn the_same_seed_plans_the_same_schedules() {
    let a: Vec<String> = plan(&settings(42)).iter().map(Schedule::describe).collect();
    let b: Vec<String> = plan(&settings(42)).iter().map(Schedule::describe).collect();
    let c: Vec<String> = plan(&settings(43)).iter().map(Schedule::describe).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Every HTTP fault kind on both http services, stop and kill on every service, clock jumps
    // and the intention flips: all of them alone before any pair.
    let singles: Vec<&String> = a.iter().filter(|d| !d.contains(" + ")).collect();
    assert!(singles.len() >= 12 + 8 + 2 + 28, "{singles:?}");
    // Every toxic kind of Toxiproxy on every link of the stack.
    for link in [
        "client->gateway",
        "gateway->value-architect",
        "gateway->value-committer",
        "value-committer->value-architect",
    ] {
        for kind in [
            "latency",
            "bandwidth",
            "slow_close",
            "timeout",
            "reset_peer",
            "slicer",
            "limit_data",
        ] {
            assert!(
                singles
                    .iter()
                    .any(|d| d.starts_with(kind) && d.contains(&format!(" on {link} "))),
                "no {kind} toxic on {link}: {singles:?}"
            );
        }
    }
    assert!(a[..singles.len()].iter().all(|d| !d.contains(" + ")));
}

#[tokio::test]
async fn an_abort_on_a_service_breaks_its_routes_and_a_clock_jump_does_not() {
    let s = settings(7);
    let play_settings = PlaySettings {
        def: s.def.clone(),
        window: s.window,
        seed: s.seed,
        stop_at_first_break: true,
        focus: None,
        target: gauntlet::target::RunTarget::Process,
    };
    let abort = Schedule::single(Action::Fault {
        service: "value-committer".into(),
        fault: HttpFault::Abort { status: 503 },
        probability: 1.0,
    });
    let played = play(&abort, &s.hypotheses, &play_settings, 0).await;
    assert!(played.violations.is_empty(), "{:?}", played.violations);
    match outcome_of(&played, &s.hypotheses, 0) {
        Outcome::Broken(b) => {
            assert!(b.hypothesis_name.contains("commitments"), "{b:?}");
            assert_eq!(b.objective_text, "success ratio at least 99%");
        }
        other => panic!("expected a broken hypothesis, got {other:?}"),
    }
    let jump = Schedule::single(Action::ClockJump {
        by: Duration::from_secs(61),
    });
    let played = play(&jump, &s.hypotheses, &play_settings, 0).await;
    assert!(
        matches!(outcome_of(&played, &s.hypotheses, 0), Outcome::Held),
        "{:?}",
        played.first_broken()
    );
}

#[test]
fn unknown_consumers_and_routes_are_usage_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.feature");
    std::fs::write(
        &file,
        "Feature: x\n  Scenario: y\n    Given the steady state: \"frontend-ap\" reads \"/api/v1/value-models\" at 5/s with p99 below 250 ms\n",
    )
    .unwrap();
    let out = std::process::Command::new(gauntlet_bin())
        .args(["explore", "--max-schedules", "1"])
        .arg(&file)
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.feature:3"), "{stderr}");
    assert!(stderr.contains("did you mean \"frontend-app\""), "{stderr}");

    std::fs::write(
        &file,
        "Feature: x\n  Scenario: y\n    Given the steady state: \"frontend-app\" reads \"/nowhere\" at 5/s with p99 below 250 ms\n",
    )
    .unwrap();
    let out = std::process::Command::new(gauntlet_bin())
        .args(["explore"])
        .arg(&file)
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no route"), "{stderr}");
}

#[test]
fn a_hypothesis_the_healthy_stack_cannot_meet_stops_exploration_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unreachable.feature");
    // frontend-app may not write value models (ACL): every request is a 403.
    std::fs::write(
        &file,
        "Feature: x\n  Scenario: y\n    Given the steady state: \"frontend-app\" writes \"/api/v1/value-models\" at 5/s with success ratio at least 99%\n",
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let out = std::process::Command::new(gauntlet_bin())
        .args([
            "explore",
            "--seed",
            "1",
            "--window",
            "200ms",
            "--report-dir",
        ])
        .arg(&reports)
        .arg(&file)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("UNREACHABLE HYPOTHESIS"), "{stdout}");
    assert!(stdout.contains("unreachable.feature:3"), "{stdout}");
    assert!(stdout.contains("nothing explored"), "{stdout}");
}

/// The round trip (SPEC §11): a broken schedule is shrunk, written as a reproducer of
/// catalogued steps, and `gauntlet run` fails it on the same objective, run after run.
#[tokio::test]
async fn a_shrunk_reproducer_fails_under_run_on_the_same_objective() {
    let s = settings(11);
    let hypothesis = &s.hypotheses[0]; // frontend-app reads value models, success ≥ 99%
    let play_settings = PlaySettings {
        def: s.def.clone(),
        window: s.window,
        seed: s.seed,
        stop_at_first_break: true,
        focus: None,
        target: gauntlet::target::RunTarget::Process,
    };
    let found = Schedule::single(Action::Fault {
        service: "value-architect".into(),
        fault: HttpFault::Abort { status: 503 },
        probability: 1.0,
    });
    let shrunk = gauntlet::explore::shrink::shrink(
        &found,
        hypothesis,
        1,
        &play_settings,
        gauntlet::explore::shrink::Limits::default(),
    )
    .await;
    assert!(shrunk.alone);
    // The probability came down, the kind and target stayed.
    let Action::Fault {
        probability,
        ref fault,
        ref service,
    } = shrunk.schedule.actions[0].action
    else {
        panic!("{:?}", shrunk.schedule)
    };
    assert!(probability < 1.0, "{}", shrunk.schedule.describe());
    assert_eq!(
        (fault, service.as_str()),
        (&HttpFault::Abort { status: 503 }, "value-architect")
    );

    let feature = gauntlet::explore::repro::render(&gauntlet::explore::repro::ReproInput {
        number: 1,
        stack: &s.def,
        seed: s.seed,
        window: s.window,
        hypothesis,
        objective: 1,
        schedule: &shrunk.schedule,
        played: &shrunk.played,
        original: &found,
    });
    assert!(
        feature.contains("@seed=11 @objective=success-at-least-99"),
        "{feature}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repro-1.feature");
    std::fs::write(&file, &feature).unwrap();
    for run in 0..3 {
        let out = std::process::Command::new(gauntlet_bin())
            .args(["run", "--stack", "scenarios/valueverse", "--report-dir"])
            .arg(dir.path().join(format!("reports-{run}")))
            .arg(&file)
            .current_dir(root())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "run {run}:\n{feature}\n{stdout}"
        );
        assert!(
            stdout.contains("the success ratio was") && stdout.contains("0 passed, 1 failed"),
            "run {run}:\n{stdout}"
        );
    }
}

/// The explorer's negative control (SPEC §11): on `scenarios/broken-retry` (`retries: 0`) a
/// reset on a small share of connections breaks the success ratio, and shrinking finds that
/// small share; valueverse (`retries: 3`) survives it and only breaks when far more of its
/// connections are reset. Fixed seed, fixed schedule: the same answer every run.
#[cfg(feature = "e2e")]
#[tokio::test]
async fn shrinking_finds_the_reset_share_that_breaks_a_stack_without_retries() {
    let shrunk_probability = |stack: &'static str| async move {
        let def = Arc::new(StackDef::load(&root().join(stack)).expect("stack loads"));
        let mut s = settings(5);
        s.def = def.clone();
        s.window = Duration::from_secs(1);
        let play_settings = PlaySettings {
            def,
            window: s.window,
            seed: s.seed,
            stop_at_first_break: true,
            focus: None,
            target: gauntlet::target::RunTarget::Process,
        };
        let found = Schedule::single(Action::Fault {
            service: "value-architect".into(),
            fault: HttpFault::Reset,
            probability: 1.0,
        });
        let shrunk = gauntlet::explore::shrink::shrink(
            &found,
            &s.hypotheses[0],
            1,
            &play_settings,
            gauntlet::explore::shrink::Limits::default(),
        )
        .await;
        assert!(shrunk.alone, "{stack}");
        match shrunk.schedule.actions[0].action {
            Action::Fault {
                probability,
                fault: HttpFault::Reset,
                ..
            } => probability,
            ref other => panic!("{stack}: shrunk to {other:?}"),
        }
    };
    let without_retries = shrunk_probability("scenarios/broken-retry").await;
    let valueverse = shrunk_probability("scenarios/valueverse").await;
    eprintln!("reset share that breaks: retries 0 {without_retries}, valueverse {valueverse}");
    assert!(
        without_retries <= 0.5,
        "retries 0: a reset on {without_retries} of connections (with the reproducer's margin) \
         is the least that breaks"
    );
    assert!(
        valueverse > without_retries,
        "valueverse survives resets on {without_retries} of connections, breaks at {valueverse}"
    );
}

/// A latency toxic on the gateway's link to value-architect breaks the p99 of value-model reads;
/// shrinking shortens the latency while p99 still breaks, and the reproducer puts the toxic on
/// with the catalogued network step and fails under `gauntlet run` on p99.
#[tokio::test]
async fn a_latency_toxic_shrinks_and_its_reproducer_fails_on_p99() {
    let def = valueverse();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p99.feature");
    std::fs::write(
        &file,
        "Feature: x\n  Scenario: y\n    Given the steady state: \"frontend-app\" reads \"/api/v1/value-models\" at 20/s with p99 below 400 ms\n",
    )
    .unwrap();
    let hypotheses = hypothesis::load(&[file], &def).unwrap();
    let play_settings = PlaySettings {
        def: def.clone(),
        window: Duration::from_millis(500),
        seed: 3,
        stop_at_first_break: true,
        focus: None,
        target: gauntlet::target::RunTarget::Process,
    };
    let found = Schedule::single(Action::Toxic(gauntlet::explore::toxic::LinkToxic {
        link: "gateway->value-architect".into(),
        kind: gauntlet::link::ToxicKind::Latency {
            latency: 1000,
            jitter: 0,
        },
        stream: gauntlet::link::Stream::Downstream,
        toxicity: 1.0,
    }));
    let shrunk = gauntlet::explore::shrink::shrink(
        &found,
        &hypotheses[0],
        0,
        &play_settings,
        gauntlet::explore::shrink::Limits::default(),
    )
    .await;
    assert!(shrunk.alone);
    assert!(
        shrunk.played.violations.is_empty(),
        "{:?}",
        shrunk.played.violations
    );
    let Action::Toxic(ref t) = shrunk.schedule.actions[0].action else {
        panic!("{:?}", shrunk.schedule)
    };
    let gauntlet::link::ToxicKind::Latency { latency, .. } = t.kind else {
        panic!("{t}")
    };
    // The link carries TLS records, so a new connection pays the latency once per round
    // trip of its handshake too: less than the objective can break it, not much less.
    assert!(
        (100..=1000).contains(&latency),
        "shrunk to {t}: at most the 1 s found (one notch of margin over the edge), not far below the objective (400 ms)"
    );
    let feature = gauntlet::explore::repro::render(&gauntlet::explore::repro::ReproInput {
        number: 1,
        stack: &def,
        seed: 3,
        window: play_settings.window,
        hypothesis: &hypotheses[0],
        objective: 0,
        schedule: &shrunk.schedule,
        played: &shrunk.played,
        original: &found,
    });
    assert!(
        feature.contains(
            "the toxic \"explore-latency\" on the link from \"gateway\" to \"value-architect\" is:"
        ),
        "{feature}"
    );
    assert!(!feature.contains("stands still"), "{feature}");
    let repro = dir.path().join("repro-1.feature");
    std::fs::write(&repro, &feature).unwrap();
    let out = std::process::Command::new(gauntlet_bin())
        .args(["run", "--stack", "scenarios/valueverse", "--report-dir"])
        .arg(dir.path().join("reports"))
        .arg(&repro)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{feature}\n{stdout}");
    assert!(stdout.contains("p99"), "{stdout}");
    assert!(!stdout.contains("INVARIANT"), "{stdout}");
}

/// The method form (Chaos Toolkit's steady state → method → rollbacks) runs as written under
/// `gauntlet run`: the steady state is checked before the method, after it and after the
/// rollbacks; a method the stack does not survive fails on the steady state, naming it.
#[test]
fn an_experiment_in_method_form_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, method: &str| {
        let file = dir.path().join(name);
        std::fs::write(
            &file,
            format!(
                "@LAT-1\nFeature: x\n  Scenario: y\n    Given the steady state: \"frontend-app\" reads \"/api/v1/commitments\" at 10/s with p99 below 5 s and success ratio at least 99%\n{method}    Then the steady state holds\n    When the faults on \"value-committer\" are cleared\n    Then the steady state holds\n"
            ),
        )
        .unwrap();
        file
    };
    let survives = write("survives.feature", "    When 61 seconds pass\n");
    let breaks = write(
        "breaks.feature",
        "    Given \"value-committer\" has the fault:\n      \"\"\"\n      {\"action\":\"abort\",\"status\":503}\n      \"\"\"\n",
    );
    let run = |file: &std::path::Path| {
        std::process::Command::new(gauntlet_bin())
            .args(["run", "--stack", "scenarios/valueverse", "--report-dir"])
            .arg(dir.path().join("reports"))
            .arg(file)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let out = run(&survives);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let out = run(&breaks);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("the steady state does not hold") && stdout.contains("success ratio was"),
        "{stdout}"
    );
    // `check` knows the steps (the steady state is in the catalogue), and the shipped
    // experiments (hypotheses and the method form) read.
    let out = std::process::Command::new(gauntlet_bin())
        .args(["check", "experiments"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Chaos Toolkit plays an experiment's rollbacks even when its method fails: a method step that
/// fails (removing a toxic that is not there) or a steady state that deviates after the method
/// still leaves the rollbacks played, and the stack undone — the report's evidence lists each
/// rollback with its status and what was still in force afterwards (nothing).
#[test]
fn rollbacks_run_after_a_failed_method_step_and_undo_the_method() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("failing-method.feature");
    std::fs::write(
        &file,
        "@LAT-1\nFeature: x\n  Scenario: a method step fails after a toxic went on\n    Given the steady state: \"frontend-app\" reads \"/api/v1/commitments\" at 10/s with p99 below 5 s and success ratio at least 99%\n    When the toxic \"slow\" on the link from \"gateway\" to \"value-committer\" is:\n      \"\"\"\n      {\"type\": \"latency\", \"stream\": \"downstream\", \"attributes\": {\"latency\": 20}}\n      \"\"\"\n    And the toxic \"not-there\" is removed from the link from \"gateway\" to \"value-committer\"\n    Then the steady state holds\n    When the toxic \"slow\" is removed from the link from \"gateway\" to \"value-committer\"\n    Then the steady state holds\n\n  Scenario: the steady state deviates after the method\n    Given the steady state: \"frontend-app\" reads \"/api/v1/commitments\" at 10/s with p99 below 5 s and success ratio at least 99%\n    Given \"value-committer\" has the fault:\n      \"\"\"\n      {\"action\":\"abort\",\"status\":503}\n      \"\"\"\n    Then the steady state holds\n    When the faults on \"value-committer\" are cleared\n    Then the steady state holds\n",
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let out = std::process::Command::new(gauntlet_bin())
        .args(["run", "--stack", "scenarios/valueverse", "--report-dir"])
        .arg(&reports)
        .arg(&file)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("latest").join("results.json")).unwrap(),
    )
    .unwrap();
    let scenarios = results["features"][0]["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2);
    for (scenario, deviated, undo) in [
        (
            &scenarios[0],
            false,
            "When the toxic \"slow\" is removed from the link from \"gateway\" to \"value-committer\"",
        ),
        (
            &scenarios[1],
            true,
            "When the faults on \"value-committer\" are cleared",
        ),
    ] {
        assert_eq!(scenario["status"], "failed", "{scenario}");
        let experiment = &scenario["evidence"]["experiment"];
        assert_eq!(experiment["deviated"], deviated, "{experiment}");
        let rollbacks = experiment["rollbacks"].as_array().unwrap();
        assert_eq!(rollbacks.len(), 1, "{experiment}");
        assert_eq!(rollbacks[0]["activity"], undo, "{experiment}");
        assert_eq!(rollbacks[0]["status"], "succeeded", "{experiment}");
        assert_eq!(
            experiment["left_in_force"],
            serde_json::json!([]),
            "{experiment}"
        );
    }
    // The toxic was on the link during the method (the link's history keeps it).
    let links = scenarios[0]["evidence"]["links"].to_string();
    assert!(links.contains("\"slow\""), "{links}");
}
