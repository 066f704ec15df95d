//! The real-world corpus (`tests/fixtures/real-world/`, sources and licences in its README): public
//! kong.yml / decK files and Consul intention files must load, each with exactly the warnings
//! listed here. A change that emulates more of Kong or Consul lowers a count here; one that
//! refuses a valid file fails the test.
//!
//! Before issue 15 two of these files were refused: `supabase-docker-kong.yml` (`url` beside
//! `protocol`) and `learn-docker-agent-config.hcl` (a Consul agent configuration). Warnings per
//! Kong file, before the plugins and router of issue 15 and after (the Consul files did not
//! change: 0 each, 2 for the agent config):
//!
//! | file | before | after | what went |
//! |---|---|---|---|
//! | deck-consumer-groups-rla.yaml | 9 | 5 | key-auth plugin and 3 `keyauth_credentials` |
//! | deck-consumer-groups.yaml | 9 | 5 | key-auth plugin and 3 `keyauth_credentials` |
//! | deck-ip-restriction-prometheus.yaml | 5 | 3 | ip-restriction, prometheus |
//! | deck-key-auth-consumer-groups.yaml | 4 | 3 | key-auth plugin |
//! | deck-prometheus-on-entities.yaml | 4 | 1 | prometheus on a service, a route, globally |
//! | deck-validate-key-auth.yaml | 3 | 0 | key-auth plugin and 2 `keyauth_credentials` |
//! | supabase-docker-kong.yml | 39 (once it loaded) | 16 | cors ×17, key-auth ×6 (left: request-transformer, request-termination, post-function, basic-auth) |
//!
//! `GAUNTLET_CORPUS_TABLE=1 cargo test --test real_world -- --nocapture` prints the table
//! (`GAUNTLET_CORPUS_TABLE=warnings`: each Kong file's warnings too).

use std::path::{Path, PathBuf};

use gauntlet::config::intentions::{self, MeshServices};
use gauntlet::config::kong;

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-world")
        .join(kind)
}

/// (file, warnings) for every Kong file of the corpus.
const KONG: &[(&str, usize)] = &[
    ("deck-consumer-groups-rla.yaml", 5),
    ("deck-consumer-groups.yaml", 5),
    ("deck-ip-restriction-prometheus.yaml", 3),
    ("deck-key-auth-consumer-groups.yaml", 3),
    ("deck-prometheus-on-entities.yaml", 1),
    ("deck-validate-key-auth.yaml", 0),
    ("supabase-docker-kong.yml", 16),
];

/// (file, warnings) for every Consul file of the corpus.
const CONSUL: &[(&str, usize)] = &[
    ("gs-vms-allow-all.hcl", 0),
    ("gs-vms-allow-all.json", 0),
    ("gs-vms-intention-nginx.hcl", 0),
    ("gs-vms-l7-hashicups-api.hcl", 0),
    ("gs-vms-l7-hashicups-api.json", 0),
    ("learn-docker-agent-config.hcl", 2),
    ("learn-docker-intention.json", 0),
];

/// The services the Consul files name, as the tutorials that wrote them run them (HashiCups
/// speaks HTTP behind its API gateway; the counting demo too).
fn tutorial_services() -> MeshServices {
    let http = [
        "hashicups-api",
        "hashicups-nginx",
        "hashicups-frontend",
        "hashicups-payments",
        "counting",
        "dashboard",
    ];
    MeshServices::new(
        http.iter()
            .map(|s| (s.to_string(), gauntlet::protocol::Protocol::Http))
            .chain([(
                "hashicups-db".to_string(),
                gauntlet::protocol::Protocol::Tcp,
            )]),
        ["gateway-api".to_string()],
    )
}

fn listed(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn check(kind: &str, expected: &[(&str, usize)], load: impl Fn(&Path) -> Result<usize, String>) {
    let dir = corpus(kind);
    let files = listed(&dir);
    let named: Vec<&str> = expected.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, named, "every file of {kind}/ has one row here");
    let print = std::env::var_os("GAUNTLET_CORPUS_TABLE").is_some();
    let mut wrong = Vec::new();
    for (file, want) in expected {
        let got = load(&dir.join(file));
        if print {
            match &got {
                Ok(n) => println!("| {kind}/{file} | loads | {n} |"),
                Err(e) => println!("| {kind}/{file} | refused: {e} | - |"),
            }
        }
        match got {
            Ok(n) if n == *want => {}
            Ok(n) => wrong.push(format!("{file}: {n} warnings, expected {want}")),
            Err(e) => wrong.push(format!("{file}: refused: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_public_kong_file_loads_with_the_listed_warnings() {
    check("kong", KONG, |path| {
        kong::load(path)
            .map(|(_, warnings)| {
                if std::env::var_os("GAUNTLET_CORPUS_TABLE").is_some_and(|v| v == "warnings") {
                    for w in &warnings {
                        println!("  {w}");
                    }
                }
                warnings.len()
            })
            .map_err(|e| e.to_string())
    });
}

#[test]
fn every_public_consul_file_loads_with_the_listed_warnings() {
    check("consul", CONSUL, |path| {
        intentions::load(path, &tutorial_services())
            .map(|(_, warnings)| warnings.len())
            .map_err(|e| e.to_string())
    });
}
