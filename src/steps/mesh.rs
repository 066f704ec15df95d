//! The mesh as a caller sees it (SPEC §6): calls between identities over mTLS, handshakes
//! refused, intentions changed through the catalog API, sidecar metrics, and the trace context
//! that reaches the services. Each acts through [`crate::target::ScenarioStack`]: on containers
//! a call leaves from inside the caller's pod, and an intention change reaches every sidecar.
//!
//! ```text
//!   "X calls Y over the mesh" ──► mesh::probe (X's leaf, expects Y's SPIFFE ID) ──► Y's public port
//!   "the intention from X to Y is set to deny" ──► catalog API PUT /v1/connect/intentions/exact
//! ```

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::observability::metric_is;
use super::params::MethodParam;
use super::world::{GauntletWorld, StepError, StepResult};
use crate::http::client::OutgoingRequest;
use crate::mesh::probe::{Caller, Outcome, Probe};
use crate::protocol::Protocol;
use crate::sidecar::inbound::RBAC_DENIED_BODY;

/// What a tcp probe sends: `PING` (redis answers `+PONG`, an echo service echoes it).
const TCP_PROBE: &[u8] = b"PING\r\n";

async fn call(
    world: &mut GauntletWorld,
    caller: Caller,
    destination: &str,
    probe: Option<Probe>,
) -> StepResult {
    let stack = world.stack().await?;
    let protocol = stack
        .def()
        .topology
        .service(destination)
        .map_or(Protocol::Http, |s| s.protocol);
    let probe = probe.unwrap_or(match protocol {
        Protocol::Http => Probe::Http {
            method: http::Method::GET,
            path: "/health".into(),
            headers: Vec::new(),
        },
        Protocol::Tcp => Probe::Tcp(TCP_PROBE.to_vec()),
    });
    let outcome = stack.mesh_call(&caller, destination, &probe).await?;
    world.mesh_outcome = Some((format!("{caller} → {destination}"), outcome));
    Ok(())
}

#[when(expr = "{string} calls {string} over the mesh")]
async fn calls(world: &mut GauntletWorld, source: String, destination: String) -> StepResult {
    call(world, Caller::Identity(source), &destination, None).await
}

#[when(expr = "{string} sends a {method} request to {string} of {string} over the mesh")]
async fn sends(
    world: &mut GauntletWorld,
    source: String,
    method: MethodParam,
    path: String,
    destination: String,
) -> StepResult {
    let probe = Probe::Http {
        method: method.0,
        path,
        headers: Vec::new(),
    };
    call(world, Caller::Identity(source), &destination, Some(probe)).await
}

#[when(
    expr = "{string} sends a {method} request to {string} of {string} over the mesh with header {string} set to {string}"
)]
async fn sends_with_header(
    world: &mut GauntletWorld,
    source: String,
    method: MethodParam,
    path: String,
    destination: String,
    name: String,
    value: String,
) -> StepResult {
    let probe = Probe::Http {
        method: method.0,
        path,
        headers: vec![(name, value)],
    };
    call(world, Caller::Identity(source), &destination, Some(probe)).await
}

#[when(expr = "a caller without a certificate calls {string} over the mesh")]
async fn anonymous(world: &mut GauntletWorld, destination: String) -> StepResult {
    call(world, Caller::Anonymous, &destination, None).await
}

#[when(expr = "a caller with a certificate from another CA calls {string} over the mesh")]
async fn foreign(world: &mut GauntletWorld, destination: String) -> StepResult {
    call(
        world,
        Caller::ForeignCa("api-gateway".into()),
        &destination,
        None,
    )
    .await
}

fn last_outcome(world: &GauntletWorld) -> Result<(&str, &Outcome), StepError> {
    world
        .mesh_outcome
        .as_ref()
        .map(|(who, o)| (who.as_str(), o))
        .ok_or_else(|| StepError::new("no mesh call yet: use \"X calls Y over the mesh\" first"))
}

#[then("the mesh call is allowed")]
async fn allowed(world: &mut GauntletWorld) -> StepResult {
    let (who, outcome) = last_outcome(world)?;
    match outcome {
        Outcome::Http { status, .. } if (200..400).contains(status) => Ok(()),
        Outcome::TcpReply(_) => Ok(()),
        other => Err(StepError::new(format!(
            "expected {who} to be allowed, got {}",
            describe(other)
        ))),
    }
}

#[then("the mesh call is denied")]
async fn denied(world: &mut GauntletWorld) -> StepResult {
    let (who, outcome) = last_outcome(world)?;
    match outcome {
        Outcome::Http {
            status: 403,
            content_type: Some(ct),
            body,
        } if body == RBAC_DENIED_BODY && ct.starts_with("text/plain") => Ok(()),
        Outcome::TcpClosed => Ok(()),
        other => Err(StepError::new(format!(
            "expected {who} to be denied (http: 403 text/plain \"{RBAC_DENIED_BODY}\"; tcp: handshake then closed on the first byte), got {}",
            describe(other)
        ))),
    }
}

#[then("the mesh call is refused at the handshake")]
async fn refused(world: &mut GauntletWorld) -> StepResult {
    let (who, outcome) = last_outcome(world)?;
    match outcome {
        Outcome::HandshakeRefused(_) => Ok(()),
        other => Err(StepError::new(format!(
            "expected the TLS handshake of {who} to fail, got {}",
            describe(other)
        ))),
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::HandshakeRefused(e) => format!("a refused handshake ({e})"),
        Outcome::Http {
            status,
            content_type,
            body,
        } => format!(
            "HTTP {status} ({}) {body:?}",
            content_type.as_deref().unwrap_or("no content type")
        ),
        Outcome::TcpReply(bytes) => format!("a tcp reply {:?}", String::from_utf8_lossy(bytes)),
        Outcome::TcpClosed => "the connection closed on the first byte".into(),
        Outcome::Failed(e) => format!("a failure that is not a TLS refusal ({e})"),
    }
}

