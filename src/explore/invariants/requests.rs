//! Request-level invariants (SPEC §11): INV-4 (how often one request reaches a service),
//! INV-5 (a refused request reaches nothing and spends no quota), INV-6 (a rate limit is never
//! overshot), INV-8 (one outcome per request, the gateway's counters agree with the client's)
//! and INV-9 (upstream calls in flight stay within the bulkhead).

use std::collections::{BTreeMap, BTreeSet};

use super::{from_gateway, JournalLine, Trace, Violation};
use crate::gateway::audit::AuditEntry;

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

/// INV-8: every request a counted client sent got exactly one outcome, and the gateway answered
/// at least every request the client got a response to and at most every request it sent (an
/// answer the client gave up on is counted by the gateway, not by the client).
pub fn inv8_outcomes(trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in &trace.client {
        let evidence = vec![
            format!("{}: sent {}", c.what, c.sent),
            format!("client responses {}", c.responses),
            format!("client errors {}", c.errors),
            format!("gateway answered {}", c.gateway_answered),
        ];
        if c.responses + c.errors != c.sent {
            out.push(Violation {
                invariant: "INV-8",
                what: format!(
                    "{} requests sent but {} outcomes recorded ({})",
                    c.sent,
                    c.responses + c.errors,
                    c.what
                ),
                evidence: evidence.clone(),
            });
        }
        if c.gateway_answered < c.responses || c.gateway_answered > c.responses + c.errors {
            out.push(Violation {
                invariant: "INV-8",
                what: format!(
                    "the gateway counted {} answers for {} responses the client received ({})",
                    c.gateway_answered, c.responses, c.what
                ),
                evidence,
            });
        }
    }
    out
}

/// The requests refused by an auth or rate-limiting stage, by request id.
fn refused(trace: &Trace) -> BTreeMap<&str, &'static str> {
    trace
        .audit
        .iter()
        .filter_map(|e| match e {
            AuditEntry::Refused { request, stage, .. } => Some((request.as_str(), *stage)),
            _ => None,
        })
        .collect()
}

/// One rate-limit window of one identifier: (plugin, identifier digest, period, window start).
type WindowKey = (uuid::Uuid, u64, &'static str, u64);

/// A window's limit, and the count each admitted request saw (with its request id).
type Admitted<'a> = (u64, Vec<(u64, &'a str)>);

/// The `used` counts of the requests admitted in each window, with their request ids and limit.
fn windows(trace: &Trace) -> BTreeMap<WindowKey, Admitted<'_>> {
    let mut out: BTreeMap<WindowKey, Admitted<'_>> = BTreeMap::new();
    for e in &trace.audit {
        if let AuditEntry::Counted {
            request,
            plugin,
            identifier,
            period,
            window_start,
            used,
            limit,
            ..
        } = e
        {
            out.entry((*plugin, *identifier, period.key(), *window_start))
                .or_insert((*limit, Vec::new()))
                .1
                .push((*used, request.as_str()));
        }
    }
    out
}

