//! The links of a scenario's stack in its report (SPEC §7.1): each hop that carried a connection
//! or had a network fault, with the toxics that were on it during the scenario.
//!
//! ```text
//!   runner after-hook ──► Link::history() + connections_opened() ──► LinkRecord ──► Evidence.links
//!                                                                          └──► html: one line per link
//! ```

use serde::Serialize;
use serde_json::{Map, Value};

/// One link of a scenario's stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkRecord {
    /// `gateway->value-architect`.
    pub name: String,
    /// Connections it carried during the scenario.
    pub connections: u64,
    /// Whether it was ever down (`enabled: false`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// Every toxic put on it, in the order added, with its last values (Toxiproxy's JSON fields).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub toxics: Vec<ToxicRecord>,
}

/// One toxic as it was set (Toxiproxy's JSON shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToxicRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub stream: String,
    pub toxicity: f64,
    pub attributes: Map<String, Value>,
}

impl LinkRecord {
    /// Whether the scenario touched this link at all (worth a line in the report).
    pub fn is_notable(&self) -> bool {
        self.connections > 0 || self.disabled || !self.toxics.is_empty()
    }

    /// One line for the HTML report:
    /// `gateway->value-architect · 2 connections · down · latency_downstream (latency, downstream: latency=300 jitter=0)`.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            self.name.clone(),
            match self.connections {
                1 => "1 connection".to_string(),
                n => format!("{n} connections"),
            },
        ];
        if self.disabled {
            parts.push("down".to_string());
        }
        for toxic in &self.toxics {
            parts.push(toxic.summary());
        }
        parts.join(" · ")
    }
}

impl ToxicRecord {
    /// `slow (latency, downstream: jitter=20 latency=200)`, with `toxicity 0.3` when below 1.
    pub fn summary(&self) -> String {
        let attributes: Vec<String> = self
            .attributes
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let mut text = format!("{} ({}, {}", self.name, self.kind, self.stream);
        if !attributes.is_empty() {
            text.push_str(": ");
            text.push_str(&attributes.join(" "));
        }
        if self.toxicity < 1.0 {
            text.push_str(&format!(", toxicity {}", self.toxicity));
        }
        text.push(')');
        text
    }
}

impl From<&crate::link::Toxic> for ToxicRecord {
    fn from(toxic: &crate::link::Toxic) -> Self {
        ToxicRecord {
            name: toxic.name.clone(),
            kind: toxic.kind.type_name().to_string(),
            stream: toxic.stream.as_str().to_string(),
            toxicity: toxic.toxicity,
            attributes: toxic.kind.attributes(),
        }
    }
}

/// The records of every link of `links` that the scenario touched, by name.
pub fn of(links: &crate::link::Links) -> Vec<LinkRecord> {
    links
        .all()
        .iter()
        .map(|link| {
            let history = link.history();
            LinkRecord {
                name: link.name().to_string(),
                connections: link.connections_opened(),
                disabled: history.disabled,
                toxics: history.toxics.iter().map(ToxicRecord::from).collect(),
            }
        })
        .filter(LinkRecord::is_notable)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::StackClock;
    use crate::link::Links;

    #[test]
    fn lists_the_touched_links_with_their_toxics_and_skips_the_others() {
        let links = Links::new(1, StackClock::new());
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let slow = links.declare("gateway->value-architect", addr, addr);
        links.declare("gateway->value-committer", addr, addr);
        let down = links.declare("value-committer->redis", addr, addr);
        slow.add_toxic_json(
            br#"{"name":"slow","type":"latency","toxicity":0.5,"attributes":{"latency":200,"jitter":20}}"#,
        )
        .expect("toxic");
        down.set_enabled(false);
        down.set_enabled(true);
        let records = of(&links);
        let lines: Vec<String> = records.iter().map(LinkRecord::summary).collect();
        assert_eq!(
            lines,
            [
                "gateway->value-architect · 0 connections · slow (latency, downstream: jitter=20 latency=200, toxicity 0.5)",
                "value-committer->redis · 0 connections · down",
            ]
        );
        let json = serde_json::to_value(&records).expect("json");
        assert_eq!(json[0]["toxics"][0]["type"], "latency");
        assert_eq!(json[0]["toxics"][0]["attributes"]["latency"], 200);
        assert_eq!(json[1]["disabled"], true);
        assert!(json[0].get("disabled").is_none());
    }
}
