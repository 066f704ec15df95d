//! Loader tests for intentions files; the fixtures are shared with the mesh's decision and
//! store tests.

use std::path::{Path, PathBuf};

use super::*;

/// The valueverse topology of SPEC §6 (postgres and redis are tcp mocks).
pub(crate) fn valueverse_services() -> MeshServices {
    MeshServices::new(
        [
            ("value-architect".to_string(), Protocol::Http),
            ("value-committer".to_string(), Protocol::Http),
            ("postgres".to_string(), Protocol::Tcp),
            ("redis".to_string(), Protocol::Tcp),
        ],
        ["api-gateway".to_string()],
    )
}

pub(crate) fn hcl(text: &str) -> Result<(Vec<IntentionEntry>, Vec<ConfigWarning>), ConfigError> {
    parse(Path::new("intentions.hcl"), text, &valueverse_services())
}

fn err(text: &str) -> String {
    hcl(text).unwrap_err().to_string()
}

pub(crate) fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .join("intentions.hcl")
}

pub(crate) const L7: &str = r#"
Kind = "service-intentions"
Name = "value-architect"
Sources = [
  {
    Name = "value-committer"
    Permissions = [
      {
        Action = "deny"
        HTTP {
          PathPrefix = "/api/v1/value-models/secret"
        }
      },
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/api"
          Methods = ["GET"]
          Header = [{ Name = "x-tenant", Exact = "acme" }]
        }
      }
    ]
  },
  { Name = "api-gateway", Action = "allow" }
]
"#;

#[test]
fn json_files_take_the_same_shape() {
    let text = r#"{
  "Kind": "service-intentions",
  "Name": "value-architect",
  "Sources": [
    {"Name": "value-committer", "Permissions": [
      {"Action": "allow", "HTTP": {"PathExact": "/health", "Methods": ["GET"]}}
    ]},
    {"Name": "*", "Action": "deny"}
  ]
}"#;
    let (entries, _) = parse(Path::new("intentions.json"), text, &valueverse_services()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].sources.len(), 2);
    let multi = r#"{"config_entries": {"bootstrap": [
      {"Kind": "service-intentions", "Name": "postgres", "Sources": [{"Name": "*", "Action": "allow"}]},
      {"Kind": "service-intentions", "Name": "redis", "Sources": [{"Name": "*", "Action": "allow"}]}
    ]}}"#;
    let (entries, _) = parse(Path::new("x.json"), multi, &valueverse_services()).unwrap();
    assert_eq!(entries.len(), 2);
    let bad = "{\n  \"Kind\": \"service-intentions\",\n  \"Name\": \"redis\",\n  \"Sorces\": []\n}";
    let e = parse(Path::new("intentions.json"), bad, &valueverse_services()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "intentions.json:4:3: Sorces: unknown key (did you mean `Sources`?)"
    );
}

#[test]
fn a_typo_is_an_error_naming_file_line_and_key() {
    let text = L7.replace("PathPrefix = \"/api\"", "PathPrefx = \"/api\"");
    assert_eq!(
        err(&text),
        "intentions.hcl:17:11: Sources[0].Permissions[1].HTTP.PathPrefx: unknown key (did you mean `PathPrefix`?)"
    );
}

#[test]
fn consul_keys_match_case_insensitively_and_in_snake_case() {
    let text = "kind = \"service-intentions\"\nname = \"value-architect\"\nsources = [{ name = \"value-committer\", permissions = [{ action = \"allow\", http { path_prefix = \"/\" } }] }]\n";
    let (entries, _) = hcl(text).unwrap();
    assert!(matches!(entries[0].sources[0].rule, Rule::L7(_)));
}

