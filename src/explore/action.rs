//! The action space of an exploration (SPEC §11): everything the explorer may do to a running
//! stack, each with a way back, the catalogued steps that do the same in a feature, and smaller
//! versions of itself for shrinking.
//!
//! ```text
//!   StackDef ──space()──► [Action]   (every HTTP fault kind × http service, stop/kill × service,
//!                                     every toxic kind × link, clock jumps, intention flips)
//!   Action ──apply(stack)──► fault in place ──revert(stack)──► back to the healthy stack
//!          ──steps()──► Gherkin for the reproducer        ──smaller()──► shrinking candidates
//! ```

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::chaos::fault::{Delay, FaultAction, FaultRule};
use crate::config::intentions::{Action as IntentionAction, Rule, ServiceMatch};
use crate::config::topology::ServiceRuntime;
use crate::config::StackDef;
use crate::protocol::Protocol;
use crate::target::{ProcessAction, ScenarioStack};

pub use super::toxic::LinkToxic;

/// An HTTP fault at a service's inbound stage (SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum HttpFault {
    Abort { status: u16 },
    Delay { ms: u64 },
    Hang,
    Reset,
    Malformed,
}

/// One thing the explorer does to a stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// An HTTP fault on every request to `service`, with this probability.
    Fault {
        service: String,
        #[serde(flatten)]
        fault: HttpFault,
        probability: f64,
    },
    /// The service stops (connection refused) and is started again on revert.
    Stop { service: String },
    /// The service is killed (connections reset) and started again on revert.
    Kill { service: String },
    /// The stack clock jumps forward (policy time passes at once).
    ClockJump {
        #[serde(serialize_with = "crate::explore::serialize_duration")]
        by: Duration,
    },
    /// A Toxiproxy toxic on a link, removed on revert.
    Toxic(LinkToxic),
    /// The L4 intention `source → destination` is set to `allow` (or deny), restored on revert.
    Intention {
        source: String,
        destination: String,
        allow: bool,
        /// What the stack's file says (restored on revert).
        was_allow: bool,
    },
}

/// Smallest parameters shrinking goes down to.
const MIN_PROBABILITY: f64 = 0.05;
const MIN_DELAY_MS: u64 = 20;
const MIN_JUMP: Duration = Duration::from_secs(1);

impl Action {
    /// The matrix row: `abort 503`, `delay`, `hang`, `reset`, `malformed`, `stop`, `kill`,
    /// `clock jump`, `intention deny`.
    pub fn kind(&self) -> String {
        match self {
            Action::Fault { fault, .. } => match fault {
                HttpFault::Abort { status } => format!("abort {status}"),
                HttpFault::Delay { .. } => "delay".into(),
                HttpFault::Hang => "hang".into(),
                HttpFault::Reset => "reset".into(),
                HttpFault::Malformed => "malformed".into(),
            },
            Action::Stop { .. } => "stop".into(),
            Action::Kill { .. } => "kill".into(),
            Action::ClockJump { .. } => "clock jump".into(),
            Action::Toxic(t) => format!("{} toxic", t.kind.type_name()),
            Action::Intention { allow, .. } => {
                format!("intention {}", if *allow { "allow" } else { "deny" })
            }
        }
    }

    /// The matrix column: the service, link or `stack clock` acted on.
    pub fn target(&self) -> String {
        match self {
            Action::Fault { service, .. } | Action::Stop { service } | Action::Kill { service } => {
                service.clone()
            }
            Action::ClockJump { .. } => "stack clock".into(),
            Action::Toxic(t) => t.link.clone(),
            Action::Intention {
                source,
                destination,
                ..
            } => format!("{source}->{destination}"),
        }
    }

    /// Does it to the stack.
    ///
    /// # Errors
    /// The stack refused (an unknown service, an external service cannot be stopped, ...).
    pub async fn apply(&self, stack: &ScenarioStack) -> Result<(), String> {
        let done = match self {
            Action::Fault {
                service,
                fault,
                probability,
            } => {
                let rule = FaultRule {
                    probability: *probability,
                    ..FaultRule::always(fault_action(fault))
                };
                stack.add_fault(service, rule).await
            }
            Action::Stop { service } => stack.process(service, ProcessAction::Stop).await,
            Action::Kill { service } => stack.process(service, ProcessAction::Kill).await,
            Action::ClockJump { by } => stack.advance(*by).await,
            Action::Toxic(t) => return t.apply(stack).await,
            Action::Intention {
                source,
                destination,
                allow,
                ..
            } => set_intention(stack, source, destination, *allow).await,
        };
        done.map_err(|e| e.to_string())
    }

