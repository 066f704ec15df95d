//! `gauntlet up`: the stack on the fixed ports of `stack.yml` (moved by `--port-offset N`), for
//! exploration with curl, until Ctrl-C. After each clock jump (`gauntlet chaos advance`) it
//! prints fresh tokens, valid on the stack's new time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::Exit;
use crate::api::access::{self, ApiToken};
use crate::api::{console, control};
use crate::config::StackDef;
use crate::http::server::{bind_loopback, serve_router};
use crate::stack::{PortPlan, Stack, StackError};
pub use crate::target::Target;
use crate::token;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Stack definition folder.
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
    /// Print one JSON object with the endpoints and tokens once ready.
    #[arg(long)]
    pub json: bool,
    /// Seed of the random fault choices (random when absent; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the mesh's CA and every identity's certificate and key are written, for
    /// `openssl s_client` and `curl --cert`.
    #[arg(long, default_value = "target/gauntlet-up")]
    pub certs_dir: PathBuf,
    /// Require this token on the control, admin and catalog APIs (default: GAUNTLET_API_TOKEN;
    /// off when neither is set): `Authorization: Bearer <token>`, or Consul's `X-Consul-Token`
    /// on the catalog. For shared machines, where any local process could reach the APIs.
    #[arg(long, hide_env_values = true)]
    pub api_token: Option<String>,
    /// Move every fixed port of stack.yml up by N (the `ports:` block and the upstream
    /// listeners), to run a second stack beside the first.
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// Where the stack runs: in this process, or as containers on a Docker network (SPEC §13).
    #[arg(long, value_enum, default_value_t = Target::Process)]
    pub target: Target,
    /// Export the stack's spans every second (gateway stages, upstream attempts, sidecar hops, faults and toxics)
    /// with OTLP over HTTP (protobuf) to a collector or Jaeger, e.g. `http://127.0.0.1:4318`
    /// (spans go to /v1/traces; a URL with a path is used as is). Off by default. Loopback
    /// only: Gauntlet sends network traffic only to loopback (127.0.0.0/8, ::1, localhost), so
    /// any other host is refused (exit 2).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

pub async fn execute(args: UpArgs) -> Exit {
    let mut def = match StackDef::load(&args.stack) {
        Ok(def) => def,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    for warning in &def.warnings {
        eprintln!("warning: {warning}");
    }
    if let Err(e) = def.topology.shift_ports(args.port_offset) {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    let def = Arc::new(def);
    let otlp = match super::otlp_exporter(args.otlp_endpoint.as_deref()) {
        Ok(otlp) => otlp,
        Err(exit) => return exit,
    };
    if args.target == Target::Docker {
        if otlp.is_some() {
            eprintln!("warning: --otlp-endpoint exports the in-process stack's spans; the containers of --target docker record none");
        }
        return super::up_docker::execute(args, def).await;
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let control_port = def.topology.ports.control;
    let token = ApiToken::from_arg_or_env(args.api_token.as_deref());
    // Caught from here on: whoever reads the addresses below may send Ctrl-C at once.
    let mut signals = super::Interrupts::listen();
    let stack = match Stack::start_guarded(def.clone(), PortPlan::Fixed, seed, token.clone()).await
    {
        Ok(stack) => stack,
        Err(StackError::Bind { what, port, source })
            if source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            eprintln!("error: {}", port_taken(&what, port, &def, &args));
            return Exit::Usage;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    // Nothing checks the invariants of a stack explored by hand: their trail would grow with
    // every request for as long as `up` runs.
    stack.gateway.state.keep_no_trail();
    // The control API (faults, process faults, clock) for `gauntlet chaos` and curl.
    let control = match bind_loopback(control_port).await.and_then(|listener| {
        let router = access::guard(
            control::router(stack.control_target()),
            token.as_ref(),
            access::Scheme::Bearer,
        )
        // The chaos console's pages (no data in them; what they poll is behind the token).
        .merge(console::pages(console::Console::Chaos));
        serve_router(listener, router)
    }) {
        Ok(control) => control,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "error: {}",
                port_taken("the control API", control_port, &def, &args)
            );
            return Exit::Usage;
        }
        Err(e) => {
            eprintln!("error: cannot serve the control API on 127.0.0.1:{control_port}: {e}");
            return Exit::Usage;
        }
    };
    let certs = match &stack.mesh {
        Some(mesh) => match write_certs(mesh, &args.certs_dir) {
            Ok(()) => Some(args.certs_dir.clone()),
            Err(e) => {
                eprintln!(
                    "error: cannot write the mesh certificates to {}: {e}",
                    args.certs_dir.display()
                );
                return Exit::Usage;
            }
        },
        None => None,
    };
    let mut summary = describe(&stack, &format!("http://{}", control.addr()));
    if let Some(dir) = certs {
        summary["mesh"]["certs_dir"] = json!(dir.display().to_string());
    }
    if args.json {
        println!("{summary}");
    } else {
        print_human(&summary);
    }
    // The spans, to the collector every second, from the stack's one store.
    let following = otlp
        .as_ref()
        .map(|o| o.follow(stack.traces().clone(), Duration::from_secs(1)));
    // Ctrl-C is how `up` ends: a normal stop, exit 0. Until then, fresh tokens after each jump.
    let mut seen = stack.clock.offset();
    loop {
        tokio::select! {
            _ = signals.next() => break,
            () = stack.clock.jumped_since(seen) => {
                seen = stack.clock.offset();
                let tokens = json!({
                    "clock_offset_seconds": seen.as_secs_f64(),
                    "tokens": fresh_tokens(&stack),
                });
                // Whoever reads the output may be gone: that never stops the stack.
                let text = if args.json {
                    format!("{tokens}\n")
                } else {
                    tokens_after_jump(&tokens)
                };
                let mut out = std::io::stdout().lock();
                let _ = std::io::Write::write_all(&mut out, text.as_bytes())
                    .and_then(|()| std::io::Write::flush(&mut out));
            }
        }
    }
    if let (Some(following), Some(otlp)) = (following, &otlp) {
        following.abort();
        otlp.send(stack.traces().spans_since(otlp.followed()).0);
        otlp.flush().await;
    }
    eprintln!("stopping {}", stack.def.name());
    drop(control);
    drop(stack);
    Exit::Success
}

/// Why `up` could not bind a fixed port, and the `--port-offset` that would move every fixed
/// port of the stack to free ones.
fn port_taken(what: &str, port: u16, def: &StackDef, args: &UpArgs) -> String {
    let hint = match free_offset(&def.topology, args.port_offset) {
        Some(n) => format!(
            "; to run a second stack beside it, move every fixed port: gauntlet up --stack {} --port-offset {n}",
            args.stack.display()
        ),
        None => String::new(),
    };
    format!("port {port} ({what}) is taken on 127.0.0.1 (another `gauntlet up`?){hint}")
}

/// The first extra offset (in hundreds) at which every fixed port of `topology` is free, added
/// to `current`.
fn free_offset(topology: &crate::config::topology::Topology, current: u16) -> Option<u16> {
    (1..=50u16).map(|k| k * 100).find_map(|extra| {
        let mut shifted = topology.clone();
        shifted.shift_ports(extra).ok()?;
        let held: Vec<std::net::TcpListener> = shifted
            .fixed_ports()
            .iter()
            .map(|(_, port)| std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, *port)))
            .collect::<Result<_, _>>()
            .ok()?;
        drop(held);
        current.checked_add(extra)
    })
}

