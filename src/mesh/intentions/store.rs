//! The live intentions of a running stack, edited through Consul's `/v1/connect/intentions/exact`
//! semantics and read on every new connection and request (MESH-5).
//!
//! ```text
//!   catalog API ── put_exact / delete_exact ──► write lock: copy, edit, validate, swap Arc
//!   sidecars ───── current() / decide() ──────► read lock only to clone the Arc: a request
//!                                               evaluates one consistent snapshot, lock-free
//! ```
//!
//! JSON shapes follow Consul's API (mesh.md §2): the legacy intention object for list/get
//! (`SourceName`, `DestinationName`, `Action` or `Permissions`, `Precedence`, `CreateIndex`, ...)
//! and `{"Allowed": bool}` for check. Every write bumps a raft-like index; times are stack time,
//! passed in by the caller.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::decide::Decision;
use super::Intentions;
use crate::config::intentions::model::{
    precedence, HeaderMatchKind, HttpRequestView, IntentionEntry, PathMatch, Rule, ServiceMatch,
    SourceIntention,
};
use crate::config::intentions::{decode_exact_body, MeshServices};

/// A failed API call, with the HTTP status the catalog API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IntentionApiError {
    pub status: u16,
    pub message: String,
}

impl IntentionApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        IntentionApiError {
            status: 400,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    create_index: u64,
    modify_index: u64,
    created_at: SystemTime,
    updated_at: SystemTime,
}

/// One consistent state of the store.
#[derive(Debug, Clone)]
pub struct Snapshot {
    intentions: Intentions,
    stamps: BTreeMap<(ServiceMatch, ServiceMatch), Stamp>,
    index: u64,
}

impl Snapshot {
    pub fn intentions(&self) -> &Intentions {
        &self.intentions
    }

    /// The raft-like index of the last write.
    pub fn index(&self) -> u64 {
        self.index
    }
}

/// The mutable intentions of one running stack.
#[derive(Debug)]
pub struct IntentionStore {
    current: RwLock<Arc<Snapshot>>,
    services: MeshServices,
}

/// `GET /v1/connect/intentions/check` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckResponse {
    #[serde(rename = "Allowed")]
    pub allowed: bool,
}

