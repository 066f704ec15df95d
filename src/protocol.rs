//! The one list of protocols: what a stack service speaks ([`Protocol`], `stack.yml`'s
//! `protocol:`, Consul's service protocol) and the protocol names Kong's schema accepts for
//! services, routes and plugins ([`KONG_PROTOCOLS`]).

/// What a stack service speaks on its port; the mesh proxies and decides on it accordingly (L7
/// intentions and the 403 answer for http, a closed connection for tcp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Http,
    Tcp,
}

impl Protocol {
    /// Every protocol, in the order lists and metrics show them.
    pub const ALL: [Protocol; 2] = [Protocol::Http, Protocol::Tcp];

    /// `http` or `tcp`, as written in `stack.yml` and shown by Consul and Envoy.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Tcp => "tcp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Protocols Kong's schema knows for services, routes and plugins (`typedefs.protocols`).
pub const KONG_PROTOCOLS: [&str; 10] = [
    "http",
    "https",
    "grpc",
    "grpcs",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
    "ws",
    "wss",
];

/// The protocols a plugin entry runs on when the file names none, as Kong's admin API shows them.
pub const KONG_PLUGIN_DEFAULT_PROTOCOLS: [&str; 4] = ["grpc", "grpcs", "http", "https"];
