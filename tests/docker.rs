//! The container target (SPEC §13) against the machine's Docker Engine: the stack as
//! containers, the seed runbook with the literal `docker stop`, cleanup by label, and the error
//! without an engine. Without an engine the engine tests say they were skipped; with
//! `GAUNTLET_REQUIRE_DOCKER=1` (CI) they fail instead.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gauntlet::config::StackDef;
use gauntlet::docker::{self, control, image, DockerStack, EngineFault};
use support::engine::engine_or_skip;
use testcontainers::bollard::query_parameters::ListContainersOptions;

async fn containers_of(engine: &docker::Engine, run: &str) -> Vec<String> {
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("{}={run}", docker::LABEL_RUN)],
    )]);
    let mut names: Vec<String> = engine
        .docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    names.sort();
    names
}

fn admin_bearer(def: &StackDef) -> String {
    let (_, consumer) = def.gateway.consumer_by_name("admin-user").unwrap();
    let credential = consumer.jwt_secrets.first().unwrap();
    // The containers' clocks start at real time.
    let now = gauntlet::clock::StackClock::new().unix_seconds();
    let token = gauntlet::token::issue(
        &credential.key,
        &credential.secret,
        now,
        Duration::from_secs(3600),
    );
    format!("Bearer {token}")
}

