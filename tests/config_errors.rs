//! The stack-definition loader as a user meets it: a catalogue of broken `kong.yml` and
//! `stack.yml` files (tests/fixtures/) whose errors must name file, key path and line, the real
//! valueverse stack loading with the values SPEC §4 describes, and warnings for real Kong features
//! Gauntlet does not emulate.

use std::path::PathBuf;
use std::time::Duration;

use gauntlet::config::gateway::{
    AclRule, GatewayConfig, LimitBy, PluginConfig, RatePeriod, RegisteredClaim,
};
use gauntlet::config::topology::{DefaultIntention, MockKind, ServiceRuntime};
use gauntlet::config::{kong, stack_file, StackDef};
use gauntlet::protocol::Protocol;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kong_fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/kong").join(name)
}

/// Loads `yaml` as a kong.yml written to a temporary file (errors then name `kong.yml`).
fn load_kong_text(
    yaml: &str,
) -> Result<
    (
        gauntlet::config::GatewayConfig,
        Vec<gauntlet::config::ConfigWarning>,
    ),
    gauntlet::config::ConfigError,
> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kong.yml");
    std::fs::write(&path, yaml).expect("write kong.yml");
    gauntlet::config::kong::load(&path)
}

fn valueverse() -> PathBuf {
    root().join("scenarios/valueverse")
}

/// The error `kong::load` gives for a fixture, as displayed to the user.
fn kong_error(name: &str) -> String {
    match kong::load(&kong_fixture(name)) {
        Ok(_) => panic!("{name} loaded but should fail"),
        Err(e) => e.to_string(),
    }
}

/// Asserts the error names the file, the key path, the line and says `what`.
fn assert_names(err: &str, file: &str, key: &str, line: Option<usize>, what: &str) {
    assert!(err.contains(file), "file `{file}` missing: {err}");
    assert!(
        err.contains(&format!("{key}: ")),
        "key `{key}` missing: {err}"
    );
    if let Some(line) = line {
        assert!(
            err.contains(&format!("{file}:{line}:")),
            "line {line} missing: {err}"
        );
    }
    assert!(err.contains(what), "`{what}` missing: {err}");
}

#[test]
fn unknown_top_level_key_is_named_with_its_line_and_a_suggestion() {
    let e = kong_error("unknown_top_level_key.yml");
    assert_names(
        &e,
        "unknown_top_level_key.yml",
        "service",
        Some(2),
        "unknown key `service`",
    );
    assert!(e.contains("did you mean `services`?"), "{e}");
}

#[test]
fn typo_in_a_route_key_is_named_with_its_path_and_line() {
    let e = kong_error("unknown_route_key.yml");
    assert_names(
        &e,
        "unknown_route_key.yml",
        "services[0].routes[0].stip_path",
        Some(9),
        "did you mean `strip_path`?",
    );
}

#[test]
fn unknown_plugin_suggests_the_closest_known_name() {
    let e = kong_error("unknown_plugin.yml");
    assert_names(
        &e,
        "unknown_plugin.yml",
        "plugins[0].name",
        Some(9),
        "unknown plugin `jwtt`",
    );
    assert!(e.contains("did you mean `jwt`?"), "{e}");
}

#[test]
fn wrong_type_is_named_with_its_path_and_line() {
    let e = kong_error("wrong_type.yml");
    assert_names(
        &e,
        "wrong_type.yml",
        "services[0].retries",
        Some(5),
        "invalid type",
    );
    assert!(e.contains("expected an integer"), "{e}");
}

#[test]
fn rate_limit_order_uses_kongs_message() {
    let e = kong_error("limit_order.yml");
    assert_names(
        &e,
        "limit_order.yml",
        "plugins[0].config.hour",
        Some(12),
        "The limit for hour(50.0) cannot be lower than the limit for minute(100.0)",
    );
}

