//! The intention decision: a pure function of (source, destination, request) over a set of
//! validated entries and the stack's default action (SPEC §6, MESH-3, MESH-6).
//!
//! ```text
//!   entries for `dst` and `*` ─► sources matching `src` or `*` ─► the highest precedence one
//!        (9 exact→exact, 8 *→exact, 6 exact→*, 5 *→*)              │
//!                                               L4: its action ◄───┤
//!                 L7: first permission matching the request ◄──────┘
//!                     no permission matches → the default (never a lower intention)
//!   nothing matches → the default (valueverse: deny)
//! ```
//!
//! Without a request (an L4 check, a tcp destination, `/v1/connect/intentions/check`) an L7
//! intention counts as deny, as Consul's check and authorize endpoints do.

use std::fmt;

use crate::config::intentions::model::{
    precedence, Action, HttpRequestView, IntentionEntry, Rule, ServiceMatch, SourceIntention,
};

/// The outcome of one decision, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reason: Reason,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.action == Action::Allow
    }
}

/// Why a decision came out as it did (for logs, the journal and step messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// An L4 intention decided.
    L4 { intention: Matched },
    /// An L7 intention's permission (0-based index) matched the request.
    L7Permission { intention: Matched, index: usize },
    /// An L7 intention applied but none of its permissions matched: the default decided.
    L7NoPermissionMatched { intention: Matched },
    /// An L7 intention applied but there was no HTTP request to match: deny.
    L7WithoutRequest { intention: Matched },
    /// No intention for this pair: the default decided.
    Default,
}

/// The intention that governed a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub source: ServiceMatch,
    pub destination: ServiceMatch,
    pub precedence: u8,
}

impl fmt::Display for Matched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "default/{} => default/{} (precedence {})",
            self.source, self.destination, self.precedence
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::L4 { intention } => write!(f, "Matched L4 intention: {intention}"),
            Reason::L7Permission { intention, index } => {
                write!(f, "Matched L7 intention: {intention}, permission {index}")
            }
            Reason::L7NoPermissionMatched { intention } => write!(
                f,
                "Matched L7 intention: {intention}, no permission matched: default behavior"
            ),
            Reason::L7WithoutRequest { intention } => write!(
                f,
                "Matched L7 intention: {intention}, which denies non-HTTP traffic"
            ),
            Reason::Default => f.write_str("Default behavior configured for the stack"),
        }
    }
}

/// The intention governing `source` → `destination`: the highest-precedence match.
pub fn governing<'a>(
    entries: &'a [IntentionEntry],
    source: &str,
    destination: &str,
) -> Option<(&'a SourceIntention, Matched)> {
    entries
        .iter()
        .filter(|e| e.destination.matches(destination))
        .flat_map(|e| {
            e.sources
                .iter()
                .filter(|s| s.source.matches(source))
                .map(move |s| (s, &e.destination))
        })
        .map(|(s, dst)| {
            let matched = Matched {
                source: s.source.clone(),
                destination: dst.clone(),
                precedence: precedence(&s.source, dst),
            };
            (s, matched)
        })
        // One intention per (source pattern, destination pattern) after validation, so
        // precedences never tie.
        .max_by_key(|(_, m)| m.precedence)
}

