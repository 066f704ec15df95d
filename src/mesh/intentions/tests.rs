//! Decision and store tests: intentions files loaded by [`crate::config::intentions`], then
//! decided and edited as a running stack does.

use std::time::{Duration, SystemTime};

use super::*;
use crate::config::intentions::load;
use crate::config::intentions::tests::{hcl, scenario, valueverse_services, L7};

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
        // The data stores are value-committer's alone.
        ("value-committer", "postgres"),
        ("value-committer", "redis"),
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
        // The data stores are value-committer's alone.
        ("value-architect", "postgres"),
        ("api-gateway", "postgres"),
        ("value-architect", "redis"),
        ("api-gateway", "redis"),
        ("intruder", "postgres"),
        ("postgres", "redis"),
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
    assert_eq!(precedences, vec![9, 9, 9, 9, 9, 9, 5]);
    let json = serde_json::to_value(&list[0]).unwrap();
    assert_eq!(json["SourceName"], "api-gateway");
    assert_eq!(json["DestinationName"], "value-architect");
    assert_eq!(json["SourceNS"], "default");
    assert_eq!(json["Action"], "allow");
    assert_eq!(json["SourceType"], "consul");
    assert!(json.get("Permissions").is_none());
    let check =
        serde_json::to_string(&store.check("value-committer", "postgres").unwrap()).unwrap();
    assert_eq!(check, r#"{"Allowed":true}"#);
    let check = serde_json::to_string(&store.check("redis", "postgres").unwrap()).unwrap();
    assert_eq!(check, r#"{"Allowed":false}"#);

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