#[given(expr = "the sidecar of {string} presents the identity {string}")]
async fn presents(world: &mut GauntletWorld, service: String, identity: String) -> StepResult {
    Ok(world
        .stack()
        .await?
        .present_identity(&service, &identity)
        .await?)
}

async fn catalog_exact(
    world: &mut GauntletWorld,
    method: http::Method,
    source: &str,
    destination: &str,
    body: Option<serde_json::Value>,
) -> StepResult {
    Ok(world
        .stack()
        .await?
        .change_intention(method, source, destination, body.as_ref())
        .await?)
}

#[given(expr = "the intention from {string} to {string} is set to {word}")]
#[when(expr = "the intention from {string} to {string} is set to {word}")]
async fn set_action(
    world: &mut GauntletWorld,
    source: String,
    destination: String,
    action: String,
) -> StepResult {
    let body = serde_json::json!({ "Action": action });
    catalog_exact(world, http::Method::PUT, &source, &destination, Some(body)).await
}

#[given(expr = "the intention from {string} to {string} is set to:")]
#[when(expr = "the intention from {string} to {string} is set to:")]
async fn set_json(
    world: &mut GauntletWorld,
    source: String,
    destination: String,
    step: &Step,
) -> StepResult {
    let text = step.docstring.as_deref().ok_or_else(|| {
        StepError::new("this step needs Consul's intention JSON as a docstring below it")
    })?;
    let body: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| StepError::new(format!("the docstring is not valid JSON: {e}")))?;
    catalog_exact(world, http::Method::PUT, &source, &destination, Some(body)).await
}

#[when(expr = "the intention from {string} to {string} is deleted")]
async fn delete(world: &mut GauntletWorld, source: String, destination: String) -> StepResult {
    catalog_exact(world, http::Method::DELETE, &source, &destination, None).await
}

#[when(expr = "{string} opens a connection to {string} over the mesh")]
async fn open(world: &mut GauntletWorld, source: String, destination: String) -> StepResult {
    let mut connection = world
        .stack()
        .await?
        .open_mesh_connection(&source, &destination)
        .await?;
    match connection.exchange(TCP_PROBE).await {
        Outcome::TcpReply(_) => {
            world.open_connections.insert(destination, connection);
            Ok(())
        }
        other => Err(StepError::new(format!(
            "{source} could not use its connection to {destination}: {}",
            describe(&other)
        ))),
    }
}

#[then(expr = "the open connection to {string} still answers")]
async fn still_answers(world: &mut GauntletWorld, destination: String) -> StepResult {
    let connection = world
        .open_connections
        .get_mut(&destination)
        .ok_or_else(|| {
            StepError::new(format!(
                "no open connection to {destination}: open one first"
            ))
        })?;
    match connection.exchange(TCP_PROBE).await {
        Outcome::TcpReply(_) => Ok(()),
        other => Err(StepError::new(format!(
            "the open connection to {destination} no longer answers: {}",
            describe(&other)
        ))),
    }
}

#[then(expr = "the sidecar metric {string} of {string} is {int}")]
async fn sidecar_metric(
    world: &mut GauntletWorld,
    series: String,
    service: String,
    expected: u64,
) -> StepResult {
    let admin = world.stack().await?.sidecar_admin_url(&service)?;
    let response = world
        .client
        .send(&OutgoingRequest::new(
            http::Method::GET,
            format!("{admin}/stats/prometheus"),
        ))
        .await?;
    metric_is(
        &response.text(),
        &series,
        expected,
        &format!("{service}'s sidecar"),
    )
}

/// The trace id of the last request that reached `service`.
async fn last_trace_id(world: &mut GauntletWorld, service: &str) -> Result<String, StepError> {
    let (_, mut last) = world.stack().await?.journal(service, 1).await?;
    let entry = last
        .pop()
        .ok_or_else(|| StepError::new(format!("no request reached {service}")))?;
    let traceparent = entry.headers.get("traceparent").ok_or_else(|| {
        StepError::new(format!(
            "the last request to {service} ({} {}) carried no traceparent",
            entry.method, entry.path
        ))
    })?;
    if !crate::gateway::pipeline::is_valid_traceparent(traceparent) {
        return Err(StepError::new(format!(
            "the last request to {service} carried an invalid traceparent {traceparent:?}"
        )));
    }
    Ok(traceparent
        .split('-')
        .nth(1)
        .unwrap_or_default()
        .to_string())
}

#[then(expr = "the last request to {string} carries a trace context")]
async fn carries_trace(world: &mut GauntletWorld, service: String) -> StepResult {
    last_trace_id(world, &service).await.map(|_| ())
}

#[then(expr = "the last request to {string} carries the trace id {string}")]
async fn carries_trace_id(
    world: &mut GauntletWorld,
    service: String,
    expected: String,
) -> StepResult {
    let actual = last_trace_id(world, &service).await?;
    if actual == expected {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "the last request to {service} carries trace id {actual}, expected {expected}"
        )))
    }
}

#[then(expr = "the last requests to {string} and {string} carry the same trace id")]
async fn same_trace(world: &mut GauntletWorld, first: String, second: String) -> StepResult {
    let a = last_trace_id(world, &first).await?;
    let b = last_trace_id(world, &second).await?;
    if a == b {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "{first} got trace id {a} but {second} got {b}: the trace was broken between them"
        )))
    }
}