#[test]
fn route_pointing_at_a_missing_service_is_an_error() {
    let e = kong_error("route_missing_service.yml");
    assert_names(
        &e,
        "route_missing_service.yml",
        "routes[0].service",
        Some(7),
        "invalid reference 'service: value-commiter' (no such entry in 'services')",
    );
}

#[test]
fn duplicate_consumer_is_an_error_that_shows_no_secret() {
    let e = kong_error("duplicate_consumer.yml");
    assert_names(
        &e,
        "duplicate_consumer.yml",
        "consumers[2].username",
        Some(8),
        "uniqueness violation: 'consumers' entity with username set to 'admin-user' already declared",
    );
    assert!(!e.contains("first-secret-value"), "{e}");
}

#[test]
fn bad_yaml_is_reported_with_its_line() {
    let e = kong_error("bad_yaml.yml");
    assert!(e.contains("bad_yaml.yml:8:"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");
}

#[test]
fn missing_format_version_is_required() {
    let e = kong_error("missing_format_version.yml");
    assert_names(
        &e,
        "missing_format_version.yml",
        "_format_version",
        Some(1),
        "required field missing",
    );
}

#[test]
fn acl_with_both_allow_and_deny_uses_kongs_entity_check() {
    let e = kong_error("acl_allow_and_deny.yml");
    assert_names(
        &e,
        "acl_allow_and_deny.yml",
        "services[0].routes[0].plugins[0].config.deny",
        Some(12),
        "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
    );
}

#[test]
fn maximum_expiration_needs_exp_in_claims_to_verify() {
    let e = kong_error("max_expiration_without_exp.yml");
    assert_names(
        &e,
        "max_expiration_without_exp.yml",
        "plugins[0].config.claims_to_verify",
        Some(5),
        "expected to contain: exp",
    );
}

#[test]
fn lower_case_method_is_invalid() {
    let e = kong_error("invalid_method.yml");
    assert_names(
        &e,
        "invalid_method.yml",
        "services[0].routes[0].methods[1]",
        Some(8),
        "invalid value: post",
    );
}

#[test]
fn stack_def_reports_the_kong_file_it_failed_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(valueverse().join("stack.yml"), dir.path().join("stack.yml")).expect("copy");
    std::fs::copy(
        kong_fixture("unknown_route_key.yml"),
        dir.path().join("kong.yml"),
    )
    .expect("copy");
    let e = StackDef::load(dir.path())
        .expect_err("must fail")
        .to_string();
    assert_names(
        &e,
        "kong.yml",
        "services[0].routes[0].stip_path",
        Some(9),
        "stip_path",
    );
}

fn load_valueverse() -> StackDef {
    match StackDef::load(&valueverse()) {
        Ok(def) => def,
        Err(e) => panic!("valueverse must load: {e}"),
    }
}

fn plugin<'a>(
    cfg: &'a GatewayConfig,
    name: &str,
    service: Option<&str>,
) -> &'a gauntlet::config::gateway::PluginInstance {
    let service = service.map(|s| cfg.service_by_name(s).expect("service").0);
    cfg.plugins
        .iter()
        .find(|p| p.name() == name && p.scope.service == service && p.scope.route.is_none())
        .unwrap_or_else(|| panic!("no {name} plugin for {service:?}"))
}

