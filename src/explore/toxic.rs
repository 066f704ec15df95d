//! Toxics as explorer actions (SPEC §11 over §7.1): every Toxiproxy toxic kind on every link of
//! the stack, each starting from a harsh setting and shrinking towards a gentle one.
//!
//! ```text
//!   StackDef ──links()──► client->gateway, gateway-><service>, <service>-><upstream> (mesh)
//!   link × kind ──start()──► LinkToxic (harsh: 1 s latency, 1 KB/s, 64-byte limit, …, toxicity 1)
//!   LinkToxic ──smaller()──► gentler: shorter latency/delay/timeout, more bandwidth/bytes,
//!                            lower toxicity (the share of new connections that get it)
//!   LinkToxic ──steps()──► `the toxic "explore-latency" on the link from "a" to "b" is:` + JSON
//! ```
//! A toxic's timers run on the stack clock (SPEC §7.1), so a schedule with a toxic lets that
//! clock follow real time ([`LinkToxic`] is why [`super::action::Action::needs_running_clock`]
//! exists): a 1 s latency then costs one real second, as on the real platform.

use serde::{Serialize, Serializer};

use crate::config::StackDef;
use crate::link::{link_name, Stream, Toxic, ToxicKind};
use crate::target::ScenarioStack;

/// A toxic the explorer puts on one link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkToxic {
    /// `gateway->value-architect`.
    pub link: String,
    #[serde(rename = "toxic", serialize_with = "serialize_kind")]
    pub kind: ToxicKind,
    #[serde(serialize_with = "serialize_stream")]
    pub stream: Stream,
    /// Share of new connections that get it (Toxiproxy's `toxicity`).
    pub toxicity: f64,
}

fn serialize_kind<S: Serializer>(kind: &ToxicKind, s: S) -> Result<S::Ok, S::Error> {
    let mut value = serde_json::Value::Object(kind.attributes());
    value["type"] = kind.type_name().into();
    value.serialize(s)
}

fn serialize_stream<S: Serializer>(stream: &Stream, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(stream.as_str())
}

/// The seven toxic kinds of Toxiproxy 2.x, at the harsh setting exploration starts from, with
/// the stream each acts on: the answer coming back, except `reset_peer`, which resets on the
/// first bytes sent so the destination never sees the request.
pub fn kinds() -> [(ToxicKind, Stream); 7] {
    [
        (
            ToxicKind::Latency {
                latency: 1000,
                jitter: 0,
            },
            Stream::Downstream,
        ),
        (ToxicKind::Bandwidth { rate: 1 }, Stream::Downstream),
        (ToxicKind::SlowClose { delay: 1000 }, Stream::Downstream),
        (ToxicKind::Timeout { timeout: 2000 }, Stream::Downstream),
        (ToxicKind::ResetPeer { timeout: 0 }, Stream::Upstream),
        (
            ToxicKind::Slicer {
                average_size: 1,
                size_variation: 0,
                delay: 1000,
            },
            Stream::Downstream,
        ),
        (ToxicKind::LimitData { bytes: 64 }, Stream::Downstream),
    ]
}