/// Decides `source` → `destination`; `request` is `None` for L4 traffic.
pub fn decide(
    entries: &[IntentionEntry],
    default: Action,
    source: &str,
    destination: &str,
    request: Option<&HttpRequestView<'_>>,
) -> Decision {
    let Some((intention, matched)) = governing(entries, source, destination) else {
        return Decision {
            action: default,
            reason: Reason::Default,
        };
    };
    match (&intention.rule, request) {
        (Rule::L4(action), _) => Decision {
            action: *action,
            reason: Reason::L4 { intention: matched },
        },
        (Rule::L7(_), None) => Decision {
            action: Action::Deny,
            reason: Reason::L7WithoutRequest { intention: matched },
        },
        (Rule::L7(permissions), Some(req)) => {
            match permissions.iter().position(|p| p.http.matches(req)) {
                Some(index) => Decision {
                    action: permissions[index].action,
                    reason: Reason::L7Permission {
                        intention: matched,
                        index,
                    },
                },
                None => Decision {
                    action: default,
                    reason: Reason::L7NoPermissionMatched { intention: matched },
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::intentions::model::{HttpMatch, PathMatch, Permission};

    fn l4(source: &str, action: Action) -> SourceIntention {
        SourceIntention {
            source: ServiceMatch::parse(source),
            rule: Rule::L4(action),
            description: None,
        }
    }

    fn entry(destination: &str, sources: Vec<SourceIntention>) -> IntentionEntry {
        IntentionEntry {
            destination: ServiceMatch::parse(destination),
            meta: Default::default(),
            sources,
        }
    }

    fn perm(action: Action, prefix: &str, methods: &[&str]) -> Permission {
        Permission {
            action,
            http: HttpMatch {
                path: Some(PathMatch::Prefix(prefix.into())),
                methods: methods.iter().map(|m| m.to_string()).collect(),
                headers: vec![],
            },
        }
    }

    fn get<'a>(path: &'a str, h: &'a http::HeaderMap) -> HttpRequestView<'a> {
        HttpRequestView {
            method: "GET",
            path,
            headers: h,
        }
    }

    #[test]
    fn nothing_matching_falls_to_the_default() {
        let entries = vec![entry("db", vec![l4("web", Action::Allow)])];
        let d = decide(&entries, Action::Deny, "api", "db", None);
        assert_eq!(d.action, Action::Deny);
        assert_eq!(d.reason, Reason::Default);
        let d = decide(&entries, Action::Allow, "api", "db", None);
        assert_eq!(d.action, Action::Allow);
    }

    #[test]
    fn the_highest_precedence_intention_wins_in_every_order() {
        // exact→exact deny (9) beats *→exact allow (8), exact→* allow (6), *→* allow (5).
        let entries = vec![
            entry("*", vec![l4("*", Action::Allow), l4("web", Action::Allow)]),
            entry("db", vec![l4("*", Action::Allow), l4("web", Action::Deny)]),
        ];
        let d = decide(&entries, Action::Allow, "web", "db", None);
        assert_eq!(d.action, Action::Deny);
        let Reason::L4 { intention } = &d.reason else {
            panic!("{:?}", d.reason)
        };
        assert_eq!(intention.precedence, 9);
        // Another source: *→db (8) applies, not *→* (5).
        let d = decide(&entries, Action::Deny, "api", "db", None);
        assert_eq!(d.action, Action::Allow);
        let mut reversed = entries.clone();
        reversed.reverse();
        for e in &mut reversed {
            e.sources.reverse();
        }
        assert_eq!(
            decide(&reversed, Action::Allow, "web", "db", None).action,
            Action::Deny
        );
    }

    #[test]
    fn a_wildcard_source_to_exact_beats_an_exact_source_to_wildcard() {
        let entries = vec![
            entry("db", vec![l4("*", Action::Deny)]),
            entry("*", vec![l4("web", Action::Allow)]),
        ];
        let d = decide(&entries, Action::Allow, "web", "db", None);
        assert_eq!(d.action, Action::Deny, "8 beats 6");
        assert!(decide(&entries, Action::Deny, "web", "cache", None).allowed());
    }

    #[test]
    fn within_l7_the_first_matching_permission_wins() {
        let entries = vec![entry(
            "api",
            vec![SourceIntention {
                source: ServiceMatch::parse("web"),
                rule: Rule::L7(vec![
                    perm(Action::Deny, "/admin", &[]),
                    perm(Action::Allow, "/", &["GET"]),
                ]),
                description: None,
            }],
        )];
        let h = http::HeaderMap::new();
        let d = decide(
            &entries,
            Action::Allow,
            "web",
            "api",
            Some(&get("/admin/x", &h)),
        );
        assert_eq!(d.action, Action::Deny);
        assert!(matches!(d.reason, Reason::L7Permission { index: 0, .. }));
        let d = decide(
            &entries,
            Action::Deny,
            "web",
            "api",
            Some(&get("/items", &h)),
        );
        assert_eq!(d.action, Action::Allow);
        assert!(matches!(d.reason, Reason::L7Permission { index: 1, .. }));
    }

    #[test]
    fn an_unmatched_l7_request_goes_to_the_default_not_to_a_lower_intention() {
        let entries = vec![
            entry(
                "api",
                vec![SourceIntention {
                    source: ServiceMatch::parse("web"),
                    rule: Rule::L7(vec![perm(Action::Allow, "/public", &[])]),
                    description: None,
                }],
            ),
            // A lower-precedence allow that must NOT be consulted.
            entry("*", vec![l4("*", Action::Allow)]),
        ];
        let h = http::HeaderMap::new();
        let d = decide(
            &entries,
            Action::Deny,
            "web",
            "api",
            Some(&get("/private", &h)),
        );
        assert_eq!(d.action, Action::Deny);
        assert!(matches!(d.reason, Reason::L7NoPermissionMatched { .. }));
        assert!(d.reason.to_string().contains("default/web => default/api"));
    }

    #[test]
    fn an_l7_intention_denies_traffic_without_a_request() {
        let entries = vec![entry(
            "api",
            vec![SourceIntention {
                source: ServiceMatch::parse("web"),
                rule: Rule::L7(vec![perm(Action::Allow, "/", &[])]),
                description: None,
            }],
        )];
        let d = decide(&entries, Action::Allow, "web", "api", None);
        assert_eq!(d.action, Action::Deny);
        assert!(matches!(d.reason, Reason::L7WithoutRequest { .. }));
    }
}
