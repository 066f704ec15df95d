//! Catalog API tests: every endpoint's status and shape, driven in-process through the router.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::mesh::intentions::{Action, Intentions, MeshServices};

struct Fixture {
    state: CatalogState,
    /// Services the health callback reports as down.
    down: Arc<Mutex<BTreeSet<String>>>,
    private_keys: Vec<String>,
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn fixture() -> Fixture {
    let clock = StackClock::new();
    let ca = Arc::new(MeshCa::generate(&clock).unwrap());
    let private_keys = ["value-architect", "postgres"]
        .iter()
        .map(|s| {
            ca.issue_leaf(s, &clock)
                .unwrap()
                .private_key_pem()
                .to_string()
        })
        .collect();
    let services = MeshServices::new(
        [
            ("value-architect".to_string(), Protocol::Http),
            ("value-committer".to_string(), Protocol::Http),
            ("postgres".to_string(), Protocol::Tcp),
        ],
        ["api-gateway".to_string()],
    );
    let store = Arc::new(IntentionStore::new(
        Intentions::new(Vec::new(), Action::Deny),
        services,
        clock.wall(),
    ));
    let down = Arc::new(Mutex::new(BTreeSet::new()));
    let health: HealthCheck = {
        let down = Arc::clone(&down);
        Arc::new(move |name: &str| !down.lock().unwrap().contains(name))
    };
    let state = CatalogState {
        datacenter: "dc1".into(),
        node: "gauntlet".into(),
        services: vec![
            CatalogService {
                name: "value-architect".into(),
                protocol: Protocol::Http,
                address: addr(8001),
                sidecar: addr(21000),
                upstreams: vec![
                    CatalogUpstream {
                        destination: "value-committer".into(),
                        local_bind_port: 9191,
                    },
                    CatalogUpstream {
                        destination: "postgres".into(),
                        local_bind_port: 5432,
                    },
                ],
            },
            CatalogService {
                name: "postgres".into(),
                protocol: Protocol::Tcp,
                address: addr(15432),
                sidecar: addr(21001),
                upstreams: Vec::new(),
            },
        ],
        health,
        store,
        ca,
        clock,
    };
    Fixture {
        state,
        down,
        private_keys,
    }
}

impl Fixture {
    async fn call(&self, method: Method, uri: &str, body: &str) -> Answer {
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, content_type, body) =
            crate::api::call_router(router(self.state.clone()), request).await;
        for key in &self.private_keys {
            let material: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
            assert!(!body.contains("PRIVATE KEY"), "{uri}: {body}");
            assert!(!body.contains(&material[..32]), "{uri}: {body}");
        }
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, "").await
    }

    async fn allowed(&self, source: &str, destination: &str) -> bool {
        let answer = self
            .get(&format!(
                "/v1/connect/intentions/check?source={source}&destination={destination}"
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()["Allowed"].as_bool().unwrap()
    }
}

#[tokio::test]
async fn agent_services_lists_each_service_and_its_connect_proxy() {
    let f = fixture();
    let answer = f.get("/v1/agent/services").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type.starts_with("application/json"));
    let json = answer.json();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "postgres",
            "postgres-sidecar-proxy",
            "value-architect",
            "value-architect-sidecar-proxy"
        ]
    );
    let service = &json["value-architect"];
    assert_eq!(service["ID"], "value-architect");
    assert_eq!(service["Service"], "value-architect");
    assert_eq!(service["Port"], 8001);
    assert_eq!(service["Address"], "127.0.0.1");
    assert_eq!(service["Datacenter"], "dc1");
    assert!(service.get("Kind").is_none());

    let proxy = &json["value-architect-sidecar-proxy"];
    assert_eq!(proxy["Kind"], "connect-proxy");
    assert_eq!(proxy["ID"], "value-architect-sidecar-proxy");
    assert_eq!(proxy["Port"], 21000, "the sidecar's public port");
    assert_eq!(proxy["Proxy"]["DestinationServiceName"], "value-architect");
    assert_eq!(proxy["Proxy"]["LocalServicePort"], 8001);
    assert_eq!(proxy["Proxy"]["Config"]["protocol"], "http");
    assert_eq!(
        proxy["Proxy"]["Upstreams"],
        json!([
            {"DestinationType": "service", "DestinationName": "value-committer",
             "LocalBindAddress": "127.0.0.1", "LocalBindPort": 9191},
            {"DestinationType": "service", "DestinationName": "postgres",
             "LocalBindAddress": "127.0.0.1", "LocalBindPort": 5432},
        ])
    );
    assert_eq!(
        json["postgres-sidecar-proxy"]["Proxy"]["Config"]["protocol"],
        "tcp"
    );
}

