//! Raw `kong.yml` DTOs: a faithful, strict mirror of Kong's declarative format (3.0 schemas of
//! `kong/db/schema/entities/*.lua`), before any validation.
//!
//! Every struct denies unknown fields, so a key Kong does not know is an error with its path and
//! line. Keys Kong knows but Gauntlet does not emulate are still declared here (mostly as
//! [`Value`]) so that validation can name them in a warning instead of failing. Plugin `config`
//! stays a [`Value`] until the plugin name is known (`plugins.rs`).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKongFile {
    #[serde(rename = "_format_version")]
    pub format_version: Option<Value>,
    #[serde(rename = "_transform")]
    pub _transform: Option<bool>,
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    #[serde(rename = "_workspace")]
    pub _workspace: Option<String>,
    /// decK metadata (`deck dump --select-tag`, Konnect): ignored with a warning.
    #[serde(rename = "_info")]
    pub info: Option<Value>,
    #[serde(rename = "_konnect")]
    pub konnect: Option<Value>,
    pub services: Option<Vec<RawService>>,
    pub routes: Option<Vec<RawRoute>>,
    pub consumers: Option<Vec<RawConsumer>>,
    pub plugins: Option<Vec<RawPlugin>>,
    pub jwt_secrets: Option<Vec<RawJwtSecret>>,
    pub acls: Option<Vec<RawAcl>>,
    // Real Kong entities Gauntlet does not emulate: reported as warnings.
    pub upstreams: Option<Value>,
    pub targets: Option<Value>,
    pub certificates: Option<Value>,
    pub ca_certificates: Option<Value>,
    pub snis: Option<Value>,
    pub vaults: Option<Value>,
    pub keys: Option<Value>,
    pub key_sets: Option<Value>,
    pub filter_chains: Option<Value>,
    pub consumer_groups: Option<Value>,
    pub keyauth_credentials: Option<Value>,
    pub basicauth_credentials: Option<Value>,
    pub hmacauth_credentials: Option<Value>,
    pub oauth2_credentials: Option<Value>,
}

impl RawKongFile {
    /// Top-level sections Gauntlet does not emulate, with what they are.
    pub fn unemulated_sections(&self) -> Vec<(&'static str, &Value)> {
        [
            ("upstreams", &self.upstreams),
            ("targets", &self.targets),
            ("certificates", &self.certificates),
            ("ca_certificates", &self.ca_certificates),
            ("snis", &self.snis),
            ("vaults", &self.vaults),
            ("keys", &self.keys),
            ("key_sets", &self.key_sets),
            ("filter_chains", &self.filter_chains),
            ("consumer_groups", &self.consumer_groups),
            ("_info", &self.info),
            ("_konnect", &self.konnect),
            ("keyauth_credentials", &self.keyauth_credentials),
            ("basicauth_credentials", &self.basicauth_credentials),
            ("hmacauth_credentials", &self.hmacauth_credentials),
            ("oauth2_credentials", &self.oauth2_credentials),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().filter(|v| is_set(v)).map(|v| (k, v)))
        .collect()
    }
}

/// `services[]` (`kong/db/schema/entities/services.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub id: Option<String>,
    /// Kong's annotation keys, allowed on every entity (`add_extra_attributes`).
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    pub name: Option<String>,
    pub url: Option<String>,
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub path: Option<String>,
    pub retries: Option<i64>,
    pub connect_timeout: Option<i64>,
    pub write_timeout: Option<i64>,
    pub read_timeout: Option<i64>,
    pub enabled: Option<bool>,
    #[serde(rename = "tags")]
    pub _tags: Option<Vec<String>>,
    #[serde(rename = "created_at")]
    pub _created_at: Option<Value>,
    #[serde(rename = "updated_at")]
    pub _updated_at: Option<Value>,
    #[serde(rename = "ws_id")]
    pub _ws_id: Option<Value>,
    // Upstream TLS: not emulated (the mesh carries the traffic).
    pub tls_verify: Option<Value>,
    pub tls_verify_depth: Option<Value>,
    pub tls_sans: Option<Value>,
    pub client_certificate: Option<Value>,
    pub ca_certificates: Option<Value>,
    pub routes: Option<Vec<RawRoute>>,
    pub plugins: Option<Vec<RawPlugin>>,
}

/// `routes[]` (`kong/db/schema/entities/routes.lua`), nested or top-level.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub id: Option<String>,
    /// Kong's annotation keys, allowed on every entity (`add_extra_attributes`).
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    pub name: Option<String>,
    /// Only at top level; implied when nested under a service.
    pub service: Option<RawRef>,
    pub protocols: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub strip_path: Option<bool>,
    pub preserve_host: Option<bool>,
    #[serde(rename = "tags")]
    pub _tags: Option<Vec<String>>,
    #[serde(rename = "created_at")]
    pub _created_at: Option<Value>,
    #[serde(rename = "updated_at")]
    pub _updated_at: Option<Value>,
    #[serde(rename = "ws_id")]
    pub _ws_id: Option<Value>,
    // Matching and proxying features Gauntlet does not emulate.
    pub hosts: Option<Value>,
    pub headers: Option<Value>,
    pub snis: Option<Value>,
    pub sources: Option<Value>,
    pub destinations: Option<Value>,
    pub https_redirect_status_code: Option<i64>,
    pub regex_priority: Option<i64>,
    pub path_handling: Option<String>,
    pub request_buffering: Option<bool>,
    pub response_buffering: Option<bool>,
    pub expression: Option<Value>,
    pub priority: Option<Value>,
    pub plugins: Option<Vec<RawPlugin>>,
}