/// The literal engine command, as the runbook says it (through the engine API when the docker
/// CLI is not installed).
async fn docker_cli(stack: &DockerStack, action: &str, service: &str) {
    let container = docker::stack::container_name(&stack.run, service);
    let real = std::env::var("GAUNTLET_DOCKER_HOST")
        .unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let status = std::process::Command::new("docker")
        .args([action, &container])
        .env("DOCKER_HOST", real)
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(status) => assert!(status.success(), "docker {action} {container}"),
        Err(_) => {
            let fault = EngineFault::parse(action).unwrap();
            stack.fault(service, fault).await.unwrap();
        }
    }
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_runbook_holds_against_containers() {
    let Some(engine) = engine_or_skip("the_seed_runbook_holds_against_containers").await else {
        return;
    };
    let built = image::ensure(&engine, Path::new(support::gauntlet_bin()), false)
        .await
        .expect("the image builds");
    let def = Arc::new(StackDef::load(&support::root().join("scenarios/valueverse")).unwrap());
    let run = docker::run_name();
    let stack = DockerStack::start(&engine, &built, def.clone(), &run, 7)
        .await
        .expect("the stack starts as containers");
    eprintln!(
        "stack started in {} ms (image {} in {} ms, built: {})",
        stack.startup.as_millis(),
        built.reference(),
        built.took.as_millis(),
        built.built
    );
    for (at, what) in &stack.timeline {
        eprintln!("  {:>6} ms  {what}", at.as_millis());
    }

    // One container per service, sidecar and the gateway, named after the run.
    let names = containers_of(&engine, &run).await;
    for expected in [
        format!("{run}-gateway"),
        format!("{run}-value-architect"),
        format!("{run}-value-architect-sidecar"),
        format!("{run}-value-committer"),
        format!("{run}-value-committer-sidecar"),
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }

    // Through the gateway container: 401 without a token, 200 with one (the gateway reached
    // http://value-architect:8080 by its network alias, over mTLS).
    let models = format!("http://{}/api/v1/value-models", stack.proxy_addr());
    let bearer = admin_bearer(&def);
    let anonymous = support::get(&models, &[]).await;
    assert_eq!(anonymous.status, 401);
    let ok = support::get(&models, &[("authorization", &bearer)]).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    // value-committer calls value-architect through its sidecar's upstream listener.
    let commitments = format!("http://{}/api/v1/commitments", stack.proxy_addr());
    let committed = support::get(&commitments, &[("authorization", &bearer)]).await;
    assert_eq!(
        committed.status,
        200,
        "{}",
        String::from_utf8_lossy(&committed.body)
    );

    // The runbook: `docker stop <run>-value-architect` from outside.
    docker_cli(&stack, "stop", "value-architect").await;
    let public = std::net::SocketAddr::new(stack.pod_ips["value-architect"], 8080);
    wait_until("the pod's port closes", async || {
        tokio::net::TcpStream::connect(public).await.is_err()
    })
    .await;
    let mut failed = 0;
    loop {
        let response = support::get(&models, &[("authorization", &bearer)]).await;
        assert!(
            response.status >= 500,
            "a failed request, got {}",
            response.status
        );
        failed += 1;
        if response.header("x-circuit-breaker-state") == Some("OPEN") {
            break;
        }
        assert!(failed < 5, "the breaker opens within five failed requests");
    }
    let fallback = support::get(&models, &[("authorization", &bearer)]).await;
    assert_eq!(fallback.status, 503);
    assert_eq!(fallback.header("x-circuit-breaker-state"), Some("OPEN"));
    assert_eq!(fallback.json().unwrap()["service"], "value-architect");

    // `docker start`, then 60 s of stack time in every container: HALF-OPEN trials, CLOSED.
    docker_cli(&stack, "start", "value-architect").await;
    wait_until("the pod's port opens", async || {
        tokio::net::TcpStream::connect(public).await.is_ok()
    })
    .await;
    control::advance_all(&stack, r#"{"seconds": 60}"#.into())
        .await
        .expect("every container's clock moves");
    let trial = support::get(&models, &[("authorization", &bearer)]).await;
    assert_eq!(trial.status, 200);
    assert_eq!(trial.header("x-circuit-breaker-state"), Some("HALF-OPEN"));
    support::get(&models, &[("authorization", &bearer)]).await;
    let closed = support::get(&models, &[("authorization", &bearer)]).await;
    assert_eq!(closed.status, 200);
    assert_eq!(closed.header("x-circuit-breaker-state"), Some("CLOSED"));

    // Pause freezes the service: the request hangs instead of being refused.
    stack
        .fault("value-architect", EngineFault::Pause)
        .await
        .unwrap();
    let hung = tokio::time::timeout(
        Duration::from_millis(500),
        support::get(&models, &[("authorization", &bearer)]),
    )
    .await;
    assert!(hung.is_err(), "a paused service answers nothing");
    stack
        .fault("value-architect", EngineFault::Unpause)
        .await
        .unwrap();

    // Links and their toxics in containers, through the host's control API (Toxiproxy's API):
    // every hop is listed, a latency toxic on gateway->value-architect slows the route, reset
    // removes it.
    let stack = Arc::new(stack);
    let listener = gauntlet::http::server::bind_loopback(0).await.unwrap();
    let control_addr = listener.local_addr().unwrap();
    let _control =
        gauntlet::http::server::serve_router(listener, control::router(stack.clone())).unwrap();
    let control_url = |path: &str| format!("http://{control_addr}{path}");
    let proxies = support::send(http::Method::GET, &control_url("/proxies"), &[], None).await;
    assert_eq!(proxies.status, 200);
    let proxies = proxies.json().unwrap();
    for link in [
        "client->gateway",
        "gateway->value-architect",
        "value-committer->value-architect",
    ] {
        assert!(proxies.get(link).is_some(), "{link} in {proxies}");
    }
    let toxic = serde_json::json!({
        "name": "slow", "type": "latency", "stream": "downstream", "toxicity": 1.0,
        "attributes": {"latency": 300}
    });
    let added = support::send(
        http::Method::POST,
        &control_url("/proxies/gateway-%3Evalue-architect/toxics"),
        &[],
        Some(toxic),
    )
    .await;
    assert_eq!(
        added.status,
        200,
        "{}",
        String::from_utf8_lossy(&added.body)
    );
    let timed = gauntlet::clock::Stopwatch::start();
    let slowed = support::get(&models, &[("authorization", &bearer)]).await;
    assert_eq!(slowed.status, 200);
    assert!(
        timed.elapsed() >= Duration::from_millis(300),
        "the latency toxic slowed the route: {:?}",
        timed.elapsed()
    );
    let reset = support::send(http::Method::POST, &control_url("/reset"), &[], None).await;
    assert_eq!(reset.status, 204);
    let after = support::send(http::Method::GET, &control_url("/proxies"), &[], None).await;
    assert_eq!(
        after.json().unwrap()["gateway->value-architect"]["toxics"],
        serde_json::json!([])
    );

    // Everything goes at the end: no container, no network of the run is left.
    stack.shutdown().await;
    assert_eq!(containers_of(&engine, &run).await, Vec::<String>::new());
    let networks = engine.docker.list_networks(None).await.unwrap();
    assert!(networks
        .iter()
        .all(|n| n.name.as_deref() != Some(run.as_str())));
}

#[test]
fn without_an_engine_up_names_the_socket_and_exits_2() {
    let output = std::process::Command::new(support::gauntlet_bin())
        .args(["up", "--target", "docker", "--stack"])
        .arg(support::root().join("scenarios/valueverse"))
        .env_remove("GAUNTLET_DOCKER_HOST")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/docker.sock"), "{stderr}");
    assert!(stderr.contains("DOCKER_HOST"), "{stderr}");
}

/// The mock-services binary cargo built beside gauntlet's (built here when this test binary
/// was built alone).
fn mock_service_bin() -> std::path::PathBuf {
    let dir = Path::new(support::gauntlet_bin()).parent().unwrap();
    let bin = dir.join("mock-service");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.args([
            "build",
            "-j",
            "2",
            "-p",
            "mock-services",
            "--bin",
            "mock-service",
        ]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "mock-service builds");
    }
    bin
}