#[tokio::test]
async fn catalog_services_maps_names_to_tags() {
    let f = fixture();
    let answer = f.get("/v1/catalog/services").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({
            "postgres": [], "postgres-sidecar-proxy": [],
            "value-architect": [], "value-architect-sidecar-proxy": [],
        })
    );
}

#[tokio::test]
async fn health_service_has_consuls_shape_and_follows_the_callback() {
    let f = fixture();
    let answer = f.get("/v1/health/service/postgres").await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    let entries = json.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["Node"]["Node"], "gauntlet");
    assert_eq!(entry["Node"]["Datacenter"], "dc1");
    assert_eq!(entry["Service"]["Service"], "postgres");
    assert_eq!(entry["Service"]["Port"], 15432);
    let checks = entry["Checks"].as_array().unwrap();
    assert_eq!(checks[0]["CheckID"], "serfHealth");
    assert_eq!(checks[1]["CheckID"], "service:postgres");
    assert_eq!(checks[1]["ServiceName"], "postgres");
    assert_eq!(checks[1]["Status"], "passing");

    f.down.lock().unwrap().insert("postgres".into());
    let json = f.get("/v1/health/service/postgres").await.json();
    assert_eq!(json[0]["Checks"][1]["Status"], "critical");
    assert_eq!(
        json[0]["Checks"][0]["Status"], "passing",
        "the node stays up"
    );
}

#[tokio::test]
async fn passing_filters_out_a_critical_service() {
    let f = fixture();
    let passing = f.get("/v1/health/service/postgres?passing").await.json();
    assert_eq!(passing.as_array().unwrap().len(), 1);

    f.down.lock().unwrap().insert("postgres".into());
    for uri in [
        "/v1/health/service/postgres?passing",
        "/v1/health/service/postgres?passing=true",
        "/v1/health/service/postgres-sidecar-proxy?passing=1",
    ] {
        let answer = f.get(uri).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json(), json!([]), "{uri}");
    }
    let all = f.get("/v1/health/service/postgres?passing=false").await;
    assert_eq!(all.json().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_sidecars_health_has_the_listening_and_alias_checks() {
    let f = fixture();
    f.down.lock().unwrap().insert("value-architect".into());
    let json = f
        .get("/v1/health/service/value-architect-sidecar-proxy")
        .await
        .json();
    assert_eq!(json[0]["Service"]["Kind"], "connect-proxy");
    let checks = json[0]["Checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().filter_map(|c| c["Name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Serf Health Status",
            "Connect Sidecar Listening",
            "Connect Sidecar Aliasing value-architect"
        ]
    );
    assert_eq!(checks[1]["Status"], "passing");
    assert_eq!(
        checks[2]["Status"], "critical",
        "the alias mirrors the service"
    );
}

#[tokio::test]
async fn an_unknown_service_has_no_health_entries() {
    let f = fixture();
    let answer = f.get("/v1/health/service/nope").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!([]));
}

#[tokio::test]
async fn a_put_changes_the_next_check_and_a_delete_reverts_it() {
    let f = fixture();
    assert!(!f.allowed("value-committer", "postgres").await);

    let exact = "/v1/connect/intentions/exact?source=value-committer&destination=postgres";
    let put = f.call(Method::PUT, exact, r#"{"Action":"allow"}"#).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.json(), json!(true));
    assert!(f.allowed("value-committer", "postgres").await);
    assert!(f
        .state
        .store
        .decide("value-committer", "postgres", None)
        .allowed());

    let got = f.get(exact).await;
    assert_eq!(got.status, StatusCode::OK);
    let view = got.json();
    assert_eq!(view["SourceName"], "value-committer");
    assert_eq!(view["DestinationName"], "postgres");
    assert_eq!(view["Action"], "allow");
    assert_eq!(view["Precedence"], 9);

    let list = f.get("/v1/connect/intentions").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json().as_array().unwrap().len(), 1);

    let deny = f.call(Method::PUT, exact, r#"{"Action":"deny"}"#).await;
    assert_eq!(deny.json(), json!(true));
    assert!(!f.allowed("value-committer", "postgres").await);

    let deleted = f.call(Method::DELETE, exact, "").await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json(), json!(true));
    assert_eq!(f.get(exact).await.status, StatusCode::NOT_FOUND);
    assert_eq!(f.get("/v1/connect/intentions").await.json(), json!([]));
}