#[test]
fn valueverse_loads_consumers_with_groups_and_hs256_credentials() {
    let def = load_valueverse();
    let cfg = &def.gateway;
    let (hmac, partners): (Vec<_>, Vec<_>) = cfg
        .consumers
        .iter()
        .partition(|c| c.jwt_secrets[0].algorithm.is_hmac());
    let groups: Vec<(String, Vec<String>)> = hmac
        .iter()
        .map(|c| (c.display_name(), c.acl_groups.clone()))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("admin-user".to_string(), vec!["admin".to_string()]),
            ("frontend-app".to_string(), vec!["user".to_string()]),
            ("internal-services".to_string(), vec!["service".to_string()]),
        ]
    );
    // The partners hold one asymmetric credential each, with its public key parsed at load.
    let algorithms: Vec<&str> = partners
        .iter()
        .map(|c| c.jwt_secrets[0].algorithm.as_str())
        .collect();
    assert_eq!(
        algorithms,
        ["RS256", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
    );
    assert!(partners
        .iter()
        .all(|c| c.jwt_secrets[0].public_key.is_some() && c.acl_groups == ["user"]));
    for c in &hmac {
        assert_eq!(c.jwt_secrets.len(), 1);
        let cred = &c.jwt_secrets[0];
        assert!(cred
            .key
            .starts_with(&format!("{}-jwt-key-", c.display_name())));
        assert!(
            !format!("{cred:?}").contains(&cred.secret),
            "secret in Debug"
        );
    }
    // Everything in valueverse is emulated: no warnings.
    assert!(def.warnings.is_empty(), "{:?}", def.warnings);
    assert_eq!(def.name(), "valueverse");
}

#[test]
fn valueverse_loads_five_routes_with_their_acls() {
    let def = load_valueverse();
    let cfg = &def.gateway;
    // The platform's routes; the routing and plugin labs (`lab-*`) follow them.
    let routes: Vec<(&str, &str, Vec<String>, bool)> = cfg
        .routes
        .iter()
        .filter(|r| !r.name.starts_with("lab-"))
        .map(|r| {
            (
                r.name.as_str(),
                cfg.services[r.service.expect("service")].name.as_str(),
                r.methods.iter().map(|m| m.to_string()).collect(),
                r.strip_path,
            )
        })
        .collect();
    assert_eq!(
        routes,
        vec![
            (
                "value-models-read",
                "value-architect",
                vec!["GET".into()],
                false
            ),
            (
                "value-models-write",
                "value-architect",
                vec!["POST".into(), "PUT".into(), "DELETE".into()],
                false
            ),
            (
                "commitments-read",
                "value-committer",
                vec!["GET".into()],
                false
            ),
            (
                "commitments-write",
                "value-committer",
                vec!["POST".into()],
                false
            ),
            ("internal", "value-committer", vec![], false),
        ]
    );
    let internal = cfg
        .routes
        .iter()
        .position(|r| r.name == "internal")
        .expect("route");
    let acl = cfg
        .resolve_plugin(
            gauntlet::config::gateway::PluginKind::Acl,
            internal,
            Some(1),
            None,
        )
        .expect("acl");
    let PluginConfig::Acl(acl) = &acl.config else {
        panic!("not an acl config");
    };
    assert_eq!(
        acl.rule,
        AclRule::Allow(vec!["admin".into(), "service".into()])
    );
}

#[test]
fn valueverse_loads_global_jwt_and_rate_limiting() {
    let def = load_valueverse();
    let PluginConfig::Jwt(jwt) = &plugin(&def.gateway, "jwt", None).config else {
        panic!("not a jwt config");
    };
    assert_eq!(
        jwt.claims_to_verify,
        vec![RegisteredClaim::Exp, RegisteredClaim::Nbf]
    );
    assert_eq!(jwt.maximum_expiration, 86_400);
    assert_eq!(jwt.cookie_names, vec!["jwt"]);
    let PluginConfig::RateLimiting(rl) = &plugin(&def.gateway, "rate-limiting", None).config else {
        panic!("not a rate-limiting config");
    };
    assert_eq!(
        rl.limits,
        vec![(RatePeriod::Minute, 100), (RatePeriod::Hour, 10_000)]
    );
    assert_eq!(rl.limit_by, LimitBy::Consumer);
    assert_eq!(rl.policy, "local");
}