/// Every link of a stack as [`crate::stack::Stack`] declares it: the client's hop to the
/// gateway, the gateway's hop to each service it routes to, and each mesh upstream.
pub fn links(def: &StackDef) -> Vec<String> {
    let mut out = vec![link_name("client", "gateway")];
    for s in &def.gateway.services {
        if let Some(service) = def.topology.service_for_host(&s.host) {
            let name = link_name("gateway", &service.name);
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    if def.mesh.is_some() {
        for service in &def.topology.services {
            for upstream in &service.upstreams {
                out.push(link_name(&service.name, &upstream.service));
            }
        }
    }
    out
}

/// Smallest settings shrinking goes down to.
const MIN_MILLIS: u64 = 20;
const MIN_SLICE_DELAY_US: u64 = 20;
const MAX_RATE_KBS: u64 = 1024;
const MAX_LIMIT_BYTES: u64 = 1 << 16;
const MIN_TOXICITY: f64 = 0.05;

impl LinkToxic {
    /// The name the explorer gives its toxic (one per kind on a link).
    pub fn name(&self) -> String {
        format!("explore-{}", self.kind.type_name())
    }

    /// `(source, destination)` of the link.
    pub fn ends(&self) -> (&str, &str) {
        self.link
            .split_once("->")
            .unwrap_or((self.link.as_str(), ""))
    }

    fn toxic(&self) -> Toxic {
        Toxic::new(self.kind.clone(), self.stream)
            .named(&self.name())
            .with_toxicity(self.toxicity)
    }

    /// Puts it on the link.
    ///
    /// # Errors
    /// The stack has no such link, or the link refused the toxic.
    pub async fn apply(&self, stack: &ScenarioStack) -> Result<(), String> {
        stack
            .add_toxic(&self.link, self.toxic())
            .await
            .map_err(|e| e.to_string())
    }

    /// Takes it off the link (the others stay).
    ///
    /// # Errors
    /// The stack has no such link or the toxic is gone.
    pub async fn revert(&self, stack: &ScenarioStack) -> Result<(), String> {
        stack
            .remove_toxic(&self.link, &self.name())
            .await
            .map_err(|e| e.to_string())
    }

    /// The JSON of the catalogued step `the toxic … on the link from … to … is:`.
    pub fn json(&self) -> String {
        let mut value = self.toxic().to_json();
        if let Some(o) = value.as_object_mut() {
            o.remove("name");
        }
        value.to_string()
    }

    /// Gentler versions, harshest first: a shorter wait, a wider pipe, more bytes before the
    /// close, then the same toxic on fewer connections.
    pub fn smaller(&self) -> Vec<LinkToxic> {
        let with = |kind: ToxicKind| LinkToxic {
            kind,
            ..self.clone()
        };
        let mut out = Vec::new();
        match self.kind {
            ToxicKind::Latency { latency, jitter } => {
                for v in halvings(latency, MIN_MILLIS) {
                    out.push(with(ToxicKind::Latency {
                        latency: v,
                        jitter: jitter.min(v),
                    }));
                }
            }
            ToxicKind::SlowClose { delay } => {
                for v in halvings(delay, MIN_MILLIS) {
                    out.push(with(ToxicKind::SlowClose { delay: v }));
                }
            }
            ToxicKind::Timeout { timeout } if timeout > 0 => {
                for v in halvings(timeout, MIN_MILLIS) {
                    out.push(with(ToxicKind::Timeout { timeout: v }));
                }
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                for v in halvings(delay, MIN_SLICE_DELAY_US) {
                    out.push(with(ToxicKind::Slicer {
                        average_size,
                        size_variation,
                        delay: v,
                    }));
                }
            }
            ToxicKind::Bandwidth { rate } => {
                let mut r = rate.max(1) * 2;
                while r <= MAX_RATE_KBS {
                    out.push(with(ToxicKind::Bandwidth { rate: r }));
                    r *= 2;
                }
            }
            ToxicKind::LimitData { bytes } => {
                let mut b = bytes.max(1) * 2;
                while b <= MAX_LIMIT_BYTES {
                    out.push(with(ToxicKind::LimitData { bytes: b }));
                    b *= 2;
                }
            }
            ToxicKind::Timeout { .. } | ToxicKind::ResetPeer { .. } | ToxicKind::Noop => {}
        }
        let mut t = (self.toxicity / 2.0 * 100.0).round() / 100.0;
        while t >= MIN_TOXICITY {
            out.push(LinkToxic {
                toxicity: t,
                ..self.clone()
            });
            t = (t / 2.0 * 100.0).round() / 100.0;
        }
        out
    }
}

impl LinkToxic {
    /// One notch harsher than `self` towards `found` (the setting shrinking started from): a
    /// parameter at the edge of what breaks is doubled back (a latency, delay or timeout
    /// doubled, a bandwidth or byte limit halved), never past `found`. Toxicity is left alone.
    pub fn with_margin(&self, found: &LinkToxic) -> LinkToxic {
        let up = |v: u64, f: u64| if v < f { (v * 2).min(f) } else { v };
        let down = |v: u64, f: u64| if v > f { (v / 2).max(f) } else { v };
        let kind = match (&self.kind, &found.kind) {
            (ToxicKind::Latency { latency, jitter }, ToxicKind::Latency { latency: f, .. }) => {
                ToxicKind::Latency {
                    latency: up(*latency, *f),
                    jitter: *jitter,
                }
            }
            (ToxicKind::SlowClose { delay }, ToxicKind::SlowClose { delay: f }) => {
                ToxicKind::SlowClose {
                    delay: up(*delay, *f),
                }
            }
            (ToxicKind::Timeout { timeout }, ToxicKind::Timeout { timeout: f }) => {
                ToxicKind::Timeout {
                    timeout: up(*timeout, *f),
                }
            }
            (
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                },
                ToxicKind::Slicer { delay: f, .. },
            ) => ToxicKind::Slicer {
                average_size: *average_size,
                size_variation: *size_variation,
                delay: up(*delay, *f),
            },
            (ToxicKind::Bandwidth { rate }, ToxicKind::Bandwidth { rate: f }) => {
                ToxicKind::Bandwidth {
                    rate: down(*rate, *f),
                }
            }
            (ToxicKind::LimitData { bytes }, ToxicKind::LimitData { bytes: f }) => {
                ToxicKind::LimitData {
                    bytes: down(*bytes, *f),
                }
            }
            (kind, _) => kind.clone(),
        };
        LinkToxic {
            kind,
            ..self.clone()
        }
    }
}

/// `v/2, v/4, …` down to `floor`.
fn halvings(v: u64, floor: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut d = v / 2;
    while d >= floor {
        out.push(d);
        d /= 2;
    }
    out
}

impl std::fmt::Display for LinkToxic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.kind {
            ToxicKind::Noop => "noop".to_string(),
            ToxicKind::Latency { latency, .. } => format!("latency {latency} ms"),
            ToxicKind::Bandwidth { rate } => format!("bandwidth {rate} KB/s"),
            ToxicKind::SlowClose { delay } => format!("slow_close {delay} ms"),
            ToxicKind::Timeout { timeout } => format!("timeout {timeout} ms"),
            ToxicKind::ResetPeer { timeout } => format!("reset_peer after {timeout} ms"),
            ToxicKind::Slicer { delay, .. } => format!("slicer every {delay} µs"),
            ToxicKind::LimitData { bytes } => format!("limit_data {bytes} B"),
        };
        write!(f, "{what} on {} ({})", self.link, self.stream.as_str())?;
        if self.toxicity < 1.0 {
            let pct = format!("{:.2}", self.toxicity * 100.0);
            write!(
                f,
                " to {}% of connections",
                pct.trim_end_matches('0').trim_end_matches('.')
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency() -> LinkToxic {
        LinkToxic {
            link: "gateway->value-architect".into(),
            kind: ToxicKind::Latency {
                latency: 1000,
                jitter: 0,
            },
            stream: Stream::Downstream,
            toxicity: 1.0,
        }
    }

    #[test]
    fn gentler_toxics_wait_less_then_reach_fewer_connections() {
        let smaller = latency().smaller();
        assert_eq!(
            smaller[0].to_string(),
            "latency 500 ms on gateway->value-architect (downstream)"
        );
        assert!(smaller.iter().any(|t| t.to_string().ends_with(
            "latency 1000 ms on gateway->value-architect (downstream) to 25% of connections"
        )));
        assert!(smaller.iter().all(|t| match t.kind {
            ToxicKind::Latency { latency, .. } => latency >= MIN_MILLIS,
            _ => false,
        }));
        let limit = LinkToxic {
            kind: ToxicKind::LimitData { bytes: 64 },
            ..latency()
        };
        assert_eq!(limit.smaller()[0].kind, ToxicKind::LimitData { bytes: 128 });
        let reset = LinkToxic {
            kind: ToxicKind::ResetPeer { timeout: 0 },
            stream: Stream::Upstream,
            ..latency()
        };
        assert!(reset.smaller().iter().all(|t| t.toxicity < 1.0));
    }

    #[test]
    fn the_margin_is_one_notch_harsher_never_past_what_was_found() {
        let found = latency();
        let edge = LinkToxic {
            kind: ToxicKind::Latency {
                latency: 250,
                jitter: 0,
            },
            ..latency()
        };
        assert_eq!(
            edge.with_margin(&found).kind,
            ToxicKind::Latency {
                latency: 500,
                jitter: 0
            }
        );
        let top = LinkToxic {
            kind: ToxicKind::Latency {
                latency: 800,
                jitter: 0,
            },
            ..latency()
        };
        assert_eq!(top.with_margin(&found).kind, found.kind);
        let wide = LinkToxic {
            kind: ToxicKind::Bandwidth { rate: 64 },
            ..latency()
        };
        let narrow = LinkToxic {
            kind: ToxicKind::Bandwidth { rate: 1 },
            ..latency()
        };
        assert_eq!(
            wide.with_margin(&narrow).kind,
            ToxicKind::Bandwidth { rate: 32 }
        );
    }

    #[test]
    fn the_step_json_is_toxiproxys_without_the_name() {
        let json: serde_json::Value = serde_json::from_str(&latency().json()).expect("json");
        assert_eq!(json["type"], "latency");
        assert_eq!(json["stream"], "downstream");
        assert_eq!(json["attributes"]["latency"], 1000);
        assert!(json.get("name").is_none());
        assert_eq!(latency().ends(), ("gateway", "value-architect"));
    }
}
