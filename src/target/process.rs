//! The in-process target of [`super::ScenarioStack`]: each operation on the stack's own objects.

use crate::chaos::fault::FaultRule;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::link::Toxic;
use crate::mesh::probe::{self, Caller, OpenConnection, Outcome, Probe};
use crate::protocol::Protocol;
use crate::sidecar::journal::JournalEntry;
use crate::stack::Stack;

use super::{LinkToxic, ProcessAction, TargetError, NO_MESH};

fn error(e: impl std::fmt::Display) -> TargetError {
    TargetError(e.to_string())
}

/// A process fault on `service`; partition and heal act on every link to or from it.
pub async fn act(stack: &Stack, service: &str, action: ProcessAction) -> Result<(), TargetError> {
    let handle = stack.service(service).map_err(error)?;
    match action {
        ProcessAction::Stop => handle.stop().await.map_err(error),
        ProcessAction::Start => handle.start().await.map_err(error),
        ProcessAction::Kill => handle.kill().await.map_err(error),
        ProcessAction::Pause => handle.pause().await.map_err(error),
        ProcessAction::Unpause => handle.unpause().await.map_err(error),
        ProcessAction::Disconnect | ProcessAction::Connect => {
            let enabled = action == ProcessAction::Connect;
            for link in stack.links.all() {
                let touches = link
                    .name()
                    .split_once("->")
                    .is_some_and(|(from, to)| from == service || to == service);
                if touches {
                    link.set_enabled(enabled);
                }
            }
            Ok(())
        }
    }
}

pub fn add_fault(stack: &Stack, service: &str, rule: FaultRule) -> Result<(), TargetError> {
    stack
        .service(service)
        .map_err(error)?
        .inbound()
        .faults
        .add(rule)
        .map(|_id| ())
        .map_err(error)
}

pub fn journal(
    stack: &Stack,
    service: &str,
    last: usize,
) -> Result<(u64, Vec<JournalEntry>), TargetError> {
    let journal = &stack.service(service).map_err(error)?.inbound().journal;
    Ok((journal.count(), journal.last(last)))
}

pub fn toxics(stack: &Stack) -> Vec<LinkToxic> {
    stack
        .links
        .all()
        .iter()
        .flat_map(|link| {
            link.toxics()
                .iter()
                .map(|slot| LinkToxic {
                    link: link.name().to_string(),
                    toxic: slot.toxic.clone(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn add_toxic(stack: &Stack, link: &str, toxic: Toxic) -> Result<(), TargetError> {
    stack
        .links
        .get(link)
        .map_err(|e| TargetError(format!("{link}: {e}")))?
        .add_toxic(toxic)
        .map(|_| ())
        .map_err(|e| TargetError(format!("{link}: {e}")))
}

pub fn remove_toxic(stack: &Stack, link: &str, name: &str) -> Result<(), TargetError> {
    stack
        .links
        .get(link)
        .map_err(|e| TargetError(format!("{link}: {e}")))?
        .remove_toxic(name)
        .map_err(|e| TargetError(format!("{link}: {e} ({name:?})")))
}

/// A call from `caller` (its certificate from the stack's CA, made here) to `destination`'s
/// public port.
pub async fn mesh_call(
    stack: &Stack,
    caller: &Caller,
    destination: &str,
    probe: &Probe,
) -> Result<Outcome, TargetError> {
    let mesh = stack
        .mesh
        .as_ref()
        .ok_or_else(|| TargetError::new(NO_MESH))?;
    let addr = stack.service(destination).map_err(error)?.addr();
    let config = probe::client_for(mesh, caller, destination).map_err(error)?;
    Ok(probe::call(mesh, config, destination, addr, probe).await)
}

/// An exact intention changed through the stack's catalog API.
pub async fn change_intention(
    stack: &Stack,
    method: http::Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(), TargetError> {
    let catalog = stack
        .catalog
        .as_ref()
        .ok_or_else(|| TargetError::new("this stack has no catalog API (no mesh)"))?;
    let mut request = OutgoingRequest::new(method, format!("http://{}{path}", catalog.addr()));
    if let Some(body) = body {
        request = request.json_body(body);
    }
    let response = HttpClient::default().send(&request).await.map_err(error)?;
    if response.status == 200 {
        Ok(())
    } else {
        Err(TargetError(format!(
            "the catalog API refused the intention change: {} {}",
            response.status,
            response.text()
        )))
    }
}

pub async fn open_mesh_connection(
    stack: &Stack,
    source: &str,
    destination: &str,
) -> Result<OpenConnection, TargetError> {
    let mesh = stack
        .mesh
        .as_ref()
        .ok_or_else(|| TargetError::new(NO_MESH))?;
    let addr = stack.service(destination).map_err(error)?.addr();
    let caller = Caller::Identity(source.to_string());
    let config = probe::client_for(mesh, &caller, destination).map_err(error)?;
    OpenConnection::open(mesh, config, destination, addr)
        .await
        .map_err(TargetError)
}

pub fn present_identity(stack: &Stack, service: &str, identity: &str) -> Result<(), TargetError> {
    let mesh = stack
        .mesh
        .as_ref()
        .ok_or_else(|| TargetError::new(NO_MESH))?;
    let handle = stack.service(service).map_err(error)?;
    let guard = handle
        .inbound()
        .mesh()
        .ok_or_else(|| TargetError(format!("{service} has no mesh sidecar")))?;
    let leaf = std::sync::Arc::new(mesh.ca.issue_leaf(identity, mesh.clock()).map_err(error)?);
    let protocol = stack
        .def
        .topology
        .service(service)
        .map_or(Protocol::Http, |s| s.protocol);
    let config = mesh.server_config(&leaf, protocol).map_err(error)?;
    guard.present(leaf, config);
    Ok(())
}
