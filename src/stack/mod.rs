//! A running stack (SPEC §2–§3): the services of `stack.yml` and the gateway of `kong.yml`, on
//! loopback, sharing one [`StackClock`].
//!
//! ```text
//!   StackDef ──► bind every public listener (ephemeral, or the fixed ports of `up`)
//!            ──► start services (in-process mocks, commands, or external URLs), each behind
//!                its inbound sidecar stage (journal, faults) on its public port
//!            ──► start gateway (proxy + admin) with the services' public addresses
//! ```
//! Scenarios each start their own stack on ephemeral ports, so they run concurrently and never
//! share breaker or rate-limit state. Dropping a [`Stack`] stops everything it started.

mod services;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::fault::derive_seed;
use crate::clock::{StackClock, Stopwatch};
use crate::config::StackDef;
use crate::gateway::upstream::UpstreamAddrs;
use crate::gateway::{Gateway, RunningGateway};
use crate::server::bind_loopback;
pub use services::{ProcessFaultError, ServiceHandle};

/// Which ports a stack binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPlan {
    /// Ephemeral loopback ports (scenarios).
    Ephemeral,
    /// The fixed ports of `stack.yml` (`gauntlet up`).
    Fixed,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot bind {what} on 127.0.0.1:{port}: {source}")]
    Bind {
        what: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("service {service}: {message}")]
    Service { service: String, message: String },
    #[error("no service named {0} in this stack")]
    UnknownService(String),
}

/// A running stack.
#[derive(Debug)]
pub struct Stack {
    pub def: Arc<StackDef>,
    pub clock: StackClock,
    pub gateway: RunningGateway,
    /// Services by name.
    pub services: BTreeMap<String, Arc<ServiceHandle>>,
    /// The seed of this stack's random fault choices.
    pub seed: u64,
    /// How long `start` took.
    pub startup: Duration,
}

impl Stack {
    /// Starts every service and the gateway. `seed` drives every random fault choice of the
    /// stack (each service draws from its own sequence derived from it).
    ///
    /// # Errors
    /// A port cannot be bound, or a service cannot be started.
    pub async fn start(def: Arc<StackDef>, plan: PortPlan, seed: u64) -> Result<Stack, StackError> {
        let stopwatch = Stopwatch::start();
        let clock = StackClock::new();
        let ports = &def.topology.ports;
        let port = |fixed: u16| if plan == PortPlan::Fixed { fixed } else { 0 };

        // Bind every listener first, so each component knows every address before any starts.
        let mut listeners = BTreeMap::new();
        for service in &def.topology.services {
            let fixed = ports.services.get(&service.name).copied().unwrap_or(0);
            listeners.insert(
                service.name.clone(),
                bind(&format!("service {}", service.name), port(fixed)).await?,
            );
        }
        let proxy = bind("gateway proxy", port(ports.gateway_proxy)).await?;
        let admin = bind("gateway admin", port(ports.gateway_admin)).await?;

        let addrs: BTreeMap<String, SocketAddr> = listeners
            .iter()
            .filter_map(|(name, l)| Some((name.clone(), l.local_addr().ok()?)))
            .collect();
        let mut services = BTreeMap::new();
        for service in &def.topology.services {
            let Some(listener) = listeners.remove(&service.name) else {
                continue;
            };
            let service_seed = derive_seed(seed, &[&service.name]);
            let handle =
                ServiceHandle::launch(service, listener, &addrs, &clock, service_seed).await?;
            services.insert(service.name.clone(), Arc::new(handle));
        }

        let upstreams = UpstreamAddrs::default();
        for kong_service in &def.gateway.services {
            let handle = def
                .topology
                .service_for_host(&kong_service.host)
                .and_then(|s| services.get(&s.name));
            if let Some(handle) = handle {
                upstreams.set(&kong_service.name, handle.addr());
            }
        }
        let gateway = Gateway::new(Arc::new(def.gateway.clone()), clock.clone(), upstreams)
            .start(proxy, admin)
            .map_err(|source| StackError::Bind {
                what: "gateway".into(),
                port: 0,
                source,
            })?;
        Ok(Stack {
            def,
            clock,
            gateway,
            services,
            seed,
            startup: stopwatch.elapsed(),
        })
    }

    /// Base URL of the gateway proxy (`http://127.0.0.1:PORT`).
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.gateway.proxy.addr())
    }

    /// Base URL of the gateway admin API.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.gateway.admin.addr())
    }

    /// A service by name.
    ///
    /// # Errors
    /// [`StackError::UnknownService`] naming the service.
    pub fn service(&self, name: &str) -> Result<&Arc<ServiceHandle>, StackError> {
        self.services
            .get(name)
            .ok_or_else(|| StackError::UnknownService(name.to_string()))
    }
}

async fn bind(what: &str, port: u16) -> Result<tokio::net::TcpListener, StackError> {
    bind_loopback(port)
        .await
        .map_err(|source| StackError::Bind {
            what: what.to_string(),
            port,
            source,
        })
}
