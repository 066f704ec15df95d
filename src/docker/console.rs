//! The live consoles over a container stack (`gauntlet up --target docker`, issue 19): the same
//! pages and the same documented JSON as the in-process stack's ([`crate::api::console`]),
//! gathered from the containers, and the same controls through the host's control API
//! ([`super::control`]).
//!
//! ```text
//!   control port  GET /  ────────────────► engine states + each sidecar's GET / (faults, journal)
//!                 GET /breakers, /traffic,  ► the gateway container's control API (its own gateway)
//!                     /traces, /clock
//!                 /ui/ (chaos page) ───────► these, /proxies and the controls of super::control
//!   catalog port  GET /v1/internal/ui/topology ► stack.yml, the intentions, engine states, pods
//!                 /ui/, /ui/dc1/services (topology page)
//! ```
//!
//! Health is the engine's: [`EngineStates`] follows its event stream for the run's service
//! containers (start, die, kill, stop, pause, unpause) from the start, so a poll asks the engine
//! nothing, and `docker stop` from another shell shows like a stop through the API.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::join_all;
use serde_json::{json, Value};

use super::{role, DockerStack};
use crate::api::access::{self, ApiToken};
use crate::api::console::{self, topology};
use crate::service::Health;

/// Each service container's state as the engine last reported it.
#[derive(Debug)]
pub struct EngineStates {
    states: RwLock<BTreeMap<String, Health>>,
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for EngineStates {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

impl EngineStates {
    /// Every service up (as the stack just started), then following the engine's events on
    /// the current runtime for as long as the states live.
    pub fn follow(stack: &DockerStack) -> Arc<EngineStates> {
        let initial = stack.pod_ips.keys().map(|s| (s.clone(), Health::Up));
        let states = RwLock::new(initial.collect());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Arc::new(EngineStates {
                states,
                follower: None,
            });
        };
        let events = stack.service_events();
        Arc::new_cyclic(|weak: &std::sync::Weak<EngineStates>| {
            let weak = weak.clone();
            let follower = runtime.spawn(async move {
                use futures::StreamExt;
                futures::pin_mut!(events);
                // Whether the service's last `kill` was a SIGKILL: its `die` is then a kill.
                let mut killed: HashMap<String, bool> = HashMap::new();
                while let Some((service, action, attributes)) = events.next().await {
                    let Some(me) = weak.upgrade() else { return };
                    me.apply(&mut killed, &service, &action, &attributes);
                }
            });
            EngineStates {
                states,
                follower: Some(follower),
            }
        })
    }

    fn apply(
        &self,
        killed: &mut HashMap<String, bool>,
        service: &str,
        action: &str,
        attributes: &HashMap<String, String>,
    ) {
        let health = match action {
            "start" | "unpause" => Health::Up,
            "pause" => Health::Paused,
            "kill" => {
                let signal = attributes.get("signal").map_or("", String::as_str);
                killed.insert(
                    service.to_string(),
                    matches!(signal, "9" | "KILL" | "SIGKILL"),
                );
                return;
            }
            "die" => {
                let code = attributes.get("exitCode").map_or("", String::as_str);
                if code == "137" || killed.remove(service).unwrap_or(false) {
                    Health::Killed
                } else {
                    Health::Stopped
                }
            }
            // `docker stop` ends with this, after the `die` (also when it had to SIGKILL).
            "stop" => Health::Stopped,
            _ => return,
        };
        if let Ok(mut states) = self.states.write() {
            states.insert(service.to_string(), health);
        }
    }

    /// The service's state now (`None` for a service the stack does not run).
    pub fn health(&self, service: &str) -> Option<Health> {
        self.states.read().ok()?.get(service).copied()
    }
}

/// Where the topology console finds each service of a container stack.
#[derive(Debug)]
struct Pods {
    stack: Arc<DockerStack>,
    states: Arc<EngineStates>,
}

impl topology::Placement for Pods {
    fn health(&self, service: &str) -> Option<Health> {
        self.states.health(service)
    }
    fn address(&self, service: &str) -> Option<String> {
        let def = self.stack.def.topology.service(service)?;
        let container = super::stack::container_name(&self.stack.run, service);
        Some(format!("127.0.0.1:{} in {container}", role::app_port(def)))
    }
    fn sidecar(&self, service: &str) -> Option<String> {
        let ip = self.stack.pod_ips.get(service)?;
        Some(format!(
            "{ip}:{}",
            role::public_port(&self.stack.def, service)
        ))
    }
}

/// What the chaos console's endpoints read.
#[derive(Debug)]
struct View {
    stack: Arc<DockerStack>,
    states: Arc<EngineStates>,
}

/// The chaos console's endpoints that [`super::control::router`] serves beside its own: the
/// overview and what the gateway container observes.
pub fn control_routes(stack: Arc<DockerStack>, states: Arc<EngineStates>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/breakers", get(from_gateway))
        .route("/traffic", get(from_gateway))
        .route("/traces", get(from_gateway))
        .route("/clock", get(from_gateway))
        .with_state(Arc::new(View { stack, states }))
}

/// The topology console on the catalog port: its data behind the token (Consul's
/// `X-Consul-Token`), its pages open; `None` for a stack without a mesh.
pub fn catalog_router(
    stack: Arc<DockerStack>,
    states: Arc<EngineStates>,
    token: Option<&ApiToken>,
) -> Option<Router> {
    let mesh = stack.mesh.clone()?;
    let state = topology::TopologyState {
        datacenter: "dc1".into(),
        def: stack.def.clone(),
        services: Arc::new(Pods {
            stack: stack.clone(),
            states,
        }),
        store: mesh.store.clone(),
    };
    Some(
        access::guard(topology::router(state), token, access::Scheme::Consul)
            .merge(console::pages(console::Console::Topology)),
    )
}

/// `GET /` in the in-process shape (`gauntlet chaos status` and the chaos console read it):
/// each service with the engine's health and what its sidecar holds (faults, requests
/// received), and the pod's container and address.
async fn overview(State(view): State<Arc<View>>) -> Json<Value> {
    let stack = &view.stack;
    let names: Vec<&String> = stack.pod_ips.keys().collect();
    let asks = names.iter().map(|name| async move {
        let addr = stack.sidecar_control(name)?;
        let (status, body) = super::control::send(addr, Method::GET, "/", Bytes::new())
            .await
            .ok()?;
        let answer: Value = serde_json::from_slice(&body).ok()?;
        status.is_success().then_some(answer)
    });
    let sidecars = join_all(asks).await;
    let services: Vec<Value> = names
        .iter()
        .zip(sidecars)
        .map(|(name, sidecar)| {
            let held = sidecar
                .as_ref()
                .and_then(|s| s["services"].as_array()?.first().cloned())
                .unwrap_or(Value::Null);
            let health = view.states.health(name).unwrap_or(Health::Up);
            let ip = stack.pod_ips[*name];
            let def = stack.def.topology.service(name);
            json!({
                "name": name,
                "url": format!("{ip}:{}", role::public_port(&stack.def, name)),
                "service_addr": def.map(|d| format!("127.0.0.1:{}", role::app_port(d))),
                "running": health == Health::Up,
                "paused": health == Health::Paused,
                "health": health,
                "faults": held.get("faults").cloned().unwrap_or_else(|| json!([])),
                "requests_received": held.get("requests_received").cloned().unwrap_or(Value::Null),
                "container": super::stack::container_name(&stack.run, name),
                // Partitioned (or its sidecar gone): faults and the journal are out of reach.
                "sidecar_reachable": sidecar.is_some(),
            })
        })
        .collect();
    Json(json!({
        "stack": stack.def.name(),
        "target": "docker",
        "run": stack.run,
        "network": stack.network,
        "image": stack.image.reference(),
        "seed": stack.seed,
        "gateway": stack.gateway_ip.to_string(),
        "clock": {"offset_seconds": gateway_clock_offset(stack).await},
        "services": services,
    }))
}

/// The gateway container's clock offset (every container moves together).
async fn gateway_clock_offset(stack: &DockerStack) -> Value {
    let gateway = SocketAddr::new(stack.gateway_ip, role::GATEWAY_CONTROL);
    match super::control::send(gateway, Method::GET, "/clock", Bytes::new()).await {
        Ok((status, body)) if status.is_success() => serde_json::from_slice::<Value>(&body)
            .ok()
            .map_or(Value::Null, |c| c["offset_seconds"].clone()),
        _ => Value::Null,
    }
}

/// What the gateway container's control API answers for the same path and query: its breakers,
/// traffic, traces and clock.
async fn from_gateway(State(view): State<Arc<View>>, uri: axum::http::Uri) -> Response {
    let gateway = SocketAddr::new(view.stack.gateway_ip, role::GATEWAY_CONTROL);
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    match super::control::send(gateway, Method::GET, path, Bytes::new()).await {
        Ok((status, body)) => {
            (status, [("content-type", "application/json")], body).into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"message": format!("gateway container: {e}")})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states() -> EngineStates {
        EngineStates {
            states: RwLock::new(BTreeMap::from([("redis".to_string(), Health::Up)])),
            follower: None,
        }
    }

    fn event(
        states: &EngineStates,
        killed: &mut HashMap<String, bool>,
        action: &str,
        attrs: &[(&str, &str)],
    ) {
        let attributes = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        states.apply(killed, "redis", action, &attributes);
    }

    #[test]
    fn the_engines_events_make_each_state_a_person_expects() {
        let s = states();
        let mut killed = HashMap::new();
        // `docker stop`: SIGTERM, the process exits, then the engine says stop.
        event(&s, &mut killed, "kill", &[("signal", "15")]);
        event(&s, &mut killed, "die", &[("exitCode", "143")]);
        assert_eq!(s.health("redis"), Some(Health::Stopped));
        event(&s, &mut killed, "stop", &[]);
        assert_eq!(s.health("redis"), Some(Health::Stopped));
        event(&s, &mut killed, "start", &[]);
        assert_eq!(s.health("redis"), Some(Health::Up));
        // `docker kill`: SIGKILL, then the die.
        event(&s, &mut killed, "kill", &[("signal", "9")]);
        event(&s, &mut killed, "die", &[("exitCode", "137")]);
        assert_eq!(s.health("redis"), Some(Health::Killed));
        event(&s, &mut killed, "start", &[]);
        event(&s, &mut killed, "pause", &[]);
        assert_eq!(s.health("redis"), Some(Health::Paused));
        event(&s, &mut killed, "unpause", &[]);
        assert_eq!(s.health("redis"), Some(Health::Up));
        assert_eq!(s.health("postgres"), None);
    }
}
