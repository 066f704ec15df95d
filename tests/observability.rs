//! `docs/observability/`: the Prometheus scrape configuration passes `promtool check config` and
//! points at the valueverse ports, and every metric the Grafana dashboards query is exposed by a
//! running `gauntlet up` (gateway `/metrics` and every sidecar's `/stats/prometheus`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use support::{gauntlet_up, get, root, stack_on_free_ports};

const DASHBOARDS: [&str; 3] = ["jwt-auth", "service-mesh", "circuit-breaker"];

#[test]
fn the_scrape_config_passes_promtool_and_names_every_valueverse_target() {
    let config = root().join("docs/observability/prometheus.yml");
    match Command::new("promtool")
        .args(["check", "config"])
        .arg(&config)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool check config: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if std::env::var_os("GAUNTLET_REQUIRE_PROMTOOL").is_none() => {
            eprintln!("notice: promtool not available ({e}); skipping `promtool check config`");
        }
        Err(e) => panic!("promtool is required (GAUNTLET_REQUIRE_PROMTOOL is set): {e}"),
    }
    let text = std::fs::read_to_string(&config).expect("prometheus.yml");
    let def = gauntlet::config::StackDef::load(&root().join("scenarios/valueverse"))
        .expect("valueverse loads");
    let ports = &def.topology.ports;
    assert!(
        text.contains(&format!("\"127.0.0.1:{}\"", ports.gateway_admin)),
        "the gateway admin port"
    );
    for (i, service) in def.topology.services.iter().enumerate() {
        let target = format!(
            "\"127.0.0.1:{}\"]\n        labels:\n          component: sidecar\n          sidecar: {}\n",
            ports.sidecar_admin_base + u16::try_from(i).expect("a few services"),
            service.name
        );
        assert!(text.contains(&target), "{} sidecar: {target}", service.name);
    }
}

/// Family name → the label names its samples carry, from `# TYPE` lines and samples.
fn families(exposition: &str, into: &mut BTreeMap<String, BTreeSet<String>>) {
    let mut histograms = Vec::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            into.entry(name.to_string()).or_default();
            if kind == "histogram" {
                histograms.push(name.to_string());
                for suffix in ["_bucket", "_sum", "_count"] {
                    into.entry(format!("{name}{suffix}")).or_default();
                }
            }
        } else if !line.starts_with('#') {
            let Some((name, labels)) = line.split_once('{') else {
                continue;
            };
            let names = labels
                .split(',')
                .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()));
            into.entry(name.to_string()).or_default().extend(names);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_a_dashboard_queries_is_exposed_by_a_running_stack() {
    let (_dir, stack) = stack_on_free_ports("valueverse");
    let (_child, summary) = gauntlet_up(&stack);
    let proxy = summary["gateway"]["proxy"].as_str().expect("proxy");
    let admin = summary["gateway"]["admin"].as_str().expect("admin");
    // Some traffic, so that labelled series exist: refused, allowed.
    let token = format!(
        "Bearer {}",
        summary["tokens"]["admin-user"].as_str().expect("token")
    );
    get(&format!("{proxy}/api/v1/value-models"), &[]).await;
    get(
        &format!("{proxy}/api/v1/value-models"),
        &[("Authorization", &token)],
    )
    .await;

    let mut exposed = BTreeMap::new();
    let metrics = get(&format!("{admin}/metrics"), &[]).await;
    assert_eq!(metrics.status, 200);
    families(&metrics.text(), &mut exposed);
    let sidecars = summary["mesh"]["sidecars"].as_object().expect("sidecars");
    assert_eq!(sidecars.len(), 4);
    for (name, sidecar) in sidecars {
        let url = format!(
            "{}/stats/prometheus",
            sidecar["admin"].as_str().expect("admin")
        );
        let stats = get(&url, &[]).await;
        assert_eq!(stats.status, 200, "{name}");
        families(&stats.text(), &mut exposed);
    }

    let metric = regex::Regex::new(r"\bgauntlet_[a-z0-9_]+").expect("regex");
    let selector = regex::Regex::new(r"(gauntlet_[a-z0-9_]+)\{([^}]*)\}").expect("regex");
    let mut queried = 0;
    for name in DASHBOARDS {
        let path = root().join(format!("docs/observability/grafana/{name}.json"));
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard"))
                .unwrap_or_else(|e| panic!("{name}.json: {e}"));
        assert!(
            dashboard["title"].is_string() && dashboard["uid"].is_string(),
            "{name}"
        );
        let panels = dashboard["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{name}");
        for panel in panels {
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{name}: {}", panel["title"]);
            for target in targets {
                let expr = target["expr"].as_str().expect("a PromQL expr");
                let used: Vec<&str> = metric.find_iter(expr).map(|m| m.as_str()).collect();
                assert!(
                    !used.is_empty(),
                    "{name}: {expr} queries no gauntlet metric"
                );
                for m in used {
                    assert!(
                        exposed.contains_key(m),
                        "{name}: {m} (in {expr}) is not exposed by up; exposed: {:?}",
                        exposed.keys().collect::<Vec<_>>()
                    );
                    queried += 1;
                }
                // Label matchers name labels the family's samples carry (where it has samples).
                for c in selector.captures_iter(expr) {
                    let labels = &exposed[&c[1]];
                    if labels.is_empty() {
                        continue;
                    }
                    for matcher in c[2].split(',') {
                        let label = matcher
                            .split(['=', '!', '~'])
                            .next()
                            .unwrap_or_default()
                            .trim();
                        assert!(
                            labels.contains(label),
                            "{name}: {} has no label {label} ({expr}); it has {labels:?}",
                            &c[1]
                        );
                    }
                }
            }
        }
    }
    assert!(queried >= 20, "the dashboards query {queried} metrics");
}