/// One ready-to-use token per consumer, on the stack's clock: valid one hour, or less when the
/// jwt plugin caps token lifetimes.
fn fresh_tokens(stack: &Stack) -> serde_json::Map<String, serde_json::Value> {
    let now = stack.clock.unix_seconds();
    let lifetime = token_lifetime(stack);
    stack
        .def
        .gateway
        .consumers
        .iter()
        .filter_map(|c| {
            // Asymmetric credentials sign with a private key Gauntlet does not hold
            // (`gauntlet token --consumer NAME --key-file PEM`).
            let credential = c.jwt_secrets.first().filter(|c| c.algorithm.is_hmac())?;
            let jwt = token::issue(
                &credential.key,
                &credential.secret,
                now,
                Duration::from_secs(lifetime),
            );
            Some((c.display_name(), json!(jwt)))
        })
        .collect()
}

fn token_lifetime(stack: &Stack) -> u64 {
    stack
        .def
        .gateway
        .usable_token_lifetime(Duration::from_secs(3600))
        .as_secs()
}

/// Endpoints and one ready-to-use token per consumer.
pub fn describe(stack: &Stack, control_url: &str) -> serde_json::Value {
    let tokens = fresh_tokens(stack);
    let lifetime = token_lifetime(stack);
    let services: serde_json::Map<String, serde_json::Value> = stack
        .services
        .iter()
        .map(|(name, s)| (name.clone(), json!(s.url())))
        .collect();
    let mesh = stack.mesh.as_ref().map(|_| {
        let sidecars: serde_json::Map<String, serde_json::Value> = stack
            .services
            .iter()
            .map(|(name, s)| {
                let admin = stack
                    .sidecar_admins
                    .get(name)
                    .map(|a| format!("http://{}", a.addr()));
                (
                    name.clone(),
                    json!({
                        "public": s.addr().to_string(),
                        "admin": admin,
                        "service": s.app_addr().to_string(),
                    }),
                )
            })
            .collect();
        json!({
            "catalog": stack.catalog.as_ref().map(|c| format!("http://{}", c.addr())),
            "sidecars": sidecars,
        })
    });
    json!({
        "stack": stack.def.name(),
        "mesh": mesh,
        "gateway": {"proxy": stack.proxy_url(), "admin": stack.admin_url()},
        "control": control_url,
        // The live consoles (SPEC §14): topology on the catalog port, chaos on the control port.
        "consoles": {
            "topology": stack.catalog.as_ref().map(|c| format!("http://{}/ui/dc1/services", c.addr())),
            "chaos": format!("{control_url}/ui/"),
        },
        "seed": stack.seed,
        "services": services,
        "tokens": tokens,
        "token_lifetime_seconds": lifetime,
        "links": stack.links.all().iter().map(|l| json!({
            "name": l.name(), "listen": l.listen(), "upstream": l.upstream(),
        })).collect::<Vec<_>>(),
        "startup_ms": stack.startup.as_secs_f64() * 1000.0,
    })
}