#[test]
fn valueverse_services_have_retries_timeouts_breakers_and_bulkheads() {
    let def = load_valueverse();
    let cfg = &def.gateway;
    for name in ["value-architect", "value-committer"] {
        let (_, s) = cfg.service_by_name(name).expect("service");
        assert_eq!(s.retries, 3);
        assert_eq!(s.host, name);
        for t in [s.connect_timeout, s.write_timeout, s.read_timeout] {
            assert_eq!(t, Duration::from_secs(30));
        }
        let PluginConfig::CircuitBreaker(cb) = &plugin(cfg, "circuit-breaker", Some(name)).config
        else {
            panic!("not a breaker config");
        };
        assert_eq!(cb.failure_threshold, 5);
        assert_eq!(cb.open_timeout, Duration::from_secs(60));
        assert_eq!(
            (cb.half_open_successes, cb.half_open_max_concurrent),
            (3, 3)
        );
        assert_eq!(cb.failure_statuses, vec![500, 502, 503, 504]);
        let PluginConfig::Bulkhead(b) = &plugin(cfg, "bulkhead", Some(name)).config else {
            panic!("not a bulkhead config");
        };
        assert_eq!(b.max_concurrent_requests, 100);
    }
}

#[test]
fn valueverse_topology_keeps_file_order_and_ports() {
    let def = load_valueverse();
    let t = &def.topology;
    assert_eq!(t.gateway_identity, "api-gateway");
    let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["value-architect", "value-committer", "postgres", "redis"]
    );
    assert_eq!(
        t.services[0].runtime,
        ServiceRuntime::Mock(MockKind::ValueArchitect)
    );
    assert_eq!(t.services[1].protocol, Protocol::Http);
    assert_eq!(t.services[1].upstreams[0].service, "value-architect");
    assert_eq!(t.services[1].upstreams[0].local_port, 9191);
    assert_eq!(
        (t.ports.gateway_proxy, t.ports.sidecar_admin_base),
        (8000, 19001)
    );
    assert_eq!(t.ports.services.get("value-committer"), Some(&9002));
}

#[test]
fn valueverse_runs_postgres_and_redis_as_tcp_mocks_behind_a_deny_by_default_mesh() {
    let def = load_valueverse();
    let t = &def.topology;
    for (name, kind, port) in [
        ("postgres", MockKind::Postgres, 9003),
        ("redis", MockKind::Redis, 9004),
    ] {
        let service = t.service(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(service.runtime, ServiceRuntime::Mock(kind));
        assert_eq!(service.protocol, Protocol::Tcp);
        assert_eq!(t.ports.services.get(name), Some(&port));
    }
    assert_eq!(t.default_intention, DefaultIntention::Deny);
}

#[test]
fn every_scenario_stack_loads_with_the_tcp_mocks_and_zero_trust() {
    for name in [
        "valueverse",
        "broken-auth",
        "broken-acl",
        "broken-ratelimit",
        "broken-breaker",
        "broken-retry",
    ] {
        let dir = root().join("scenarios").join(name);
        let (gateway, _) = kong::load(&dir.join("kong.yml")).expect("kong.yml loads");
        let t = stack_file::load(&dir.join("stack.yml"), &gateway)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["value-architect", "value-committer", "postgres", "redis"],
            "{name}"
        );
        assert_eq!(t.default_intention, DefaultIntention::Deny, "{name}");
    }
}

#[test]
fn unemulated_plugins_and_route_keys_are_warnings_naming_the_routes() {
    let (cfg, warnings) = match kong::load(&kong_fixture("unemulated_features.yml")) {
        Ok(x) => x,
        Err(e) => panic!("must load with warnings: {e}"),
    };
    assert_eq!(
        cfg.plugins.len(),
        3,
        "jwt, cors and prometheus are emulated"
    );
    let find = |key: &str| {
        warnings
            .iter()
            .find(|w| w.key == key)
            .unwrap_or_else(|| panic!("no warning at {key}: {warnings:?}"))
    };
    let session = find("services[0].plugins[1]");
    assert!(session.message.contains("plugin `session`"), "{session}");
    assert_eq!(
        session.routes,
        vec!["value-models-read", "value-models-write"]
    );
    let sources = find("services[0].routes[0].sources");
    assert_eq!(sources.routes, vec!["value-models-read"]);
    let datadog = find("plugins[1]");
    assert_eq!(
        datadog.routes.len(),
        3,
        "a global plugin affects every route"
    );
    let shown = session.to_string();
    assert!(
        shown.contains("unemulated_features.yml:10: services[0].plugins[1]: "),
        "{shown}"
    );
    assert!(
        shown.ends_with("(affects routes: value-models-read, value-models-write)"),
        "{shown}"
    );
}

