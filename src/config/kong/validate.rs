//! Validation of the raw `kong.yml` DTOs into [`GatewayConfig`]: the builder and services here,
//! routes in `routes.rs`, consumers in `consumers.rs`, plugin attachment in `attach.rs`.
//!
//! ```text
//!   RawKongFile ─► Builder ─► services (+ nested routes) ─► top-level routes ─► consumers
//!                          ─► credentials ─► plugins (every scope) ─► warnings needing routes
//! ```
//!
//! Every error names its key path and, when the key is in the text, its line. Entities without an
//! `id` get a deterministic UUID v5 (`service:<name>`, `route:<name>`, … in [`NAMESPACE`]).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::attach::Pending;
use super::raw::{is_set, RawKongFile, RawRef, RawService, RefBy};
use super::yaml::Source;
use crate::config::gateway::{GatewayConfig, Service};
use crate::config::{ConfigError, ConfigWarning};
use crate::protocol::KONG_PROTOCOLS;

/// Namespace of the deterministic ids given to entities without an `id`.
pub(crate) const NAMESPACE: Uuid = Uuid::from_u128(0x6761_756e_746c_4574_8b6f_6e67_2d79_6d6c);

/// `_format_version` values Kong accepts.
const FORMAT_VERSIONS: [&str; 3] = ["1.1", "2.1", "3.0"];

