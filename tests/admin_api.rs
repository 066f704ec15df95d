//! The gateway's Kong-shaped admin API against a running valueverse stack.

mod support;

use support::get;

fn data(value: &serde_json::Value) -> &Vec<serde_json::Value> {
    value["data"]
        .as_array()
        .expect("a Kong list: {\"data\": [...]}")
}

#[tokio::test]
async fn lists_services_routes_consumers_and_plugins_like_kong() {
    let stack = support::valueverse().await;
    let admin = stack.admin_url();

    let services = get(&format!("{admin}/services"), &[]).await.json().unwrap();
    let names: Vec<&str> = data(&services)
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[..2], ["value-architect", "value-committer"]);
    assert!(
        names[2..].iter().all(|n| n.starts_with("lab-")),
        "then the routing and plugin labs: {names:?}"
    );
    assert_eq!(data(&services)[0]["retries"], 3);
    assert_eq!(data(&services)[0]["read_timeout"], 30000);

    let one = get(&format!("{admin}/services/value-committer"), &[]).await;
    assert_eq!(one.status, 200);
    let by_id = get(
        &format!(
            "{admin}/services/{}",
            one.json().unwrap()["id"].as_str().unwrap()
        ),
        &[],
    )
    .await;
    assert_eq!(by_id.json().unwrap()["name"], "value-committer");

    let routes = get(&format!("{admin}/routes"), &[]).await.json().unwrap();
    let platform = data(&routes)
        .iter()
        .filter(|r| !r["name"].as_str().unwrap().starts_with("lab-"))
        .count();
    assert_eq!(platform, 5);
    let header_route = data(&routes)
        .iter()
        .find(|r| r["name"] == "lab-two-headers")
        .unwrap();
    assert_eq!(
        header_route["headers"]["x-tenant"],
        serde_json::json!(["~*^acme-"])
    );
    let host_route = data(&routes)
        .iter()
        .find(|r| r["name"] == "lab-wildcard-host")
        .unwrap();
    assert_eq!(
        host_route["hosts"],
        serde_json::json!(["*.valueverse.test"])
    );
    let write = data(&routes)
        .iter()
        .find(|r| r["name"] == "value-models-write")
        .unwrap();
    assert_eq!(
        write["methods"],
        serde_json::json!(["POST", "PUT", "DELETE"])
    );
    assert_eq!(write["strip_path"], false);

    let plugins = get(&format!("{admin}/services/value-architect/plugins"), &[])
        .await
        .json()
        .unwrap();
    let names: Vec<&str> = data(&plugins)
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["circuit-breaker", "bulkhead"]);
    assert_eq!(data(&plugins)[0]["config"]["failure_threshold"], 5);

    let all = get(&format!("{admin}/plugins"), &[]).await.json().unwrap();
    let rate = data(&all)
        .iter()
        .find(|p| p["name"] == "rate-limiting")
        .unwrap();
    assert_eq!(rate["config"]["minute"], 100);
    assert_eq!(rate["config"]["hour"], 10000);
    assert_eq!(rate["service"], serde_json::Value::Null, "global plugin");

    let consumers = get(&format!("{admin}/consumers"), &[])
        .await
        .json()
        .unwrap();
    assert_eq!(
        data(&consumers).len(),
        9,
        "three HS256 consumers, six partners"
    );
    let acls = get(&format!("{admin}/consumers/frontend-app/acls"), &[])
        .await
        .json()
        .unwrap();
    assert_eq!(data(&acls)[0]["group"], "user");

    assert_eq!(
        get(&format!("{admin}/consumers/nobody"), &[]).await.status,
        404
    );
    assert_eq!(get(&format!("{admin}/status"), &[]).await.status, 200);
}

#[tokio::test]
async fn never_shows_a_jwt_secret() {
    let stack = support::valueverse().await;
    let admin = stack.admin_url();
    let secrets: Vec<String> = stack
        .def
        .gateway
        .consumers
        .iter()
        .flat_map(|c| c.jwt_secrets.iter().map(|j| j.secret.clone()))
        .collect();
    for path in [
        "/consumers",
        "/consumers/admin-user",
        "/consumers/admin-user/acls",
        "/plugins",
        "/services",
        "/routes",
        "/status",
        "/metrics",
    ] {
        let body = get(&format!("{admin}{path}"), &[]).await.text();
        for secret in &secrets {
            assert!(!body.contains(secret.as_str()), "{path} shows a jwt secret");
        }
    }
}
