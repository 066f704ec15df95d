//! Toxics (SPEC §7.1): what a link does to the bytes it carries, in Toxiproxy 2.x's JSON shape.
//!
//! ```text
//!   {"name": "slow-db", "type": "latency", "stream": "downstream", "toxicity": 1.0,
//!    "attributes": {"latency": 200, "jitter": 20}}
//! ```
//! Decoding follows Toxiproxy's `AddToxicJson`: stream defaults to `downstream` (read
//! case-insensitively, echoed as sent), toxicity to 1.0, name to `<type>_<stream>`; unknown
//! attribute keys are ignored and missing ones are 0. Gauntlet also refuses what Toxiproxy
//! would accept and then misbehave on: negative or absurd values, a toxicity outside 0..1, a
//! slicer with `average_size` 0 (Toxiproxy loops forever on it). Every refusal is a
//! [`LinkError`] carrying Toxiproxy's status.

use serde_json::{json, Map, Value};

use super::LinkError;

/// Which bytes a toxic acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Towards the destination (client → server).
    Upstream,
    /// Back from the destination (server → client).
    Downstream,
}

impl Stream {
    pub fn parse(text: &str) -> Option<Stream> {
        match text.to_ascii_lowercase().as_str() {
            "upstream" => Some(Stream::Upstream),
            "downstream" => Some(Stream::Downstream),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// Longest time attribute Gauntlet accepts, in milliseconds (one day): longer is a typo, and
/// 10^12 ms would overflow the timers.
pub const MAX_MILLIS: u64 = 86_400_000;
/// Largest bandwidth rate, KB/s (1 TB/s): anything above is no limit at all.
pub const MAX_RATE: u64 = 1_000_000_000;
/// Largest slicer size or variation, bytes.
pub const MAX_SLICE: u64 = 1 << 30;

/// A toxic type with its typed attributes (all Toxiproxy attributes default to 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToxicKind {
    /// Passes everything (Toxiproxy's `noop`).
    Noop,
    /// Each chunk waits `latency` ± `jitter` ms from its arrival.
    Latency { latency: u64, jitter: u64 },
    /// At most `rate` KB/s (1 KB = 1000 B); 0 forwards nothing.
    Bandwidth { rate: u64 },
    /// Data passes; the close waits `delay` ms.
    SlowClose { delay: u64 },
    /// Drops all data; closes after `timeout` ms without data (0 = never).
    Timeout { timeout: u64 },
    /// On the first data or the close: drops it, waits `timeout` ms, resets the connection.
    ResetPeer { timeout: u64 },
    /// Splits chunks into pieces of about `average_size` ± `size_variation` bytes, `delay` µs
    /// apart.
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    /// Forwards at most `bytes` in total, then closes.
    LimitData { bytes: u64 },
}

/// The toxic types, as the API spells them.
pub const TYPES: [&str; 8] = [
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
];

impl ToxicKind {
    /// The type name (`latency`, `limit_data`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Noop => "noop",
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
        }
    }

