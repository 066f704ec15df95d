//! `stack.yml` loader (SPEC §2): the topology of a stack — its services (a mock, a command, an
//! external loopback URL, or a container image for `--target docker`), their protocol and mesh upstreams, the gateway's mesh identity, the
//! mesh's default intention and the fixed ports of `gauntlet up` — validated into [`Topology`],
//! and cross-checked against the already-loaded gateway configuration (every Kong service host
//! must name a stack service). A mock's `protocol` must be the one it speaks (`postgres` and
//! `redis` are tcp, the value services http).
//!
//! ```text
//!   stack.yml ─► kong::yaml::Source ─parse─► RawStack ─validate(+ GatewayConfig)─► Topology
//! ```
//!
//! Services keep file order (the `services` mapping is read entry by entry, never through a hash
//! map).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::kong::yaml::{closest, Source};
use super::topology::{
    DefaultIntention, FixedPorts, MockKind, ServiceDef, ServiceRuntime, Topology, UpstreamDef,
};
use super::{ConfigError, GatewayConfig};
use crate::protocol::Protocol;

/// The gateway's mesh identity when `gateway.mesh_identity` is absent.
const DEFAULT_GATEWAY_IDENTITY: &str = "api-gateway";

/// Reads `stack.yml` and validates it against `gateway` (from the same stack's `kong.yml`).
///
/// # Errors
/// The first problem, naming `path`, the line and the key. A Kong service whose host is not a
/// stack service is reported against this file's `services` key (the message names the
/// `kong.yml` service and its index).
pub fn load(path: &Path, gateway: &GatewayConfig) -> Result<Topology, ConfigError> {
    let src = Source::read(path)?;
    let raw: RawStack = src.parse()?;
    validate(&src, raw, gateway)
}

/// [`load`] on text already read; `path` names it in messages.
///
/// # Errors
/// As [`load`].
pub fn parse(path: &Path, text: &str, gateway: &GatewayConfig) -> Result<Topology, ConfigError> {
    let src = Source::from_text(path, text)?;
    let raw: RawStack = src.parse()?;
    validate(&src, raw, gateway)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    name: Option<String>,
    description: Option<String>,
    gateway: Option<RawGateway>,
    services: Option<Ordered<RawServiceDef>>,
    mesh: Option<RawMesh>,
    ports: Option<RawPorts>,
}

