//! Kong 3.x's Prometheus exposition: with the `prometheus` plugin in kong.yml, the admin API's
//! `/metrics` carries Kong's families (`kong/plugins/prometheus/exporter.lua`), valid for
//! `promtool check metrics`, and the PromQL of Kong's official Grafana dashboard
//! (`kong/plugins/prometheus/grafana/kong-official.json`) gives the expected answers over two
//! scrapes, checked with `promtool test rules`.
//!
//! Without promtool installed the promtool checks are skipped with a notice, unless
//! GAUNTLET_REQUIRE_PROMTOOL is set (CI sets it).

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use gauntlet::config::StackDef;
use gauntlet::stack::{PortPlan, Stack};

/// The global prometheus plugin with every family Gauntlet feeds.
const PROMETHEUS: &str = "  - name: prometheus\n    config:\n      per_consumer: true\n      status_code_metrics: true\n      latency_metrics: true\n      bandwidth_metrics: true\n";

async fn valueverse_with_prometheus() -> (tempfile::TempDir, Stack) {
    let (dir, stack_dir) = support::stack_on_free_ports("valueverse");
    let kong = stack_dir.join("kong.yml");
    let mut text = std::fs::read_to_string(&kong).expect("kong.yml");
    assert!(
        text.trim_end().ends_with("policy: local"),
        "the global plugins list ends kong.yml"
    );
    text.push_str(PROMETHEUS);
    std::fs::write(&kong, text).expect("write kong.yml");
    let def = StackDef::load(&stack_dir).unwrap_or_else(|e| panic!("the stack loads: {e}"));
    let stack = Stack::start(Arc::new(def), PortPlan::Ephemeral, 1)
        .await
        .expect("stack starts");
    (dir, stack)
}

async fn scrape(stack: &Stack) -> String {
    let metrics = support::get(&format!("{}/metrics", stack.admin_url()), &[]).await;
    assert_eq!(metrics.status, 200);
    metrics.text()
}

/// Kong's series only (`kong_…`), name{labels} → value.
fn kong_series(exposition: &str) -> BTreeMap<String, f64> {
    exposition
        .lines()
        .filter(|l| l.starts_with("kong_"))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn promtool(args: &[&str], stdin: Option<&str>) -> Option<std::process::Output> {
    use std::io::Write;
    let spawned = Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if std::env::var_os("GAUNTLET_REQUIRE_PROMTOOL").is_none() => {
            eprintln!(
                "notice: promtool not available ({e}); skipping `promtool {}`",
                args[0]
            );
            return None;
        }
        Err(e) => panic!("promtool is required (GAUNTLET_REQUIRE_PROMTOOL is set): {e}"),
    };
    let input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        let mut input = input;
        input.write_all(text.as_bytes()).unwrap();
    }
    Some(child.wait_with_output().unwrap())
}