    /// The attribute names of a type, in Toxiproxy's order; `None` for an unknown type.
    pub fn attribute_names(type_name: &str) -> Option<&'static [&'static str]> {
        Some(match type_name {
            "noop" => &[],
            "latency" => &["latency", "jitter"],
            "bandwidth" => &["rate"],
            "slow_close" => &["delay"],
            "timeout" | "reset_peer" => &["timeout"],
            "slicer" => &["average_size", "size_variation", "delay"],
            "limit_data" => &["bytes"],
            _ => return None,
        })
    }

    /// Builds a type from its attributes (missing = 0, unknown keys ignored).
    ///
    /// # Errors
    /// An unknown type, a non-integer, negative or absurd attribute.
    pub fn from_attributes(
        type_name: &str,
        attributes: &Map<String, Value>,
    ) -> Result<Self, LinkError> {
        let Some(names) = Self::attribute_names(type_name) else {
            return Err(LinkError::InvalidType(type_name.to_string()));
        };
        let mut values = [0u64; 3];
        for (slot, name) in values.iter_mut().zip(names.iter()) {
            *slot = match attributes.get(*name) {
                None | Some(Value::Null) => 0,
                Some(value) => attribute(name, value)?,
            };
        }
        let [a, b, c] = values;
        let millis = |name: &str, v: u64| {
            if v > MAX_MILLIS {
                Err(LinkError::BadBody(format!(
                    "attribute {name} of a {type_name} toxic must be at most {MAX_MILLIS} ms (one day), got {v}"
                )))
            } else {
                Ok(v)
            }
        };
        Ok(match type_name {
            "noop" => ToxicKind::Noop,
            "latency" => ToxicKind::Latency {
                latency: millis("latency", a)?,
                jitter: millis("jitter", b)?,
            },
            "bandwidth" => {
                if a > MAX_RATE {
                    return Err(LinkError::BadBody(format!(
                        "attribute rate of a bandwidth toxic must be at most {MAX_RATE} KB/s, got {a}"
                    )));
                }
                ToxicKind::Bandwidth { rate: a }
            }
            "slow_close" => ToxicKind::SlowClose {
                delay: millis("delay", a)?,
            },
            "timeout" => ToxicKind::Timeout {
                timeout: millis("timeout", a)?,
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout: millis("timeout", a)?,
            },
            "slicer" => {
                if a == 0 {
                    return Err(LinkError::BadBody(
                        "attribute average_size of a slicer toxic must be at least 1 byte".into(),
                    ));
                }
                for (name, v) in [("average_size", a), ("size_variation", b)] {
                    if v > MAX_SLICE {
                        return Err(LinkError::BadBody(format!(
                            "attribute {name} of a slicer toxic must be at most {MAX_SLICE} bytes, got {v}"
                        )));
                    }
                }
                ToxicKind::Slicer {
                    average_size: a,
                    size_variation: b,
                    delay: millis("delay", c / 1000).map(|_| c)?,
                }
            }
            "limit_data" => ToxicKind::LimitData { bytes: a },
            _ => return Err(LinkError::InvalidType(type_name.to_string())),
        })
    }

    /// The attributes as Toxiproxy shows them (every attribute of the type).
    pub fn attributes(&self) -> Map<String, Value> {
        let values: Vec<u64> = match *self {
            ToxicKind::Noop => vec![],
            ToxicKind::Latency { latency, jitter } => vec![latency, jitter],
            ToxicKind::Bandwidth { rate } => vec![rate],
            ToxicKind::SlowClose { delay } => vec![delay],
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => vec![timeout],
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => vec![average_size, size_variation, delay],
            ToxicKind::LimitData { bytes } => vec![bytes],
        };
        let names = Self::attribute_names(self.type_name()).unwrap_or(&[]);
        names
            .iter()
            .zip(values)
            .map(|(name, v)| ((*name).to_string(), json!(v)))
            .collect()
    }
}

/// One attribute: a non-negative integer (Toxiproxy's `int64` fields; floats are refused as Go's
/// decoder refuses them).
fn attribute(name: &str, value: &Value) -> Result<u64, LinkError> {
    match value {
        Value::Number(n) => {
            if let Some(v) = n.as_u64() {
                Ok(v)
            } else if n.as_i64().is_some() {
                Err(LinkError::BadBody(format!(
                    "attribute {name} must not be negative, got {n}"
                )))
            } else {
                Err(LinkError::BadBody(format!(
                    "attribute {name} must be an integer, got {n}"
                )))
            }
        }
        other => Err(LinkError::BadBody(format!(
            "attribute {name} must be an integer, got {other}"
        ))),
    }
}

/// A toxic on a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    pub name: String,
    pub kind: ToxicKind,
    pub stream: Stream,
    /// The stream as the client wrote it (Toxiproxy echoes it unchanged).
    pub stream_text: String,
    /// Probability in 0..=1 that a new connection gets this toxic.
    pub toxicity: f64,
}

impl Toxic {
    /// A toxic with Toxiproxy's defaults: the name `<type>_<stream>`, toxicity 1.
    pub fn new(kind: ToxicKind, stream: Stream) -> Toxic {
        Toxic {
            name: format!("{}_{}", kind.type_name(), stream.as_str()),
            kind,
            stream,
            stream_text: stream.as_str().to_string(),
            toxicity: 1.0,
        }
    }

