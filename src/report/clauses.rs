//! The clause catalogue (SPEC §8) and the clause matrix: which scenarios verify each clause, and
//! with what verdict.
//!
//! ```text
//!   catalogue() ─┐
//!                ├──► RunReport::clause_matrix() ──► rows (Passed / Failed / Uncovered) + unknown tags
//!   @CB-2 tags ──┘
//! ```

use serde::Serialize;

use super::model::{RunReport, Status};

/// One clause of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseDef {
    pub id: String,
    pub text: String,
}

/// SPEC §8, verbatim.
const CATALOGUE: &[(&str, &str)] = &[
    ("AUTH-1", "A request without a token gets 401 `Unauthorized` and `WWW-Authenticate: Bearer`."),
    ("AUTH-2", "A valid HS256 token for a known consumer is proxied; the upstream sees the consumer headers, not client-forged ones."),
    ("AUTH-3", "A token with a bad signature, unknown `iss`, missing `iss`, wrong or `none` alg, or malformed encoding gets 401 with Kong's message."),
    ("AUTH-4", "An expired token (`exp <= now`) and a not-yet-valid token (`nbf > now`) get 401; a token living longer than `maximum_expiration` gets 401."),
    ("AUTH-5", "Tokens from query `?jwt=` and configured cookies work; two different tokens in one request get 401 `Multiple tokens provided`."),
    ("ACL-1", "admin-user (group admin) may use every route."),
    ("ACL-2", "frontend-app (group user) may use user routes only; others get 403 `You cannot consume this service`."),
    ("ACL-3", "internal-services (group service) may use service routes only."),
    ("ACL-4", "The upstream receives `X-Consumer-Groups`."),
    ("RATE-1", "The 101st request in a minute for one consumer gets 429 with the rate-limit headers; the count restarts at the next minute."),
    ("RATE-2", "The hour limit (10,000) is enforced the same way."),
    ("RATE-3", "Consumers are limited independently; 401/403 responses consume no quota."),
    ("CB-1", "A breaker starts CLOSED."),
    ("CB-2", "5 consecutive failed attempts open it; a success in between resets the count."),
    ("CB-3", "While OPEN, nothing reaches the service and the fallback comes back at once."),
    ("CB-4", "After 60 s OPEN, the next request is a HALF-OPEN trial."),
    ("CB-5", "3 consecutive trial successes close it; any trial failure reopens it for another 60 s."),
    ("CB-6", "`X-Circuit-Breaker-State` is on every response that reached the breaker and matches the admin API."),
    ("CB-7", "Breakers are per service."),
    ("RETRY-1", "Connection failures and timeouts are retried up to 3 times; HTTP error responses are not retried; a sent POST is not retried."),
    ("TIMEOUT-1", "An upstream that does not answer within 30 s gives 504."),
    ("BULK-1", "The 101st concurrent request to one service gets 503 at once; it does not count as a breaker failure."),
    ("MESH-1", "Services talk over mTLS with SPIFFE identities from the stack CA."),
    ("MESH-2", "A caller without a mesh certificate, or with one from another CA, is refused at the handshake."),
    ("MESH-3", "Allowed pairs (valueverse table) succeed; every other pair is denied (403 RBAC for http, closed connection for tcp)."),
    ("MESH-4", "A sidecar refuses an upstream that presents the wrong identity."),
    ("MESH-5", "Intention changes take effect for new connections without a restart."),
    ("MESH-6", "L7 permissions (path, method, header) are enforced, first match wins."),
    ("OBS-1", "Gateway and sidecars expose Prometheus metrics: requests by status, breaker state and transitions, intention denials, handshake failures."),
    ("OBS-2", "A W3C `traceparent` is created at the gateway if absent and reaches the service unchanged in trace id."),
    ("LAT-1", "Latency steps record HDR histograms and enforce percentile thresholds (e.g. p99 below 50 ms)."),
];

/// Every clause of SPEC §8, in the spec's order.
pub fn catalogue() -> Vec<ClauseDef> {
    CATALOGUE
        .iter()
        .map(|(id, text)| ClauseDef {
            id: (*id).to_string(),
            text: (*text).to_string(),
        })
        .collect()
}

