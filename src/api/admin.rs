//! The gateway's admin API: a Kong-shaped, read-only subset on its own loopback port.
//!
//! `GET /status`, `/services`, `/services/{name}`, `/services/{name}/plugins`, `/routes`,
//! `/routes/{name}`, `/consumers`, `/consumers/{name}`, `/consumers/{name}/acls`, `/plugins`,
//! `/breakers`, `/breakers/{service}`, `/metrics`. Entities are addressed by name or id, as in
//! Kong. JWT secrets are never shown. A service's `circuit-breaker` plugin entry carries the
//! breaker's live `state`, `consecutive_failures`, `opened_at` and `transitions` (SPEC §4).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::gateway::{
    AclRule, Consumer, GatewayConfig, HeaderValueMatch, HostWildcard, PluginConfig, PluginInstance,
    RegisteredClaim, Route, RoutePath, Service,
};
use crate::gateway::breaker::Breaker;
use crate::gateway::Gateway;
use crate::protocol::KONG_PLUGIN_DEFAULT_PROTOCOLS;

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/services", get(services))
        .route("/services/{name}", get(service))
        .route("/services/{name}/plugins", get(service_plugins))
        .route("/services/{name}/routes", get(service_routes))
        .route("/routes", get(routes))
        .route("/routes/{name}", get(route))
        .route("/consumers", get(consumers))
        .route("/consumers/{name}", get(consumer))
        .route("/consumers/{name}/acls", get(consumer_acls))
        .route("/plugins", get(plugins))
        .route("/breakers", get(breakers))
        .route("/breakers/{service}", get(breaker))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(gateway)
}

type Shared = State<Arc<Gateway>>;

async fn status(State(g): Shared) -> Json<Value> {
    Json(json!({
        "database": {"reachable": true},
        "server": {"total_requests": g.metrics_total_requests()},
        "configuration": {
            "services": g.config.services.len(),
            "routes": g.config.routes.len(),
            "consumers": g.config.consumers.len(),
            "plugins": g.config.plugins.len(),
        },
        "clock": {"offset_seconds": g.clock.offset().as_secs_f64()},
    }))
}

async fn services(State(g): Shared) -> Json<Value> {
    list(g.config.services.iter().map(service_json))
}

async fn service(State(g): Shared, Path(name): Path<String>) -> Response {
    match find_service(&g.config, &name) {
        Some((_, s)) => Json(service_json(s)).into_response(),
        None => not_found().await,
    }
}

async fn service_plugins(State(g): Shared, Path(name): Path<String>) -> Response {
    let Some((index, _)) = find_service(&g.config, &name) else {
        return not_found().await;
    };
    let plugins = g
        .config
        .plugins
        .iter()
        .filter(|p| p.scope.service == Some(index))
        .map(|p| with_live_state(&g, p, plugin_json(&g.config, p)));
    list(plugins).into_response()
}

async fn service_routes(State(g): Shared, Path(name): Path<String>) -> Response {
    let Some((index, _)) = find_service(&g.config, &name) else {
        return not_found().await;
    };
    let routes = g
        .config
        .routes
        .iter()
        .filter(|r| r.service == Some(index))
        .map(|r| route_json(&g.config, r));
    list(routes).into_response()
}

async fn routes(State(g): Shared) -> Json<Value> {
    list(g.config.routes.iter().map(|r| route_json(&g.config, r)))
}

async fn route(State(g): Shared, Path(name): Path<String>) -> Response {
    match g
        .config
        .routes
        .iter()
        .find(|r| r.name == name || r.id.to_string() == name)
    {
        Some(r) => Json(route_json(&g.config, r)).into_response(),
        None => not_found().await,
    }
}

async fn consumers(State(g): Shared) -> Json<Value> {
    list(g.config.consumers.iter().map(consumer_json))
}

async fn consumer(State(g): Shared, Path(name): Path<String>) -> Response {
    match find_consumer(&g.config, &name) {
        Some(c) => Json(consumer_json(c)).into_response(),
        None => not_found().await,
    }
}

async fn consumer_acls(State(g): Shared, Path(name): Path<String>) -> Response {
    let Some(c) = find_consumer(&g.config, &name) else {
        return not_found().await;
    };
    let acls = c.acl_groups.iter().map(|group| {
        json!({
            "id": uuid::Uuid::new_v5(&c.id, group.as_bytes()),
            "group": group,
            "consumer": {"id": c.id},
        })
    });
    list(acls).into_response()
}

async fn plugins(State(g): Shared) -> Json<Value> {
    list(
        g.config
            .plugins
            .iter()
            .map(|p| with_live_state(&g, p, plugin_json(&g.config, p))),
    )
}

async fn breakers(State(g): Shared) -> Json<Value> {
    list(g.breakers.iter().map(|(_, b)| breaker_json(b)))
}

