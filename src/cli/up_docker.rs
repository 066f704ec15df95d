//! `gauntlet up --target docker`: the stack as containers on a run network ([`crate::docker`]),
//! with the gateway proxy, its admin API and the control API forwarded to the fixed loopback
//! ports of `stack.yml`, until Ctrl-C; then every container and the network are removed.
//! The live consoles are served as for the in-process stack, their data gathered from the
//! containers ([`crate::docker::console`]): chaos on the control port, topology on the catalog
//! port (mesh only). The control API and the topology data honour `--api-token`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::up::UpArgs;
use super::Exit;
use crate::api::access::{self, ApiToken};
use crate::api::console;
use crate::config::StackDef;
use crate::docker::{self, engine, image, DockerStack};
use crate::http::server::{accept_loop, bind_loopback, serve_router};
use crate::token;

pub async fn execute(args: UpArgs, def: Arc<StackDef>) -> Exit {
    // The engine first: without one nothing is started.
    let engine = match engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    // Every service runnable (a user image present locally), before anything is built or bound.
    if let Err(e) = docker::stack::check_runtimes(&engine, &def).await {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    let ports = def.topology.ports.clone();
    let token = ApiToken::from_arg_or_env(args.api_token.as_deref());
    // The loopback ports too, before any container exists (the catalog's for the topology
    // console, with a mesh).
    let catalog = match def.mesh {
        Some(_) => Some(bind_loopback(ports.catalog).await),
        None => None,
    };
    let (proxy, admin, control, catalog) = match (
        bind_loopback(ports.gateway_proxy).await,
        bind_loopback(ports.gateway_admin).await,
        bind_loopback(ports.control).await,
        catalog.transpose(),
    ) {
        (Ok(p), Ok(a), Ok(c), Ok(k)) => (p, a, c, k),
        (p, a, c, k) => {
            for (port, result) in [
                (ports.gateway_proxy, p.err()),
                (ports.gateway_admin, a.err()),
                (ports.control, c.err()),
                (ports.catalog, k.err()),
            ] {
                if let Some(e) = result {
                    eprintln!("error: cannot bind 127.0.0.1:{port}: {e}");
                }
            }
            return Exit::Usage;
        }
    };
    let binary = match image::own_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let built = match image::ensure(&engine, &binary, false).await {
        Ok(built) => built,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let run = docker::run_name();
    // Ctrl-C while the containers start: whatever the engine made so far goes, by the run's
    // label (the stack is not whole yet, so nothing else knows it).
    let started = tokio::select! {
        started = DockerStack::start(&engine, &built, def.clone(), &run, seed) => started,
        signal = super::interrupted() => {
            eprintln!("interrupted while starting: removing run {run}");
            docker::prune::prune_run(&engine, Some(&run)).await;
            return Exit::Interrupted(signal);
        }
    };
    let stack = match started {
        Ok(stack) => Arc::new(stack),
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::of_container_error(&e);
        }
    };
    let proxy_forward = forward(proxy, stack.proxy_addr());
    let admin_forward = forward(admin, stack.admin_addr());
    // The control API behind the token, and the chaos console's pages (no data in them).
    let control_router = access::guard(
        docker::control::router(stack.clone()),
        token.as_ref(),
        access::Scheme::Bearer,
    )
    .merge(console::pages(console::Console::Chaos));
    let catalog_router = docker::console::catalog_router(
        stack.clone(),
        docker::console::EngineStates::follow(&stack),
        token.as_ref(),
    );
    let servers = serve_router(control, control_router).and_then(|control| {
        let catalog = match (catalog, catalog_router) {
            (Some(listener), Some(router)) => Some(serve_router(listener, router)?),
            _ => None,
        };
        Ok((control, catalog))
    });
    let (control_server, catalog_server) = match servers {
        Ok(servers) => servers,
        Err(e) => {
            eprintln!("error: cannot serve the control API or the topology console: {e}");
            stack.shutdown().await;
            return Exit::Usage;
        }
    };
    let exits = tokio::spawn(report_exits(stack.clone()));
    let summary = describe(
        &stack,
        &ports,
        &built.reference(),
        catalog_server.as_ref().map(|c| c.addr()),
    );
    if args.json {
        println!("{summary}");
    } else {
        print_human(&summary);
    }
    let _ = super::interrupted().await;
    eprintln!("stopping {} (removing run {run})", def.name());
    exits.abort();
    proxy_forward.abort();
    admin_forward.abort();
    drop(control_server);
    drop(catalog_server);
    stack.shutdown().await;
    Exit::Success
}

/// Says on stderr when a container of the stack exits (a fault, `docker stop`, or a crash), with
/// its last log lines when it did not exit cleanly.
async fn report_exits(stack: Arc<DockerStack>) {
    use futures::StreamExt;
    let exits = stack.exits();
    futures::pin_mut!(exits);
    while let Some((container, code)) = exits.next().await {
        // 0: a clean stop; 143: SIGTERM (`docker stop`); 137: SIGKILL (`docker kill`).
        if matches!(code.as_str(), "0" | "143" | "137") {
            eprintln!("container {container} exited (code {code})");
        } else {
            let logs = stack.last_logs(&container, 10).await;
            eprintln!("container {container} died (exit code {code}); its last log lines:\n{logs}");
        }
    }
}

/// Forwards every connection on `listener` to `target` on the run network.
fn forward(listener: tokio::net::TcpListener, target: SocketAddr) -> tokio::task::JoinHandle<()> {
    accept_loop(listener, move |mut inbound, _| async move {
        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
            let _ = outbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        }
    })
}

