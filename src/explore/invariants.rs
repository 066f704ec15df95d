//! Invariants (SPEC §11) checked after every play of a schedule, whatever the schedule did: a
//! violation is a defect of Gauntlet itself, reported apart from the hypotheses (exit 1).
//!
//! ```text
//!   stack after the play ──Trace::collect──► journal lines (every service), client counts (the
//!                                             load collector), gateway counters
//!   Trace ──check()──► [Violation] with the evidence (journal lines, counts)
//! ```
//! Checked here: INV-4 (a POST reaches a service at most once per client request, other
//! methods at most `retries + 1` times: journal lines grouped by the request's trace id) and
//! INV-8 (every request sent got exactly one outcome, and the gateway answered exactly the
//! responses the client received). The other invariants of SPEC §11 are not checked yet.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::StackDef;
use crate::stack::Stack;

/// A broken invariant and its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `INV-4`.
    pub invariant: &'static str,
    pub what: String,
    pub evidence: Vec<String>,
}

/// One request as a service's inbound journal saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub service: String,
    pub seq: u64,
    /// The caller's mesh identity, when there is a mesh.
    pub source: Option<String>,
    pub method: String,
    pub path: String,
    /// The trace id of the request's `traceparent` (the same for every retry of one request).
    pub trace: Option<String>,
}

/// What the checkers read.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub journal: Vec<JournalLine>,
    /// Allowed attempts (`retries + 1`) per stack service, for requests from the gateway.
    pub attempts: BTreeMap<String, u32>,
    /// The gateway's mesh identity (journal lines from it are the gateway's attempts).
    pub gateway_identity: String,
    /// Requests the load generator sent.
    pub client_sent: u64,
    /// Of those, requests that got an HTTP response.
    pub client_responses: u64,
    /// Requests that ended without a response (connect, timeout, reset, invalid response).
    pub client_errors: u64,
    /// Requests the gateway answered (every status, every source).
    pub gateway_answered: u64,
}

impl Trace {
    /// Reads the trace of a played stack; `sent`, `responses` and `errors` come from the load
    /// collector of every window.
    pub fn collect(stack: &Stack, sent: u64, responses: u64, errors: u64) -> Trace {
        let mut journal = Vec::new();
        for (name, service) in &stack.services {
            for e in service.inbound().journal.entries() {
                journal.push(JournalLine {
                    service: name.clone(),
                    seq: e.seq,
                    source: e.source.clone(),
                    method: e.method.clone(),
                    path: e.path.clone(),
                    trace: e
                        .headers
                        .get("traceparent")
                        .and_then(|t| t.split('-').nth(1))
                        .map(str::to_string),
                });
            }
        }
        Trace {
            journal,
            attempts: attempts_by_service(&stack.def),
            gateway_identity: stack.def.topology.gateway_identity.clone(),
            client_sent: sent,
            client_responses: responses,
            client_errors: errors,
            gateway_answered: stack.gateway.state.metrics.total_requests(),
        }
    }

    /// Every invariant checked on this trace.
    pub fn check(&self) -> Vec<Violation> {
        let mut out = inv4_attempts(self);
        out.extend(inv8_outcomes(self));
        out
    }
}

/// `retries + 1` of the kong service(s) routed to each stack service (the largest).
fn attempts_by_service(def: &StackDef) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for s in &def.gateway.services {
        if let Some(service) = def.topology.service_for_host(&s.host) {
            let e = out.entry(service.name.clone()).or_insert(0);
            *e = (*e).max(s.retries + 1);
        }
    }
    out
}

fn from_gateway(line: &JournalLine, identity: &str) -> bool {
    match &line.source {
        None => true,
        Some(source) => source == identity || source.ends_with(&format!("/svc/{identity}")),
    }
}

/// INV-4: per client request (trace id) and service, a POST reached it at most once, any other
/// method at most `retries + 1` times.
pub fn inv4_attempts(trace: &Trace) -> Vec<Violation> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&JournalLine>> = BTreeMap::new();
    for line in &trace.journal {
        if !from_gateway(line, &trace.gateway_identity) {
            continue;
        }
        let Some(id) = &line.trace else {
            continue;
        };
        groups
            .entry((line.service.as_str(), id.as_str(), line.method.as_str()))
            .or_default()
            .push(line);
    }
    let mut out = Vec::new();
    for ((service, id, method), lines) in groups {
        let allowed = if method == "POST" || method == "PATCH" {
            1
        } else {
            trace.attempts.get(service).copied().unwrap_or(1)
        };
        if lines.len() as u32 > allowed {
            out.push(Violation {
                invariant: "INV-4",
                what: format!(
                    "one {method} request (trace {id}) reached {service} {} times, at most {allowed} allowed",
                    lines.len()
                ),
                evidence: lines
                    .iter()
                    .map(|l| format!("{service} journal #{}: {} {}", l.seq, l.method, l.path))
                    .collect(),
            });
        }
    }
    out
}