/// `true` for a tag shaped like a clause id: uppercase letters, `-`, digits (`CB-2`, `TIMEOUT-1`).
/// A leading `@` is ignored.
pub fn is_clause_id(tag: &str) -> bool {
    let tag = tag.strip_prefix('@').unwrap_or(tag);
    match tag.rsplit_once('-') {
        Some((prefix, number)) => {
            !prefix.is_empty()
                && prefix.bytes().all(|b| b.is_ascii_uppercase())
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Same as [`is_clause_id`], named for filtering tag lists.
pub fn is_clause_tag(tag: &str) -> bool {
    is_clause_id(tag)
}

/// The clause ids among `tags` (with or without `@`), without `@`, in order, without repeats.
pub fn clause_ids<S: AsRef<str>>(tags: &[S]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.as_ref();
        if is_clause_id(tag) {
            let id = tag.strip_prefix('@').unwrap_or(tag).to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// A clause's result over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClauseVerdict {
    /// At least one scenario passed and none failed.
    Passed,
    /// A scenario tagged with it failed or had an undefined step.
    Failed,
    /// No scenario verified it (none tagged, or all of them skipped).
    Uncovered,
}

impl ClauseVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ClauseVerdict::Passed => "passed",
            ClauseVerdict::Failed => "failed",
            ClauseVerdict::Uncovered => "uncovered",
        }
    }
}

/// A scenario that verifies a clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioRef {
    pub feature: String,
    pub feature_path: String,
    pub scenario: String,
    pub line: usize,
    pub status: Status,
    /// HTML anchor of the scenario in `index.html` (see [`scenario_anchor`]).
    pub anchor: String,
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseRow {
    pub id: String,
    pub text: String,
    pub verdict: ClauseVerdict,
    pub scenarios: Vec<ScenarioRef>,
}

/// A tag shaped like a clause id that the catalogue does not know (a typo such as `@CB-9`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownClause {
    pub id: String,
    pub scenarios: Vec<ScenarioRef>,
}

/// Per clause: its scenarios and verdict; plus unknown clause tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseMatrix {
    pub rows: Vec<ClauseRow>,
    pub unknown: Vec<UnknownClause>,
}

impl ClauseMatrix {
    pub fn uncovered(&self) -> impl Iterator<Item = &ClauseRow> {
        self.rows
            .iter()
            .filter(|r| r.verdict == ClauseVerdict::Uncovered)
    }

    /// How many rows have the given verdict.
    pub fn count(&self, verdict: ClauseVerdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }
}

/// The `id` of scenario `scenario` of feature `feature` (0-based) in `index.html`.
pub fn scenario_anchor(feature: usize, scenario: usize) -> String {
    format!("scenario-{}-{}", feature + 1, scenario + 1)
}

impl RunReport {
    /// The clause matrix against [`RunReport::clauses`]. A scenario verifies the clause ids in its
    /// `clauses` and the clause ids among its feature's tags.
    pub fn clause_matrix(&self) -> ClauseMatrix {
        let mut rows: Vec<ClauseRow> = self
            .clauses
            .iter()
            .map(|c| ClauseRow {
                id: c.id.clone(),
                text: c.text.clone(),
                verdict: ClauseVerdict::Uncovered,
                scenarios: Vec::new(),
            })
            .collect();
        let mut unknown: Vec<UnknownClause> = Vec::new();

        for (fi, feature) in self.features.iter().enumerate() {
            let feature_clauses = clause_ids(&feature.tags);
            for (si, scenario) in feature.scenarios.iter().enumerate() {
                let mut ids = feature_clauses.clone();
                for id in clause_ids(&scenario.clauses) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                for id in ids {
                    let reference = ScenarioRef {
                        feature: feature.name.clone(),
                        feature_path: feature.path.clone(),
                        scenario: scenario.name.clone(),
                        line: scenario.line,
                        status: scenario.status,
                        anchor: scenario_anchor(fi, si),
                    };
                    if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
                        row.scenarios.push(reference);
                    } else if let Some(u) = unknown.iter_mut().find(|u| u.id == id) {
                        u.scenarios.push(reference);
                    } else {
                        unknown.push(UnknownClause {
                            id,
                            scenarios: vec![reference],
                        });
                    }
                }
            }
        }