async fn breaker(State(g): Shared, Path(name): Path<String>) -> Response {
    let breaker = find_service(&g.config, &name).and_then(|(i, _)| g.breakers.get(i));
    match breaker {
        Some(b) => Json(breaker_json(b)).into_response(),
        None => not_found().await,
    }
}

/// A service-scoped `circuit-breaker` entry gets its breaker's live state merged in.
fn with_live_state(g: &Gateway, p: &PluginInstance, mut entry: Value) -> Value {
    let breaker = match (&p.config, p.scope.service) {
        (PluginConfig::CircuitBreaker(_), Some(service)) => g.breakers.get(service),
        _ => None,
    };
    if let (Some(b), Value::Object(fields)) = (breaker, &mut entry) {
        if let Value::Object(live) = breaker_json(b) {
            // Kong's own `config` and `service` reference stay; the live fields join them.
            fields.extend(
                live.into_iter()
                    .filter(|(k, _)| k != "config" && k != "service"),
            );
        }
    }
    entry
}

/// A breaker's live state. Times are the stack clock's (jumps included): `opened_at` and each
/// transition's `at` in Unix seconds, `stack_time` in seconds since the stack started.
pub(crate) fn breaker_json(b: &Breaker) -> Value {
    let snap = b.snapshot();
    let config = b.config();
    let unix = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| (d.as_millis() as f64) / 1000.0)
            .unwrap_or(0.0)
    };
    let transitions: Vec<Value> = snap
        .transitions
        .iter()
        .map(|t| {
            json!({
                "from": t.from,
                "to": t.to,
                "at": unix(t.wall),
                "stack_time": t.at.since_start().as_secs_f64(),
                "reason": t.reason,
            })
        })
        .collect();
    json!({
        "service": b.service(),
        "state": snap.state,
        "consecutive_failures": snap.consecutive_failures,
        "trial_successes": snap.trial_successes,
        "trials_in_flight": snap.trials_in_flight,
        "opened_at": snap.opened_at.map(unix),
        "half_open_at": snap
            .opened_at
            .and_then(|t| t.checked_add(config.open_timeout))
            .map(unix),
        "transitions": transitions,
        "config": plugin_config_json(&PluginConfig::CircuitBreaker(config)),
    })
}

async fn metrics(State(g): Shared) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut out = g.metrics.render(&g.config, &g.breakers, &g.bulkheads);
            if g.exports_kong_metrics() {
                g.kong_metrics.render(&mut out);
            }
            out
        },
    )
        .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not found"}))).into_response()
}

fn list(items: impl Iterator<Item = Value>) -> Json<Value> {
    Json(json!({"data": items.collect::<Vec<_>>(), "next": null}))
}

fn find_service<'a>(config: &'a GatewayConfig, name: &str) -> Option<(usize, &'a Service)> {
    config
        .services
        .iter()
        .enumerate()
        .find(|(_, s)| s.name == name || s.id.to_string() == name)
}

fn find_consumer<'a>(config: &'a GatewayConfig, name: &str) -> Option<&'a Consumer> {
    config.consumers.iter().find(|c| {
        c.username.as_deref() == Some(name)
            || c.custom_id.as_deref() == Some(name)
            || c.id.to_string() == name
    })
}

fn service_json(s: &Service) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "protocol": s.protocol,
        "host": s.host,
        "port": s.port,
        "path": s.path,
        "retries": s.retries,
        "connect_timeout": s.connect_timeout.as_millis() as u64,
        "write_timeout": s.write_timeout.as_millis() as u64,
        "read_timeout": s.read_timeout.as_millis() as u64,
        "enabled": true,
    })
}

