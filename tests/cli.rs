//! The command line as a user drives it: `gauntlet up` with curl-style requests, `token`,
//! `check`, and exit codes.

mod support;

use std::process::Command;

use support::*;

fn run_gauntlet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(gauntlet_bin())
        .args(args)
        .current_dir(root())
        // Hermetic: a developer's own `up` stack must not be the one these tests act on.
        .env_remove("GAUNTLET_CONTROL")
        .env_remove("GAUNTLET_API_TOKEN")
        .output()
        .expect("run gauntlet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn claims_of(token: &str) -> serde_json::Value {
    let (_, claims) = gauntlet::token::decode_unverified(token).expect("a decodable JWT");
    claims
}

#[test]
fn token_with_key_and_secret_prints_an_hs256_token_living_the_given_minutes() {
    let (code, stdout, _) = run_gauntlet(&["token", "admin-key", "admin-secret", "60"]);
    assert_eq!(code, 0);
    let token = stdout.lines().last().expect("a last line");
    let (header, claims) = gauntlet::token::decode_unverified(token).expect("a JWT");
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["iss"], "admin-key");
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 3600
    );
}

#[test]
fn token_signs_an_asymmetric_credential_with_the_key_file() {
    let (code, stdout, stderr) = run_gauntlet(&[
        "token",
        "--consumer",
        "partner-es256",
        "--key-file",
        "features/auth/keys/ec-p256-private.pem",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let token = stdout.lines().last().expect("a last line");
    let (header, claims) = gauntlet::token::decode_unverified(token).expect("a JWT");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], "partner-es256-jwt-key");
    let public = std::fs::read_to_string(root().join("features/auth/keys/ec-p256-public.pem"))
        .expect("public key");
    let key = gauntlet::jws::parse_public_key(&public).expect("key");
    let (input, signature) = token.rsplit_once('.').expect("three parts");
    let signature =
        gauntlet::gateway::plugins::jwt::kong_base64_decode(signature.as_bytes()).expect("base64");
    assert!(gauntlet::jws::verify(
        gauntlet::config::gateway::JwtAlgorithm::ES256,
        &key,
        input.as_bytes(),
        &signature
    ));
    let (code, _, stderr) = run_gauntlet(&["token", "--consumer", "partner-es256"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--key-file"), "{stderr}");
    let (code, stdout, stderr) = run_gauntlet(&[
        "token",
        "some-key",
        "--key-file",
        "features/auth/keys/ed25519-private.pem",
        "--algorithm",
        "EdDSA",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (header, _) =
        gauntlet::token::decode_unverified(stdout.lines().last().unwrap()).expect("a JWT");
    assert_eq!(header["alg"], "EdDSA");
}

#[test]
fn token_for_a_consumer_uses_its_credential_key() {
    let (code, stdout, _) = run_gauntlet(&["token", "--consumer", "frontend-app"]);
    assert_eq!(code, 0);
    let claims = claims_of(stdout.lines().last().unwrap());
    assert!(claims["iss"]
        .as_str()
        .unwrap()
        .starts_with("frontend-app-jwt-key-"));
    let (code, _, stderr) = run_gauntlet(&["token", "--consumer", "nobody"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no consumer \"nobody\""), "{stderr}");
    assert!(
        stderr.contains("admin-user"),
        "lists the known consumers: {stderr}"
    );
}

#[test]
fn a_typo_in_kong_yml_is_exit_2_naming_file_line_and_key() {
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let kong = std::fs::read_to_string(stack.join("kong.yml")).unwrap();
    std::fs::write(
        stack.join("kong.yml"),
        kong.replacen("strip_path: false", "stip_path: false", 1),
    )
    .unwrap();
    let stack_arg = stack.to_str().unwrap();
    for command in [
        vec!["check", "--stack", stack_arg],
        vec!["run", "--stack", stack_arg],
    ] {
        let (code, _, stderr) = run_gauntlet(&command);
        assert_eq!(code, 2, "{command:?}: {stderr}");
        assert!(stderr.contains("kong.yml:"), "{stderr}");
        assert!(
            stderr.contains("services[0].routes[0].stip_path"),
            "{stderr}"
        );
        assert!(stderr.contains("did you mean `strip_path`"), "{stderr}");
    }
}

#[test]
fn check_names_an_undefined_step_with_the_closest_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let feature = dir.path().join("typo.feature");
    std::fs::write(
        &feature,
        "Feature: typo\n  Scenario: s\n    Given the stack is runing\n    When I send a GET request to \"/x\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run_gauntlet(&["check", feature.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("typo.feature:3: undefined step: Given the stack is runing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("closest known step: Given the stack is running"),
        "{stderr}"
    );
}

/// A feature file in a temp dir (beside no clauses.yml: the working folder's features/clauses.yml applies).
fn feature_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.feature");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

#[test]
fn check_refuses_unknown_and_misspelt_clause_tags_and_warns_about_untagged_scenarios() {
    let (_dir, path) = feature_file(
        "Feature: tags\n\n  @ACL-9\n  Scenario: unknown\n    Given the stack is running\n\n  @ACL3 @acl-3\n  Scenario: misspelt\n    Given the stack is running\n\n  Scenario: untagged\n    Given the stack is running\n",
    );
    let (code, stdout, stderr) = run_gauntlet(&["check", &path]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "f.feature:3: @ACL-9 is not a clause of features/clauses.yml (did you mean @ACL-1?)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("f.feature:7: @ACL3 looks like clause ACL-3: write it @ACL-3"),
        "{stderr}"
    );
    assert!(
        stderr.contains("f.feature:7: @acl-3 looks like clause ACL-3: write it @ACL-3"),
        "{stderr}"
    );
    assert!(
        stdout.contains("warning: ")
            && stdout.contains("f.feature:11: scenario \"untagged\" has no clause tag"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("\"unknown\" has no clause tag"),
        "{stdout}"
    );
}

#[test]
fn check_explains_gherkin_mistakes_in_the_users_words() {
    let (_dir, path) = feature_file(
        "Feature: x\n\n  @ACL-3\n  Scenario: a\n    Given the stack is running\n\n  Scenari: z\n    Given the stack is running\n",
    );
    let (code, _, stderr) = run_gauntlet(&["check", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("f.feature:7: unknown keyword `Scenari:` (did you mean `Scenario:`?)"),
        "{stderr}"
    );
    let (_dir, path) = feature_file(
        "Feature: x\n\n  @ACL-3\n  Scenario Outline: o\n    Given I have a valid token for \"<who>\"\n",
    );
    let (code, _, stderr) = run_gauntlet(&["check", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("f.feature:4: Scenario Outline at line 4 has no Examples table"),
        "{stderr}"
    );
    let (_dir, path) =
        feature_file("Feature: x\n\n  @ACL-3\n  Scenario: a\n    Gven the stack is running\n");
    let (code, _, stderr) = run_gauntlet(&["check", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("f.feature:5: unknown step keyword `Gven` (did you mean `Given`?)"),
        "{stderr}"
    );
}

#[test]
fn check_suggests_the_closest_step_with_the_users_own_values() {
    let (_dir, path) = feature_file(
        "Feature: x\n\n  @ACL-3\n  Scenario: a\n    Given the stack is running\n    Then the respons status is 200\n    And the P99 latency is under 50ms\n",
    );
    let (code, _, stderr) = run_gauntlet(&["check", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("f.feature:6: undefined step: Then the respons status is 200; closest known step: Then the response status is 200"),
        "{stderr}"
    );
    assert!(
        stderr.contains("closest known step: And the p99 latency is below 50ms"),
        "{stderr}"
    );
}

#[test]
fn steps_accept_the_units_and_spellings_people_write() {
    let (_dir, path) = feature_file(
        "Feature: x\n\n  @AUTH-4\n  Scenario: a\n    Given I have a token for \"admin-user\" that expires in 90 s\n    When 2 min pass\n    And 500ms pass\n    Then the P50 latency is below 50ms\n",
    );
    let (code, stdout, stderr) = run_gauntlet(&["check", &path]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn check_names_consumers_services_headers_and_states_the_stack_does_not_have() {
    let (_dir, path) = feature_file(
        "Feature: x\n\n  @ACL-3\n  Scenario: a\n    Given I have a valid token for \"frontend-ap\"\n    And \"value-archtect\" is stopped\n    Then the response header \"X-RateLimit-Remaining-Minut\" is \"0\"\n    And the circuit breaker of \"value-architect\" is OPENED\n    And the gateway metric 'gauntlet_gateway_rate_limited_total{consumer=\"admin\"}' is 1\n",
    );
    let (code, _, stderr) = run_gauntlet(&["check", &path]);
    assert_eq!(code, 2, "{stderr}");
    for expected in [
        "f.feature:5: unknown consumer \"frontend-ap\" (kong.yml has admin-user, frontend-app, internal-services, partner-rs256, partner-ps512, partner-es256, partner-es384, partner-es512, partner-eddsa; did you mean \"frontend-app\"?)",
        "f.feature:6: unknown service \"value-archtect\"",
        "f.feature:7: header \"X-RateLimit-Remaining-Minut\" looks like a misspelling of \"X-RateLimit-Remaining-Minute\"",
        "f.feature:8: unknown breaker state \"OPENED\"",
        "f.feature:9: unknown consumer label value \"admin\"",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in {stderr}");
    }
}

#[test]
fn steps_says_what_each_parameter_accepts_and_speaks_json_for_editors() {
    let (code, stdout, _) = run_gauntlet(&["steps"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("== parameters ==\n"), "{stdout}");
    assert!(stdout.contains("{duration}  "), "{stdout}");
    assert!(
        stdout.contains("30 seconds, 30s, 500 ms, 500ms, 2 min"),
        "{stdout}"
    );
    let (code, stdout, _) = run_gauntlet(&["steps", "--json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), gauntlet::steps::catalog::CATALOG.len());
    for step in steps {
        let regexes = step["regex"].as_array().unwrap();
        assert!(!regexes.is_empty(), "{step}");
        let example = step["example"].as_str().unwrap();
        for re in regexes {
            assert!(regex::Regex::new(re.as_str().unwrap())
                .unwrap()
                .is_match(example));
        }
    }
    assert!(doc["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "percentile"));
}

#[test]
fn clauses_lists_the_catalogue_with_its_scenarios_and_what_governs_a_value() {
    let catalogue = gauntlet::clauses::Catalogue::built_in();
    let (code, stdout, stderr) = run_gauntlet(&["clauses"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "{} clauses from features/clauses.yml",
            catalogue.clauses.len()
        )),
        "{stdout}"
    );
    for clause in &catalogue.clauses {
        assert!(stdout.contains(&clause.text), "missing {}", clause.id);
    }
    assert!(stdout.contains("\nlatency\n  LAT-1 "), "{stdout}");

    let (code, stdout, _) = run_gauntlet(&[
        "clauses",
        "--governs",
        "kong.yml:services[value-committer].plugins[circuit-breaker].config.failure_threshold",
        "--scenarios",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("  CB-2 "), "{stdout}");
    assert!(!stdout.contains("  CB-1 "), "{stdout}");
    assert!(
        stdout.contains("features/resilience/circuit_breaker.feature:"),
        "{stdout}"
    );

    let (code, stdout, _) = run_gauntlet(&["clauses", "--json", "--domain", "mesh"]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["MESH-1", "MESH-2", "MESH-3", "MESH-4", "MESH-5", "MESH-6"]
    );
    assert!(list[2]["governs"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("stack.yml:mesh.default_intention")));
    assert!(!list[2]["scenarios"].as_array().unwrap().is_empty());

    let (code, _, stderr) = run_gauntlet(&["clauses", "--governs", "retries"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no `<file>:` in front"), "{stderr}");
}

#[test]
fn the_readme_lists_every_clause_of_the_catalogue() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for clause in gauntlet::clauses::Catalogue::built_in().clauses {
        let row = format!("| {} | {} | {} |", clause.id, clause.domain, clause.text);
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}

#[test]
fn steps_prints_every_catalog_entry() {
    let (code, stdout, _) = run_gauntlet(&["steps"]);
    assert_eq!(code, 0);
    for doc in gauntlet::steps::catalog::CATALOG {
        assert!(stdout.contains(doc.example), "missing {}", doc.example);
    }
}

#[test]
fn broken_auth_stack_fails_the_run_naming_auth_4() {
    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, _) = run_gauntlet(&[
        "run",
        "features/auth",
        "--stack",
        "scenarios/broken-auth",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("failed clauses: AUTH-4"), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(
        last.ends_with(" failed") && !last.ends_with(" 0 failed"),
        "{last}"
    );
    let latest = reports.path().join("latest");
    for file in ["index.html", "junit.xml", "cucumber.json", "results.json"] {
        assert!(latest.join(file).is_file(), "latest/{file}");
    }
}

#[test]
fn run_refuses_undefined_steps_before_running_anything_and_blames_no_clause() {
    let (dir, path) = feature_file(
        "Feature: typo\n\n  @ACL-3\n  Scenario: s\n    Given the stack is running\n    Then the respons status is 200\n",
    );
    let reports = dir.path().join("reports");
    let (code, stdout, stderr) =
        run_gauntlet(&["run", &path, "--report-dir", reports.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("f.feature:6: undefined step: Then the respons status is 200"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was run"), "{stderr}");
    assert!(!stdout.contains("failed clauses"), "{stdout}");
    assert!(!stdout.contains("passed, "), "no scenario ran: {stdout}");
    assert!(!reports.join("latest").exists(), "nothing ran, no report");
}

#[test]
fn run_repeats_every_failure_before_the_last_line_and_reruns_them_by_location() {
    let reports = tempfile::tempdir().unwrap();
    let report_dir = reports.path().to_str().unwrap();
    let (code, stdout, _) = run_gauntlet(&[
        "run",
        "features/auth/token_lifetime.feature",
        "--stack",
        "scenarios/broken-auth",
        "--report-dir",
        report_dir,
    ]);
    assert_eq!(code, 1, "{stdout}");
    let tail: Vec<&str> = stdout.lines().skip_while(|l| *l != "failures:").collect();
    assert!(!tail.is_empty(), "a failures section: {stdout}");
    assert!(
        tail.contains(
            &"  features/auth/token_lifetime.feature:11 [AUTH-4] An expired token is refused"
        ),
        "{stdout}"
    );
    assert!(
        tail.iter()
            .any(|l| l.starts_with("    line 14: expected status 401, got 200")),
        "{stdout}"
    );
    assert_eq!(tail.last().copied(), Some("1 passed, 6 failed"), "{stdout}");
    let rerun = reports.path().join("latest/rerun.txt");
    assert_eq!(
        std::fs::read_to_string(&rerun).unwrap(),
        "features/auth/token_lifetime.feature:11:22:35:48:58:77\n"
    );
    assert!(
        stdout.contains(&format!(
            "rerun the failures: gauntlet run @{}",
            rerun.display()
        )),
        "{stdout}"
    );

    // The rerun file runs exactly the failed scenarios; a location runs one; --name filters.
    let (code, stdout, _) = run_gauntlet(&[
        "run",
        &format!("@{}", rerun.display()),
        "--stack",
        "scenarios/broken-auth",
        "--report-dir",
        report_dir,
    ]);
    assert_eq!(code, 1);
    assert!(stdout.ends_with("0 passed, 6 failed\n"), "{stdout}");
    let (code, stdout, _) = run_gauntlet(&[
        "run",
        "features/auth/token_lifetime.feature:22",
        "--report-dir",
        report_dir,
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
    let (code, stdout, _) = run_gauntlet(&[
        "run",
        "features/auth",
        "--name",
        "^An expired token",
        "--report-dir",
        report_dir,
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
    // An outline's line runs every row; one row's line runs that row.
    let (_, stdout, _) = run_gauntlet(&[
        "run",
        "features/auth/missing_token.feature:11",
        "--report-dir",
        report_dir,
    ]);
    let (_, one_row, _) = run_gauntlet(&[
        "run",
        "features/auth/missing_token.feature:22",
        "--report-dir",
        report_dir,
    ]);
    assert!(one_row.ends_with("1 passed, 0 failed\n"), "{one_row}");
    assert!(!stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
    let (code, _, stderr) = run_gauntlet(&[
        "run",
        "features/auth/token_lifetime.feature:2",
        "--report-dir",
        report_dir,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "token_lifetime.feature:2: no scenario at this line (scenarios start at lines 11, 22,"
        ),
        "{stderr}"
    );
}

/// `run` stopped by a signal: the report is written, every stack stopped, and the exit code
/// says which signal (130 SIGINT, 143 SIGTERM and SIGHUP), never 1.
#[test]
fn an_interrupted_run_writes_its_report_and_exits_with_the_signals_code() {
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 143)] {
        let (dir, path) = feature_file(
            "Feature: slow\n\n  @CB-4\n  Scenario: waits\n    Given the stack is running\n    When 60 seconds pass\n",
        );
        let reports = dir.path().join("reports");
        let mut child = Command::new(gauntlet_bin())
            .args(["run", &path, "--real-time", "--report-dir"])
            .arg(&reports)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn gauntlet run");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
        assert!(first.starts_with("gauntlet: stack valueverse"), "{first}");
        // Let the scenario start its real-time wait.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let mut guard = ChildGuard(child);
        let status = send_signal(&mut guard, signal);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}: {rest}");
        assert!(rest.contains("interrupted"), "SIG{signal}: {rest}");
        assert!(
            rest.ends_with("0 passed, 1 failed\n"),
            "SIG{signal}: {rest}"
        );
        assert!(
            reports.join("latest/results.json").is_file(),
            "SIG{signal}: the report is written"
        );
    }
}

/// A signal while `run` still checks the features (before it prints anything; seconds for the
/// whole suite in a debug build) is caught too: the run stops at once, writes its report and
/// exits with the signal's code, instead of dying by the signal with nothing written.
#[test]
fn a_run_signalled_while_it_checks_the_features_still_writes_its_report() {
    for (signal, code) in [("HUP", 143), ("INT", 130)] {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("reports");
        let child = Command::new(gauntlet_bin())
            .args(["run", "--report-dir"])
            .arg(&reports)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn gauntlet run");
        let mut guard = ChildGuard(child);
        std::thread::sleep(std::time::Duration::from_millis(800));
        let status = send_signal(&mut guard, signal);
        let mut out = String::new();
        std::io::Read::read_to_string(guard.0.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}: {out}");
        assert!(out.contains("interrupted"), "SIG{signal}: {out}");
        assert!(
            reports.join("latest/results.json").is_file(),
            "SIG{signal}: the report is written"
        );
    }
}

/// `promtool check metrics` on an exposition. Without promtool installed the check is skipped
/// with a notice, unless GAUNTLET_REQUIRE_PROMTOOL is set (CI sets it; .ci/run installs it).
fn check_with_promtool(exposition: &[u8]) {
    use std::io::Write;
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut promtool = match spawned {
        Ok(child) => child,
        Err(e) if std::env::var_os("GAUNTLET_REQUIRE_PROMTOOL").is_none() => {
            eprintln!("notice: promtool not available ({e}); skipping `promtool check metrics`");
            return;
        }
        Err(e) => panic!("promtool is required (GAUNTLET_REQUIRE_PROMTOOL is set): {e}"),
    };
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition)
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// The runbook of SPEC §9 and both issues' "done when", against a real `gauntlet up` process.
#[tokio::test(flavor = "multi_thread")]
async fn up_serves_the_runbook_and_stops_on_ctrl_c() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (mut child, summary) = gauntlet_up(&stack);
    let proxy = summary["gateway"]["proxy"].as_str().unwrap().to_string();
    let admin = summary["gateway"]["admin"].as_str().unwrap().to_string();
    let token = |c: &str| format!("Bearer {}", summary["tokens"][c].as_str().unwrap());
    let models = format!("{proxy}/api/v1/value-models");

    let anonymous = get(&models, &[]).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.text(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));

    let admin_user = get(&models, &[("Authorization", &token("admin-user"))]).await;
    assert_eq!(admin_user.status, 200);
    assert_eq!(admin_user.json().unwrap()["count"], 3);

    let frontend = token("frontend-app");
    let write = send(
        http::Method::POST,
        &models,
        &[("Authorization", &frontend)],
        Some(serde_json::json!({"name": "x"})),
    )
    .await;
    assert_eq!(write.status, 403);
    assert_eq!(
        write.json().unwrap()["message"],
        "You cannot consume this service"
    );
    assert_eq!(
        get(&models, &[("Authorization", &frontend)]).await.status,
        200
    );

    let internal = token("internal-services");
    assert_eq!(
        get(&models, &[("Authorization", &internal)]).await.status,
        403
    );
    assert_eq!(
        get(
            &format!("{proxy}/internal/v1/sync"),
            &[("Authorization", &internal)]
        )
        .await
        .status,
        200
    );

    // frontend-app has used 1 of its 100: the next 99 pass, counting down to 0, and the one
    // after is refused. If the minute turns over meanwhile the count restarts: retry once.
    let mut refused = None;
    for _attempt in 0..2 {
        let mut last_allowed = None;
        for _ in 0..101 {
            let response = get(&models, &[("Authorization", &frontend)]).await;
            if response.status == 429 {
                refused = Some((last_allowed.take(), response));
                break;
            }
            last_allowed = Some(response);
        }
        if refused.is_some() {
            break;
        }
    }
    let (last_allowed, refused) = refused.expect("a 429 within 101 requests");
    let last_allowed = last_allowed.expect("allowed requests before the 429");
    assert_eq!(last_allowed.header("x-ratelimit-limit-minute"), Some("100"));
    assert_eq!(
        last_allowed.header("x-ratelimit-remaining-minute"),
        Some("0"),
        "refused only once the 100 were used"
    );
    assert_eq!(
        refused.json().unwrap()["message"],
        "API rate limit exceeded"
    );
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(
        get(&models, &[("Authorization", &token("admin-user"))])
            .await
            .status,
        200
    );

    let metrics = get(&format!("{admin}/metrics"), &[]).await;
    assert_eq!(metrics.status, 200);
    check_with_promtool(&metrics.body);
    assert!(metrics.text().contains("gauntlet_gateway_rate_limited_total{route=\"value-models-read\",consumer=\"frontend-app\"}"));

    let status = interrupt(&mut child);
    assert!(status.success(), "up exits 0 on Ctrl-C: {status}");
    let after = std::net::TcpStream::connect(proxy.trim_start_matches("http://"));
    assert!(after.is_err(), "the proxy port is closed after Ctrl-C");
}

fn chaos(stack: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["chaos", "--stack", stack.to_str().unwrap()];
    all.extend_from_slice(args);
    run_gauntlet(&all)
}

/// The resilience issue's "done when", by `gauntlet chaos` against a real `gauntlet up`: a
/// stopped service gives 502s then the fallback with OPEN, the admin API shows the transition,
/// and after `start` and a 60 s jump three requests close the breaker.
#[tokio::test(flavor = "multi_thread")]
async fn chaos_drives_the_breaker_runbook_against_up() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (mut child, summary) = gauntlet_up(&stack);
    let proxy = summary["gateway"]["proxy"].as_str().unwrap().to_string();
    let admin = summary["gateway"]["admin"].as_str().unwrap().to_string();
    let auth = format!(
        "Bearer {}",
        summary["tokens"]["admin-user"].as_str().unwrap()
    );
    let models = format!("{proxy}/api/v1/value-models");
    let call = || async { get(&models, &[("Authorization", &auth)]).await };

    let (code, stdout, stderr) = chaos(&stack, &["stop", "value-architect"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("value-architect: stopped"), "{stdout}");
    let (code, stdout, stderr) = chaos(&stack, &["kill", "redis"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("redis: killed ("), "{stdout}");

    let first = call().await;
    assert_eq!(first.status, 502);
    assert_eq!(first.header("x-circuit-breaker-state"), Some("CLOSED"));
    let second = call().await;
    assert_eq!(second.status, 502);
    assert_eq!(second.header("x-circuit-breaker-state"), Some("OPEN"));
    let fallback = call().await;
    assert_eq!(fallback.status, 503);
    assert_eq!(fallback.header("x-circuit-breaker-state"), Some("OPEN"));
    assert_eq!(fallback.header("retry-after"), Some("60"));

    let plugins = get(&format!("{admin}/services/value-architect/plugins"), &[]).await;
    let plugins = plugins.json().unwrap();
    let breaker = plugins["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "circuit-breaker")
        .expect("the circuit-breaker entry")
        .clone();
    assert_eq!(breaker["state"], "OPEN");
    assert!(breaker["opened_at"].as_f64().unwrap() > 0.0);
    assert_eq!(breaker["transitions"][0]["from"], "CLOSED");
    assert_eq!(breaker["transitions"][0]["to"], "OPEN");

    assert_eq!(chaos(&stack, &["start", "value-architect"]).0, 0);
    let (code, stdout, _) = chaos(&stack, &["advance", "60s"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("clock advanced 60"), "{stdout}");
    let states: Vec<String> = {
        let mut states = Vec::new();
        for _ in 0..3 {
            let r = call().await;
            assert_eq!(r.status, 200);
            states.push(r.header("x-circuit-breaker-state").unwrap().to_string());
        }
        states
    };
    assert_eq!(states, ["HALF-OPEN", "HALF-OPEN", "CLOSED"]);

    let (code, stdout, _) = chaos(&stack, &["journal", "value-architect"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("value-architect received 3 requests"),
        "{stdout}"
    );
    // The container target's verbs, the same in process: pause, unpause, partition, heal.
    for (verb, said) in [
        ("pause", "value-architect: paused"),
        ("unpause", "value-architect: unpaused"),
        ("partition", "value-architect: partitioned"),
        ("heal", "value-architect: healed"),
    ] {
        let (code, stdout, stderr) = chaos(&stack, &[verb, "value-architect"]);
        assert_eq!(code, 0, "{verb}: {stderr}");
        assert!(stdout.contains(said), "{verb}: {stdout}");
    }
    let (code, _, stderr) = chaos(&stack, &["kill", "value-committr"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "no service named value-committr; this stack has postgres, redis, value-architect, value-committer"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = chaos(
        &stack,
        &["fault", "value-architect", "--probability", "2", "--hang"],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("probability must be between 0 and 1"),
        "{stderr}"
    );

    let status = interrupt(&mut child);
    assert!(status.success(), "up exits 0 on Ctrl-C: {status}");
}

/// A TLS client from the files `gauntlet up` wrote: the CA, and optionally an identity's
/// certificate and key; it accepts only `destination`'s SPIFFE ID.
fn client_from_files(
    certs: &std::path::Path,
    identity: Option<&str>,
    destination: &gauntlet::mesh::SpiffeId,
) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = gauntlet::mesh::tls::crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(certs.join("ca.pem")).expect("ca.pem"))
        .expect("a root");
    let verifier = std::sync::Arc::new(gauntlet::mesh::tls::MeshServerVerifier::new(
        std::sync::Arc::new(roots),
        destination.clone(),
        provider.clone(),
    ));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(certs.join(format!("{id}.pem"))).unwrap()],
                PrivateKeyDer::from_pem_file(certs.join(format!("{id}-key.pem"))).unwrap(),
            )
            .expect("client cert"),
    };
    std::sync::Arc::new(config)
}

/// `GET /health` over TLS with `config`; the status line, or the error.
async fn tls_get(
    addr: &str,
    config: std::sync::Arc<rustls::ClientConfig>,
    destination: &gauntlet::mesh::SpiffeId,
) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(gauntlet::mesh::tls::server_name_for(destination), tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply)
        .await
        .map_err(|e| e.to_string())?;
    Ok(reply)
}

/// The mesh issue's "done when" against a real `gauntlet up`: the written certificates act as
/// any identity; no certificate fails the handshake, a denied identity gets 403 RBAC, an
/// allowed one 200; the catalog lists the services and their connect-proxy sidecars.
#[tokio::test(flavor = "multi_thread")]
async fn up_writes_mesh_identities_that_act_as_any_service() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let certs = certs_dir(&stack);
    let (mut child, summary) = gauntlet_up(&stack);
    let architect = summary["mesh"]["sidecars"]["value-architect"]["public"]
        .as_str()
        .unwrap()
        .to_string();
    for file in [
        "ca.pem",
        "api-gateway.pem",
        "value-committer-key.pem",
        "redis.pem",
    ] {
        assert!(certs.join(file).is_file(), "{file} written");
    }
    let ca_pem = std::fs::read_to_string(certs.join("ca.pem")).unwrap();
    let leaf = std::fs::read(certs.join("value-committer.pem")).unwrap();
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(&leaf)
        .map(|c: rustls_pki_types::CertificateDer| c.to_vec())
        .unwrap();
    let committer_id = gauntlet::mesh::spiffe::spiffe_id_of_der(&der).unwrap();
    let expected =
        gauntlet::mesh::SpiffeId::service(committer_id.trust_domain(), "value-architect").unwrap();
    assert!(ca_pem.contains("BEGIN CERTIFICATE"));

    let anonymous = tls_get(
        &architect,
        client_from_files(&certs, None, &expected),
        &expected,
    )
    .await;
    assert!(
        anonymous.is_err(),
        "no certificate must fail: {anonymous:?}"
    );
    let denied = tls_get(
        &architect,
        client_from_files(&certs, Some("postgres"), &expected),
        &expected,
    )
    .await
    .expect("a denied identity completes the handshake");
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    assert!(denied.ends_with("RBAC: access denied"), "{denied}");
    let allowed = tls_get(
        &architect,
        client_from_files(&certs, Some("value-committer"), &expected),
        &expected,
    )
    .await
    .expect("an allowed identity");
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");

    let catalog = summary["mesh"]["catalog"].as_str().unwrap();
    let services = get(&format!("{catalog}/v1/agent/services"), &[])
        .await
        .json()
        .unwrap();
    let kinds: Vec<(String, String)> = services
        .as_object()
        .unwrap()
        .values()
        .map(|s| {
            (
                s["Service"].as_str().unwrap().to_string(),
                s["Kind"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("value-architect".into(), String::new())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "value-architect-sidecar-proxy".into(),
            "connect-proxy".into()
        )),
        "{kinds:?}"
    );
    assert!(interrupt(&mut child).success());
}

/// `gauntlet up --api-token`: the control, admin, sidecar admin and catalog APIs answer only requests carrying
/// the token (bearer, or Consul's X-Consul-Token on the catalog); the proxy is unaffected, and
/// `gauntlet chaos` sends the token from --api-token or GAUNTLET_API_TOKEN.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_token_guards_the_control_admin_and_catalog_apis() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up_with(&stack, &["--api-token", "ci-runner-secret"]);
    let url = |v: &serde_json::Value| v.as_str().expect("url").to_string();
    let admin = format!("{}/status", url(&summary["gateway"]["admin"]));
    let control = format!("{}/", url(&summary["control"]));
    let catalog = format!("{}/v1/catalog/services", url(&summary["mesh"]["catalog"]));
    let sidecar = format!(
        "{}/ready",
        url(&summary["mesh"]["sidecars"]["value-architect"]["admin"])
    );
    let bearer = [("Authorization", "Bearer ci-runner-secret")];

    for api in [&admin, &control, &sidecar] {
        let refused = get(api, &[]).await;
        assert_eq!(refused.status, 401, "{api}");
        assert_eq!(refused.text(), r#"{"message":"Unauthorized"}"#);
        let wrong = get(api, &[("Authorization", "Bearer guess")]).await;
        assert_eq!(wrong.status, 401, "{api}");
        assert_eq!(get(api, &bearer).await.status, 200, "{api}");
    }
    let anonymous = get(&catalog, &[]).await;
    assert_eq!(
        (anonymous.status, anonymous.text()),
        (403, "Permission denied".to_string())
    );
    let unknown = get(&catalog, &[("X-Consul-Token", "guess")]).await;
    assert_eq!(
        (unknown.status, unknown.text()),
        (403, "ACL not found".to_string())
    );
    let consul = get(&catalog, &[("X-Consul-Token", "ci-runner-secret")]).await;
    assert_eq!(consul.status, 200);

    // The gateway's own path is not behind the API token.
    let token = format!("Bearer {}", url(&summary["tokens"]["admin-user"]));
    let proxied = get(
        &format!("{}/api/v1/value-models", url(&summary["gateway"]["proxy"])),
        &[("Authorization", &token)],
    )
    .await;
    assert_eq!(proxied.status, 200);

    let out = Command::new(gauntlet_bin())
        .args(["chaos", "--stack", stack.to_str().unwrap(), "status"])
        .env_remove("GAUNTLET_API_TOKEN")
        .output()
        .expect("run gauntlet chaos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "refused without the token");
    assert!(stderr.contains("Unauthorized"), "{stderr}");
    let (code, stdout, stderr) = chaos(&stack, &["--api-token", "ci-runner-secret", "status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("value-architect"), "{stdout}");
    let out = Command::new(gauntlet_bin())
        .args(["chaos", "--stack", stack.to_str().unwrap(), "status"])
        .env("GAUNTLET_API_TOKEN", "ci-runner-secret")
        .output()
        .expect("run gauntlet chaos");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mutate_refuses_bad_input_with_exit_2_and_no_score() {
    let (code, _, stderr) = run_gauntlet(&["mutate", "features/no-such-folder"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("features/no-such-folder: no such feature file or folder"),
        "{stderr}"
    );

    let empty = tempfile::tempdir().unwrap();
    let empty_path = empty.path().display().to_string();
    let (code, _, stderr) = run_gauntlet(&["mutate", &empty_path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no scenario to run"), "{stderr}");

    // The unmutated suite must pass first: a broken stack gets no score.
    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run_gauntlet(&[
        "mutate",
        "--stack",
        "scenarios/broken-retry",
        "features/resilience/retries_and_timeouts.feature",
        "--report-dir",
        &reports.path().display().to_string(),
    ]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("fails its own suite"), "{stderr}");
    assert!(stderr.contains("RETRY-1"), "{stderr}");
    assert!(!stdout.contains("mutation score"), "{stdout}");
}

#[test]
fn mutate_reports_each_mutant_and_gates_on_the_score() {
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().display().to_string();
    let (code, stdout, stderr) = run_gauntlet(&[
        "mutate",
        "features/resilience/retries_and_timeouts.feature",
        "--only",
        "kong.yml:services[value-architect].retries",
        "--min-score",
        "100",
        "--report-dir",
        &dir,
        "--seed",
        "3",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("killed    #"),
        "a table line per mutant: {stdout}"
    );
    assert!(
        stdout.contains("mutation score 100.0%: 4 killed"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("panicked"),
        "step panics are not printed: {stderr}"
    );
    let run = std::fs::read_dir(reports.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["format"], "gauntlet-mutation");
    assert_eq!(results["score"], 100.0);
    let first = &results["mutants"][0];
    assert_eq!(first["path"], "kong.yml:services[value-architect].retries");
    assert_eq!(first["old"], "3");
    assert_eq!(first["status"], "killed");
    assert!(first["governing_clauses"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("RETRY-1")));
    let html = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert!(
        html.contains("Mutation score 100.0%"),
        "the page leads with the score"
    );
    assert!(html.contains("services[value-architect].retries"));
}

/// `chaos` by the address `up` printed (`--control`, `GAUNTLET_CONTROL`): faults get ids that
/// `status` lists and `clear SERVICE ID` removes; a restarted service is where `status` says;
/// `token` mints on the stack's clock after `chaos advance`, and `up` prints fresh tokens.
#[tokio::test(flavor = "multi_thread")]
async fn chaos_names_faults_by_id_and_tokens_follow_the_stack_clock() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (mut child, summary) = gauntlet_up(&stack);
    let control = summary["control"].as_str().unwrap().to_string();
    let own = summary["mesh"]["sidecars"]["value-architect"]["service"]
        .as_str()
        .unwrap()
        .to_string();
    // Not --stack: the control address alone, as the hint of `up` gives it.
    let by_control = |args: &[&str]| {
        let mut all = vec!["chaos", "--stack", "/nonexistent", "--control", &control];
        all.extend_from_slice(args);
        run_gauntlet(&all)
    };
    let (code, stdout, stderr) = by_control(&[
        "fault",
        "value-architect",
        "--status",
        "503",
        "--times",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("value-architect: fault 1 added: abort 503 for the next 2 requests"),
        "{stdout}"
    );
    let (code, stdout, _) = by_control(&["fault", "value-architect", "--hang"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("fault 2 added: hang"), "{stdout}");

    let (code, stdout, stderr) = by_control(&["stop", "value-architect"]);
    assert_eq!((code, stdout.contains("stopped")), (0, true), "{stderr}");
    let (code, stdout, _) = by_control(&["start", "value-architect"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("(the service itself {own})")),
        "{stdout}"
    );

    let out = Command::new(gauntlet_bin())
        .args(["chaos", "--stack", "/nonexistent", "status"])
        .env("GAUNTLET_CONTROL", &control)
        .env_remove("GAUNTLET_API_TOKEN")
        .output()
        .expect("run gauntlet chaos");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{status}");
    assert!(
        status.contains(&format!("(the service itself {own})")),
        "{status}"
    );
    assert!(
        status.contains("    fault 1: abort 503 for the next 2 requests\n    fault 2: hang\n"),
        "{status}"
    );
    let (code, stdout, stderr) = by_control(&["clear", "value-architect", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("value-architect: fault 2 removed"),
        "{stdout}"
    );
    assert!(!stdout.contains("hang"), "{stdout}");
    let (code, _, stderr) = by_control(&["clear", "value-architect", "7"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("value-architect has no fault 7; its faults are 1"),
        "{stderr}"
    );

    assert_eq!(by_control(&["clear"]).0, 0);
    // An hour on: a token minted now is valid on the stack, as the one `up` reprints.
    let (code, _, stderr) = by_control(&["advance", "1h"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run_gauntlet(&[
        "token",
        "--consumer",
        "admin-user",
        "--stack",
        stack.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "clock: the running stack's at {control} (3600 s ahead of real time)"
        )),
        "{stderr}"
    );
    let minted = stdout.lines().last().unwrap().to_string();
    let now = gauntlet::clock::real_wall_now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let iat = claims_of(&minted)["iat"].as_u64().unwrap();
    assert!((now + 3590..now + 3610).contains(&iat), "{iat} vs {now}");
    let proxy = summary["gateway"]["proxy"].as_str().unwrap();
    let status_with = |token: String| async move {
        get(
            &format!("{proxy}/api/v1/value-models"),
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await
        .status
    };
    let old = summary["tokens"]["admin-user"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status_with(old).await, 401, "the first token has expired");
    assert_eq!(status_with(minted).await, 200);

    let stdout = child.0.stdout.as_mut().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let update: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(update["clock_offset_seconds"], 3600.0);
    let reprinted = update["tokens"]["admin-user"].as_str().unwrap().to_string();
    assert_eq!(status_with(reprinted).await, 200);

    let (code, _, stderr) = run_gauntlet(&[
        "token",
        "--consumer",
        "admin-user",
        "--control",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("clock: real time (no `gauntlet up` answers at http://127.0.0.1:1)"),
        "{stderr}"
    );
    assert!(interrupt(&mut child).success());
}

/// A second `up` of the same stack names the taken port and the `--port-offset` that frees
/// every fixed port, the upstream listeners included; with it, both stacks run.
#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_named_with_the_port_offset_that_frees_them_all() {
    let _ports = UP_PORTS.lock().await;
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (mut first, summary) = gauntlet_up(&stack);
    let (code, _, stderr) = run_gauntlet(&["up", "--stack", stack.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let proxy_port: u16 = summary["gateway"]["proxy"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let architect_port = summary["services"]["value-architect"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        stderr.contains(&format!(
            "port {architect_port} (service value-architect) is taken on 127.0.0.1 (another `gauntlet up`?)"
        )),
        "{stderr}"
    );
    let offset = stderr
        .split("--port-offset ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a --port-offset suggestion")
        .to_string();
    let (mut second, moved) = gauntlet_up_with(&stack, &["--port-offset", &offset]);
    let offset: u16 = offset.parse().unwrap();
    assert_eq!(
        moved["gateway"]["proxy"],
        format!("http://127.0.0.1:{}", proxy_port + offset)
    );
    let token = format!("Bearer {}", moved["tokens"]["admin-user"].as_str().unwrap());
    let response = get(
        &format!(
            "{}/api/v1/value-models",
            moved["gateway"]["proxy"].as_str().unwrap()
        ),
        &[("Authorization", &token)],
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(interrupt(&mut second).success());
    assert!(interrupt(&mut first).success());
}