/// `consumers[]` (`kong/db/schema/entities/consumers.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsumer {
    pub id: Option<String>,
    /// Kong's annotation keys, allowed on every entity (`add_extra_attributes`).
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    /// decK's consumer-group membership: not emulated, warned about.
    pub groups: Option<Value>,
    #[serde(rename = "tags")]
    pub _tags: Option<Vec<String>>,
    #[serde(rename = "created_at")]
    pub _created_at: Option<Value>,
    #[serde(rename = "updated_at")]
    pub _updated_at: Option<Value>,
    #[serde(rename = "ws_id")]
    pub _ws_id: Option<Value>,
    pub jwt_secrets: Option<Vec<RawJwtSecret>>,
    pub acls: Option<Vec<RawAcl>>,
    pub plugins: Option<Vec<RawPlugin>>,
    pub keyauth_credentials: Option<Vec<RawKeyAuthCredential>>,
    // Credentials of auth plugins Gauntlet does not emulate.
    pub basicauth_credentials: Option<Value>,
    pub hmacauth_credentials: Option<Value>,
    pub oauth2_credentials: Option<Value>,
}

/// `jwt_secrets[]` (`kong/plugins/jwt/daos.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJwtSecret {
    pub id: Option<String>,
    /// Kong's annotation keys, allowed on every entity (`add_extra_attributes`).
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    /// Only at top level; implied when nested under a consumer.
    pub consumer: Option<RawRef>,
    pub key: Option<String>,
    pub secret: Option<Secret>,
    pub algorithm: Option<String>,
    pub rsa_public_key: Option<String>,
    #[serde(rename = "tags")]
    pub _tags: Option<Vec<String>>,
    #[serde(rename = "created_at")]
    pub _created_at: Option<Value>,
    #[serde(rename = "ws_id")]
    pub _ws_id: Option<Value>,
}

/// `keyauth_credentials[]` (`kong/plugins/key-auth/daos.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeyAuthCredential {
    pub id: Option<String>,
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    /// Only at top level; implied when nested under a consumer.
    pub consumer: Option<RawRef>,
    pub key: Option<Secret>,
    pub ttl: Option<i64>,
    #[serde(rename = "tags")]
    pub _tags: Option<Vec<String>>,
    #[serde(rename = "created_at")]
    pub _created_at: Option<Value>,
    #[serde(rename = "ws_id")]
    pub _ws_id: Option<Value>,
}

/// `acls[]` (`kong/plugins/acl/daos.lua`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcl {
    pub id: Option<String>,
    /// Kong's annotation keys, allowed on every entity (`add_extra_attributes`).
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    /// Only at top level; implied when nested under a consumer.
    pub consumer: Option<RawRef>,
    pub group: String,
    #[serde(rename = "tags")]
    pub _tags: Option<Vec<String>>,
    #[serde(rename = "created_at")]
    pub _created_at: Option<Value>,
    #[serde(rename = "ws_id")]
    pub _ws_id: Option<Value>,
}

/// `plugins[]` (`kong/db/schema/entities/plugins.lua`) at any nesting level.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugin {
    pub id: Option<String>,
    /// Kong's annotation keys, allowed on every entity (`add_extra_attributes`).
    #[serde(rename = "_comment")]
    pub _comment: Option<Value>,
    #[serde(rename = "_ignore")]
    pub _ignore: Option<Value>,
    pub name: String,
    #[serde(rename = "instance_name")]
    pub _instance_name: Option<String>,
    pub config: Option<Value>,
    pub enabled: Option<bool>,
    pub protocols: Option<Vec<String>>,
    pub service: Option<RawRef>,
    pub route: Option<RawRef>,
    pub consumer: Option<RawRef>,
    #[serde(rename = "tags")]
    pub _tags: Option<Vec<String>>,
    #[serde(rename = "created_at")]
    pub _created_at: Option<Value>,
    #[serde(rename = "updated_at")]
    pub _updated_at: Option<Value>,
    #[serde(rename = "ws_id")]
    pub _ws_id: Option<Value>,
    // Kong Enterprise scoping and ordering: not emulated.
    pub consumer_group: Option<Value>,
    pub ordering: Option<Value>,
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How a foreign reference names its entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefBy {
    /// A bare string: an id or the endpoint key (name / username).
    Any,
    Id,
    Name,
}

/// A foreign reference: `service: my-service`, `service: {name: my-service}` or `{id: <uuid>}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRef {
    pub by: RefBy,
    pub value: String,
}

impl fmt::Display for RawRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for RawRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RefVisitor)
    }
}

struct RefVisitor;

impl<'de> Visitor<'de> for RefVisitor {
    type Value = RawRef;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name, an id, or a mapping with `name` or `id`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawRef, E> {
        Ok(RawRef {
            by: RefBy::Any,
            value: v.to_string(),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRef, A::Error> {
        let mut found: Option<RawRef> = None;
        while let Some(key) = map.next_key::<String>()? {
            let by = match key.as_str() {
                "id" => RefBy::Id,
                "name" | "username" => RefBy::Name,
                other => return Err(de::Error::unknown_field(other, &["id", "name", "username"])),
            };
            let value: String = map.next_value()?;
            if found.is_some() {
                return Err(de::Error::custom(
                    "a reference names its entity once: use either `id` or `name`",
                ));
            }
            found = Some(RawRef { by, value });
        }
        found.ok_or_else(|| de::Error::custom("a reference needs `name` or `id`"))
    }
}

/// Whether a raw value says something (not null, not an empty list or mapping, not "").
pub(crate) fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(s) => !s.is_empty(),
        Value::Object(m) => !m.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}