    /// Undoes [`Action::apply`] (a clock jump stays: time does not go back).
    ///
    /// # Errors
    /// The stack refused.
    pub async fn revert(&self, stack: &ScenarioStack) -> Result<(), String> {
        let done = match self {
            Action::Fault { service, .. } => stack.clear_faults(service).await,
            Action::Stop { service } | Action::Kill { service } => {
                stack.process(service, ProcessAction::Start).await
            }
            Action::ClockJump { .. } => Ok(()),
            Action::Toxic(t) => return t.revert(stack).await,
            Action::Intention {
                source,
                destination,
                was_allow,
                ..
            } => set_intention(stack, source, destination, *was_allow).await,
        };
        done.map_err(|e| e.to_string())
    }

    /// The catalogued steps (without keyword) that apply it in a feature.
    pub fn steps(&self) -> Vec<Step> {
        match self {
            Action::Fault {
                service,
                fault,
                probability,
            } => {
                let rule = FaultRule {
                    probability: *probability,
                    ..FaultRule::always(fault_action(fault))
                };
                let json = serde_json::to_string(&rule).unwrap_or_default();
                vec![Step::with_docstring(
                    format!("{service:?} has the fault:"),
                    json,
                )]
            }
            Action::Stop { service } => vec![Step::plain(format!("{service:?} is stopped"))],
            Action::Kill { service } => vec![Step::plain(format!("{service:?} is killed"))],
            Action::ClockJump { by } => vec![Step::plain(format!(
                "{} pass",
                crate::units::format_duration(*by)
            ))],
            Action::Toxic(t) => {
                let (from, to) = t.ends();
                vec![Step::with_docstring(
                    format!(
                        "the toxic {:?} on the link from {from:?} to {to:?} is:",
                        t.name()
                    ),
                    t.json(),
                )]
            }
            Action::Intention {
                source,
                destination,
                allow,
                ..
            } => vec![Step::plain(format!(
                "the intention from {source:?} to {destination:?} is set to {}",
                if *allow { "allow" } else { "deny" }
            ))],
        }
    }

    /// The catalogued steps that undo it.
    pub fn revert_steps(&self) -> Vec<Step> {
        match self {
            Action::Fault { service, .. } => {
                vec![Step::plain(format!(
                    "the faults on {service:?} are cleared"
                ))]
            }
            Action::Stop { service } | Action::Kill { service } => {
                vec![Step::plain(format!("{service:?} is started again"))]
            }
            Action::ClockJump { .. } => Vec::new(),
            Action::Toxic(t) => {
                let (from, to) = t.ends();
                vec![Step::plain(format!(
                    "the toxic {:?} is removed from the link from {from:?} to {to:?}",
                    t.name()
                ))]
            }
            Action::Intention {
                source,
                destination,
                was_allow,
                ..
            } => vec![Step::plain(format!(
                "the intention from {source:?} to {destination:?} is set to {}",
                if *was_allow { "allow" } else { "deny" }
            ))],
        }
    }

    /// Whether requests it holds end only by a gateway timeout (a hang, a delay past
    /// `read_timeout`): its reproducer lets the stack clock run so the timeout fires.
    pub fn needs_gateway_timeout(&self, stack: &StackDef) -> bool {
        match self {
            Action::Fault {
                fault: HttpFault::Hang,
                ..
            } => true,
            Action::Fault {
                fault: HttpFault::Delay { ms },
                ..
            } => stack
                .gateway
                .services
                .iter()
                .any(|s| Duration::from_millis(*ms) >= s.read_timeout),
            Action::Toxic(LinkToxic {
                kind: crate::link::ToxicKind::Latency { latency, .. },
                ..
            }) => stack
                .gateway
                .services
                .iter()
                .any(|s| Duration::from_millis(*latency) >= s.read_timeout),
            _ => false,
        }
    }

