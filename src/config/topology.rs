//! Validated `stack.yml`: which services run, how they reach each other, and the fixed ports of
//! `gauntlet up`.

use std::collections::BTreeMap;

/// The topology of one stack.
#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    pub description: Option<String>,
    /// The gateway's mesh identity (`api-gateway`).
    pub gateway_identity: String,
    /// Services in file order.
    pub services: Vec<ServiceDef>,
    pub ports: FixedPorts,
}

impl Topology {
    pub fn service(&self, name: &str) -> Option<&ServiceDef> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The service a kong.yml host (name or alias) refers to.
    pub fn service_for_host(&self, host: &str) -> Option<&ServiceDef> {
        self.services.iter().find(|s| s.serves_host(host))
    }
}

#[derive(Debug, Clone)]
pub struct ServiceDef {
    pub name: String,
    pub runtime: ServiceRuntime,
    pub protocol: Protocol,
    /// Mesh upstreams this service calls through a local listener.
    pub upstreams: Vec<UpstreamDef>,
    /// Other host names kong.yml uses for this service.
    pub aliases: Vec<String>,
}

impl ServiceDef {
    /// Whether a kong.yml service whose host is `host` is this service.
    pub fn serves_host(&self, host: &str) -> bool {
        self.name == host || self.aliases.iter().any(|a| a == host)
    }
}

/// How a service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRuntime {
    /// One of the in-process mocks of `mock-services` (`value-architect`, `value-committer`).
    Mock(MockKind),
    /// A command to spawn; `{port}` in an argument is replaced by the port it must listen on.
    Command { program: String, args: Vec<String> },
    /// An already-running service at this base URL (loopback only).
    External { url: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockKind {
    ValueArchitect,
    ValueCommitter,
}

impl MockKind {
    pub fn parse(s: &str) -> Option<MockKind> {
        match s {
            "value-architect" => Some(MockKind::ValueArchitect),
            "value-committer" => Some(MockKind::ValueCommitter),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamDef {
    /// Destination service name.
    pub service: String,
    /// Local listener port under `gauntlet up`; scenarios use an ephemeral port.
    pub local_port: u16,
}

/// Fixed ports used by `gauntlet up` (scenarios always use ephemeral ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedPorts {
    pub gateway_proxy: u16,
    pub gateway_admin: u16,
    pub catalog: u16,
    pub control: u16,
    pub sidecar_admin_base: u16,
    /// Service listen ports by service name.
    pub services: BTreeMap<String, u16>,
}

impl Default for FixedPorts {
    fn default() -> Self {
        FixedPorts {
            gateway_proxy: 8000,
            gateway_admin: 8001,
            catalog: 8500,
            control: 8099,
            sidecar_admin_base: 19001,
            services: BTreeMap::new(),
        }
    }
}