/// INV-8: every request sent got exactly one outcome, and the gateway answered exactly the
/// requests the client got a response to (an answer the client gave up on aside).
pub fn inv8_outcomes(trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    let evidence = vec![
        format!("client sent {}", trace.client_sent),
        format!("client responses {}", trace.client_responses),
        format!("client errors {}", trace.client_errors),
        format!("gateway answered {}", trace.gateway_answered),
    ];
    if trace.client_responses + trace.client_errors != trace.client_sent {
        out.push(Violation {
            invariant: "INV-8",
            what: format!(
                "{} requests sent but {} outcomes recorded",
                trace.client_sent,
                trace.client_responses + trace.client_errors
            ),
            evidence: evidence.clone(),
        });
    }
    if trace.gateway_answered < trace.client_responses
        || trace.gateway_answered > trace.client_responses + trace.client_errors
    {
        out.push(Violation {
            invariant: "INV-8",
            what: format!(
                "the gateway counted {} answers for {} responses the client received",
                trace.gateway_answered, trace.client_responses
            ),
            evidence,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(service: &str, seq: u64, method: &str, trace: &str) -> JournalLine {
        JournalLine {
            service: service.into(),
            seq,
            source: Some("spiffe://x.consul/ns/default/dc/dc1/svc/api-gateway".into()),
            method: method.into(),
            path: "/api/v1/value-models".into(),
            trace: Some(trace.into()),
        }
    }

    fn trace(journal: Vec<JournalLine>) -> Trace {
        Trace {
            journal,
            attempts: BTreeMap::from([("value-architect".to_string(), 4)]),
            gateway_identity: "api-gateway".into(),
            ..Trace::default()
        }
    }

    #[test]
    fn inv4_flags_a_post_that_reached_the_service_twice() {
        let t = trace(vec![
            line("value-architect", 1, "POST", "t1"),
            line("value-architect", 2, "POST", "t1"),
            line("value-architect", 3, "POST", "t2"),
        ]);
        let v = inv4_attempts(&t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].invariant, "INV-4");
        assert!(
            v[0].what.contains("reached value-architect 2 times"),
            "{}",
            v[0].what
        );
        assert_eq!(v[0].evidence.len(), 2);
    }

    #[test]
    fn inv4_allows_retries_plus_one_gets_and_flags_one_more() {
        let four: Vec<JournalLine> = (1..=4)
            .map(|i| line("value-architect", i, "GET", "t"))
            .collect();
        assert!(inv4_attempts(&trace(four.clone())).is_empty());
        let mut five = four;
        five.push(line("value-architect", 5, "GET", "t"));
        assert_eq!(inv4_attempts(&trace(five)).len(), 1);
        // Another caller's requests (a service calling through the mesh) are not the gateway's.
        let mut other = line("value-architect", 6, "POST", "t9");
        other.source = Some("spiffe://x.consul/ns/default/dc/dc1/svc/value-committer".into());
        assert!(inv4_attempts(&trace(vec![other.clone(), other])).is_empty());
    }

    #[test]
    fn inv8_flags_lost_outcomes_and_counters_that_disagree() {
        let ok = Trace {
            client_sent: 10,
            client_responses: 9,
            client_errors: 1,
            gateway_answered: 10,
            ..Trace::default()
        };
        assert!(inv8_outcomes(&ok).is_empty());
        let lost = Trace {
            client_errors: 0,
            ..ok.clone()
        };
        assert!(inv8_outcomes(&lost)[0]
            .what
            .contains("10 requests sent but 9 outcomes"));
        let double = Trace {
            gateway_answered: 12,
            ..ok
        };
        let v = inv8_outcomes(&double);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].what.contains("gateway counted 12 answers"),
            "{}",
            v[0].what
        );
    }
}
