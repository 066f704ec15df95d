//! `run --repeat N`: the suite runs N times and each scenario's N results are merged into one
//! report entry that keeps every status (`ScenarioReport::repeats`) and is flaky when it both
//! passed and failed.
//!
//! ```text
//!   round 1 ─► [FeatureReport] ─┐
//!   round 2 ─► [FeatureReport] ─┼─ merge ─► [FeatureReport]: status = worst, repeats = every status,
//!   round N ─► [FeatureReport] ─┘           steps/evidence of the first failing round (else the first)
//! ```
//!
//! Every round runs with the same seed: a failure the seed decides fails every round and is not
//! flaky; only what the seed does not fix (timing, the machine) makes a scenario flaky. The worst
//! status stands as the scenario's result, so a flaky scenario still fails the run (a contract
//! that holds only sometimes is not held), and the report and console say it is flaky.

use crate::report::model::{FeatureReport, Status};

/// Merges the rounds of a repeated run; one round is returned as it is.
pub fn merge(rounds: Vec<Vec<FeatureReport>>) -> Vec<FeatureReport> {
    if rounds.len() <= 1 {
        return rounds.into_iter().next().unwrap_or_default();
    }
    let mut out: Vec<FeatureReport> = Vec::new();
    for features in rounds {
        for mut feature in features {
            let scenarios = std::mem::take(&mut feature.scenarios);
            let index = match out.iter().position(|f| f.path == feature.path) {
                Some(i) => i,
                None => {
                    out.push(feature);
                    out.len() - 1
                }
            };
            let target = &mut out[index];
            for mut scenario in scenarios {
                let existing = target
                    .scenarios
                    .iter_mut()
                    .find(|t| t.line == scenario.line && t.name == scenario.name);
                match existing {
                    Some(kept) => {
                        let mut repeats = std::mem::take(&mut kept.repeats);
                        repeats.push(scenario.status);
                        // The first failing round explains the failure.
                        if !kept.status.is_failure() && scenario.status.is_failure() {
                            *kept = scenario;
                        }
                        kept.status = Status::aggregate(repeats.iter().copied());
                        kept.repeats = repeats;
                    }
                    None => {
                        scenario.repeats = vec![scenario.status];
                        target.scenarios.push(scenario);
                    }
                }
            }
            target.scenarios.sort_by_key(|s| s.line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn feature(statuses: &[(usize, Status)]) -> FeatureReport {
        FeatureReport {
            path: "features/a.feature".into(),
            scenarios: statuses
                .iter()
                .map(|(line, status)| crate::report::model::ScenarioReport {
                    name: format!("s{line}"),
                    keyword: "Scenario".into(),
                    line: *line,
                    tags: vec![],
                    clauses: vec![],
                    status: *status,
                    duration: Duration::from_millis(*line as u64),
                    steps: vec![],
                    examples: Vec::new(),
                    repeats: Vec::new(),
                    started_at: None,
                    evidence: Default::default(),
                })
                .collect(),
            ..FeatureReport::default()
        }
    }

    #[test]
    fn keeps_every_status_the_worst_as_result_and_the_failing_rounds_details() {
        use Status::{Failed as F, Passed as P};
        let merged = merge(vec![
            vec![feature(&[(3, P), (9, P)])],
            vec![feature(&[(3, F), (9, P)])],
            vec![feature(&[(3, P), (9, P)])],
        ]);
        assert_eq!(merged.len(), 1);
        let s = &merged[0].scenarios;
        assert_eq!(s[0].repeats, [P, F, P]);
        assert_eq!(s[0].status, F);
        assert!(s[0].is_flaky());
        assert!(!s[1].is_flaky());
        assert_eq!(s[1].status, P);
        assert_eq!(s[1].repeats, [P, P, P]);
    }

    #[test]
    fn a_single_round_is_left_alone() {
        let merged = merge(vec![vec![feature(&[(3, Status::Passed)])]]);
        assert!(merged[0].scenarios[0].repeats.is_empty());
    }
}