fn print_human(summary: &serde_json::Value) {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    println!(
        "stack {} is up ({:.1} ms)",
        s(&summary["stack"]),
        summary["startup_ms"].as_f64().unwrap_or(0.0)
    );
    println!("  gateway proxy  {}", s(&summary["gateway"]["proxy"]));
    println!("  gateway admin  {}", s(&summary["gateway"]["admin"]));
    println!(
        "  control        {}   (gauntlet chaos …; fault seed {})",
        s(&summary["control"]),
        summary["seed"]
    );
    if let Some(services) = summary["services"].as_object() {
        let mesh = summary["mesh"].is_object();
        for (name, url) in services {
            if mesh {
                let sidecar = &summary["mesh"]["sidecars"][name];
                println!(
                    "  {name:<15} {}  (sidecar admin {}; the service itself {})",
                    s(url),
                    s(&sidecar["admin"]),
                    s(&sidecar["service"])
                );
            } else {
                println!("  {name:<15} {}", s(url));
            }
        }
    }
    if summary["mesh"].is_object() {
        println!("  catalog        {}", s(&summary["mesh"]["catalog"]));
        println!(
            "  certificates   {}/ (ca.pem, <identity>.pem, <identity>-key.pem)",
            s(&summary["mesh"]["certs_dir"])
        );
    }
    if let Some(topology) = summary["consoles"]["topology"].as_str() {
        println!("  console        {topology}   (services, mesh graph, intentions)");
    }
    println!(
        "  console        {}   (breakers, traffic, faults and toxics)",
        s(&summary["consoles"]["chaos"])
    );
    if let Some(links) = summary["links"].as_array().filter(|l| !l.is_empty()) {
        println!("links (Toxiproxy API on the control port; gauntlet chaos toxic|link …):");
        for link in links {
            println!("  {}", s(&link["name"]));
        }
    }
    println!("tokens (valid {} s):", summary["token_lifetime_seconds"]);
    if let Some(tokens) = summary["tokens"].as_object() {
        for (consumer, jwt) in tokens {
            println!("  {consumer}: {}", s(jwt));
        }
    }
    let proxy = s(&summary["gateway"]["proxy"]);
    let admin_token = summary["tokens"]
        .as_object()
        .and_then(|t| t.values().next())
        .map(s)
        .unwrap_or_default();
    let control = s(&summary["control"]);
    let service = summary["services"]
        .as_object()
        .and_then(|s| s.keys().next().cloned())
        .unwrap_or_default();
    println!("try:\n  curl -i {proxy}/api/v1/value-models\n  curl -i -H \"Authorization: Bearer {admin_token}\" {proxy}/api/v1/value-models");
    println!(
        "  gauntlet chaos --control {control} stop {service}   # then watch the breaker: curl {}/breakers",
        s(&summary["gateway"]["admin"])
    );
    println!("  gauntlet chaos toxic add gateway->value-architect -t latency -a latency=200   # a slow link");
    println!(
        "  export {}={control}   # then plain `gauntlet chaos status` and `gauntlet token` use this stack",
        super::chaos::CONTROL_ENV
    );
    println!("Ctrl-C stops the stack.");
}

/// The tokens `up` prints after a clock jump: the old ones may have expired on the stack.
fn tokens_after_jump(update: &serde_json::Value) -> String {
    let mut text = format!(
        "clock jumped: the stack is {} s ahead of real time; tokens valid from now:\n",
        update["clock_offset_seconds"]
    );
    for (consumer, jwt) in update["tokens"].as_object().into_iter().flatten() {
        text.push_str(&format!(
            "  {consumer}: {}\n",
            jwt.as_str().unwrap_or_default()
        ));
    }
    text
}

/// Writes `ca.pem` and, for every mesh identity, `<identity>.pem` and `<identity>-key.pem`.
/// The keys are the running stack's own test identities, written owner-readable only.
fn write_certs(
    mesh: &crate::mesh::runtime::StackMesh,
    dir: &std::path::Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), mesh.ca.cert_pem())?;
    for (identity, leaf) in mesh.leaves() {
        std::fs::write(dir.join(format!("{identity}.pem")), leaf.cert_pem())?;
        let key = dir.join(format!("{identity}-key.pem"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            // Owner-only from the first byte (an older file keeps its mode: set it too).
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            if key.exists() {
                std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        std::io::Write::write_all(&mut options.open(&key)?, leaf.private_key_pem().as_bytes())?;
    }
    Ok(())
}
