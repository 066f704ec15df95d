//! Kong behaviours of valid configurations beyond the valueverse stack: each test starts the
//! valueverse stack from a temporary copy whose kong.yml adds what the test needs.

mod support;

use std::sync::Arc;

use gauntlet::config::StackDef;
use gauntlet::stack::{PortPlan, Stack};

/// The valueverse stack with `extra` appended to its kong.yml.
async fn valueverse_with(extra: &str) -> (tempfile::TempDir, Stack) {
    let (dir, stack_dir) = support::stack_on_free_ports("valueverse");
    let kong = stack_dir.join("kong.yml");
    let mut text = std::fs::read_to_string(&kong).expect("kong.yml");
    text.push_str(extra);
    std::fs::write(&kong, text).expect("write kong.yml");
    let def = StackDef::load(&stack_dir).unwrap_or_else(|e| panic!("the stack loads: {e}"));
    let stack = Stack::start(Arc::new(def), PortPlan::Ephemeral, 1)
        .await
        .expect("stack starts");
    (dir, stack)
}

/// Kong: a route's `service` is optional; such a route matches, its plugins run (here the
/// global jwt), then Kong answers 503 `{"message":"no Service found with those values"}`
/// (`kong/init.lua` `Kong.access`; `spec/02-integration/05-proxy/02-router_spec.lua`
/// "responds 503 if no service found").
#[tokio::test]
async fn a_route_without_service_runs_its_plugins_then_answers_503() {
    let (_dir, stack) = valueverse_with("routes:\n  - name: orphan\n    paths: [/orphan]\n").await;
    let url = format!("{}/orphan", stack.proxy_url());
    let anonymous = support::get(&url, &[]).await;
    assert_eq!(anonymous.status, 401, "the global jwt plugin runs first");
    let auth = support::bearer(&stack, "admin-user");
    let response = support::get(&url, &[("Authorization", &auth)]).await;
    assert_eq!(response.status, 503);
    assert_eq!(
        String::from_utf8_lossy(&response.body),
        r#"{"message":"no Service found with those values"}"#
    );
}
