//! Unit tests of the `stack.yml` loader, on inline documents (line numbers count from `STACK`).

use super::*;
use crate::config::gateway::Service;
use std::time::Duration;

const STACK: &str = "\
name: demo
gateway:
  mesh_identity: api-gateway
services:
  value-committer:
    mock: value-committer
    upstreams:
      - service: value-architect
        local_port: 9191
  value-architect:
    mock: value-architect
  postgres:
    command: {program: pg-mock, args: [\"--port={port}\"]}
    protocol: tcp
ports:
  services:
    value-architect: 9001
";

fn gateway(hosts: &[&str]) -> GatewayConfig {
    GatewayConfig {
        services: hosts
            .iter()
            .map(|h| Service {
                id: uuid::Uuid::nil(),
                name: format!("kong-{h}"),
                host: h.to_string(),
                port: 8080,
                path: None,
                protocol: "http".into(),
                retries: 5,
                connect_timeout: Duration::from_secs(60),
                write_timeout: Duration::from_secs(60),
                read_timeout: Duration::from_secs(60),
            })
            .collect(),
        ..GatewayConfig::default()
    }
}

fn load_text(text: &str, hosts: &[&str]) -> Result<Topology, ConfigError> {
    let src = Source {
        file: "stack.yml".into(),
        text: text.into(),
    };
    let raw: RawStack = src.parse()?;
    validate(&src, raw, &gateway(hosts))
}

fn error(text: &str, hosts: &[&str]) -> String {
    load_text(text, hosts)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn keeps_services_in_file_order_with_defaults() {
    let t = load_text(STACK, &["value-architect"]).expect("loads");
    let order: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["value-committer", "value-architect", "postgres"]);
    assert_eq!(t.services[0].protocol, Protocol::Http);
    assert_eq!(t.services[2].protocol, Protocol::Tcp);
    assert_eq!(t.ports.gateway_proxy, 8000);
    assert_eq!(t.ports.services.get("value-architect"), Some(&9001));
}

#[test]
fn rejects_an_upstream_to_an_unknown_service_with_its_line() {
    let e = error(
        &STACK.replace("service: value-architect", "service: value-archtect"),
        &[],
    );
    assert!(e.starts_with("stack.yml:8:"), "{e}");
    assert!(e.contains("services.value-committer.upstreams[0].service: unknown upstream service `value-archtect` (did you mean `value-architect`?)"), "{e}");
}

#[test]
fn rejects_unknown_mocks_listing_the_known_ones() {
    let e = error(
        &STACK.replace("mock: value-architect", "mock: billing"),
        &[],
    );
    assert!(
        e.contains(
            "unknown mock `billing`; known mocks: value-architect, value-committer, postgres, redis"
        ),
        "{e}"
    );
}

#[test]
fn needs_exactly_one_runtime() {
    let e = error(
        &STACK.replace(
            "    mock: value-architect\n",
            "    mock: value-architect\n    url: http://127.0.0.1:1\n",
        ),
        &[],
    );
    assert!(
        e.contains("exactly one of `mock`, `command`, `url`, `image`"),
        "{e}"
    );
}

#[test]
fn accepts_only_loopback_external_urls() {
    assert!(check_loopback("http://127.0.0.2:80").is_ok());
    assert!(check_loopback("http://localhost:9000/base").is_ok());
    assert!(check_loopback("http://[::1]:9000").is_ok());
    assert!(check_loopback("http://10.0.0.5:80").is_err_and(|m| m.contains("loopback")));
    assert!(check_loopback("http://example.com").is_err());
}

#[test]
fn rejects_kong_services_whose_host_is_not_a_stack_service() {
    let e = error(STACK, &["value-architect", "billing"]);
    assert!(e.contains("stack.yml:4:1: services: kong.yml service `kong-billing` (services[1], host `billing`)"), "{e}");
    let e = error(STACK, &["postgres"]);
    assert!(e.contains("which is a tcp service"), "{e}");
}

#[test]
fn rejects_unknown_keys_and_port_clashes() {
    let e = error(&STACK.replace("    protocol: tcp", "    protocl: tcp"), &[]);
    assert!(
        e.contains("services.postgres.protocl: unknown key `protocl`; did you mean `protocol`?"),
        "{e}"
    );
    let e = error(
        &STACK.replace("value-architect: 9001", "value-architect: 9191"),
        &[],
    );
    assert!(
        e.contains("port 9191 is already used by ports.services.value-architect"),
        "{e}"
    );
}

#[test]
fn mesh_default_intention_is_deny_when_absent_and_read_when_set() {
    let t = load_text(STACK, &[]).expect("loads");
    assert_eq!(t.default_intention, DefaultIntention::Deny);
    for (value, expected) in [
        ("allow", DefaultIntention::Allow),
        ("deny", DefaultIntention::Deny),
    ] {
        let text = STACK.replace(
            "ports:",
            &format!("mesh:\n  default_intention: {value}\nports:"),
        );
        let t = load_text(&text, &[]).expect("loads");
        assert_eq!(t.default_intention, expected);
    }
}

#[test]
fn rejects_unknown_mesh_keys_and_values_with_their_line() {
    let text = STACK.replace("ports:", "mesh:\n  default_intentions: allow\nports:");
    let e = error(&text, &[]);
    assert!(e.starts_with("stack.yml:16:3:"), "{e}");
    assert!(
        e.contains("mesh.default_intentions: unknown key `default_intentions`; did you mean `default_intention`?"),
        "{e}"
    );
    let text = STACK.replace("ports:", "mesh:\n  default_intention: permit\nports:");
    let e = error(&text, &[]);
    assert!(e.contains("stack.yml:16:"), "{e}");
    assert!(e.contains("mesh.default_intention"), "{e}");
    assert!(e.contains("permit"), "{e}");
}

#[test]
fn a_mock_must_declare_the_protocol_it_speaks() {
    let redis = "  redis:\n    mock: redis\n    protocol: http\nports:";
    let e = error(&STACK.replace("ports:", redis), &[]);
    assert!(
        e.contains(
            "stack.yml:17:5: services.redis.protocol: the redis mock speaks tcp; set protocol: tcp"
        ),
        "{e}"
    );
    // Absent means http, which the redis mock does not speak: reported at the service.
    let e = error(
        &STACK.replace("ports:", "  redis:\n    mock: redis\nports:"),
        &[],
    );
    assert!(
        e.contains("stack.yml:15:3: services.redis.protocol: the redis mock speaks tcp"),
        "{e}"
    );
    let e = error(
        &STACK.replace(
            "    mock: value-architect\n",
            "    mock: value-architect\n    protocol: tcp\n",
        ),
        &[],
    );
    assert!(
        e.contains("services.value-architect.protocol: the value-architect mock speaks http; set protocol: http"),
        "{e}"
    );
    let ok = "  redis:\n    mock: redis\n    protocol: tcp\n  pg:\n    mock: postgres\n    protocol: tcp\nports:";
    let t = load_text(&STACK.replace("ports:", ok), &[]).expect("loads");
    assert_eq!(t.services[3].runtime, ServiceRuntime::Mock(MockKind::Redis));
    assert_eq!(
        t.services[4].runtime,
        ServiceRuntime::Mock(MockKind::Postgres)
    );
    assert_eq!(t.services[4].protocol, Protocol::Tcp);
}

#[test]
fn rejects_duplicate_service_names() {
    let e = error(&STACK.replace("  postgres:", "  value-architect:"), &[]);
    assert!(
        e.contains("duplicate entry with key \"value-architect\""),
        "{e}"
    );
}

#[test]
fn upstream_ports_without_local_port_follow_upstream_base_and_every_port_moves_with_an_offset() {
    let text = STACK
        .replace("        local_port: 9191\n", "")
        .replace("ports:\n", "ports:\n  upstream_base: 9500\n");
    let mut t = load_text(&text, &[]).expect("valid");
    assert_eq!(t.services[0].upstreams[0].local_port, 9500);
    t.shift_ports(100).expect("shifted");
    assert_eq!(t.services[0].upstreams[0].local_port, 9600);
    assert_eq!(t.ports.gateway_proxy, 8100);
    assert_eq!(t.ports.services["value-architect"], 9101);
    assert_eq!(t.ports.sidecar_admin_base, 19101);
    let e = t.shift_ports(60_000).unwrap_err();
    assert!(e.contains("--port-offset 60000 moves"), "{e}");

    let e = error(
        &text.replace("value-architect: 9001", "value-architect: 9500"),
        &[],
    );
    assert!(
        e.contains("port 9500 is already used by ports.services.value-architect"),
        "{e}"
    );
}

#[test]
fn an_image_service_names_its_image_and_the_port_it_listens_on() {
    let with_image = |lines: &str| STACK.replace("    mock: value-architect\n", lines);
    let topology = load_text(
        &with_image("    image: architect-api:1.4\n    port: 9500\n"),
        &[],
    )
    .expect("an image with its port loads");
    assert_eq!(
        topology.service("value-architect").unwrap().runtime,
        ServiceRuntime::Image {
            reference: "architect-api:1.4".into(),
            port: 9500
        }
    );
    let e = error(&with_image("    image: architect-api:1.4\n"), &[]);
    assert!(e.contains("needs `port`"), "{e}");
    let e = error(
        &with_image("    mock: value-architect\n    port: 9500\n"),
        &[],
    );
    assert!(e.contains("has no image"), "{e}");
    let e = error(
        &with_image("    image: architect-api:1.4\n    mock: value-architect\n    port: 1\n"),
        &[],
    );
    assert!(e.contains("exactly one of"), "{e}");
}