    /// Whether it needs the stack clock to follow real time: a toxic's waits run on the stack
    /// clock (SPEC §7.1), so on a clock that stands still a 20 ms latency would hold every
    /// answer until the next jump, and shrinking could not tell it from a 1 s one.
    pub fn needs_running_clock(&self) -> bool {
        matches!(self, Action::Toxic(_))
    }

    /// Gentler versions of this action, gentlest first: lower probability, shorter delay or jump.
    pub fn smaller(&self) -> Vec<Action> {
        let mut out = Vec::new();
        match self {
            Action::Fault {
                service,
                fault,
                probability,
            } => {
                if let HttpFault::Delay { ms } = fault {
                    let mut d = *ms / 2;
                    while d >= MIN_DELAY_MS {
                        out.push(Action::Fault {
                            service: service.clone(),
                            fault: HttpFault::Delay { ms: d },
                            probability: *probability,
                        });
                        d /= 2;
                    }
                }
                let mut p = (probability / 2.0 * 100.0).round() / 100.0;
                while p >= MIN_PROBABILITY {
                    out.push(Action::Fault {
                        service: service.clone(),
                        fault: fault.clone(),
                        probability: p,
                    });
                    p = (p / 2.0 * 100.0).round() / 100.0;
                }
            }
            Action::ClockJump { by } => {
                let mut d = Duration::from_secs(by.as_secs() / 2);
                while d >= MIN_JUMP {
                    out.push(Action::ClockJump { by: d });
                    d = Duration::from_secs(d.as_secs() / 2);
                }
            }
            Action::Toxic(t) => {
                // Gentlest first: the parameter (a 31 ms latency before a 500 ms one), then the
                // share of connections, so a shrunk toxic keeps what makes it break.
                let (params, shares): (Vec<LinkToxic>, Vec<LinkToxic>) = t
                    .smaller()
                    .into_iter()
                    .partition(|g| g.toxicity == t.toxicity);
                return params
                    .into_iter()
                    .rev()
                    .chain(shares.into_iter().rev())
                    .map(Action::Toxic)
                    .collect();
            }
            Action::Stop { .. } | Action::Kill { .. } | Action::Intention { .. } => {}
        }
        out.reverse();
        out
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Fault {
                service,
                fault,
                probability,
            } => {
                let what = match fault {
                    HttpFault::Abort { status } => format!("answers {status}"),
                    HttpFault::Delay { ms } => format!("responds after {ms} ms"),
                    HttpFault::Hang => "hangs".into(),
                    HttpFault::Reset => "resets connections".into(),
                    HttpFault::Malformed => "sends malformed responses".into(),
                };
                if *probability < 1.0 {
                    write!(
                        f,
                        "{service} {what} to {}% of requests",
                        trim(probability * 100.0)
                    )
                } else {
                    write!(f, "{service} {what}")
                }
            }
            Action::Toxic(t) => write!(f, "{t}"),
            Action::Stop { service } => write!(f, "{service} stopped"),
            Action::Kill { service } => write!(f, "{service} killed"),
            Action::ClockJump { by } => {
                write!(f, "clock jumps {}", crate::units::format_duration(*by))
            }
            Action::Intention {
                source,
                destination,
                allow,
                ..
            } => write!(
                f,
                "intention {source} -> {destination} set to {}",
                if *allow { "allow" } else { "deny" }
            ),
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A step of a generated feature: its text (no keyword) and an optional docstring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `Given` or `When`: the keyword the catalogue defines the step under.
    pub keyword: &'static str,
    pub text: String,
    pub docstring: Option<String>,
}

impl Step {
    pub fn plain(text: String) -> Self {
        Step {
            keyword: "When",
            text,
            docstring: None,
        }
    }

