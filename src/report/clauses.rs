//! The clause matrix: which scenarios verify each clause of the catalogue ([`crate::clauses`]),
//! and with what verdict.
//!
//! ```text
//!   catalogue ───┐
//!                ├──► RunReport::clause_matrix() ──► rows (Passed / Failed / Uncovered) + unknown tags
//!   @CB-2 tags ──┘
//! ```

use serde::Serialize;

use super::model::{RunReport, Status};

/// One clause of the contract, as the report shows it (the catalogue, [`crate::clauses`], makes
/// these rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseDef {
    pub id: String,
    pub text: String,
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
    /// A scenario tagged with it failed. (An undefined step is a usage error, not a broken
    /// clause: such a scenario verifies nothing.)
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
            row.verdict = if row.scenarios.iter().any(|s| s.status == Status::Failed) {
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

    /// The built-in catalogue's rows (test-only: the report itself is given its rows).
    fn catalogue() -> Vec<ClauseDef> {
        crate::clauses::Catalogue::built_in().report_rows()
    }
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
            evidence: Default::default(),
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
            secrets: Secrets::default(),
        }
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
    fn the_report_lists_the_catalogue_in_its_order() {
        let c = catalogue();
        assert_eq!(c.len(), 40);
        assert_eq!(c[13].id, "CB-1");
        assert_eq!(c[13].text, "A breaker starts CLOSED.");
    }

    #[test]
    fn an_undefined_step_does_not_fail_its_clause() {
        let m = run(&[], vec![scenario("typo", &["ACL-3"], Status::Undefined)]).clause_matrix();
        let row = m.rows.iter().find(|r| r.id == "ACL-3").expect("ACL-3 row");
        assert_eq!(row.verdict, ClauseVerdict::Uncovered);
        assert!(m.rows.iter().all(|r| r.verdict != ClauseVerdict::Failed));
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
        assert_eq!(m.count(ClauseVerdict::Uncovered), 38);
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