/// `mesh:` — stack-wide mesh settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMesh {
    /// The action for a pair no intention matches (Consul's ACL `default_policy`).
    default_intention: Option<RawDefaultIntention>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawDefaultIntention {
    Allow,
    Deny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    mesh_identity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceDef {
    mock: Option<String>,
    command: Option<RawCommand>,
    url: Option<String>,
    /// A local container image (`name:tag`), with the port it listens on.
    image: Option<String>,
    port: Option<u16>,
    protocol: Option<RawProtocol>,
    upstreams: Option<Vec<RawUpstream>>,
    /// Other host names kong.yml uses for this service (an `upstreams[]` name, a cluster DNS
    /// name).
    aliases: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawProtocol {
    Http,
    Tcp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    program: String,
    args: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    service: String,
    local_port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPorts {
    gateway_proxy: Option<u16>,
    gateway_admin: Option<u16>,
    catalog: Option<u16>,
    control: Option<u16>,
    sidecar_admin_base: Option<u16>,
    upstream_base: Option<u16>,
    services: Option<Ordered<u16>>,
}

/// A YAML mapping read in file order, rejecting duplicate keys.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut out: Vec<(String, T)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate entry `{key}`")));
                    }
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(Ordered(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ordered<T>, E> {
                Ok(Ordered(Vec::new()))
            }
        }
        d.deserialize_map(OrderedVisitor(PhantomData))
    }
}

fn validate(src: &Source, raw: RawStack, gateway: &GatewayConfig) -> Result<Topology, ConfigError> {
    let name = match raw.name {
        Some(n) if !n.is_empty() => n,
        Some(_) => return Err(src.error("name", "length must be at least 1")),
        None => src
            .file
            .parent()
            .and_then(|d| d.file_name())
            .map(|d| d.to_string_lossy().into_owned())
            .ok_or_else(|| src.error("name", "required field missing"))?,
    };
    let entries = raw.services.map(|s| s.0).unwrap_or_default();
    if entries.is_empty() {
        return Err(src
            .error("services", "a stack needs at least one service")
            .at_line(1, Some(1)));
    }
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let mut services = Vec::new();
    for (svc_name, def) in &entries {
        services.push(service(src, svc_name, def, &names)?);
    }
    let gateway_identity = raw
        .gateway
        .and_then(|g| g.mesh_identity)
        .unwrap_or_else(|| DEFAULT_GATEWAY_IDENTITY.into());
    if gateway_identity.is_empty() {
        return Err(src.error("gateway.mesh_identity", "length must be at least 1"));
    }
    if names.contains(&gateway_identity.as_str()) {
        return Err(src.error(
            "gateway.mesh_identity",
            format!("`{gateway_identity}` is also a service name: the gateway needs its own mesh identity"),
        ));
    }
    let ports = ports(src, raw.ports, &names, &mut services)?;
    check_kong_hosts(src, gateway, &services)?;
    Ok(Topology {
        name,
        description: raw.description,
        gateway_identity,
        services,
        // Absent: zero trust.
        default_intention: match raw.mesh.and_then(|m| m.default_intention) {
            Some(RawDefaultIntention::Allow) => DefaultIntention::Allow,
            None | Some(RawDefaultIntention::Deny) => DefaultIntention::Deny,
        },
        ports,
    })
}

fn service(
    src: &Source,
    name: &str,
    def: &RawServiceDef,
    names: &[&str],
) -> Result<ServiceDef, ConfigError> {
    let key = format!("services.{name}");
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_name {
        return Err(src.error(
            &key,
            "a service name uses letters, digits, `-` and `_` only (it becomes a mesh identity)",
        ));
    }
    if def.port.is_some() && def.image.is_none() {
        return Err(src.error(
            format!("{key}.port"),
            "`port` is the port an `image` listens on; this service has no image",
        ));
    }
    let runtime = match (&def.mock, &def.command, &def.url, &def.image) {
        (None, None, None, Some(image)) => {
            let Some(port) = def.port.filter(|p| *p != 0) else {
                return Err(src.error(
                    &key,
                    "an `image` service needs `port`: the port it listens on inside its container",
                ));
            };
            if image.is_empty() || image.contains(char::is_whitespace) {
                return Err(src.error(
                    format!("{key}.image"),
                    format!("`{image}` is not an image reference (name:tag)"),
                ));
            }
            ServiceRuntime::Image {
                reference: image.clone(),
                port,
            }
        }
        (Some(mock), None, None, None) => {
            ServiceRuntime::Mock(MockKind::parse(mock).ok_or_else(|| {
                let known = MockKind::ALL.map(MockKind::name);
                let hint = closest(mock, known)
                    .map(|b| format!(" (did you mean `{b}`?)"))
                    .unwrap_or_default();
                src.error(
                    format!("{key}.mock"),
                    format!(
                        "unknown mock `{mock}`{hint}; known mocks: {}",
                        known.join(", ")
                    ),
                )
            })?)
        }
        (None, Some(cmd), None, None) => {
            if cmd.program.is_empty() {
                return Err(src.error(
                    format!("{key}.command.program"),
                    "length must be at least 1",
                ));
            }
            ServiceRuntime::Command {
                program: cmd.program.clone(),
                args: cmd.args.clone().unwrap_or_default(),
            }
        }
        (None, None, Some(url), None) => {
            check_loopback(url).map_err(|m| src.error(format!("{key}.url"), m))?;
            ServiceRuntime::External { url: url.clone() }
        }
        _ => {
            return Err(src.error(
                &key,
                "exactly one of `mock`, `command`, `url`, `image` must be set",
            ))
        }
    };
    let protocol = match def.protocol {
        None | Some(RawProtocol::Http) => Protocol::Http,
        Some(RawProtocol::Tcp) => Protocol::Tcp,
    };
    // A mock speaks one protocol; the mesh proxies (and denies) it by what `protocol` says.
    if let ServiceRuntime::Mock(kind) = &runtime {
        if kind.protocol() != protocol {
            let speaks = kind.protocol().name();
            return Err(src.error(
                format!("{key}.protocol"),
                format!(
                    "the {} mock speaks {speaks}; set protocol: {speaks}",
                    kind.name()
                ),
            ));
        }
    }
    let mut upstreams: Vec<UpstreamDef> = Vec::new();
    for (i, u) in def.upstreams.iter().flatten().enumerate() {
        let ukey = format!("{key}.upstreams[{i}]");
        if !names.contains(&u.service.as_str()) {
            let hint = closest(&u.service, names.iter().copied())
                .map(|b| format!(" (did you mean `{b}`?)"))
                .unwrap_or_default();
            return Err(src.error(
                format!("{ukey}.service"),
                format!(
                    "unknown upstream service `{}`{hint}; stack services: {}",
                    u.service,
                    names.join(", ")
                ),
            ));
        }
        if u.service == name {
            return Err(src.error(
                format!("{ukey}.service"),
                "a service cannot be its own mesh upstream",
            ));
        }
        if upstreams.iter().any(|x| x.service == u.service) {
            return Err(src.error(
                format!("{ukey}.service"),
                format!("upstream `{}` is listed twice", u.service),
            ));
        }
        if u.local_port == Some(0) {
            return Err(src.error(
                format!("{ukey}.local_port"),
                "value should be between 1 and 65535",
            ));
        }
        // Without `local_port`, [`ports`] derives it from `ports.upstream_base`.
        upstreams.push(UpstreamDef {
            service: u.service.clone(),
            local_port: u.local_port.unwrap_or(0),
        });
    }
    Ok(ServiceDef {
        name: name.to_string(),
        runtime,
        protocol,
        upstreams,
        aliases: def.aliases.clone().unwrap_or_default(),
    })
}

/// An external service must be on this machine's loopback (Gauntlet never reaches out).
fn check_loopback(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("not a valid URL `{url}`: {e}"))?;
    if uri.scheme_str().is_none() {
        return Err(format!("not a valid URL `{url}`: missing scheme (http://)"));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("not a valid URL `{url}`: missing host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "external services must be on loopback (127.0.0.0/8, localhost, ::1); `{url}` points at `{host}`"
        ))
    }
}

