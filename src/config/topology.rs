//! Validated `stack.yml`: which services run, how they reach each other, the mesh's default
//! intention, and the fixed ports of `gauntlet up`.

use std::collections::BTreeMap;

use crate::protocol::Protocol;

/// The topology of one stack.
#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    pub description: Option<String>,
    /// The gateway's mesh identity (`api-gateway`).
    pub gateway_identity: String,
    /// Services in file order.
    pub services: Vec<ServiceDef>,
    /// What the mesh does for a source/destination pair no intention matches (`mesh:
    /// default_intention`; [`DefaultIntention::Deny`] when absent).
    pub default_intention: DefaultIntention,
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
    /// A container image of the user's, already in the local engine (`--target docker` only),
    /// listening on `port` inside its pod; Gauntlet's sidecar and gateway go in front of it.
    Image { reference: String, port: u16 },
}

/// A mock of `mock-services`, named in `stack.yml` by `mock: <name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockKind {
    ValueArchitect,
    ValueCommitter,
    /// A tcp echo standing in for the database.
    Postgres,
    /// A minimal RESP server (`PING`, `ECHO`, `QUIT`).
    Redis,
}

impl From<MockKind> for mock_services::MockKind {
    fn from(kind: MockKind) -> Self {
        match kind {
            MockKind::ValueArchitect => mock_services::MockKind::ValueArchitect,
            MockKind::ValueCommitter => mock_services::MockKind::ValueCommitter,
            MockKind::Postgres => mock_services::MockKind::Postgres,
            MockKind::Redis => mock_services::MockKind::Redis,
        }
    }
}

impl MockKind {
    /// Every mock, in the order error messages list them.
    pub const ALL: [MockKind; 4] = [
        MockKind::ValueArchitect,
        MockKind::ValueCommitter,
        MockKind::Postgres,
        MockKind::Redis,
    ];

    pub fn parse(s: &str) -> Option<MockKind> {
        MockKind::ALL.into_iter().find(|kind| kind.name() == s)
    }

    /// The name `mock:` takes.
    pub fn name(self) -> &'static str {
        match self {
            MockKind::ValueArchitect => "value-architect",
            MockKind::ValueCommitter => "value-committer",
            MockKind::Postgres => "postgres",
            MockKind::Redis => "redis",
        }
    }

    /// What the mock speaks on its port; its service's `protocol:` must say the same.
    pub fn protocol(self) -> Protocol {
        match self {
            MockKind::ValueArchitect | MockKind::ValueCommitter => Protocol::Http,
            MockKind::Postgres | MockKind::Redis => Protocol::Tcp,
        }
    }
}

/// The mesh's answer for a source/destination pair that no intention matches: Consul's ACL
/// `default_policy`, set by `mesh: default_intention` in `stack.yml`.
///
/// The default is [`DefaultIntention::Deny`]: zero trust, a caller reaches only what an intention
/// allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultIntention {
    /// Unmatched pairs may connect (Consul's `default_policy = "allow"`).
    Allow,
    /// Unmatched pairs are refused (zero trust).
    #[default]
    Deny,
}

impl DefaultIntention {
    /// `allow` or `deny`, as written in `stack.yml`.
    pub fn name(self) -> &'static str {
        match self {
            DefaultIntention::Allow => "allow",
            DefaultIntention::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamDef {
    /// Destination service name.
    pub service: String,
    /// Local listener port under `gauntlet up` (`local_port`, or derived from
    /// `ports.upstream_base`); scenarios use an ephemeral port.
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
    /// The first upstream listener port given no `local_port` (the next ones follow).
    pub upstream_base: u16,
    /// Service listen ports by service name.
    pub services: BTreeMap<String, u16>,
}

impl FixedPorts {
    /// Every port moved up by `offset` (`gauntlet up --port-offset`).
    ///
    /// # Errors
    /// A port would pass 65535: the message names its key.
    pub fn shifted(&self, offset: u16) -> Result<FixedPorts, String> {
        let shift = |key: &str, port: u16| shift_port(key, port, offset);
        let mut services = BTreeMap::new();
        for (name, port) in &self.services {
            services.insert(
                name.clone(),
                shift(&format!("ports.services.{name}"), *port)?,
            );
        }
        Ok(FixedPorts {
            gateway_proxy: shift("ports.gateway_proxy", self.gateway_proxy)?,
            gateway_admin: shift("ports.gateway_admin", self.gateway_admin)?,
            catalog: shift("ports.catalog", self.catalog)?,
            control: shift("ports.control", self.control)?,
            sidecar_admin_base: shift("ports.sidecar_admin_base", self.sidecar_admin_base)?,
            upstream_base: shift("ports.upstream_base", self.upstream_base)?,
            services,
        })
    }
}

impl Topology {
    /// Every fixed port `gauntlet up` binds, with what binds it.
    pub fn fixed_ports(&self) -> Vec<(String, u16)> {
        let p = &self.ports;
        let mut all = vec![
            ("the gateway proxy".to_string(), p.gateway_proxy),
            ("the gateway admin API".to_string(), p.gateway_admin),
            ("the catalog API".to_string(), p.catalog),
            ("the control API".to_string(), p.control),
        ];
        for (i, s) in self.services.iter().enumerate() {
            if let Some(port) = p.services.get(&s.name) {
                all.push((format!("service {}", s.name), *port));
            }
            let admin = p
                .sidecar_admin_base
                .saturating_add(u16::try_from(i).unwrap_or(u16::MAX));
            all.push((format!("the {} sidecar admin API", s.name), admin));
            for u in &s.upstreams {
                all.push((
                    format!("the {} upstream listener for {}", s.name, u.service),
                    u.local_port,
                ));
            }
        }
        all
    }

    /// Every fixed port of `gauntlet up` (`ports:` and the upstream listener ports) moved up by
    /// `offset`, so a second stack can run beside the first.
    ///
    /// # Errors
    /// A port would pass 65535: the message names its key.
    pub fn shift_ports(&mut self, offset: u16) -> Result<(), String> {
        self.ports = self.ports.shifted(offset)?;
        for s in &mut self.services {
            for (i, u) in s.upstreams.iter_mut().enumerate() {
                let key = format!("services.{}.upstreams[{i}].local_port", s.name);
                u.local_port = shift_port(&key, u.local_port, offset)?;
            }
        }
        Ok(())
    }
}

fn shift_port(key: &str, port: u16, offset: u16) -> Result<u16, String> {
    port.checked_add(offset)
        .ok_or_else(|| format!("--port-offset {offset} moves {key} ({port}) past 65535"))
}

impl Default for FixedPorts {
    fn default() -> Self {
        FixedPorts {
            gateway_proxy: 8000,
            gateway_admin: 8001,
            catalog: 8500,
            control: 8099,
            sidecar_admin_base: 19001,
            upstream_base: 9191,
            services: BTreeMap::new(),
        }
    }
}