fn route_json(config: &GatewayConfig, r: &Route) -> Value {
    let paths: Vec<String> = r
        .paths
        .iter()
        .map(|p| match p {
            RoutePath::Prefix(p) => p.clone(),
            RoutePath::Regex(re) => format!("~{}", re.as_str()),
        })
        .collect();
    let methods: Option<Vec<&str>> =
        (!r.methods.is_empty()).then(|| r.methods.iter().map(|m| m.as_str()).collect());
    let hosts: Option<Vec<String>> = (!r.hosts.is_empty()).then(|| {
        r.hosts
            .iter()
            .map(|h| {
                let host = match h.wildcard {
                    HostWildcard::None => h.host.clone(),
                    HostWildcard::Leading => format!("*{}", h.host),
                    HostWildcard::Trailing => format!("{}*", h.host),
                };
                match h.port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect()
    });
    let headers: Option<serde_json::Map<String, Value>> = (!r.headers.is_empty()).then(|| {
        r.headers
            .iter()
            .map(|h| {
                let values: Vec<String> = h
                    .values
                    .iter()
                    .map(|v| match v {
                        HeaderValueMatch::Exact(s) => s.clone(),
                        HeaderValueMatch::Regex(re) => format!("~*{}", re.as_str()),
                    })
                    .collect();
                (h.name.to_string(), json!(values))
            })
            .collect()
    });
    json!({
        "id": r.id,
        "name": r.name,
        "paths": paths,
        "methods": methods,
        "hosts": hosts,
        "headers": headers,
        "regex_priority": r.regex_priority,
        "path_handling": "v0",
        "strip_path": r.strip_path,
        "preserve_host": r.preserve_host,
        "protocols": ["http", "https"],
        "service": r.service.map(|s| json!({"id": config.services[s].id})),
    })
}

fn consumer_json(c: &Consumer) -> Value {
    json!({
        "id": c.id,
        "username": c.username,
        "custom_id": c.custom_id,
    })
}

fn plugin_json(config: &GatewayConfig, p: &PluginInstance) -> Value {
    let reference = |id: Option<uuid::Uuid>| id.map(|id| json!({"id": id}));
    json!({
        "id": p.id,
        "name": p.name(),
        "enabled": p.enabled,
        "protocols": KONG_PLUGIN_DEFAULT_PROTOCOLS,
        "route": reference(p.scope.route.map(|i| config.routes[i].id)),
        "service": reference(p.scope.service.map(|i| config.services[i].id)),
        "consumer": reference(p.scope.consumer.map(|i| config.consumers[i].id)),
        "config": plugin_config_json(&p.config),
    })
}

/// The plugin configuration as Kong's admin API shows it (with defaults filled in).
pub fn plugin_config_json(config: &PluginConfig) -> Value {
    match config {
        PluginConfig::Jwt(c) => json!({
            "uri_param_names": c.uri_param_names,
            "cookie_names": c.cookie_names,
            "header_names": c.header_names,
            "key_claim_name": c.key_claim_name,
            "secret_is_base64": c.secret_is_base64,
            "claims_to_verify": (!c.claims_to_verify.is_empty()).then(|| c.claims_to_verify.iter().map(|claim| match claim {
                RegisteredClaim::Exp => "exp",
                RegisteredClaim::Nbf => "nbf",
            }).collect::<Vec<_>>()),
            "maximum_expiration": c.maximum_expiration,
            "run_on_preflight": c.run_on_preflight,
            "anonymous": c.anonymous,
            "realm": c.realm,
        }),
        PluginConfig::Acl(c) => {
            let (allow, deny) = match &c.rule {
                AclRule::Allow(groups) => (Some(groups), None),
                AclRule::Deny(groups) => (None, Some(groups)),
            };
            json!({
                "allow": allow,
                "deny": deny,
                "hide_groups_header": c.hide_groups_header,
                "always_use_authenticated_groups": c.always_use_authenticated_groups,
            })
        }
        PluginConfig::RateLimiting(c) => {
            let mut value = json!({
                "limit_by": format!("{:?}", c.limit_by).to_lowercase(),
                "header_name": c.header_name,
                "path": c.path,
                "policy": c.policy,
                "fault_tolerant": c.fault_tolerant,
                "hide_client_headers": c.hide_client_headers,
                "error_code": c.error_code,
                "error_message": c.error_message,
            });
            for period in crate::config::gateway::RatePeriod::ALL {
                let limit = c.limits.iter().find(|(p, _)| *p == period).map(|(_, l)| *l);
                value[period.key()] = json!(limit);
            }
            value
        }
        PluginConfig::CircuitBreaker(c) => json!({
            "failure_threshold": c.failure_threshold,
            "open_timeout": c.open_timeout.as_secs_f64(),
            "half_open_successes": c.half_open_successes,
            "half_open_max_concurrent": c.half_open_max_concurrent,
            "failure_statuses": c.failure_statuses,
            "fallback": {"status": c.fallback.status, "body": c.fallback.body},
        }),
        PluginConfig::Bulkhead(c) => json!({
            "max_concurrent_requests": c.max_concurrent_requests,
        }),
        PluginConfig::KeyAuth(c) => serde_json::to_value(c).unwrap_or_default(),
        PluginConfig::Cors(c) => serde_json::to_value(c).unwrap_or_default(),
        PluginConfig::IpRestriction(c) => serde_json::to_value(c).unwrap_or_default(),
        PluginConfig::RequestSizeLimiting(c) => serde_json::to_value(c).unwrap_or_default(),
        PluginConfig::CorrelationId(c) => serde_json::to_value(c).unwrap_or_default(),
        PluginConfig::Prometheus(c) => serde_json::to_value(c).unwrap_or_default(),
    }
}

impl Gateway {
    fn metrics_total_requests(&self) -> u64 {
        self.metrics.total_requests()
    }
}