/// INV-5: a request refused by jwt, acl or rate limiting is never counted against a quota nor
/// forwarded; every quota unit spent in a window belongs to an admitted request (the counts
/// the admitted requests saw run 0, 1, 2, … without a gap); and, when all traffic came through
/// the gateway (an exploration), every request a service journaled from the gateway was one
/// the gateway forwarded.
pub fn inv5_refused(trace: &Trace) -> Vec<Violation> {
    if trace.audit_overflowed {
        return Vec::new();
    }
    let refused = refused(trace);
    let mut out = Vec::new();
    for e in &trace.audit {
        let (request, what) = match e {
            AuditEntry::Counted {
                request, period, ..
            } => (
                request,
                format!("was counted against its {} quota", period.key()),
            ),
            AuditEntry::Forwarded {
                request, service, ..
            } => (
                request,
                format!(
                    "was forwarded to {}",
                    trace
                        .services
                        .get(*service)
                        .map_or("a service", |s| s.name.as_str())
                ),
            ),
            AuditEntry::Refused { .. } => continue,
        };
        if let Some(stage) = refused.get(request.as_str()) {
            out.push(Violation {
                invariant: "INV-5",
                what: format!("request {request} was refused by {stage}, yet {what}"),
                evidence: vec![format!("gateway audit: {e:?}")],
            });
        }
    }
    for ((_, _, period, start), (_, admitted)) in windows(trace) {
        let seen: BTreeSet<u64> = admitted.iter().map(|(u, _)| *u).collect();
        let top = seen.iter().next_back().copied().unwrap_or(0);
        let missing: Vec<u64> = (0..top).filter(|u| !seen.contains(u)).collect();
        if !missing.is_empty() {
            out.push(Violation {
                invariant: "INV-5",
                what: format!(
                    "{} unit(s) of a {period} quota (window from {start}) were spent by no \
                     admitted request",
                    missing.len()
                ),
                evidence: vec![
                    format!("admitted requests saw the counts {seen:?}"),
                    format!("no admitted request saw {missing:?}"),
                ],
            });
        }
    }
    if trace.client_counted {
        let forwarded: BTreeSet<&str> = trace
            .audit
            .iter()
            .filter_map(|e| match e {
                AuditEntry::Forwarded { trace: Some(t), .. } => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let strays: Vec<&JournalLine> = trace
            .gateway_lines()
            .filter(|l| l.trace.as_deref().is_some_and(|t| !forwarded.contains(t)))
            .collect();
        if !strays.is_empty() {
            out.push(Violation {
                invariant: "INV-5",
                what: format!(
                    "{} request(s) reached a service from the gateway that the gateway never \
                     forwarded",
                    strays.len()
                ),
                evidence: strays.iter().take(10).map(|l| l.describe()).collect(),
            });
        }
    }
    out
}

/// INV-6: per identifier and calendar window, the requests admitted never exceed the limit:
/// no admitted request saw its quota used up, and no two saw the same count (two admitted on
/// one place, the overshoot of a racy counter).
pub fn inv6_no_overshoot(trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    for ((_, _, period, start), (limit, mut admitted)) in windows(trace) {
        admitted.sort_unstable();
        let over: Vec<&(u64, &str)> = admitted.iter().filter(|(u, _)| *u >= limit).collect();
        let twice: Vec<&[(u64, &str)]> = admitted.windows(2).filter(|w| w[0].0 == w[1].0).collect();
        if over.is_empty() && twice.is_empty() {
            continue;
        }
        let mut evidence = vec![format!(
            "{} requests admitted in the {period} window from {start}, limit {limit}",
            admitted.len()
        )];
        evidence.extend(
            over.iter()
                .take(5)
                .map(|(u, r)| format!("request {r} admitted after {u} of {limit}")),
        );
        evidence.extend(twice.iter().take(5).map(|w| {
            format!(
                "requests {} and {} both admitted as #{}",
                w[0].1,
                w[1].1,
                w[0].0 + 1
            )
        }));
        out.push(Violation {
            invariant: "INV-6",
            what: format!(
                "a {period} window admitted {} requests against a limit of {limit}",
                admitted.len()
            ),
            evidence,
        });
    }
    out
}

/// INV-9: the gateway never had more upstream calls in flight to a service than its bulkhead
/// admits.
pub fn inv9_bulkhead(trace: &Trace) -> Vec<Violation> {
    trace
        .services
        .iter()
        .filter_map(|s| {
            let limit = s.bulkhead?;
            (s.peak_in_flight > limit).then(|| Violation {
                invariant: "INV-9",
                what: format!(
                    "{} had {} requests in flight at once, above its bulkhead of {limit}",
                    s.name, s.peak_in_flight
                ),
                evidence: vec![format!(
                    "peak upstream calls in flight to {}: {}",
                    s.name, s.peak_in_flight
                )],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::invariants::ClientCount;

    fn line(service: &str, seq: u64, method: &str, trace: &str) -> JournalLine {
        JournalLine {
            service: service.into(),
            seq,
            at: std::time::Duration::ZERO,
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
        let ok = ClientCount {
            what: "load step GET /x".into(),
            sent: 10,
            responses: 9,
            errors: 1,
            gateway_answered: 10,
        };
        let with = |c: ClientCount| Trace {
            client: vec![c],
            ..Trace::default()
        };
        assert!(inv8_outcomes(&with(ok.clone())).is_empty());
        let lost = ClientCount {
            errors: 0,
            ..ok.clone()
        };
        let v = inv8_outcomes(&with(lost));
        assert!(
            v[0].what.contains("10 requests sent but 9 outcomes"),
            "{v:?}"
        );
        assert!(v[0].what.contains("load step GET /x"), "{v:?}");
        let double = ClientCount {
            gateway_answered: 12,
            ..ok.clone()
        };
        let v = inv8_outcomes(&with(double));
        assert_eq!(v.len(), 1);
        assert!(
            v[0].what.contains("gateway counted 12 answers"),
            "{}",
            v[0].what
        );
        // A response the gateway never counted.
        let missed = ClientCount {
            gateway_answered: 8,
            ..ok.clone()
        };
        assert_eq!(inv8_outcomes(&with(missed)).len(), 1);
        // Each client is judged on its own: one sound count does not hide another's loss.
        let both = Trace {
            client: vec![
                ok.clone(),
                ClientCount {
                    sent: 5,
                    responses: 3,
                    errors: 1,
                    gateway_answered: 3,
                    ..ok
                },
            ],
            ..Trace::default()
        };
        assert_eq!(inv8_outcomes(&both).len(), 1);
        // No counted client: nothing to judge.
        assert!(inv8_outcomes(&Trace::default()).is_empty());
    }

    fn counted(request: &str, used: u64) -> AuditEntry {
        AuditEntry::Counted {
            request: request.into(),
            consumer: Some(1),
            plugin: uuid::Uuid::nil(),
            identifier: 7,
            period: crate::config::gateway::RatePeriod::Minute,
            window_start: 60,
            used,
            limit: 3,
        }
    }

    #[test]
    fn inv5_flags_a_refused_request_that_spent_quota_or_was_forwarded() {
        let mut t = Trace {
            audit: vec![
                AuditEntry::Refused {
                    request: "r1".into(),
                    stage: "acl",
                    consumer: Some(1),
                },
                counted("r1", 0),
                counted("r2", 1),
            ],
            ..Trace::default()
        };
        let v = inv5_refused(&t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].what.contains("refused by acl, yet was counted"),
            "{}",
            v[0].what
        );
        t.audit = vec![
            AuditEntry::Refused {
                request: "r1".into(),
                stage: "jwt",
                consumer: None,
            },
            AuditEntry::Forwarded {
                request: "r1".into(),
                service: 0,
                trace: None,
                admission: None,
            },
        ];
        assert!(inv5_refused(&t)[0]
            .what
            .contains("refused by jwt, yet was forwarded"));
    }

    #[test]
    fn inv5_flags_a_quota_unit_no_admitted_request_spent() {
        let t = Trace {
            audit: vec![counted("a", 0), counted("b", 2)],
            ..Trace::default()
        };
        let v = inv5_refused(&t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].evidence[1].contains("[1]"), "{:?}", v[0].evidence);
        let ok = Trace {
            audit: vec![counted("a", 1), counted("b", 0)],
            ..Trace::default()
        };
        assert!(inv5_refused(&ok).is_empty());
    }

    #[test]
    fn inv5_flags_a_journal_line_the_gateway_never_forwarded_when_all_traffic_is_the_gateways() {
        let mut t = trace(vec![line("value-architect", 1, "GET", "t1")]);
        t.client_counted = true;
        t.audit = vec![AuditEntry::Forwarded {
            request: "r".into(),
            service: 0,
            trace: Some("t2".into()),
            admission: None,
        }];
        let v = inv5_refused(&t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].evidence[0].contains("trace t1"));
        t.client_counted = false;
        assert!(inv5_refused(&t).is_empty());
    }

    #[test]
    fn inv6_flags_an_admission_past_the_limit_and_two_on_one_place() {
        let over = Trace {
            audit: vec![
                counted("a", 0),
                counted("b", 1),
                counted("c", 2),
                counted("d", 3),
            ],
            ..Trace::default()
        };
        let v = inv6_no_overshoot(&over);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0]
            .what
            .contains("admitted 4 requests against a limit of 3"));
        let twice = Trace {
            audit: vec![counted("a", 0), counted("b", 0)],
            ..Trace::default()
        };
        assert!(inv6_no_overshoot(&twice)[0].evidence[1].contains("both admitted as #1"));
        let fine = Trace {
            audit: vec![counted("a", 0), counted("b", 1), counted("c", 2)],
            ..Trace::default()
        };
        assert!(inv6_no_overshoot(&fine).is_empty());
    }

    #[test]
    fn inv9_flags_more_in_flight_than_the_bulkhead() {
        let mut t = Trace {
            services: vec![super::super::KongService {
                name: "value-architect".into(),
                bulkhead: Some(100),
                peak_in_flight: 100,
                ..Default::default()
            }],
            ..Trace::default()
        };
        assert!(inv9_bulkhead(&t).is_empty());
        t.services[0].peak_in_flight = 101;
        let v = inv9_bulkhead(&t);
        assert_eq!(v[0].invariant, "INV-9");
        assert!(v[0].what.contains("101 requests in flight"));
    }
}
