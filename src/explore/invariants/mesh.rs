//! INV-7 (SPEC §11): a pair the intentions deny never delivers a byte to the destination
//! service. Judged from the journals (what reached each service, with the caller's mesh
//! identity) against the intentions in force, when they never changed while the stack ran.
//! Pairs governed by an L7 intention are left out: the journal keeps only some headers, so
//! an L7 permission on another header could not be judged.

use std::collections::BTreeMap;

use super::{service_of, Trace, Violation};
use crate::config::intentions::{Action, Rule};
use crate::mesh::intentions::decide::governing;

/// INV-7: no journal line from a source the L4 intentions (or the default) deny.
pub fn inv7_denied_pairs(trace: &Trace) -> Vec<Violation> {
    let Some(intentions) = &trace.intentions else {
        return Vec::new();
    };
    let mut denied: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in &trace.journal {
        let Some(identity) = &line.source else {
            continue;
        };
        let source = service_of(identity);
        let action = match governing(intentions.entries(), source, &line.service) {
            Some((intention, _)) => match &intention.rule {
                Rule::L4(action) => *action,
                Rule::L7(_) => continue,
            },
            None => intentions.default_action(),
        };
        if action == Action::Deny {
            denied
                .entry((source.to_string(), line.service.clone()))
                .or_default()
                .push(line.describe());
        }
    }
    denied
        .into_iter()
        .map(|((source, destination), lines)| Violation {
            invariant: "INV-7",
            what: format!(
                "{source} -> {destination} is denied by the intentions, yet {} request(s) reached {destination}",
                lines.len()
            ),
            evidence: lines.into_iter().take(10).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::JournalLine;
    use super::*;
    use crate::config::intentions::{IntentionEntry, ServiceMatch, SourceIntention};
    use crate::mesh::intentions::Intentions;

    fn line(source: &str, service: &str) -> JournalLine {
        JournalLine {
            service: service.into(),
            seq: 1,
            at: std::time::Duration::ZERO,
            source: Some(format!("spiffe://x.consul/ns/default/dc/dc1/svc/{source}")),
            method: "GET".into(),
            path: "/".into(),
            trace: None,
        }
    }

    #[test]
    fn inv7_flags_a_request_from_a_denied_source() {
        let entries = vec![IntentionEntry {
            destination: ServiceMatch::Exact("value-architect".into()),
            meta: Default::default(),
            sources: vec![SourceIntention {
                source: ServiceMatch::Exact("value-committer".into()),
                rule: Rule::L4(Action::Allow),
                description: None,
            }],
        }];
        let t = Trace {
            journal: vec![
                line("value-committer", "value-architect"),
                line("redis", "value-architect"),
            ],
            intentions: Some(Intentions::new(entries, Action::Deny)),
            ..Trace::default()
        };
        let v = inv7_denied_pairs(&t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].what.starts_with("redis -> value-architect is denied"));
        // Intentions that changed while the stack ran are not judged.
        let changed = Trace {
            intentions: None,
            ..t
        };
        assert!(inv7_denied_pairs(&changed).is_empty());
    }
}