#[tokio::test]
async fn kongs_families_follow_the_traffic_and_answer_kongs_dashboard_queries() {
    let (_dir, stack) = valueverse_with_prometheus().await;
    let url = format!("{}/api/v1/value-models", stack.proxy_url());
    let admin = support::bearer(&stack, "admin-user");

    let before = scrape(&stack).await;
    for _ in 0..6 {
        let ok = support::get(&url, &[("Authorization", &admin)]).await;
        assert_eq!(ok.status, 200);
    }
    for _ in 0..3 {
        assert_eq!(support::get(&url, &[]).await.status, 401);
    }
    assert_eq!(
        support::get(&format!("{}/nowhere", stack.proxy_url()), &[])
            .await
            .status,
        404
    );
    let after = scrape(&stack).await;

    // Kong's names, labels (in Kong's order) and sources.
    let series = kong_series(&after);
    let requests = |code: u16, source: &str, consumer: &str| {
        series.get(&format!(
            "kong_http_requests_total{{service=\"value-architect\",route=\"value-models-read\",code=\"{code}\",source=\"{source}\",workspace=\"default\",consumer=\"{consumer}\"}}"
        ))
        .copied()
    };
    assert_eq!(requests(200, "service", "admin-user"), Some(6.0), "{after}");
    assert_eq!(requests(401, "kong", ""), Some(3.0), "{after}");
    let labels = "service=\"value-architect\",route=\"value-models-read\",workspace=\"default\"";
    for family in ["kong_request_latency_ms", "kong_kong_latency_ms"] {
        assert_eq!(
            series.get(&format!("{family}_count{{{labels}}}")),
            Some(&9.0),
            "{family}: every answered request"
        );
        assert_eq!(
            series.get(&format!("{family}_bucket{{{labels},le=\"+Inf\"}}")),
            Some(&9.0)
        );
    }
    assert_eq!(
        series.get(&format!("kong_upstream_latency_ms_count{{{labels}}}")),
        Some(&6.0),
        "only proxied requests wait on the upstream"
    );
    for le in ["25", "60000"] {
        assert!(
            series.contains_key(&format!(
                "kong_upstream_latency_ms_bucket{{{labels},le=\"{le}\"}}"
            )),
            "Kong's upstream buckets: {le}"
        );
    }
    assert!(series.contains_key(&format!(
        "kong_kong_latency_ms_bucket{{{labels},le=\"6000\"}}"
    )));
    assert!(
        series
            .keys()
            .any(|k| k.starts_with("kong_bandwidth_bytes{service=\"value-architect\",route=\"value-models-read\",direction=\"egress\",workspace=\"default\",consumer=\"admin-user\"}")),
        "{after}"
    );
    let total = series
        .iter()
        .find(|(k, _)| k.starts_with("kong_nginx_requests_total{"))
        .map(|(_, v)| *v);
    assert_eq!(
        total,
        Some(10.0),
        "the 404 is counted by nginx, not by route"
    );
    assert!(
        !series.keys().any(|k| k.contains("route=\"\"")),
        "no Kong series for a request without a route"
    );
    let help = after.find("# HELP kong_http_requests_total").unwrap();
    let first = after.find("kong_http_requests_total{").unwrap();
    assert!(
        help < first,
        "HELP and TYPE before the family's first series"
    );

    // promtool: the exposition parses (exit 1 is a parse error). Its lints (exit 3) may name
    // only what Kong's own names break: the promtool style rules Kong's exporter predates.
    if let Some(checked) = promtool(&["check", "metrics"], Some(&after)) {
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(
            matches!(checked.status.code(), Some(0 | 3)),
            "promtool check metrics: {report}"
        );
        let kongs_own = [
            "kong_bandwidth_bytes counter metrics should have \"_total\" suffix",
            "kong_kong_latency_ms metric names should not contain abbreviated units",
            "kong_request_latency_ms metric names should not contain abbreviated units",
            "kong_upstream_latency_ms metric names should not contain abbreviated units",
            "kong_nginx_connections_total non-counter metrics should not have \"_total\" suffix",
            "kong_nginx_requests_total non-counter metrics should not have \"_total\" suffix",
        ];
        for line in report.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                kongs_own.contains(&line.trim()),
                "promtool found more than Kong's own naming: {line}\n{report}"
            );
        }
    }

    // promtool test rules: the two scrapes one minute apart, and the dashboard's queries.
    let first = kong_series(&before);
    let mut input = String::new();
    for (key, value) in &series {
        let was = first.get(key).copied().unwrap_or(0.0);
        input.push_str(&format!(
            "      - series: '{key}'\n        values: '{was} {value}'\n"
        ));
    }
    let dashboard = |expr: &str| {
        expr.replace("$instance", ".*")
            .replace("$service", "value-architect")
            .replace("$route", "value-models-read")
    };
    let tests = [
        (
            dashboard(
                r#"sum(rate(kong_http_requests_total{service=~"$service", route=~"$route", instance=~"$instance"}[1m])) by (route,code)"#,
            ),
            vec![
                ("{route=\"value-models-read\",code=\"200\"}", 0.1),
                ("{route=\"value-models-read\",code=\"401\"}", 0.05),
            ],
        ),
        (
            dashboard(
                r#"count(histogram_quantile(0.99, sum(rate(kong_request_latency_ms_bucket{service =~ "$service",route=~"$route",instance=~"$instance"}[1m])) by (route,le)) >= 0)"#,
            ),
            vec![("{}", 1.0)],
        ),
        (
            dashboard(
                r#"count(histogram_quantile(0.90, sum(rate(kong_kong_latency_ms_bucket{instance=~"$instance"}[1m])) by (le)) >= 0)"#,
            ),
            vec![("{}", 1.0)],
        ),
        (
            dashboard(
                r#"count(sum(irate(kong_bandwidth_bytes{direction="egress", service =~"$service",route=~"$route",instance=~"$instance"}[1m])) by (service) > 0)"#,
            ),
            vec![("{}", 1.0)],
        ),
        (
            dashboard(r#"sum(kong_nginx_connections_total{state="total", instance=~"$instance"})"#),
            vec![("{}", total.unwrap())],
        ),
    ];
    let mut cases = String::new();
    for (expr, samples) in &tests {
        cases.push_str(&format!(
            "      - expr: '{expr}'\n        eval_time: 1m\n        exp_samples:\n"
        ));
        for (labels, value) in samples {
            cases.push_str(&format!(
                "          - labels: '{labels}'\n            value: {value}\n"
            ));
        }
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    promql_expr_test:\n{cases}"
        ),
    )
    .unwrap();
    if let Some(tested) = promtool(&["test", "rules", &file.path().to_string_lossy()], None) {
        assert!(
            tested.status.success(),
            "promtool test rules: {}{}\n{}",
            String::from_utf8_lossy(&tested.stdout),
            String::from_utf8_lossy(&tested.stderr),
            std::fs::read_to_string(file.path()).unwrap()
        );
    }
}

#[tokio::test]
async fn without_the_plugin_only_gauntlets_own_families_are_exposed() {
    let stack = support::valueverse().await;
    let url = format!("{}/api/v1/value-models", stack.proxy_url());
    assert_eq!(support::get(&url, &[]).await.status, 401);
    let exposition = scrape(&stack).await;
    assert!(!exposition.contains("kong_"), "{exposition}");
}