pub(super) const HTTP_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Validates a parsed file into the gateway configuration and its warnings.
pub(crate) fn build(
    src: &Source,
    raw: RawKongFile,
) -> Result<(GatewayConfig, Vec<ConfigWarning>), ConfigError> {
    let v3 = format_version(src, raw.format_version.as_ref())?;
    let sections: Vec<(&'static str, Value)> = raw
        .unemulated_sections()
        .into_iter()
        .map(|(k, v)| (k, v.clone()))
        .collect();
    let mut b = Builder::new(src, v3);
    for (i, s) in raw.services.into_iter().flatten().enumerate() {
        b.service(format!("services[{i}]"), s)?;
    }
    for (i, r) in raw.routes.into_iter().flatten().enumerate() {
        b.route(format!("routes[{i}]"), r, None)?;
    }
    for (i, c) in raw.consumers.into_iter().flatten().enumerate() {
        b.consumer(format!("consumers[{i}]"), c)?;
    }
    for (i, j) in raw.jwt_secrets.into_iter().flatten().enumerate() {
        let key = format!("jwt_secrets[{i}]");
        let consumer = b.top_level_owner(&key, j.consumer.as_ref())?;
        b.jwt_secret(key, consumer, j)?;
    }
    for (i, a) in raw.acls.into_iter().flatten().enumerate() {
        let key = format!("acls[{i}]");
        let consumer = b.top_level_owner(&key, a.consumer.as_ref())?;
        b.acl(key, consumer, a)?;
    }
    for (i, p) in raw.plugins.into_iter().flatten().enumerate() {
        b.pending.push(Pending::global(format!("plugins[{i}]"), p));
    }
    b.attach_plugins()?;
    b.finish(sections);
    Ok((b.cfg, b.warnings))
}

/// `true` for "3.0" (regex paths need `~`), `false` for the 1.1/2.1 formats.
fn format_version(src: &Source, v: Option<&Value>) -> Result<bool, ConfigError> {
    match v {
        Some(Value::String(s)) if FORMAT_VERSIONS.contains(&s.as_str()) => Ok(s == "3.0"),
        Some(Value::String(s)) => Err(src.error(
            "_format_version",
            format!("unsupported version `{s}`: expected one of: 1.1, 2.1, 3.0"),
        )),
        Some(_) => Err(src.error(
            "_format_version",
            "expected a quoted string such as \"3.0\" (one of: 1.1, 2.1, 3.0)",
        )),
        None => Err(src
            .error(
                "_format_version",
                "required field missing: a Kong declarative file starts with `_format_version: \"3.0\"`",
            )
            .at_line(1, Some(1))),
    }
}

/// The state of one validation run.
pub(super) struct Builder<'s> {
    pub src: &'s Source,
    /// `_format_version: "3.0"`.
    pub v3: bool,
    pub cfg: GatewayConfig,
    pub warnings: Vec<ConfigWarning>,
    /// Key path of each service, route and consumer, by index.
    pub service_keys: Vec<String>,
    pub route_keys: Vec<String>,
    pub consumer_keys: Vec<String>,
    /// Ids in use per entity kind, with the key that declared them.
    pub ids: HashMap<(&'static str, Uuid), String>,
    /// jwt credential keys in use, with the key path that declared them.
    pub jwt_keys: HashMap<String, String>,
    /// key-auth keys seen so far → the key path of their credential.
    pub keyauth_keys: HashMap<String, String>,
    pub pending: Vec<Pending>,
    /// Warnings about a service, emitted once its routes are known: (service, key, message).
    pub service_notes: Vec<(usize, String, String)>,
    /// Services with `enabled: false`: their routes never match (Kong answers 404).
    pub disabled_services: Vec<usize>,
    /// Warnings about jwt credentials, emitted with the routes jwt applies to: (key, message).
    pub credential_notes: Vec<(String, String)>,
}

impl<'s> Builder<'s> {
    fn new(src: &'s Source, v3: bool) -> Self {
        Builder {
            src,
            v3,
            cfg: GatewayConfig::default(),
            disabled_services: Vec::new(),
            warnings: Vec::new(),
            service_keys: Vec::new(),
            route_keys: Vec::new(),
            consumer_keys: Vec::new(),
            ids: HashMap::new(),
            jwt_keys: HashMap::new(),
            keyauth_keys: HashMap::new(),
            pending: Vec::new(),
            service_notes: Vec::new(),
            credential_notes: Vec::new(),
        }
    }

    pub fn err(&self, key: impl Into<String>, msg: impl Into<String>) -> ConfigError {
        self.src.error(key, msg)
    }

    pub fn warn(&mut self, key: impl Into<String>, msg: impl Into<String>, routes: Vec<String>) {
        let w = self.src.warning(key, msg, routes);
        self.warnings.push(w);
    }

    /// The given id (must be a UUID) or a v5 id from `seed`; unique per entity kind.
    pub fn entity_id(
        &mut self,
        kind: &'static str,
        key: &str,
        given: Option<&str>,
        seed: &str,
    ) -> Result<Uuid, ConfigError> {
        let id = match given {
            Some(s) => Uuid::parse_str(s)
                .map_err(|_| self.err(format!("{key}.id"), "expected a valid UUID"))?,
            None => Uuid::new_v5(&NAMESPACE, seed.as_bytes()),
        };
        if let Some(prev) = self.ids.insert((kind, id), key.to_string()) {
            return Err(self.err(
                format!("{key}.id"),
                format!("uniqueness violation: '{kind}' entity with id '{id}' already declared at {prev}"),
            ));
        }
        Ok(id)
    }

    /// Names of the routes of `service`.
    pub fn routes_of_service(&self, service: usize) -> Vec<String> {
        self.cfg
            .routes
            .iter()
            .filter(|r| r.service == Some(service))
            .map(|r| r.name.clone())
            .collect()
    }

    fn service(&mut self, key: String, raw: RawService) -> Result<(), ConfigError> {
        if let Some(name) = raw.name.as_deref() {
            if let Some(prev) = self.cfg.services.iter().position(|s| s.name == name) {
                return Err(self.err(
                    format!("{key}.name"),
                    format!(
                        "uniqueness violation: 'services' entity with name set to '{name}' already declared at {}",
                        self.service_keys[prev]
                    ),
                ));
            }
        }
        let seed = match raw.name.as_deref() {
            Some(n) => format!("service:{n}"),
            None => format!("service:#{key}"),
        };
        let id = self.entity_id("services", &key, raw.id.as_deref(), &seed)?;
        let index = self.cfg.services.len();
        let (protocol, host, port, path) = self.service_target(&key, &raw, index)?;
        if protocol != "http" {
            self.service_notes.push((
                index,
                format!("{key}.protocol"),
                format!("protocol `{protocol}` is not emulated: Gauntlet forwards plain HTTP through the mesh"),
            ));
        }
        let retries = int_in(self, &format!("{key}.retries"), raw.retries, 5, 0, 32_767)?;
        let timeout = |b: &Self, field: &str, v: Option<i64>| {
            int_in(b, &format!("{key}.{field}"), v, 60_000, 1, 2_147_483_646)
                .map(|ms| Duration::from_millis(ms.unsigned_abs()))
        };
        let connect_timeout = timeout(self, "connect_timeout", raw.connect_timeout)?;
        let write_timeout = timeout(self, "write_timeout", raw.write_timeout)?;
        let read_timeout = timeout(self, "read_timeout", raw.read_timeout)?;
        if raw.enabled == Some(false) {
            self.disabled_services.push(index);
            self.service_notes.push((
                index,
                format!("{key}.enabled"),
                "service disabled: as in Kong, its routes do not exist (requests get 404)".into(),
            ));
        }
        for (field, value) in [
            ("tls_verify", &raw.tls_verify),
            ("tls_verify_depth", &raw.tls_verify_depth),
            ("tls_sans", &raw.tls_sans),
            ("client_certificate", &raw.client_certificate),
            ("ca_certificates", &raw.ca_certificates),
        ] {
            if value.as_ref().is_some_and(is_set) {
                self.service_notes.push((
                    index,
                    format!("{key}.{field}"),
                    format!("`{field}` (upstream TLS) is not emulated: the mesh's mTLS carries the traffic"),
                ));
            }
        }
        self.cfg.services.push(Service {
            id,
            name: raw.name.clone().unwrap_or_else(|| id.to_string()),
            host,
            port,
            path,
            protocol,
            retries: retries.unsigned_abs() as u32,
            connect_timeout,
            write_timeout,
            read_timeout,
        });
        self.service_keys.push(key.clone());
        for (j, r) in raw.routes.into_iter().flatten().enumerate() {
            self.route(format!("{key}.routes[{j}]"), r, Some(index))?;
        }
        for (j, p) in raw.plugins.into_iter().flatten().enumerate() {
            self.pending
                .push(Pending::service(format!("{key}.plugins[{j}]"), p, index));
        }
        Ok(())
    }

    /// (protocol, host, port, path) from `url` or from the separate fields.
    ///
    /// `url` is a shorthand field in Kong's services schema
    /// (`kong/db/schema/entities/services.lua` `shorthand_fields`): it expands into all four
    /// fields, overwriting any given beside it (a url without a path sets `path` to null). Kong
    /// accepts both; a field the url overrides with another value is a warning, since the file
    /// then says something Kong does not do.
    fn service_target(
        &mut self,
        key: &str,
        raw: &RawService,
        index: usize,
    ) -> Result<(String, String, u16, Option<String>), ConfigError> {
        if let Some(url) = raw.url.as_deref() {
            let target = parse_service_url(url).map_err(|m| self.err(format!("{key}.url"), m))?;
            let (protocol, host, port, path) = &target;
            let overridden = [
                ("protocol", raw.protocol.clone(), Some(protocol.clone())),
                ("host", raw.host.clone(), Some(host.clone())),
                (
                    "port",
                    raw.port.map(|p| p.to_string()),
                    Some(port.to_string()),
                ),
                ("path", raw.path.clone(), path.clone()),
            ];
            for (field, given, from_url) in overridden {
                if given.is_some() && given != from_url {
                    let shown = from_url.unwrap_or_else(|| "null".into());
                    self.service_notes.push((
                        index,
                        format!("{key}.{field}"),
                        format!(
                            "`{field}` is overridden by `url` (Kong's shorthand sets protocol, host, \
                             port and path from it): the service's {field} is {shown}"
                        ),
                    ));
                }
            }
            return Ok(target);
        }
        let protocol = raw.protocol.clone().unwrap_or_else(|| "http".into());
        if !KONG_PROTOCOLS.contains(&protocol.as_str()) {
            return Err(self.err(
                format!("{key}.protocol"),
                format!("expected one of: {}", KONG_PROTOCOLS.join(", ")),
            ));
        }
        let host = raw.host.clone().filter(|h| !h.is_empty()).ok_or_else(|| {
            self.err(
                format!("{key}.host"),
                "required field missing (or set `url`)",
            )
        })?;
        let port = int_in(self, &format!("{key}.port"), raw.port, 80, 0, 65_535)?;
        if let Some(p) = raw.path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(self.err(
                format!("{key}.path"),
                format!("should start with: / (got `{p}`)"),
            ));
        }
        Ok((protocol, host, port.unsigned_abs() as u16, raw.path.clone()))
    }

    /// Resolves a reference to a service by id or name.
    pub fn find_service(&self, r: &RawRef) -> Option<usize> {
        self.cfg
            .services
            .iter()
            .position(|s| ref_matches(r, s.id, Some(&s.name)))
    }

    /// Resolves a reference to a route by id or name.
    pub fn find_route(&self, r: &RawRef) -> Option<usize> {
        self.cfg
            .routes
            .iter()
            .position(|x| ref_matches(r, x.id, Some(&x.name)))
    }
}