/// Consul's intention object, as list and exact-get return it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntentionView {
    pub description: String,
    #[serde(rename = "SourceNS")]
    pub source_ns: String,
    pub source_name: String,
    #[serde(rename = "DestinationNS")]
    pub destination_ns: String,
    pub destination_name: String,
    pub source_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<serde_json::Value>,
    pub meta: BTreeMap<String, String>,
    pub precedence: u8,
    pub created_at: String,
    pub updated_at: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl IntentionStore {
    /// A store holding `intentions` (loaded at `now`, stack time).
    pub fn new(intentions: Intentions, services: MeshServices, now: SystemTime) -> Self {
        let mut stamps = BTreeMap::new();
        for e in intentions.entries() {
            for s in &e.sources {
                let stamp = Stamp {
                    create_index: 1,
                    modify_index: 1,
                    created_at: now,
                    updated_at: now,
                };
                stamps.insert((s.source.clone(), e.destination.clone()), stamp);
            }
        }
        IntentionStore {
            current: RwLock::new(Arc::new(Snapshot {
                intentions,
                stamps,
                index: 1,
            })),
            services,
        }
    }

    /// The current snapshot: evaluate a whole connection or request against one.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Decides on the current snapshot.
    pub fn decide(
        &self,
        source: &str,
        destination: &str,
        request: Option<&HttpRequestView<'_>>,
    ) -> Decision {
        self.current()
            .intentions
            .decide(source, destination, request)
    }

    /// `GET /v1/connect/intentions/check?source=&destination=`.
    ///
    /// # Errors
    /// A missing name: 500, as Consul's agent answers (`agent/intentions_endpoint.go`
    /// `IntentionCheck` returns `fmt.Errorf("required query parameter 'source' not set")`, a
    /// plain error its HTTP layer sends as 500). An invalid name: 400.
    pub fn check(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<CheckResponse, IntentionApiError> {
        for (param, value) in [("source", source), ("destination", destination)] {
            if value.is_empty() {
                return Err(IntentionApiError {
                    status: 500,
                    message: format!("required query parameter '{param}' not set"),
                });
            }
        }
        name("source", source)?;
        name("destination", destination)?;
        Ok(CheckResponse {
            allowed: self.current().intentions.check(source, destination),
        })
    }

    /// `GET /v1/connect/intentions`: every intention, highest precedence first, then by names.
    pub fn list(&self) -> Vec<IntentionView> {
        let snap = self.current();
        let mut out: Vec<IntentionView> = snap
            .intentions
            .entries()
            .iter()
            .flat_map(|e| e.sources.iter().map(move |s| (e, s)))
            .map(|(e, s)| view(&snap, e, s))
            .collect();
        out.sort_by(|a, b| {
            b.precedence
                .cmp(&a.precedence)
                .then_with(|| a.source_name.cmp(&b.source_name))
                .then_with(|| a.destination_name.cmp(&b.destination_name))
        });
        out
    }

    /// `GET /v1/connect/intentions/match?by=source|destination&name=X[&name=Y…]`: for each name,
    /// the intentions whose source (or destination) is that name or `*` (only `*` for the
    /// name `*`), in precedence order (Consul's `IntentionMatch` handler in
    /// `agent/intentions_endpoint.go`, `intentionMatchGetParams` in `agent/consul/state`, sorted
    /// by `IntentionPrecedenceSorter`).
    ///
    /// # Errors
    /// Consul's plain errors, which its HTTP layer sends as 500: `by` missing or repeated
    /// (`required query parameter 'by' not set`) or not `source`/`destination`, no `name`.
    pub fn matches(
        &self,
        by: &[&str],
        names: &[&str],
    ) -> Result<Vec<(String, Vec<IntentionView>)>, IntentionApiError> {
        let plain = |message: &str| IntentionApiError {
            status: 500,
            message: message.to_string(),
        };
        let by_source = match by {
            [one] if *one == "source" => true,
            [one] if *one == "destination" => false,
            [_] => {
                return Err(plain(
                    "'by' parameter must be one of 'source' or 'destination'",
                ))
            }
            _ => return Err(plain("required query parameter 'by' not set")),
        };
        if names.is_empty() {
            return Err(plain("required query parameter 'name' not set"));
        }
        let all = self.list();
        let mut out = Vec::new();
        for name in names {
            if name.split('/').count() > 3 {
                return Err(plain(&format!(
                    "name \"{name}\" is invalid: input can contain at most two '/'"
                )));
            }
            // `default/x` names service x of the only (CE) namespace.
            let service = name.rsplit('/').next().unwrap_or(name);
            let matching: Vec<IntentionView> = all
                .iter()
                .filter(|v| {
                    let side = if by_source {
                        &v.source_name
                    } else {
                        &v.destination_name
                    };
                    side == "*" || (service != "*" && side == service)
                })
                .cloned()
                .collect();
            out.push((name.to_string(), matching));
        }
        Ok(out)
    }

    /// `GET /v1/connect/intentions/exact?source=&destination=`; `None` → 404.
    ///
    /// # Errors
    /// A missing or invalid name (400).
    pub fn get_exact(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<Option<IntentionView>, IntentionApiError> {
        let (src, dst) = (name("source", source)?, name("destination", destination)?);
        let snap = self.current();
        Ok(snap
            .intentions
            .entries()
            .iter()
            .filter(|e| e.destination == dst)
            .flat_map(|e| e.sources.iter().map(move |s| (e, s)))
            .find(|(_, s)| s.source == src)
            .map(|(e, s)| view(&snap, e, s)))
    }

    /// `PUT /v1/connect/intentions/exact?source=&destination=` with a JSON body
    /// `{"Action": "allow"}` or `{"Permissions": [...]}`: creates or replaces that one source
    /// in the destination's entry. New connections and requests see it at once.
    ///
    /// # Errors
    /// An invalid name or body (400), with the key and line of the problem.
    pub fn put_exact(
        &self,
        source: &str,
        destination: &str,
        body: &str,
        now: SystemTime,
    ) -> Result<(), IntentionApiError> {
        let (src, dst) = (name("source", source)?, name("destination", destination)?);
        let intention = decode_exact_body(body, &self.services, &src, &dst)
            .map_err(IntentionApiError::bad_request)?;

        let mut guard = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = (**guard).clone();
        next.index += 1;
        let mut entries = next.intentions.entries().to_vec();
        match entries.iter_mut().find(|e| e.destination == dst) {
            Some(entry) => match entry.sources.iter_mut().find(|s| s.source == src) {
                Some(existing) => *existing = intention,
                None => entry.sources.push(intention),
            },
            None => entries.push(IntentionEntry {
                destination: dst.clone(),
                meta: BTreeMap::new(),
                sources: vec![intention],
            }),
        }
        let key = (src, dst);
        let stamp = match next.stamps.get(&key) {
            Some(old) => Stamp {
                modify_index: next.index,
                updated_at: now,
                ..*old
            },
            None => Stamp {
                create_index: next.index,
                modify_index: next.index,
                created_at: now,
                updated_at: now,
            },
        };
        next.stamps.insert(key, stamp);
        next.intentions = Intentions::new(entries, next.intentions.default_action());
        *guard = Arc::new(next);
        Ok(())
    }

    /// `DELETE /v1/connect/intentions/exact?source=&destination=`: removes that source from the
    /// destination's entry (and the entry once empty). Returns whether it existed; Consul
    /// answers `true` either way. An established L4 connection is not cut: only new traffic
    /// reads the store.
    ///
    /// # Errors
    /// A missing or invalid name (400).
    pub fn delete_exact(&self, source: &str, destination: &str) -> Result<bool, IntentionApiError> {
        let (src, dst) = (name("source", source)?, name("destination", destination)?);
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut entries = guard.intentions.entries().to_vec();
        let mut existed = false;
        for entry in entries.iter_mut().filter(|e| e.destination == dst) {
            let before = entry.sources.len();
            entry.sources.retain(|s| s.source != src);
            existed |= entry.sources.len() != before;
        }
        if !existed {
            return Ok(false);
        }
        entries.retain(|e| !e.sources.is_empty());
        let mut next = (**guard).clone();
        next.index += 1;
        next.stamps.remove(&(src, dst));
        next.intentions = Intentions::new(entries, next.intentions.default_action());
        *guard = Arc::new(next);
        Ok(true)
    }
}

/// A query-parameter name: a service or `*`.
fn name(param: &str, value: &str) -> Result<ServiceMatch, IntentionApiError> {
    if value.is_empty() {
        return Err(IntentionApiError::bad_request(format!(
            "required query parameter '{param}' not set"
        )));
    }
    let valid = value == "*"
        || value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid {
        return Err(IntentionApiError::bad_request(format!(
            "invalid {param} \"{value}\": a service name or `*`"
        )));
    }
    Ok(ServiceMatch::parse(value))
}

fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t).format(&Rfc3339).unwrap_or_default()
}

