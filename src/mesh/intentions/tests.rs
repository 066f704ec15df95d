//! Loader, store and stack-file tests for intentions.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::*;

/// The valueverse topology of SPEC §6 (postgres and redis are tcp mocks).
fn valueverse_services() -> MeshServices {
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

fn hcl(text: &str) -> Result<(Vec<IntentionEntry>, Vec<ConfigWarning>), ConfigError> {
    parse(Path::new("intentions.hcl"), text, &valueverse_services())
}

fn err(text: &str) -> String {
    hcl(text).unwrap_err().to_string()
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .join("intentions.hcl")
}

const L7: &str = r#"
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
fn the_valueverse_file_encodes_the_whole_decision_table() {
    let (entries, warnings) = load(&scenario("valueverse"), &valueverse_services()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let set = Intentions::new(entries, Action::Deny);
    let allowed = [
        ("value-committer", "value-architect"),
        ("value-architect", "value-committer"),
        ("api-gateway", "value-architect"),
        ("api-gateway", "value-committer"),
        ("value-architect", "postgres"),
        ("value-committer", "postgres"),
        ("api-gateway", "postgres"),
        ("value-architect", "redis"),
        ("value-committer", "redis"),
        ("api-gateway", "redis"),
        ("intruder", "postgres"),
        ("postgres", "redis"),
    ];
    for (src, dst) in allowed {
        assert!(
            set.decide(src, dst, None).allowed(),
            "{src} -> {dst} must be allowed"
        );
    }
    let denied = [
        ("intruder", "value-architect"),
        ("intruder", "value-committer"),
        ("postgres", "value-architect"),
        ("redis", "value-committer"),
        ("value-architect", "api-gateway"),
        ("value-committer", "api-gateway"),
        ("redis", "api-gateway"),
        ("value-architect", "value-architect-extra"),
        ("api-gateway", "unknown"),
    ];
    for (src, dst) in denied {
        let d = set.decide(src, dst, None);
        assert!(!d.allowed(), "{src} -> {dst} must be denied ({})", d.reason);
    }
    // Zero trust even on an allow-by-default agent: the explicit `*` → `*` deny governs.
    let lenient = Intentions::new(set.entries().to_vec(), Action::Allow);
    for (src, dst) in denied {
        assert!(
            !lenient.check(src, dst),
            "{src} -> {dst} denied by the file itself"
        );
    }
}

#[test]
fn the_open_mesh_file_allows_every_pair() {
    let (entries, _) = load(&scenario("open-mesh"), &valueverse_services()).unwrap();
    let set = Intentions::new(entries, Action::Deny);
    for (src, dst) in [
        ("a", "b"),
        ("value-committer", "value-architect"),
        ("x", "postgres"),
    ] {
        assert!(set.check(src, dst));
    }
}

#[test]
fn l7_permissions_load_and_the_first_match_wins() {
    let (entries, warnings) = hcl(L7).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let set = Intentions::new(entries, Action::Deny);
    let mut h = http::HeaderMap::new();
    h.insert("x-tenant", "acme".parse().unwrap());
    let view = |method, path| HttpRequestView {
        method,
        path,
        headers: &h,
    };
    let ok = set.decide(
        "value-committer",
        "value-architect",
        Some(&view("GET", "/api/v1/value-models")),
    );
    assert!(ok.allowed(), "{}", ok.reason);
    let secret = view("GET", "/api/v1/value-models/secret/1");
    assert!(!set
        .decide("value-committer", "value-architect", Some(&secret))
        .allowed());
    let post = view("POST", "/api/v1/value-models");
    let d = set.decide("value-committer", "value-architect", Some(&post));
    assert!(matches!(d.reason, Reason::L7NoPermissionMatched { .. }));
    assert!(!d.allowed());
    // No request (tcp, check endpoint): an L7 intention counts as deny.
    assert!(!set.check("value-committer", "value-architect"));
    assert!(set.check("api-gateway", "value-architect"));
}

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
fn both_an_hcl_and_a_json_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(find_file(dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("intentions.json"), "{}").unwrap();
    assert!(find_file(dir.path()).unwrap().is_some());
    std::fs::write(dir.path().join("intentions.hcl"), "").unwrap();
    assert!(find_file(dir.path()).is_err());
}

fn store() -> IntentionStore {
    let (entries, _) = load(&scenario("valueverse"), &valueverse_services()).unwrap();
    IntentionStore::new(
        Intentions::new(entries, Action::Deny),
        valueverse_services(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

#[test]
fn put_exact_changes_the_next_decision_and_delete_restores_it() {
    let store = store();
    let later = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_600);
    let before = store.current();
    assert!(
        store
            .check("value-committer", "value-architect")
            .unwrap()
            .allowed
    );
    store
        .put_exact(
            "value-committer",
            "value-architect",
            r#"{"Action": "deny"}"#,
            later,
        )
        .unwrap();
    assert!(
        !store
            .check("value-committer", "value-architect")
            .unwrap()
            .allowed
    );
    // A snapshot taken before the change (an established connection) keeps its answer.
    assert!(before
        .intentions()
        .check("value-committer", "value-architect"));
    assert!(store.current().index() > before.index());

    store
        .put_exact(
            "intruder",
            "value-architect",
            r#"{"Action": "allow", "Description": "temp"}"#,
            later,
        )
        .unwrap();
    assert!(store.check("intruder", "value-architect").unwrap().allowed);
    let got = store
        .get_exact("intruder", "value-architect")
        .unwrap()
        .unwrap();
    assert_eq!(got.description, "temp");
    assert_eq!(got.precedence, 9);
    assert_eq!(got.created_at, "2023-11-14T22:23:20Z");
    assert!(store.delete_exact("intruder", "value-architect").unwrap());
    assert!(!store.check("intruder", "value-architect").unwrap().allowed);
    assert!(!store.delete_exact("intruder", "value-architect").unwrap());
    assert_eq!(
        store.get_exact("intruder", "value-architect").unwrap(),
        None
    );
}

#[test]
fn put_exact_accepts_l7_permissions_and_refuses_them_on_tcp() {
    let store = store();
    let now = SystemTime::UNIX_EPOCH;
    let body = r#"{"Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/api", "Methods": ["GET"]}}]}"#;
    store
        .put_exact("value-committer", "value-architect", body, now)
        .unwrap();
    let h = http::HeaderMap::new();
    let get = HttpRequestView {
        method: "GET",
        path: "/api/x",
        headers: &h,
    };
    let post = HttpRequestView {
        method: "POST",
        path: "/api/x",
        headers: &h,
    };
    assert!(store
        .decide("value-committer", "value-architect", Some(&get))
        .allowed());
    assert!(!store
        .decide("value-committer", "value-architect", Some(&post))
        .allowed());
    let err = store
        .put_exact("value-committer", "postgres", body, now)
        .unwrap_err();
    assert_eq!(err.status, 400);
    assert!(err.message.contains("`postgres` is tcp"), "{}", err.message);
    let err = store
        .put_exact("a", "b", r#"{"Acton": "allow"}"#, now)
        .unwrap_err();
    assert!(
        err.message.contains("request body:1:2: Acton: unknown key"),
        "{}",
        err.message
    );
    let err = store
        .put_exact("", "b", r#"{"Action": "allow"}"#, now)
        .unwrap_err();
    assert_eq!(err.message, "required query parameter 'source' not set");
}

#[test]
fn list_and_get_answer_in_consuls_shape() {
    let store = store();
    let list = store.list();
    assert_eq!(list.len(), 7);
    let precedences: Vec<u8> = list.iter().map(|i| i.precedence).collect();
    assert_eq!(precedences, vec![9, 9, 9, 9, 8, 8, 5]);
    let json = serde_json::to_value(&list[0]).unwrap();
    assert_eq!(json["SourceName"], "api-gateway");
    assert_eq!(json["DestinationName"], "value-architect");
    assert_eq!(json["SourceNS"], "default");
    assert_eq!(json["Action"], "allow");
    assert_eq!(json["SourceType"], "consul");
    assert!(json.get("Permissions").is_none());
    let check = serde_json::to_string(&store.check("redis", "postgres").unwrap()).unwrap();
    assert_eq!(check, r#"{"Allowed":true}"#);

    let body = r#"{"Permissions": [{"Action": "allow", "HTTP": {"PathRegex": "/v[0-9]+", "Header": [{"Name": "x-a", "Present": true, "Invert": true}]}}]}"#;
    store
        .put_exact(
            "value-committer",
            "value-architect",
            body,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
    let got = store
        .get_exact("value-committer", "value-architect")
        .unwrap()
        .unwrap();
    let json = serde_json::to_value(&got).unwrap();
    assert!(json.get("Action").is_none());
    assert_eq!(
        json["Permissions"],
        serde_json::json!([{"Action": "allow", "HTTP": {"PathRegex": "/v[0-9]+",
            "Header": [{"Name": "x-a", "Present": true, "Invert": true}]}}])
    );
    assert!(got.modify_index > got.create_index - 1);
}