fn stack_error(name: &str) -> String {
    let (gateway, _) = kong::load(&valueverse().join("kong.yml")).expect("valueverse kong.yml");
    let path = root().join("tests/fixtures/stack").join(name);
    match stack_file::load(&path, &gateway) {
        Ok(_) => panic!("{name} loaded but should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn stack_unknown_key_is_named_with_its_line() {
    let e = stack_error("unknown_key.yml");
    assert_names(
        &e,
        "unknown_key.yml",
        "services.value-architect.protocl",
        Some(5),
        "did you mean `protocol`?",
    );
}

#[test]
fn stack_upstream_to_an_unknown_service_is_an_error() {
    let e = stack_error("unknown_upstream.yml");
    assert_names(
        &e,
        "unknown_upstream.yml",
        "services.value-committer.upstreams[0].service",
        Some(8),
        "unknown upstream service `value-archtect`",
    );
}

#[test]
fn stack_external_url_must_be_loopback() {
    let e = stack_error("non_loopback_url.yml");
    assert_names(
        &e,
        "non_loopback_url.yml",
        "services.value-architect.url",
        Some(4),
        "must be on loopback",
    );
}

#[test]
fn stack_unknown_mock_lists_the_known_ones() {
    let e = stack_error("unknown_mock.yml");
    assert_names(
        &e,
        "unknown_mock.yml",
        "services.value-architect.mock",
        Some(4),
        "known mocks: value-architect, value-committer",
    );
}

#[test]
fn stack_mock_with_the_wrong_protocol_names_the_protocol_it_speaks() {
    let e = stack_error("mock_protocol_mismatch.yml");
    assert_names(
        &e,
        "mock_protocol_mismatch.yml",
        "services.redis.protocol",
        Some(9),
        "the redis mock speaks tcp; set protocol: tcp",
    );
}

#[test]
fn stack_unknown_mesh_key_is_named_with_its_line() {
    let e = stack_error("unknown_mesh_key.yml");
    assert_names(
        &e,
        "unknown_mesh_key.yml",
        "mesh.default_policy",
        Some(8),
        "unknown key `default_policy`",
    );
}

#[test]
fn stack_must_host_every_kong_service() {
    let e = stack_error("kong_host_not_in_stack.yml");
    assert_names(
        &e,
        "kong_host_not_in_stack.yml",
        "services",
        Some(2),
        "kong.yml service `value-committer`",
    );
}

#[test]
fn kongs_own_template_shapes_load_with_warnings_not_errors() {
    let (cfg, warnings) = gauntlet::config::kong::load(&kong_fixture("kong_template.yml"))
        .unwrap_or_else(|e| panic!("a valid Kong file was rejected: {e}"));
    assert_eq!(cfg.routes.len(), 2);
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    let mentions = |needle: &str| text.iter().any(|w| w.contains(needle));
    assert!(
        mentions("`rate-limiting-advanced` is a real Kong plugin that Gauntlet does not emulate"),
        "{text:#?}"
    );
    assert!(mentions("consumers[0].groups"), "{text:#?}");
    assert!(mentions("_info"), "{text:#?}");
}

#[test]
fn a_plugin_name_one_typo_away_from_a_known_one_is_still_an_error() {
    let err = gauntlet::config::kong::load(&kong_fixture("unknown_plugin.yml")).unwrap_err();
    assert!(err.to_string().contains("did you mean `jwt`"), "{err}");
}

#[test]
fn non_normalized_route_paths_are_rejected_with_kongs_message() {
    let err = load_kong_text("_format_version: \"3.0\"\nservices:\n  - name: value-architect\n    url: http://value-architect:8080\n    routes:\n      - name: r\n        paths: [/a/../b]\n").unwrap_err().to_string();
    assert!(err.contains(":7:"), "{err}");
    assert!(err.contains("services[0].routes[0].paths[0]"), "{err}");
    assert!(
        err.contains("non-normalized path, consider use '/b' instead"),
        "{err}"
    );
}

#[test]
fn a_missing_required_key_is_reported_at_its_parents_line() {
    let err = load_kong_text("_format_version: \"3.0\"\nplugins:\n  - name: rate-limiting\n    config:\n      limit_by: header\n      minute: 5\n").unwrap_err().to_string();
    assert!(err.contains("plugins[0].config.header_name"), "{err}");
    assert!(
        err.contains("kong.yml:4:"),
        "reported at `config:` on line 4: {err}"
    );
}

#[test]
fn a_disabled_service_takes_its_routes_away_like_kong() {
    let (cfg, warnings) = load_kong_text("_format_version: \"3.0\"\nservices:\n  - name: value-architect\n    url: http://value-architect:8080\n    enabled: false\n    routes:\n      - name: r\n        paths: [/a]\n  - name: value-committer\n    url: http://value-committer:8080\n    routes:\n      - name: s\n        paths: [/b]\n").unwrap();
    let matchable: Vec<(&str, bool)> = cfg
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.matchable))
        .collect();
    assert_eq!(matchable, vec![("r", false), ("s", true)]);
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("requests get 404") && w.routes == ["r"]),
        "{warnings:#?}"
    );
    let miss = gauntlet::gateway::router::match_route(&cfg, &http::Method::GET, "/a", None);
    assert!(miss.is_none(), "a disabled service's route must not match");
}