        for row in &mut rows {
            row.verdict = if row.scenarios.iter().any(|s| s.status.is_failure()) {
                ClauseVerdict::Failed
            } else if row.scenarios.iter().any(|s| s.status == Status::Passed) {
                ClauseVerdict::Passed
            } else {
                ClauseVerdict::Uncovered
            };
        }
        ClauseMatrix { rows, unknown }
    }

    /// Ids of the catalogue clauses with a failing scenario, in catalogue order.
    pub fn failed_clauses(&self) -> Vec<String> {
        self.clause_matrix()
            .rows
            .into_iter()
            .filter(|r| r.verdict == ClauseVerdict::Failed)
            .map(|r| r.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{FeatureReport, ScenarioReport, Secrets, StackInfo};
    use std::time::{Duration, SystemTime};

    fn scenario(name: &str, clauses: &[&str], status: Status) -> ScenarioReport {
        ScenarioReport {
            name: name.into(),
            keyword: "Scenario".into(),
            line: 1,
            tags: clauses.iter().map(|c| c.to_string()).collect(),
            clauses: clause_ids(clauses),
            status,
            duration: Duration::ZERO,
            steps: vec![],
            stack_startup: None,
        }
    }

    fn run(feature_tags: &[&str], scenarios: Vec<ScenarioReport>) -> RunReport {
        RunReport {
            run_id: "r".into(),
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            stack: StackInfo::default(),
            seed: 0,
            real_time: false,
            features: vec![FeatureReport {
                name: "f".into(),
                tags: feature_tags.iter().map(|t| t.to_string()).collect(),
                scenarios,
                ..FeatureReport::default()
            }],
            clauses: catalogue(),
            histograms: vec![],
            breakers: vec![],
            secrets: Secrets::default(),
        }
    }

    #[test]
    fn catalogue_holds_every_clause_of_the_spec_once() {
        let c = catalogue();
        assert_eq!(c.len(), 31);
        assert!(c.iter().all(|d| is_clause_id(&d.id)));
        let mut ids: Vec<_> = c.iter().map(|d| d.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 31);
        assert_eq!(c[12].id, "CB-1");
        assert_eq!(c[12].text, "A breaker starts CLOSED.");
    }

    #[test]
    fn recognises_clause_tags_and_ignores_other_tags() {
        assert!(is_clause_id("@CB-2"));
        assert!(is_clause_id("TIMEOUT-1"));
        assert!(!is_clause_id("serial"));
        assert!(!is_clause_id("allow.skipped"));
        assert!(!is_clause_id("cb-2"));
        assert_eq!(
            clause_ids(&["@AUTH-4", "slow", "AUTH-4", "CB-1"]),
            ["AUTH-4", "CB-1"]
        );
    }

    #[test]
    fn a_failing_scenario_fails_its_clause_and_untagged_clauses_are_uncovered() {
        let m = run(
            &[],
            vec![
                scenario("ok", &["CB-1", "CB-2"], Status::Passed),
                scenario("broken", &["CB-2"], Status::Failed),
            ],
        )
        .clause_matrix();
        let row = |id: &str| m.rows.iter().find(|r| r.id == id).cloned();
        assert_eq!(row("CB-1").map(|r| r.verdict), Some(ClauseVerdict::Passed));
        let cb2 = row("CB-2").expect("CB-2 row");
        assert_eq!(cb2.verdict, ClauseVerdict::Failed);
        assert_eq!(cb2.scenarios.len(), 2);
        assert_eq!(cb2.scenarios[1].anchor, "scenario-1-2");
        assert_eq!(m.count(ClauseVerdict::Uncovered), 29);
        let r = run(
            &[],
            vec![scenario("broken", &["CB-2", "CB-9"], Status::Failed)],
        );
        assert_eq!(r.failed_clauses(), ["CB-2"]);
        assert!(m.unknown.is_empty());
    }

    #[test]
    fn feature_tags_cover_every_scenario_and_unknown_ids_are_listed() {
        let m = run(
            &["ACL-4", "slow"],
            vec![
                scenario("a", &["CB-9"], Status::Passed),
                scenario("b", &["CB-9"], Status::Skipped),
            ],
        )
        .clause_matrix();
        let acl4 = m.rows.iter().find(|r| r.id == "ACL-4").expect("ACL-4 row");
        assert_eq!(acl4.scenarios.len(), 2);
        assert_eq!(acl4.verdict, ClauseVerdict::Passed);
        assert_eq!(m.unknown.len(), 1);
        assert_eq!(m.unknown[0].id, "CB-9");
        assert_eq!(m.unknown[0].scenarios.len(), 2);
    }

    #[test]
    fn a_clause_whose_scenarios_were_all_skipped_is_uncovered() {
        let m = run(&[], vec![scenario("s", &["RATE-2"], Status::Skipped)]).clause_matrix();
        let row = m
            .rows
            .iter()
            .find(|r| r.id == "RATE-2")
            .expect("RATE-2 row");
        assert_eq!(row.verdict, ClauseVerdict::Uncovered);
        assert_eq!(row.scenarios.len(), 1);
    }
}