    /// The same toxic under another name.
    #[must_use]
    pub fn named(mut self, name: &str) -> Toxic {
        self.name = name.to_string();
        self
    }

    /// The same toxic with another toxicity.
    #[must_use]
    pub fn with_toxicity(mut self, toxicity: f64) -> Toxic {
        self.toxicity = toxicity;
        self
    }

    /// Decodes a `POST /proxies/{p}/toxics` body, in Toxiproxy's order of checks: body, stream,
    /// type, attributes (the name's uniqueness is the link's to check).
    ///
    /// # Errors
    /// Malformed JSON, an invalid stream or type, a bad attribute or toxicity.
    pub fn from_json(body: &[u8]) -> Result<Toxic, LinkError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| LinkError::BadBody(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(LinkError::BadBody(
                "expected a JSON object with type, and optionally name, stream, toxicity, attributes".into(),
            ));
        };
        let text = |key: &str| -> Result<Option<String>, LinkError> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(LinkError::BadBody(format!(
                    "{key} must be a string, got {other}"
                ))),
            }
        };
        let stream_text = text("stream")?.filter(|s| !s.is_empty());
        let stream = match &stream_text {
            None => Stream::Downstream,
            Some(s) => Stream::parse(s).ok_or(LinkError::InvalidStream)?,
        };
        let type_name = text("type")?.unwrap_or_default();
        if ToxicKind::attribute_names(&type_name).is_none() {
            return Err(LinkError::InvalidType(type_name));
        }
        let toxicity = match object.get("toxicity") {
            None | Some(Value::Null) => 1.0,
            Some(value) => toxicity(value)?,
        };
        let attributes = attributes_object(object.get("attributes"))?;
        let kind = ToxicKind::from_attributes(&type_name, &attributes)?;
        let stream_text = stream_text.unwrap_or_else(|| stream.as_str().to_string());
        let name = text("name")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{type_name}_{stream_text}"));
        Ok(Toxic {
            name,
            kind,
            stream,
            stream_text,
            toxicity,
        })
    }

    /// Applies a `POST|PATCH /proxies/{p}/toxics/{t}` body: attributes merged over the current
    /// ones, toxicity replaced when given; name, type and stream never change (Toxiproxy's
    /// `UpdateToxicJson`).
    ///
    /// # Errors
    /// Malformed JSON, a bad attribute or toxicity.
    pub fn updated(&self, body: &[u8]) -> Result<Toxic, LinkError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| LinkError::BadBody(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(LinkError::BadBody(
                "expected a JSON object with attributes and/or toxicity".into(),
            ));
        };
        let mut attributes = self.kind.attributes();
        for (key, value) in attributes_object(object.get("attributes"))? {
            attributes.insert(key, value);
        }
        let mut next = self.clone();
        next.kind = ToxicKind::from_attributes(self.kind.type_name(), &attributes)?;
        if let Some(value) = object.get("toxicity").filter(|v| !v.is_null()) {
            next.toxicity = toxicity(value)?;
        }
        Ok(next)
    }

    /// Toxiproxy's JSON for this toxic.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind.type_name(),
            "stream": self.stream_text,
            "toxicity": self.toxicity,
            "attributes": self.kind.attributes(),
        })
    }

    /// One line for people: `slow-db: latency 200ms ±20ms downstream (toxicity 0.5)`.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            ToxicKind::Noop => "noop".to_string(),
            ToxicKind::Latency { latency, jitter } => format!("latency {latency}ms ±{jitter}ms"),
            ToxicKind::Bandwidth { rate } => format!("bandwidth {rate} KB/s"),
            ToxicKind::SlowClose { delay } => format!("slow_close {delay}ms"),
            ToxicKind::Timeout { timeout } => format!("timeout {timeout}ms"),
            ToxicKind::ResetPeer { timeout } => format!("reset_peer after {timeout}ms"),
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => format!("slicer {average_size}±{size_variation} B every {delay}µs"),
            ToxicKind::LimitData { bytes } => format!("limit_data {bytes} B"),
        };
        let mut line = format!("{}: {what} {}", self.name, self.stream.as_str());
        if self.toxicity < 1.0 {
            line.push_str(&format!(" (toxicity {})", self.toxicity));
        }
        line
    }
}