#[test]
fn real_consul_keys_not_emulated_are_warned_with_their_line() {
    let text = r#"Kind = "service-intentions"
Name = "value-architect"
Meta = { owner = "team-a" }
Sources = [
  {
    Name = "value-committer"
    Action = "allow"
    Precedence = 9
    Type = "consul"
    LegacyID = "5e1d1c6b-0000-0000-0000-000000000000"
  },
  { Name = "web", Peer = "other-cluster", Action = "allow" },
]
"#;
    let (entries, warnings) = hcl(text).unwrap();
    assert_eq!(
        entries[0].meta.get("owner").map(String::as_str),
        Some("team-a")
    );
    let keys: Vec<(String, Option<usize>)> =
        warnings.iter().map(|w| (w.key.clone(), w.line)).collect();
    assert!(
        keys.contains(&("Sources[0].Precedence".into(), Some(8))),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("Sources[0].LegacyID".into(), Some(10))),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("Sources[1].Peer".into(), Some(12))),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("Sources[1].Name".into(), Some(12))),
        "unknown name `web`: {keys:?}"
    );
    // The peered source is skipped: it must never match a local caller.
    assert_eq!(entries[0].sources.len(), 1);
}

#[test]
fn l7_on_a_tcp_or_unknown_or_wildcard_destination_is_an_error() {
    let on = |dst: &str| {
        err(&format!(
            "Kind = \"service-intentions\"\nName = \"{dst}\"\nSources = [{{ Name = \"x\", Permissions = [{{ Action = \"allow\", HTTP {{ PathPrefix = \"/\" }} }}] }}]\n"
        ))
    };
    let tcp = on("postgres");
    assert!(tcp.starts_with("intentions.hcl:3:26: Sources[0].Permissions: L7 permissions need an http destination: `postgres` is tcp"), "{tcp}");
    assert!(on("nowhere").contains("Consul's default, tcp"));
    assert!(on("*").contains("destination Name is `*`"));
}

#[test]
fn consul_validation_rules_are_errors() {
    let base = |sources: &str| {
        err(&format!(
            "Kind = \"service-intentions\"\nName = \"value-architect\"\nSources = [\n{sources}\n]\n"
        ))
    };
    let both = base("{ Name = \"a\", Action = \"allow\", Permissions = [{ Action = \"allow\", HTTP { PathPrefix = \"/\" } }] }");
    assert!(both.contains("Action must be omitted"), "{both}");
    assert!(base("{ Name = \"a\" }").contains("Sources[0].Action: required key missing"));
    assert!(base("{ Name = \"a\", Action = \"permit\" }").contains("must be \"allow\" or \"deny\""));
    let dup = base("{ Name = \"a\", Action = \"allow\" },\n{ Name = \"a\", Action = \"deny\" }");
    assert!(dup.contains("intentions.hcl:5:1: Sources[1].Name: source `a` is defined more than once (also at line 4)"), "{dup}");
    let two_paths = base("{ Name = \"a\", Permissions = [{ Action = \"allow\", HTTP { PathExact = \"/a\", PathPrefix = \"/b\" } }] }");
    assert!(
        two_paths.contains("at most one of PathExact"),
        "{two_paths}"
    );
    let no_slash = base(
        "{ Name = \"a\", Permissions = [{ Action = \"allow\", HTTP { PathPrefix = \"api\" } }] }",
    );
    assert!(no_slash.contains("must start with `/`"), "{no_slash}");
    let method = base(
        "{ Name = \"a\", Permissions = [{ Action = \"allow\", HTTP { Methods = [\"get\"] } }] }",
    );
    assert!(
        method.contains("Methods[0]: invalid HTTP method \"get\""),
        "{method}"
    );
    let header = base("{ Name = \"a\", Permissions = [{ Action = \"allow\", HTTP { Header = [{ Name = \"x\", Exact = \"1\", Prefix = \"2\" }] } }] }");
    assert!(header.contains("only one of Present"), "{header}");
    let regex = base(
        "{ Name = \"a\", Permissions = [{ Action = \"allow\", HTTP { PathRegex = \"(\" } }] }",
    );
    assert!(regex.contains("invalid regular expression"), "{regex}");
    let empty = base("{ Name = \"a\", Permissions = [{ Action = \"allow\", HTTP {} }] }");
    assert!(empty.contains("must not be empty"), "{empty}");
    let wildcard = base("{ Name = \"web*\", Action = \"allow\" }");
    assert!(
        wildcard.contains("a wildcard must be the whole name"),
        "{wildcard}"
    );
    let kind = err("Kind = \"service-defaults\"\nName = \"x\"\n");
    assert!(
        kind.contains("intentions.hcl:1:8: Kind: must be \"service-intentions\""),
        "{kind}"
    );
    let two = err("config_entries {\n bootstrap = [\n{ Kind = \"service-intentions\", Name = \"redis\", Sources = [] },\n{ Kind = \"service-intentions\", Name = \"redis\", Sources = [] }\n]\n}\n");
    assert!(
        two.contains("intentions.hcl:4:1: config_entries.bootstrap[1].Name: a second service-intentions entry for `redis` (the first is at line 3)"),
        "{two}"
    );
}