/// Whether reference `r` names an entity with this id and name.
pub(super) fn ref_matches(r: &RawRef, id: Uuid, name: Option<&str>) -> bool {
    let by_id = Uuid::parse_str(&r.value).is_ok_and(|u| u == id);
    let by_name = name == Some(r.value.as_str());
    match r.by {
        RefBy::Id => by_id,
        RefBy::Name => by_name,
        RefBy::Any => by_id || by_name,
    }
}

/// An optional integer with a default, checked against Kong's range.
pub(super) fn int_in(
    b: &Builder<'_>,
    key: &str,
    v: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let v = v.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(b.err(key, format!("value should be between {min} and {max}")))
    }
}

/// Kong's `url` shorthand: `http://host:port/path` → (protocol, host, port, path).
fn parse_service_url(url: &str) -> Result<(String, String, u16, Option<String>), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("not a valid URL `{url}`: {e}"))?;
    let protocol = uri
        .scheme_str()
        .ok_or_else(|| format!("not a valid URL `{url}`: missing scheme (http://)"))?
        .to_string();
    if !KONG_PROTOCOLS.contains(&protocol.as_str()) {
        return Err(format!(
            "unsupported scheme `{protocol}`: expected one of: {}",
            KONG_PROTOCOLS.join(", ")
        ));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("not a valid URL `{url}`: missing host"))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    if uri.query().is_some() {
        return Err("a service url cannot carry a query string".into());
    }
    let default_port = match protocol.as_str() {
        "https" | "grpcs" | "wss" | "tls" => 443,
        _ => 80,
    };
    let port = uri.port_u16().unwrap_or(default_port);
    let has_path = url
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'));
    let path = has_path.then(|| uri.path().to_string());
    Ok((protocol, host, port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_shorthand_splits_into_protocol_host_port_and_path() {
        assert_eq!(
            parse_service_url("http://value-architect:8080"),
            Ok(("http".into(), "value-architect".into(), 8080, None))
        );
        assert_eq!(
            parse_service_url("https://api.example/v1/x"),
            Ok((
                "https".into(),
                "api.example".into(),
                443,
                Some("/v1/x".into())
            ))
        );
        assert!(parse_service_url("value-architect:8080").is_err());
        assert!(parse_service_url("ftp://x").is_err_and(|m| m.contains("unsupported scheme")));
    }

    #[test]
    fn references_match_by_id_or_name_as_asked() {
        let id = Uuid::new_v5(&NAMESPACE, b"x");
        let any = RawRef {
            by: RefBy::Any,
            value: id.to_string(),
        };
        assert!(ref_matches(&any, id, Some("svc")));
        let by_name = RawRef {
            by: RefBy::Name,
            value: id.to_string(),
        };
        assert!(!ref_matches(&by_name, id, Some("svc")));
    }
}