fn describe(
    stack: &DockerStack,
    ports: &crate::config::topology::FixedPorts,
    image: &str,
    catalog: Option<SocketAddr>,
) -> serde_json::Value {
    let now = crate::clock::StackClock::new().unix_seconds();
    let lifetime = stack
        .def
        .gateway
        .usable_token_lifetime(Duration::from_secs(3600));
    let tokens: serde_json::Map<String, serde_json::Value> = stack
        .def
        .gateway
        .consumers
        .iter()
        .filter_map(|c| {
            let credential = c.jwt_secrets.first()?;
            let jwt = token::issue(&credential.key, &credential.secret, now, lifetime);
            Some((c.display_name(), json!(jwt)))
        })
        .collect();
    let containers: serde_json::Map<String, serde_json::Value> = stack
        .pod_ips
        .iter()
        .map(|(name, ip)| {
            (
                name.clone(),
                json!({
                    "container": docker::stack::container_name(&stack.run, name),
                    "sidecar": format!("{}-sidecar", docker::stack::container_name(&stack.run, name)),
                    "address": format!("{ip}:{}", docker::role::public_port(&stack.def, name)),
                }),
            )
        })
        .collect();
    json!({
        "stack": stack.def.name(),
        "target": "docker",
        "run": stack.run,
        "network": stack.network,
        "image": image,
        "gateway": {
            "proxy": format!("http://127.0.0.1:{}", ports.gateway_proxy),
            "admin": format!("http://127.0.0.1:{}", ports.gateway_admin),
            "container": docker::stack::container_name(&stack.run, "gateway"),
        },
        "control": format!("http://127.0.0.1:{}", ports.control),
        // The live consoles: topology on the catalog port (mesh only), chaos on the control port.
        "consoles": {
            "topology": catalog.map(|c| format!("http://{c}/ui/dc1/services")),
            "chaos": format!("http://127.0.0.1:{}/ui/", ports.control),
        },
        "seed": stack.seed,
        "services": containers,
        "tokens": tokens,
        "token_lifetime_seconds": lifetime.as_secs(),
        "startup_ms": stack.startup.as_secs_f64() * 1000.0,
        // Where the start-up's time went: each step with when it finished.
        "startup_steps": stack
            .timeline
            .iter()
            .map(|(at, step)| json!({"ms": at.as_millis() as u64, "step": step}))
            .collect::<Vec<_>>(),
    })
}

fn print_human(summary: &serde_json::Value) {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    println!(
        "stack {} is up in containers ({:.0} ms), run {} on network {} (image {})",
        s(&summary["stack"]),
        summary["startup_ms"].as_f64().unwrap_or(0.0),
        s(&summary["run"]),
        s(&summary["network"]),
        s(&summary["image"]),
    );
    println!("  gateway proxy  {}", s(&summary["gateway"]["proxy"]));
    println!("  gateway admin  {}", s(&summary["gateway"]["admin"]));
    println!(
        "  control        {}   (gauntlet chaos …; fault seed {})",
        s(&summary["control"]),
        summary["seed"]
    );
    if let Some(topology) = summary["consoles"]["topology"].as_str() {
        println!("  console        {topology}   (services, mesh graph, intentions)");
    }
    println!(
        "  console        {}   (breakers, traffic, faults and toxics)",
        s(&summary["consoles"]["chaos"])
    );
    if let Some(services) = summary["services"].as_object() {
        for (name, pod) in services {
            println!(
                "  {name:<15} container {} (sidecar {}, {})",
                s(&pod["container"]),
                s(&pod["sidecar"]),
                s(&pod["address"])
            );
        }
    }
    println!("tokens (valid {} s):", summary["token_lifetime_seconds"]);
    if let Some(tokens) = summary["tokens"].as_object() {
        for (consumer, jwt) in tokens {
            println!("  {consumer}: {}", s(jwt));
        }
    }
    let run = s(&summary["run"]);
    println!("try:\n  docker stop {run}-value-architect   # the breaker opens after 5 failures\n  docker start {run}-value-architect");
    println!("Ctrl-C stops and removes every container.");
}
