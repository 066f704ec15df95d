//! The fuzz targets' bodies: each takes arbitrary bytes and drives one parser or decoder that
//! reads input from users, files or the network. A target fails only by panicking, overflowing
//! the stack, running out of memory or stalling; every `Err` is a correct answer.
//!
//! ```text
//!   fuzz_targets/<name>.rs ─► gauntlet_fuzz::<name>(bytes)   cargo +nightly fuzz run <name>
//!   tests/fuzz_seeds.rs    ─► gauntlet_fuzz::<name>(bytes)   cargo test (stable): seeds + mutations
//! ```
//!
//! Seeds for each target are in `fuzz/seeds/<name>/` (the valueverse files, Kong's test tokens,
//! the control API's documented bodies).

use std::path::Path;
use std::sync::OnceLock;

use gauntlet::chaos::fault::FaultRule;
use gauntlet::clauses::Catalogue;
use gauntlet::config::gateway::{GatewayConfig, JwtConfig};
use gauntlet::config::intentions::{self, MeshServices};
use gauntlet::config::kong;
use gauntlet::config::stack_file;
use gauntlet::gateway::plugins::jwt::{decode_token, kong_base64_decode, retrieve_tokens};
use gauntlet::link::Toxic;
use gauntlet::protocol::Protocol;
use gauntlet::runner::lint::TextLinter;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name, for the stable seed runner.
pub const TARGETS: [(&str, Target); 9] = [
    ("jwt_token", jwt_token),
    ("jwt_extract", jwt_extract),
    ("intentions_hcl", intentions_hcl),
    ("intentions_json", intentions_json),
    ("kong_yml", kong_yml),
    ("stack_yml", stack_yml),
    ("gherkin_steps", gherkin_steps),
    ("control_fault", control_fault),
    ("toxic_json", toxic_json),
];

/// The jwt plugin's token parser (header, claims, signature segments; Kong's base64).
pub fn jwt_token(data: &[u8]) {
    let _ = decode_token(data);
    let _ = kong_base64_decode(data);
}

/// The jwt plugin's token extractor: the first line is the request target (path and query),
/// the following lines are `Authorization` and `Cookie` values, in turn.
pub fn jwt_extract(data: &[u8]) {
    let mut lines = data.split(|b| *b == b'\n');
    let target = lines.next().unwrap_or_default();
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for (i, line) in lines.enumerate() {
        let Ok(value) = http::HeaderValue::from_bytes(line) else {
            continue;
        };
        let name = if i % 2 == 0 {
            http::header::AUTHORIZATION
        } else {
            http::header::COOKIE
        };
        headers.append(name, value);
    }
    static CONFIG: OnceLock<JwtConfig> = OnceLock::new();
    let config = CONFIG.get_or_init(|| JwtConfig {
        cookie_names: vec!["jwt".into(), "token".into()],
        uri_param_names: vec!["jwt".into(), "token".into()],
        ..JwtConfig::default()
    });
    let _ = retrieve_tokens(config, &uri, &headers);
}

/// The valueverse services and the gateway identity, as the intentions decoder sees them.
fn mesh_services() -> &'static MeshServices {
    static SERVICES: OnceLock<MeshServices> = OnceLock::new();
    SERVICES.get_or_init(|| {
        MeshServices::new(
            [
                ("value-architect".to_string(), Protocol::Http),
                ("value-committer".to_string(), Protocol::Http),
                ("postgres".to_string(), Protocol::Tcp),
                ("redis".to_string(), Protocol::Tcp),
            ],
            ["api-gateway".to_string()],
        )
    })
}

/// Consul `service-intentions` config entries in HCL.
pub fn intentions_hcl(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = intentions::parse(Path::new("intentions.hcl"), text, mesh_services());
    }
}

/// Consul `service-intentions` config entries in JSON.
pub fn intentions_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = intentions::parse(Path::new("intentions.json"), text, mesh_services());
    }
}

/// The kong.yml loader: YAML, the strict DTOs, Kong's validation.
pub fn kong_yml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kong::parse(Path::new("kong.yml"), text);
    }
}

/// The stack.yml loader, against the valueverse gateway configuration.
pub fn stack_yml(data: &[u8]) {
    static GATEWAY: OnceLock<GatewayConfig> = OnceLock::new();
    let gateway = GATEWAY.get_or_init(|| {
        kong::parse(
            Path::new("kong.yml"),
            include_str!("../../scenarios/valueverse/kong.yml"),
        )
        .map(|(cfg, _)| cfg)
        .unwrap_or_else(|e| panic!("the valueverse kong.yml must load: {e}"))
    });
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stack_file::parse(Path::new("stack.yml"), text, gateway);
    }
}

/// A feature file as `gauntlet check` lints it: the Gherkin parser, clause tags against the
/// catalogue, every step against the step library's matcher.
pub fn gherkin_steps(data: &[u8]) {
    static LINTER: OnceLock<(TextLinter, Catalogue)> = OnceLock::new();
    if let Ok(text) = std::str::from_utf8(data) {
        let (linter, catalogue) = LINTER.get_or_init(|| (TextLinter::new(), Catalogue::built_in()));
        let _ = linter.lint(Path::new("fuzz.feature"), text, catalogue);
    }
}

/// The control API's fault body (`POST /services/{name}/faults`): decode, validate, describe.
pub fn control_fault(data: &[u8]) {
    if let Ok(rule) = serde_json::from_slice::<FaultRule>(data) {
        if rule.validate().is_ok() {
            let _ = rule.describe();
        }
    }
}

/// The Toxiproxy API's toxic body (`POST /proxies/{p}/toxics`, and the update body of
/// `POST|PATCH /proxies/{p}/toxics/{t}`): decode, validate, echo as JSON. The input is used as
/// both: a create body, and an update of the toxic the input created (or of a default latency
/// toxic when it did not create one).
pub fn toxic_json(data: &[u8]) {
    let created = Toxic::from_json(data);
    if let Ok(toxic) = &created {
        let _ = toxic.to_json();
        let _ = serde_json::to_vec(&toxic.to_json());
    }
    let base = created.unwrap_or_else(|_| {
        Toxic::from_json(br#"{"type":"latency","attributes":{"latency":1}}"#)
            .unwrap_or_else(|e| panic!("the default toxic must decode: {e}"))
    });
    if let Ok(updated) = base.updated(data) {
        let _ = updated.to_json();
    }
}
