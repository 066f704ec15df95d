//! Extra links (`POST /proxies`): a listener on loopback that forwards each connection to an
//! upstream loopback address through a link, as a Toxiproxy proxy does, for a process outside
//! the stack.
//!
//! ```text
//!   client ──► listen (127.0.0.1:P) ──accept──► LinkStream::connect(upstream) ──► process
//! ```
//! Disabled, the listener is closed (new connections are refused) and open connections are
//! closed by the link; enabled again, it binds the same address.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{Link, LinkError, LinkStream, Links};
use crate::http::server::accept_loop;

/// A running extra link's listener.
#[derive(Debug)]
pub struct ExtraProxy {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for ExtraProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A loopback address from a Toxiproxy `listen`/`upstream` (`localhost:0`, `127.0.0.1:8080`,
/// `:8080`).
///
/// # Errors
/// Not `host:port`, or not a loopback host (Gauntlet stays on loopback).
pub fn loopback(field: &str, text: &str) -> Result<SocketAddr, LinkError> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| LinkError::BadBody(format!("{field} must be host:port, got {text:?}")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| LinkError::BadBody(format!("{field} has no valid port: {text:?}")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = match host {
        "" | "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        other => other.parse().map_err(|_| {
            LinkError::BadBody(format!("{field} must be a loopback address, got {text:?}"))
        })?,
    };
    if !ip.is_loopback() {
        return Err(LinkError::BadBody(format!(
            "{field} must be a loopback address (Gauntlet stays on loopback), got {text:?}"
        )));
    }
    Ok(SocketAddr::new(ip, port))
}

/// Binds `listen` and serves the link; returns the bound address.
///
/// # Errors
/// The address cannot be bound (500, with the system's message, as Toxiproxy answers).
pub async fn start(
    links: &Links,
    link: &Arc<Link>,
    listen: SocketAddr,
    upstream: SocketAddr,
) -> Result<SocketAddr, LinkError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| LinkError::Internal(format!("listen tcp {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| LinkError::Internal(e.to_string()))?;
    let serving = link.clone();
    let task = accept_loop(listener, move |mut client, _| {
        let link = serving.clone();
        async move {
            // Toxiproxy dials the upstream when a client connects; a failure closes the client.
            let Ok(mut upstream) = LinkStream::connect(link, upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    links
        .proxies()
        .insert(link.name().to_string(), ExtraProxy { task: Some(task) });
    Ok(bound)
}

/// Closes an extra link's listener (disabled or deleted), and returns once it is closed: a
/// client connecting after the API answered is refused, and enabling the link again can bind
/// the same address (aborting the accept task alone drops the listener only at the task's next
/// poll).
pub async fn stop(links: &Links, name: &str) {
    let removed = links.proxies().remove(name);
    if let Some(mut proxy) = removed {
        if let Some(task) = proxy.task.take() {
            task.abort();
            // Resolves once the aborted task, and the listener it owns, is dropped.
            let _ = task.await;
        }
    }
}

/// Re-binds every disabled extra link that `reset` enabled.
pub(super) async fn restart_disabled(links: &Links) {
    let idle: Vec<Arc<Link>> = links
        .all()
        .into_iter()
        .filter(|l| !l.is_builtin() && !links.proxies().contains_key(l.name()))
        .collect();
    for link in idle {
        let (Ok(listen), Ok(upstream)) = (
            loopback("listen", &link.listen()),
            loopback("upstream", &link.upstream()),
        ) else {
            continue;
        };
        if let Err(e) = start(links, &link, listen, upstream).await {
            tracing::warn!(link = %link.name(), error = %e, "cannot re-bind the extra link");
        }
    }
}