/// A valueverse copy with `text` appended to `file`.
fn valueverse_with(file: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["kong.yml", "stack.yml", "intentions.hcl"] {
        std::fs::copy(valueverse().join(name), dir.path().join(name)).expect("copy");
    }
    let path = dir.path().join(file);
    let mut content = std::fs::read_to_string(&path).expect("read");
    content.push_str(text);
    std::fs::write(&path, content).expect("write");
    let err = match StackDef::load(dir.path()) {
        Ok(_) => panic!("{file} with {} bytes appended loaded", text.len()),
        Err(e) => e.to_string(),
    };
    (dir, err)
}

#[test]
fn deeply_nested_yaml_is_a_clean_error_naming_its_line() {
    let depth = 200_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    // Under a key Kong knows (its value is read), and under one it does not (refused at the key).
    for (file, text, what) in [
        (
            "kong.yml",
            format!("_comment: {nested}\n"),
            "invalid YAML: nested deeper than 64 levels",
        ),
        ("stack.yml", format!("x: {nested}\n"), "x: unknown key `x`"),
        ("kong.yml", format!("x: {nested}\n"), "x: unknown key `x`"),
    ] {
        let (dir, err) = valueverse_with(file, &text);
        let lines = std::fs::read_to_string(dir.path().join(file))
            .expect("read")
            .lines()
            .count();
        assert!(err.contains(&format!("{file}:{lines}:")), "{err}");
        assert!(err.contains(what), "{err}");
    }
}

#[test]
fn deeply_nested_intentions_are_a_clean_error_not_a_stack_overflow() {
    // The reproduction: 20,000 nested lists appended to a copy of valueverse's intentions.hcl.
    let depth = 20_000;
    let (dir, err) = valueverse_with(
        "intentions.hcl",
        &format!("\nx = {}{}\n", "[".repeat(depth), "]".repeat(depth)),
    );
    let lines = std::fs::read_to_string(dir.path().join("intentions.hcl"))
        .expect("read")
        .lines()
        .count();
    assert!(err.contains(&format!("intentions.hcl:{lines}:")), "{err}");
    assert!(
        err.contains("nested deeper than 64 levels of objects, blocks and lists"),
        "{err}"
    );
}