    /// A `Given` step with a docstring (`"s" has the fault:` is a Given in the catalogue).
    pub fn with_docstring(text: String, docstring: String) -> Self {
        Step {
            keyword: "Given",
            text,
            docstring: Some(docstring),
        }
    }
}

fn fault_action(fault: &HttpFault) -> FaultAction {
    match fault {
        HttpFault::Abort { status } => FaultAction::Abort {
            status: *status,
            body: None,
        },
        HttpFault::Delay { ms } => FaultAction::Delay(Delay::FixedMs(*ms)),
        HttpFault::Hang => FaultAction::Hang,
        HttpFault::Reset => FaultAction::Reset,
        HttpFault::Malformed => FaultAction::Malformed,
    }
}

async fn set_intention(
    stack: &ScenarioStack,
    source: &str,
    destination: &str,
    allow: bool,
) -> Result<(), crate::target::TargetError> {
    let body = serde_json::json!({ "Action": if allow { "allow" } else { "deny" } });
    stack
        .change_intention(http::Method::PUT, source, destination, Some(&body))
        .await
}

/// Jumps of the stack clock in the action space: past a breaker's open timeout and a rate-limit
/// minute, and a whole hour.
const CLOCK_JUMPS: [Duration; 2] = [Duration::from_secs(61), Duration::from_secs(3600)];
/// The delay an HTTP delay fault starts from (shrinking halves it).
const START_DELAY_MS: u64 = 1000;

/// Every action the explorer can take on `stack`, in a stable order: HTTP faults on each http
/// service, stop and kill on each service it can start again, clock jumps, and a flip of every
/// exact L4 intention.
pub fn space(stack: &StackDef) -> Vec<Action> {
    let mut out = Vec::new();
    for service in &stack.topology.services {
        if service.protocol != Protocol::Http {
            continue;
        }
        let faults = [
            HttpFault::Abort { status: 500 },
            HttpFault::Abort { status: 503 },
            HttpFault::Delay { ms: START_DELAY_MS },
            HttpFault::Hang,
            HttpFault::Reset,
            HttpFault::Malformed,
        ];
        for fault in faults {
            out.push(Action::Fault {
                service: service.name.clone(),
                fault,
                probability: 1.0,
            });
        }
    }
    for service in &stack.topology.services {
        if matches!(service.runtime, ServiceRuntime::External { .. }) {
            continue;
        }
        out.push(Action::Stop {
            service: service.name.clone(),
        });
        out.push(Action::Kill {
            service: service.name.clone(),
        });
    }
    for link in super::toxic::links(stack) {
        for (kind, stream) in super::toxic::kinds() {
            out.push(Action::Toxic(LinkToxic {
                link: link.clone(),
                kind,
                stream,
                toxicity: 1.0,
            }));
        }
    }
    for by in CLOCK_JUMPS {
        out.push(Action::ClockJump { by });
    }
    if let Some(mesh) = &stack.mesh {
        for entry in &mesh.entries {
            let ServiceMatch::Exact(destination) = &entry.destination else {
                continue;
            };
            for source in &entry.sources {
                let (ServiceMatch::Exact(name), Rule::L4(action)) = (&source.source, &source.rule)
                else {
                    continue;
                };
                let was_allow = *action == IntentionAction::Allow;
                out.push(Action::Intention {
                    source: name.clone(),
                    destination: destination.clone(),
                    allow: !was_allow,
                    was_allow,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_actions_halve_parameters_down_to_a_floor_gentlest_first() {
        let a = Action::Fault {
            service: "s".into(),
            fault: HttpFault::Delay { ms: 100 },
            probability: 0.2,
        };
        let smaller = a.smaller();
        assert_eq!(
            smaller.first().map(ToString::to_string).unwrap(),
            "s responds after 100 ms to 5% of requests"
        );
        assert!(smaller
            .iter()
            .any(|s| s.to_string() == "s responds after 25 ms to 20% of requests"));
        assert!(Action::Stop {
            service: "s".into()
        }
        .smaller()
        .is_empty());
        let jump = Action::ClockJump {
            by: Duration::from_secs(4),
        };
        assert_eq!(jump.smaller().len(), 2);
    }

    #[test]
    fn a_fault_becomes_the_json_step_of_the_catalogue() {
        let a = Action::Fault {
            service: "value-architect".into(),
            fault: HttpFault::Abort { status: 503 },
            probability: 0.5,
        };
        let steps = a.steps();
        assert_eq!(steps[0].text, "\"value-architect\" has the fault:");
        assert_eq!(
            steps[0].docstring.as_deref(),
            Some(r#"{"action":"abort","status":503,"probability":0.5}"#)
        );
        assert_eq!(a.kind(), "abort 503");
        assert_eq!(
            a.revert_steps()[0].text,
            "the faults on \"value-architect\" are cleared"
        );
    }
}