#[test]
fn other_kinds_in_a_bootstrap_list_are_warned_and_skipped() {
    let text = "config_entries {\n  bootstrap = [\n    { Kind = \"proxy-defaults\", Name = \"global\", Config { protocol = \"http\" } },\n    { Kind = \"service-intentions\", Name = \"redis\", Sources = [{ Name = \"*\", Action = \"allow\" }] },\n  ]\n}\n";
    let (entries, warnings) = hcl(text).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, Some(3));
    assert!(warnings[0].message.contains("proxy-defaults"));
}

#[test]
fn a_misspelt_kind_is_an_error_with_did_you_mean_even_in_a_bootstrap_list() {
    let text = "config_entries {\n  bootstrap = [\n    { Kind = \"service-intention\", Name = \"redis\", Sources = [{ Name = \"*\", Action = \"allow\" }] },\n  ]\n}\n";
    let e = hcl(text).unwrap_err().to_string();
    assert!(
        e.contains("intentions.hcl:3:14: config_entries.bootstrap[0].Kind: unknown config entry kind \"service-intention\" (did you mean \"service-intentions\"?)"),
        "{e}"
    );
    let e = hcl("Kind = \"servce-intentions\"\nName = \"redis\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Kind: unknown config entry kind \"servce-intentions\" (did you mean \"service-intentions\"?)"),
        "{e}"
    );
    let e = hcl("Kind = \"banana\"\nName = \"redis\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "unknown config entry kind \"banana\"; intentions are Kind = \"service-intentions\""
        ),
        "{e}"
    );
}

#[test]
fn both_an_hcl_and_a_json_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(find_file(dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("intentions.json"), "{}").unwrap();
    assert!(find_file(dir.path()).unwrap().is_some());
    std::fs::write(dir.path().join("intentions.hcl"), "").unwrap();
    assert!(find_file(dir.path()).is_err());
}

#[test]
fn a_description_over_consuls_512_bytes_is_an_error_at_its_line() {
    let text = format!(
        "Kind = \"service-intentions\"\nName = \"value-architect\"\nSources = [\n  {{\n    Name = \"value-committer\"\n    Action = \"allow\"\n    Description = \"{}\"\n  }}\n]\n",
        "x".repeat(513)
    );
    assert_eq!(
        err(&text),
        "intentions.hcl:7:19: Sources[0].Description: exceeds maximum length 512"
    );
}

#[test]
fn an_agent_config_file_gives_its_config_entries_and_one_warning_for_agent_keys() {
    let text = "datacenter = \"dc1\"\nenable_central_service_config = true\nacl {\n  enabled = true\n  default_policy = \"deny\"\n}\nconfig_entries {\n  bootstrap {\n    kind = \"proxy-defaults\"\n    name = \"global\"\n  }\n  bootstrap {\n    kind = \"service-intentions\"\n    name = \"redis\"\n    sources = [{ name = \"web\", action = \"allow\" }]\n  }\n}\n";
    let (entries, warnings) = crate::config::intentions::parse(
        std::path::Path::new("consul.hcl"),
        text,
        &crate::config::intentions::MeshServices::default(),
    )
    .unwrap_or_else(|e| panic!("an agent config was refused: {e}"));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].destination.to_string(), "redis");
    let agent: Vec<_> = warnings
        .iter()
        .filter(|w| w.message.contains("agent settings"))
        .collect();
    assert_eq!(agent.len(), 1, "{warnings:?}");
    assert!(
        agent[0]
            .message
            .contains("`datacenter`, `enable_central_service_config`, `acl`"),
        "{}",
        agent[0].message
    );
}