fn toxicity(value: &Value) -> Result<f64, LinkError> {
    match value.as_f64() {
        Some(t) if (0.0..=1.0).contains(&t) => Ok(t),
        _ => Err(LinkError::BadBody(format!(
            "toxicity must be a number from 0 to 1, got {value}"
        ))),
    }
}

fn attributes_object(value: Option<&Value>) -> Result<Map<String, Value>, LinkError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(other) => Err(LinkError::BadBody(format!(
            "attributes must be an object, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_toxiproxy() {
        let toxic =
            Toxic::from_json(br#"{"type":"latency","attributes":{"latency":100}}"#).expect("valid");
        assert_eq!(toxic.name, "latency_downstream");
        assert_eq!(toxic.stream, Stream::Downstream);
        assert_eq!(toxic.toxicity, 1.0);
        assert_eq!(
            toxic.to_json(),
            json!({"name":"latency_downstream","type":"latency","stream":"downstream",
                   "toxicity":1.0,"attributes":{"latency":100,"jitter":0}})
        );
    }

    #[test]
    fn the_stream_is_read_case_insensitively_and_echoed_as_sent() {
        let toxic = Toxic::from_json(br#"{"type":"timeout","stream":"UpStream"}"#).expect("valid");
        assert_eq!(toxic.stream, Stream::Upstream);
        assert_eq!(toxic.name, "timeout_UpStream");
        assert_eq!(toxic.to_json()["stream"], "UpStream");
    }

    #[test]
    fn bad_toxics_are_refused_with_toxiproxy_statuses() {
        for (body, status, needle) in [
            ("{", 400, "bad request body"),
            (
                r#"{"type":"latency","stream":"sideways"}"#,
                400,
                "stream was invalid",
            ),
            (r#"{"type":"latenccy"}"#, 400, "invalid toxic type"),
            (
                r#"{"type":"latency","attributes":{"latency":1.5}}"#,
                400,
                "integer",
            ),
            (
                r#"{"type":"latency","attributes":{"latency":-1}}"#,
                400,
                "negative",
            ),
            (
                r#"{"type":"latency","attributes":{"latency":1000000000000}}"#,
                400,
                "at most",
            ),
            (r#"{"type":"latency","toxicity":2}"#, 400, "toxicity"),
            (
                r#"{"type":"slicer","attributes":{"average_size":0}}"#,
                400,
                "at least 1",
            ),
            (r#"[1]"#, 400, "bad request body"),
        ] {
            let e = Toxic::from_json(body.as_bytes()).expect_err(body);
            assert_eq!(e.status(), status, "{body}");
            assert!(e.to_string().contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn unknown_attributes_are_ignored_and_missing_ones_are_zero() {
        let toxic = Toxic::from_json(
            br#"{"type":"slicer","attributes":{"average_size":10,"colour":"red"}}"#,
        )
        .expect("valid");
        assert_eq!(
            toxic.kind,
            ToxicKind::Slicer {
                average_size: 10,
                size_variation: 0,
                delay: 0
            }
        );
    }

    #[test]
    fn an_update_merges_attributes_and_keeps_name_type_and_stream() {
        let toxic = Toxic::from_json(
            br#"{"name":"slow","type":"latency","stream":"upstream","attributes":{"latency":100,"jitter":5}}"#,
        )
        .expect("valid");
        let next = toxic
            .updated(
                br#"{"name":"other","type":"timeout","toxicity":0.5,"attributes":{"latency":200}}"#,
            )
            .expect("valid update");
        assert_eq!(next.name, "slow");
        assert_eq!(next.stream, Stream::Upstream);
        assert_eq!(next.toxicity, 0.5);
        assert_eq!(
            next.kind,
            ToxicKind::Latency {
                latency: 200,
                jitter: 5
            }
        );
    }
}