fn view(snap: &Snapshot, entry: &IntentionEntry, s: &SourceIntention) -> IntentionView {
    let stamp = snap
        .stamps
        .get(&(s.source.clone(), entry.destination.clone()))
        .copied();
    let (action, permissions) = match &s.rule {
        Rule::L4(a) => (Some(a.as_str().to_string()), Vec::new()),
        Rule::L7(perms) => (None, perms.iter().map(permission_json).collect()),
    };
    IntentionView {
        description: s.description.clone().unwrap_or_default(),
        source_ns: "default".into(),
        source_name: s.source.to_string(),
        destination_ns: "default".into(),
        destination_name: entry.destination.to_string(),
        source_type: "consul".into(),
        action,
        permissions,
        meta: entry.meta.clone(),
        precedence: precedence(&s.source, &entry.destination),
        created_at: stamp.map(|s| rfc3339(s.created_at)).unwrap_or_default(),
        updated_at: stamp.map(|s| rfc3339(s.updated_at)).unwrap_or_default(),
        create_index: stamp.map_or(0, |s| s.create_index),
        modify_index: stamp.map_or(0, |s| s.modify_index),
    }
}

/// A permission in Consul's JSON shape (`{"Action": .., "HTTP": {..}}`, empty parts omitted).
fn permission_json(p: &crate::config::intentions::model::Permission) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut http = Map::new();
    match &p.http.path {
        Some(PathMatch::Exact(v)) => {
            http.insert("PathExact".into(), json!(v));
        }
        Some(PathMatch::Prefix(v)) => {
            http.insert("PathPrefix".into(), json!(v));
        }
        Some(PathMatch::Regex(r)) => {
            http.insert("PathRegex".into(), json!(r.as_str()));
        }
        None => {}
    }
    if !p.http.methods.is_empty() {
        http.insert("Methods".into(), json!(p.http.methods));
    }
    if !p.http.headers.is_empty() {
        let headers: Vec<Value> = p
            .http
            .headers
            .iter()
            .map(|h| {
                let mut m = Map::new();
                m.insert("Name".into(), json!(h.name));
                let (k, v) = match &h.kind {
                    HeaderMatchKind::Present => ("Present", json!(true)),
                    HeaderMatchKind::Exact(v) => ("Exact", json!(v)),
                    HeaderMatchKind::Prefix(v) => ("Prefix", json!(v)),
                    HeaderMatchKind::Suffix(v) => ("Suffix", json!(v)),
                    HeaderMatchKind::Regex(r) => ("Regex", json!(r.as_str())),
                };
                m.insert(k.into(), v);
                if h.invert {
                    m.insert("Invert".into(), json!(true));
                }
                Value::Object(m)
            })
            .collect();
        http.insert("Header".into(), Value::Array(headers));
    }
    json!({ "Action": p.action.as_str(), "HTTP": Value::Object(http) })
}