/// A user image made in the test: the mock-services binary under another name, as a service
/// team's own image would be, with `args` after it; removed when dropped.
struct UserImage {
    engine: docker::Engine,
    reference: String,
}

impl UserImage {
    async fn build(engine: &docker::Engine, name: &str, args: &[&str]) -> UserImage {
        let reference = format!("{name}:{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut entrypoint = vec!["/usr/local/bin/architect-api"];
        entrypoint.extend_from_slice(args);
        image::build_scratch(
            &mock_service_bin(),
            "/usr/local/bin/architect-api",
            &entrypoint,
            &reference,
            &[],
            false,
        )
        .await
        .expect("the user image builds");
        UserImage {
            engine: engine.clone(),
            reference,
        }
    }
}

impl Drop for UserImage {
    fn drop(&mut self) {
        let engine = self.engine.clone();
        let reference = self.reference.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let options =
                    testcontainers::bollard::query_parameters::RemoveImageOptionsBuilder::new()
                        .force(true)
                        .build();
                let _ = engine
                    .docker
                    .remove_image(&reference, Some(options), None)
                    .await;
            });
        })
        .join();
    }
}

/// valueverse with value-architect as `image: <reference>` listening on `port`.
fn stack_with_image(reference: &str, port: u16) -> (tempfile::TempDir, Arc<StackDef>) {
    let dir = tempfile::tempdir().unwrap();
    let source = support::root().join("scenarios/valueverse");
    for entry in std::fs::read_dir(&source).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let stack_yml = dir.path().join("stack.yml");
    let text = std::fs::read_to_string(&stack_yml).unwrap();
    let replaced = text.replace(
        "  value-architect:\n    mock: value-architect\n",
        &format!("  value-architect:\n    image: {reference}\n    port: {port}\n"),
    );
    assert_ne!(replaced, text, "valueverse's value-architect is a mock");
    std::fs::write(&stack_yml, replaced).unwrap();
    let def = Arc::new(StackDef::load(dir.path()).unwrap());
    (dir, def)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_image_runs_behind_gauntlets_sidecar_and_gateway() {
    let Some(engine) =
        engine_or_skip("a_user_image_runs_behind_gauntlets_sidecar_and_gateway").await
    else {
        return;
    };
    let (built, user, broken) = futures::join!(
        image::ensure(&engine, Path::new(support::gauntlet_bin()), false),
        UserImage::build(
            &engine,
            "gauntlet-test-architect",
            &["value-architect", "--port", "9500"]
        ),
        UserImage::build(
            &engine,
            "gauntlet-test-broken",
            &["no-such-service", "--port", "9500"]
        ),
    );
    let built = built.expect("the image builds");

    // The user's image in value-architect's pod: the gateway reaches it through Gauntlet's
    // sidecar (mTLS, journal) exactly as it reached the mock.
    let (_dir, def) = stack_with_image(&user.reference, 9500);
    let run = docker::run_name();
    let stack = DockerStack::start(&engine, &built, def.clone(), &run, 7)
        .await
        .expect("the stack starts with the user image");
    let models = format!("http://{}/api/v1/value-models", stack.proxy_addr());
    let ok = support::get(&models, &[("authorization", &admin_bearer(&def))]).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let container = docker::stack::container_name(&run, "value-architect");
    let inspected = engine
        .docker
        .inspect_container(&container, None)
        .await
        .unwrap();
    assert_eq!(
        inspected.config.and_then(|c| c.image).as_deref(),
        Some(user.reference.as_str())
    );
    let sidecar = stack.sidecar_control("value-architect").unwrap();
    let (status, journal) = control::send(
        sidecar,
        http::Method::GET,
        "/services/value-architect/journal",
        Default::default(),
    )
    .await
    .unwrap();
    assert!(status.is_success());
    assert!(
        String::from_utf8_lossy(&journal).contains("/api/v1/value-models"),
        "the sidecar in front of the image saw the request: {}",
        String::from_utf8_lossy(&journal)
    );
    stack.shutdown().await;
    assert_eq!(containers_of(&engine, &run).await, Vec::<String>::new());

    // An image whose process dies: the start fails naming its container and its last words.
    let (_dir, def) = stack_with_image(&broken.reference, 9500);
    let run = docker::run_name();
    let error = DockerStack::start(&engine, &built, def, &run, 7)
        .await
        .expect_err("a dead service container fails the start");
    let message = error.to_string();
    assert!(
        message.contains(&docker::stack::container_name(&run, "value-architect")),
        "{message}"
    );
    assert!(message.contains("no-such-service"), "{message}");
    assert_eq!(containers_of(&engine, &run).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_user_image_missing_locally_names_docker_build_and_load_and_exits_2() {
    let Some(_engine) =
        engine_or_skip("a_user_image_missing_locally_names_docker_build_and_load_and_exits_2")
            .await
    else {
        return;
    };
    let (dir, _def) = stack_with_image("gauntlet-test-missing:none", 9500);
    let output = std::process::Command::new(support::gauntlet_bin())
        .args(["up", "--target", "docker", "--stack"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "gauntlet-test-missing:none",
        "docker build",
        "docker load",
        "value-architect",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
}

/// The containers and networks of a stack named `stack` (its `stack.yml` name), any run.
async fn labelled(engine: &docker::Engine, stack: &str) -> (usize, usize) {
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("gauntlet.stack={stack}")],
    )]);
    let containers = engine
        .docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .len();
    let networks = engine
        .docker
        .list_networks(Some(
            testcontainers::bollard::query_parameters::ListNetworksOptions {
                filters: Some(filters),
            },
        ))
        .await
        .unwrap()
        .len();
    (containers, networks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_the_containers_start_leaves_nothing_behind() {
    let Some(engine) =
        engine_or_skip("ctrl_c_while_the_containers_start_leaves_nothing_behind").await
    else {
        return;
    };
    // The image first, so that the interrupt lands while containers are being made.
    image::ensure(&engine, Path::new(support::gauntlet_bin()), false)
        .await
        .expect("the image builds");
    // valueverse under a name of its own, to find this run's containers among other tests'.
    let name = format!(
        "interrupted-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(support::root().join("scenarios/valueverse"))
        .unwrap()
        .flatten()
    {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let stack_yml = dir.path().join("stack.yml");
    let text = std::fs::read_to_string(&stack_yml)
        .unwrap()
        .replace("name: valueverse", &format!("name: {name}"));
    std::fs::write(&stack_yml, text).unwrap();
    let child = std::process::Command::new(support::gauntlet_bin())
        .args([
            "up",
            "--target",
            "docker",
            "--json",
            "--port-offset",
            "4000",
            "--stack",
        ])
        .arg(dir.path())
        .env("GAUNTLET_IMAGE_BINARY", support::gauntlet_bin())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = support::ChildGuard(child);
    wait_until("the first container exists", async || {
        labelled(&engine, &name).await.0 > 0
    })
    .await;
    let status = support::interrupt(&mut child);
    assert_eq!(status.code(), Some(130), "{status}");
    assert_eq!(
        labelled(&engine, &name).await,
        (0, 0),
        "nothing of the run is left"
    );
}

/// The live consoles over containers (issue 19): a service container stopped with the runbook's
/// `docker stop` shows as stopped in both consoles' data, and after five requests its breaker is
/// OPEN on the chaos console (drawn so in headless Chromium when it is installed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_show_a_stopped_container_and_its_breaker_opening() {
    let test = "the_consoles_show_a_stopped_container_and_its_breaker_opening";
    let Some(engine) = engine_or_skip(test).await else {
        return;
    };
    let built = image::ensure(&engine, Path::new(support::gauntlet_bin()), false)
        .await
        .expect("the image builds");
    let def = Arc::new(StackDef::load(&support::root().join("scenarios/valueverse")).unwrap());
    let run = docker::run_name();
    let stack = Arc::new(
        DockerStack::start(&engine, &built, def.clone(), &run, 11)
            .await
            .expect("the stack starts as containers"),
    );
    // Both consoles as `up --target docker` serves them (without a token).
    use gauntlet::api::console::{pages, Console};
    use gauntlet::http::server::{bind_loopback, serve_router};
    let control_listener = bind_loopback(0).await.unwrap();
    let control = format!("http://{}", control_listener.local_addr().unwrap());
    let _control = serve_router(
        control_listener,
        control::router(stack.clone()).merge(pages(Console::Chaos)),
    )
    .unwrap();
    let states = docker::console::EngineStates::follow(&stack);
    let catalog_listener = bind_loopback(0).await.unwrap();
    let catalog = format!("http://{}", catalog_listener.local_addr().unwrap());
    let _catalog = serve_router(
        catalog_listener,
        docker::console::catalog_router(stack.clone(), states, None)
            .expect("valueverse has a mesh"),
    )
    .unwrap();
    let health = |answer: &serde_json::Value, list: &str| {
        answer[list]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "value-architect"))
            .map(|s| s["health"].clone())
    };
    let overview = support::get(&format!("{control}/"), &[]).await;
    assert_eq!(overview.status, 200);
    assert_eq!(
        health(&overview.json().unwrap(), "services"),
        Some("up".into())
    );

    docker_cli(&stack, "stop", "value-architect").await;
    wait_until(
        "value-architect shown stopped on both consoles",
        async || {
            let overview = support::get(&format!("{control}/"), &[]).await.json();
            let topology = support::get(&format!("{catalog}/v1/internal/ui/topology"), &[])
                .await
                .json();
            overview.is_some_and(|o| health(&o, "services") == Some("stopped".into()))
                && topology.is_some_and(|t| health(&t, "services") == Some("stopped".into()))
        },
    )
    .await;

    let models = format!("http://{}/api/v1/value-models", stack.proxy_addr());
    let bearer = admin_bearer(&def);
    for _ in 0..5 {
        let r = support::get(&models, &[("authorization", &bearer)]).await;
        assert!(r.status >= 500, "a stopped service fails: {}", r.status);
    }
    let breakers = support::get(&format!("{control}/breakers"), &[]).await;
    assert_eq!(
        breakers.status,
        200,
        "{}",
        String::from_utf8_lossy(&breakers.body)
    );
    let breakers = breakers.json().unwrap();
    let architect = breakers["data"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["service"] == "value-architect"))
        .unwrap_or_else(|| panic!("value-architect's breaker in {breakers}"));
    assert_eq!(architect["state"], "OPEN", "{architect}");
    for path in ["/traffic", "/traces?limit=15", "/clock", "/proxies"] {
        let r = support::get(&format!("{control}{path}"), &[]).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }

    let page = format!("{control}/ui/");
    let drawn = [
        r#"<tr data-service="value-architect" data-state="OPEN">"#,
        r#"<tr data-service="value-architect" data-health="stopped">"#,
    ];
    // Up to three loads of the page: beside the other container tests a first load can end
    // its time budget before the containers' answers arrive; a console that never draws the
    // state fails all three.
    let mut last = None;
    for _ in 0..3 {
        let page = page.clone();
        let dumped = tokio::task::spawn_blocking(move || {
            support::chromium::Chromium::find().map(|c| {
                c.dump_dom(
                    &page,
                    support::chromium::Network::Loopback,
                    Some(Duration::from_secs(3)),
                )
            })
        })
        .await
        .unwrap();
        let Some(dumped) = dumped else { break };
        let done = drawn.iter().all(|d| dumped.dom.contains(d));
        last = Some(dumped);
        if done {
            break;
        }
    }
    if let Some(page) = last {
        for drawn in drawn {
            assert!(page.dom.contains(drawn), "{drawn} in {}", page.dom);
        }
        assert!(
            page.console.is_empty(),
            "console messages: {:#?}",
            page.console
        );
    }
    stack.shutdown().await;
}