/// The fixed ports of `up`; fills in the upstream listener ports not given by `local_port`:
/// `ports.upstream_base`, `+1`, ... in file order, so they move with `ports:` (and
/// `--port-offset`).
fn ports(
    src: &Source,
    raw: Option<RawPorts>,
    names: &[&str],
    services: &mut [ServiceDef],
) -> Result<FixedPorts, ConfigError> {
    let d = FixedPorts::default();
    let raw = raw.unwrap_or(RawPorts {
        gateway_proxy: None,
        gateway_admin: None,
        catalog: None,
        control: None,
        sidecar_admin_base: None,
        upstream_base: None,
        services: None,
    });
    let mut out = FixedPorts {
        gateway_proxy: raw.gateway_proxy.unwrap_or(d.gateway_proxy),
        gateway_admin: raw.gateway_admin.unwrap_or(d.gateway_admin),
        catalog: raw.catalog.unwrap_or(d.catalog),
        control: raw.control.unwrap_or(d.control),
        sidecar_admin_base: raw.sidecar_admin_base.unwrap_or(d.sidecar_admin_base),
        upstream_base: raw.upstream_base.unwrap_or(d.upstream_base),
        services: BTreeMap::new(),
    };
    let mut derived: u16 = 0;
    let mut upstream_keys = Vec::new();
    for s in services.iter_mut() {
        for (i, u) in s.upstreams.iter_mut().enumerate() {
            let key = format!("services.{}.upstreams[{i}].local_port", s.name);
            if u.local_port == 0 {
                u.local_port = out.upstream_base.checked_add(derived).ok_or_else(|| {
                    src.error(
                        "ports.upstream_base",
                        "too high: the upstream listener ports derived from it pass 65535",
                    )
                })?;
                upstream_keys.push((
                    format!(
                        "ports.upstream_base + {derived} (services.{}.upstreams[{i}])",
                        s.name
                    ),
                    u.local_port,
                ));
                derived += 1;
            } else {
                upstream_keys.push((key, u.local_port));
            }
        }
    }
    for (service, port) in raw.services.map(|s| s.0).unwrap_or_default() {
        if !names.contains(&service.as_str()) {
            return Err(src.error(
                format!("ports.services.{service}"),
                format!(
                    "unknown service `{service}`; stack services: {}",
                    names.join(", ")
                ),
            ));
        }
        out.services.insert(service, port);
    }
    // Every fixed listener of `gauntlet up` binds loopback: no two may share a port.
    let mut used: Vec<(String, u16)> = vec![
        ("ports.gateway_proxy".into(), out.gateway_proxy),
        ("ports.gateway_admin".into(), out.gateway_admin),
        ("ports.catalog".into(), out.catalog),
        ("ports.control".into(), out.control),
        ("ports.sidecar_admin_base".into(), out.sidecar_admin_base),
    ];
    used.extend(
        out.services
            .iter()
            .map(|(s, p)| (format!("ports.services.{s}"), *p)),
    );
    used.extend(upstream_keys);
    for (i, (key, port)) in used.iter().enumerate() {
        if *port == 0 {
            return Err(src.error(key, "value should be between 1 and 65535"));
        }
        if let Some((first, _)) = used[..i].iter().find(|(_, p)| p == port) {
            return Err(src.error(key, format!("port {port} is already used by {first}")));
        }
    }
    Ok(out)
}

/// Every Kong service must reach a stack service: its `host` names one, which speaks HTTP.
fn check_kong_hosts(
    src: &Source,
    gateway: &GatewayConfig,
    services: &[ServiceDef],
) -> Result<(), ConfigError> {
    for (i, k) in gateway.services.iter().enumerate() {
        match services.iter().find(|s| s.serves_host(&k.host)) {
            None => {
                let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
                return Err(src.error(
                    "services",
                    format!(
                        "kong.yml service `{}` (services[{i}], host `{}`) names no stack service; \
                         its url/host must be one of: {}, or be listed under a service's \
                         `aliases: [{}]`",
                        k.name,
                        k.host,
                        names.join(", "),
                        k.host
                    ),
                ));
            }
            Some(s) if s.protocol == Protocol::Tcp => {
                return Err(src.error(
                    format!("services.{}.protocol", s.name),
                    format!(
                        "kong.yml service `{}` (services[{i}]) proxies HTTP to `{}`, which is a tcp service",
                        k.name, s.name
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