#[tokio::test]
async fn a_put_with_permissions_counts_as_deny_in_check() {
    let f = fixture();
    let exact = "/v1/connect/intentions/exact?source=value-committer&destination=value-architect";
    let body = r#"{"Permissions":[{"Action":"allow","HTTP":{"PathPrefix":"/api"}}]}"#;
    let put = f.call(Method::PUT, exact, body).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert!(!f.allowed("value-committer", "value-architect").await);
    let view = f.get(exact).await.json();
    assert_eq!(view["Permissions"][0]["HTTP"]["PathPrefix"], "/api");
}

#[tokio::test]
async fn writes_are_stamped_with_the_stack_clock() {
    let f = fixture();
    f.state
        .clock
        .advance(std::time::Duration::from_secs(10 * 365 * 86_400));
    let exact = "/v1/connect/intentions/exact?source=a&destination=postgres";
    f.call(Method::PUT, exact, r#"{"Action":"allow"}"#).await;
    let created = f.get(exact).await.json()["CreatedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let created =
        time::OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let wall = time::OffsetDateTime::from(f.state.clock.wall());
    assert!(
        (wall - created).whole_seconds().abs() < 5,
        "{created} vs {wall}"
    );
}

#[tokio::test]
async fn deleting_an_absent_intention_still_answers_true() {
    let f = fixture();
    let answer = f
        .call(
            Method::DELETE,
            "/v1/connect/intentions/exact?source=nobody&destination=postgres",
            "",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!(true));
}

#[tokio::test]
async fn an_absent_exact_intention_is_404_intention_not_found() {
    let f = fixture();
    let answer = f
        .get("/v1/connect/intentions/exact?source=value-committer&destination=postgres")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.content_type.starts_with("text/plain"));
    assert_eq!(answer.body, "Intention not found");
}

#[tokio::test]
async fn missing_query_parameters_get_consuls_status_and_reason() {
    let f = fixture();
    let cases = [
        (
            Method::GET,
            "/v1/connect/intentions/check?destination=postgres",
            "source",
        ),
        (
            Method::GET,
            "/v1/connect/intentions/check?source=a",
            "destination",
        ),
        (
            Method::GET,
            "/v1/connect/intentions/exact?destination=postgres",
            "source",
        ),
        (
            Method::PUT,
            "/v1/connect/intentions/exact?source=a",
            "destination",
        ),
        (Method::DELETE, "/v1/connect/intentions/exact", "source"),
        (
            Method::GET,
            "/v1/connect/intentions/check?source=&destination=b",
            "source",
        ),
    ];
    for (method, uri, param) in cases {
        let answer = f.call(method, uri, r#"{"Action":"allow"}"#).await;
        // `/check` answers a missing name with Consul's 500 (a plain error in its handler).
        let status = if uri.contains("/check") {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(answer.status, status, "{uri}");
        assert!(answer.content_type.starts_with("text/plain"), "{uri}");
        assert_eq!(
            answer.body,
            format!("required query parameter '{param}' not set"),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_bad_put_body_is_400_and_changes_nothing() {
    let f = fixture();
    let exact = "/v1/connect/intentions/exact?source=a&destination=postgres";
    for body in ["not json", r#"{"Action":"maybe"}"#] {
        let answer = f.call(Method::PUT, exact, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!answer.body.is_empty());
    }
    assert_eq!(f.get("/v1/connect/intentions").await.json(), json!([]));
}

#[tokio::test]
async fn ca_roots_have_consuls_shape_and_no_private_key() {
    let f = fixture();
    let answer = f.get("/v1/connect/ca/roots").await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    let ca = &f.state.ca;
    assert_eq!(json["TrustDomain"], ca.trust_domain());
    let root = &json["Roots"][0];
    assert_eq!(json["ActiveRootID"], root["ID"]);
    assert_eq!(json["Roots"].as_array().unwrap().len(), 1);
    assert_eq!(root["Active"], true);
    assert_eq!(root["SerialNumber"], 1);
    assert_eq!(root["RootCert"], ca.cert_pem());
    assert_eq!(root["Name"], "Consul CA Primary Cert");
    let id = root["ID"].as_str().unwrap();
    assert_eq!(id.split(':').count(), 32, "{id}");
    assert!(id.split(':').all(|b| b.len() == 2));
    let skid = root["SigningKeyID"].as_str().unwrap();
    assert!(skid.contains(':') && !skid.is_empty(), "{skid}");
    assert_eq!(
        root["NotBefore"],
        super::rfc3339_seconds(ca.not_before()).as_str()
    );
    assert!(root["NotAfter"].as_str().unwrap().ends_with('Z'));

    let pem = f.get("/v1/connect/ca/roots?pem=true").await;
    assert_eq!(pem.status, StatusCode::OK);
    assert_eq!(pem.content_type, "application/pem-certificate-chain");
    assert_eq!(pem.body, ca.cert_pem());
}

#[tokio::test]
async fn an_unknown_path_is_404_and_a_wrong_method_405() {
    let f = fixture();
    let answer = f.get("/v1/agent/checks").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = f
        .call(Method::POST, "/v1/connect/intentions/exact", "")
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn the_state_debug_output_shows_no_key() {
    let f = fixture();
    let shown = format!("{:?}", f.state);
    assert!(shown.contains("CatalogState"));
    assert!(!shown.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn a_put_is_held_to_consuls_limits_and_its_precedence_is_never_taken() {
    let f = fixture();
    let exact = "/v1/connect/intentions/exact?source=value-committer&destination=postgres";
    let refused = [
        (
            format!(r#"{{"Action":"allow","Description":"{}"}}"#, "x".repeat(1 << 20)),
            "Description: exceeds maximum length 512",
        ),
        (
            r#"{"Action":"allow","Precedence":99999999999999999999}"#.to_string(),
            "Precedence: expected an integer (a read-only field Consul computes), found `99999999999999999999`",
        ),
        (
            r#"{"Action":"allow","Precedence":"9"}"#.to_string(),
            "Precedence: expected an integer (a read-only field Consul computes), found a string",
        ),
        (
            format!(r#"{{"Action":"allow","Meta":{{"k":"{}"}}}}"#, "v".repeat(513)),
            "Meta.k: value exceeds maximum length 512",
        ),
    ];
    for (body, message) in refused {
        let put = f.call(Method::PUT, exact, &body).await;
        assert_eq!(put.status, StatusCode::BAD_REQUEST, "{}", put.body);
        assert!(put.body.contains(message), "{message}: {}", put.body);
        assert!(!f.allowed("value-committer", "postgres").await);
    }
    let at_the_limit = format!(
        r#"{{"Action":"allow","Description":"{}","Precedence":1}}"#,
        "d".repeat(512)
    );
    let put = f.call(Method::PUT, exact, &at_the_limit).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let view = f.get(exact).await.json();
    assert_eq!(
        view["Precedence"], 9,
        "computed from the names, not the client's 1"
    );
    assert_eq!(view["Description"].as_str().map(str::len), Some(512));
}

/// Consul's `IntentionMatch`: by destination (or source), the name's own intentions and the
/// wildcard ones, highest precedence first; one key per `name`; plain errors are 500s.
#[tokio::test]
async fn match_lists_the_intentions_of_a_name_in_precedence_order() {
    let f = fixture();
    for (source, destination, action) in [
        ("*", "value-architect", "deny"),
        ("value-committer", "value-architect", "allow"),
        ("value-committer", "*", "allow"),
        ("*", "postgres", "allow"),
    ] {
        let answer = f
            .call(
                Method::PUT,
                &format!("/v1/connect/intentions/exact?source={source}&destination={destination}"),
                &format!(r#"{{"Action":"{action}"}}"#),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let pairs = |v: &Value| -> Vec<(String, String, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["SourceName"].as_str().unwrap().to_string(),
                    i["DestinationName"].as_str().unwrap().to_string(),
                    i["Precedence"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let s = |a: &str, b: &str, p: u64| (a.to_string(), b.to_string(), p);
    let answer = f
        .get("/v1/connect/intentions/match?by=destination&name=value-architect&name=redis")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = answer.json();
    assert_eq!(
        pairs(&body["value-architect"]),
        [
            s("value-committer", "value-architect", 9),
            s("*", "value-architect", 8),
            s("value-committer", "*", 6),
        ]
    );
    assert_eq!(pairs(&body["redis"]), [s("value-committer", "*", 6)]);
    let body = f
        .get("/v1/connect/intentions/match?by=source&name=value-committer")
        .await
        .json();
    assert_eq!(
        pairs(&body["value-committer"]),
        [
            s("value-committer", "value-architect", 9),
            s("*", "postgres", 8),
            s("*", "value-architect", 8),
            s("value-committer", "*", 6),
        ]
    );
    for (uri, message) in [
        (
            "/v1/connect/intentions/match?name=x",
            "required query parameter 'by' not set",
        ),
        (
            "/v1/connect/intentions/match?by=both&name=x",
            "'by' parameter must be one of 'source' or 'destination'",
        ),
        (
            "/v1/connect/intentions/match?by=source",
            "required query parameter 'name' not set",
        ),
    ] {
        let answer = f.get(uri).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert!(answer.body.contains(message), "{uri}: {}", answer.body);
    }
}
