//! What the collector has gathered: finished features, scenarios still running, and problems
//! that belong to no scenario (feature files that do not parse). Shared with the runner so an
//! interrupted run still reports what happened.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::report::model::{FeatureReport, ScenarioReport, Status, StepReport};

/// Scenario key: feature path, scenario line, scenario name.
pub type ScenarioKey = (String, usize, String);

/// A scenario in flight.
pub(super) struct Running {
    pub report: ScenarioReport,
    pub started: SystemTime,
    pub step_started: SystemTime,
    /// When each recorded step ended, parallel to `report.steps` (places exchanges under steps).
    pub step_ends: Vec<SystemTime>,
    /// The failing step's own exchanges, placed before its report is pushed.
    pub pending_exchanges: (Vec<crate::report::model::Exchange>, usize),
    /// Every step the scenario has (background first), to report the ones never run.
    pub expected: Vec<ExpectedStep>,
    /// Attempts still left after this one (`@retry`).
    pub retries_left: usize,
}

/// A step as written, for reporting it as skipped when an earlier step failed.
pub(super) struct ExpectedStep {
    pub keyword: String,
    pub text: String,
    pub line: usize,
}

/// A problem that is no scenario's: it fails the run and is reported like a failed scenario.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The feature file (or what the problem concerns).
    pub path: String,
    pub message: String,
}

#[derive(Default)]
pub struct Collected {
    pub(super) features: BTreeMap<String, FeatureReport>,
    pub(super) running: BTreeMap<ScenarioKey, Running>,
    pub(super) problems: Vec<Problem>,
}

impl Collected {
    /// Whether anything failed so far (for `--fail-fast` across feature paths).
    pub fn has_failure(&self) -> bool {
        !self.problems.is_empty()
            || self
                .features
                .values()
                .flat_map(|f| &f.scenarios)
                .any(|s| s.status.is_failure())
    }

    /// Problems so far (unparsable feature files).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Records a finished scenario, replacing an earlier attempt of the same one (`@retry`).
    pub(super) fn record(&mut self, path: &str, scenario: ScenarioReport) {
        if let Some(feature) = self.features.get_mut(path) {
            feature
                .scenarios
                .retain(|s| !(s.line == scenario.line && s.name == scenario.name));
            feature.scenarios.push(scenario);
            feature.scenarios.sort_by_key(|s| s.line);
        }
    }

    /// Everything collected, in path order. When `interrupted`, scenarios still running are
    /// reported as skipped (they neither passed nor failed their clause) and one failed entry
    /// says the run was interrupted, so the verdict cannot read "passed". Problems become failed
    /// entries of their own.
    pub fn finish(&mut self, interrupted: Option<&str>, at: SystemTime) -> Vec<FeatureReport> {
        let unfinished = std::mem::take(&mut self.running);
        let count = unfinished.len();
        for ((path, _, _), mut running) in unfinished {
            let reason = interrupted.unwrap_or("the run ended before this scenario finished");
            running.report.steps.push(step(
                "",
                "(unfinished)",
                running.report.line,
                Status::Skipped,
                Some(reason),
            ));
            running.report.status = Status::Skipped;
            running.report.duration = at.duration_since(running.started).unwrap_or_default();
            self.record(&path, running.report);
        }
        let mut features: Vec<FeatureReport> =
            std::mem::take(&mut self.features).into_values().collect();
        for problem in std::mem::take(&mut self.problems) {
            features.push(problem_entry(
                &problem.path,
                &problem.path,
                "feature file could not be used",
                &problem.message,
            ));
        }
        if let Some(reason) = interrupted {
            let message = format!(
                "{reason}; {count} scenario(s) were still running and are reported as skipped"
            );
            features.push(problem_entry(
                "(run)",
                "Run interrupted",
                "the run stopped before every scenario finished",
                &message,
            ));
        }
        features
    }
}

fn step(keyword: &str, text: &str, line: usize, status: Status, error: Option<&str>) -> StepReport {
    StepReport {
        keyword: keyword.to_string(),
        text: text.to_string(),
        line,
        status,
        duration: Duration::ZERO,
        error: error.map(str::to_string),
        exchange: None,
        exchanges: Vec::new(),
        exchanges_omitted: 0,
        docstring: None,
        table: None,
    }
}

/// A one-scenario "feature" that carries a failure belonging to no scenario. It has no clause
/// tags, so it fails the run without failing any clause.
fn problem_entry(path: &str, feature: &str, name: &str, message: &str) -> FeatureReport {
    FeatureReport {
        name: feature.to_string(),
        path: path.to_string(),
        line: 1,
        description: None,
        tags: Vec::new(),
        scenarios: vec![ScenarioReport {
            name: name.to_string(),
            keyword: String::new(),
            line: 1,
            tags: Vec::new(),
            clauses: Vec::new(),
            status: Status::Failed,
            duration: Duration::ZERO,
            steps: vec![step("", "", 1, Status::Failed, Some(message))],
            examples: Vec::new(),
            repeats: Vec::new(),
            started_at: None,
            evidence: Default::default(),
        }],
    }
}

/// Appends, as skipped, every expected step the scenario did not report (cucumber stops a
/// scenario at its first failed or undefined step and says nothing of the rest).
pub(super) fn add_unrun_steps(running: &mut Running) {
    let reported: Vec<(usize, String)> = running
        .report
        .steps
        .iter()
        .map(|s| (s.line, s.text.clone()))
        .collect();
    for expected in &running.expected {
        if !reported.contains(&(expected.line, expected.text.clone())) {
            running.report.steps.push(step(
                &expected.keyword,
                &expected.text,
                expected.line,
                Status::Skipped,
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, line: usize, status: Status) -> ScenarioReport {
        ScenarioReport {
            name: name.into(),
            keyword: "Scenario".into(),
            line,
            tags: vec!["AUTH-1".into()],
            clauses: vec!["AUTH-1".into()],
            status,
            duration: Duration::ZERO,
            steps: Vec::new(),
            examples: Vec::new(),
            repeats: Vec::new(),
            started_at: None,
            evidence: Default::default(),
        }
    }

    fn collected_with_feature() -> Collected {
        let mut c = Collected::default();
        c.features.insert(
            "f.feature".into(),
            FeatureReport {
                name: "f".into(),
                path: "f.feature".into(),
                line: 1,
                description: None,
                tags: Vec::new(),
                scenarios: Vec::new(),
            },
        );
        c
    }

    #[test]
    fn a_retried_scenario_keeps_only_its_last_attempt() {
        let mut c = collected_with_feature();
        c.record("f.feature", scenario("s", 3, Status::Failed));
        c.record("f.feature", scenario("s", 3, Status::Passed));
        let features = c.finish(None, SystemTime::UNIX_EPOCH);
        let statuses: Vec<Status> = features[0].scenarios.iter().map(|s| s.status).collect();
        assert_eq!(statuses, vec![Status::Passed]);
    }

    #[test]
    fn steps_after_a_failure_are_reported_as_skipped_in_order() {
        let mut running = Running {
            report: scenario("s", 3, Status::Failed),
            started: SystemTime::UNIX_EPOCH,
            step_started: SystemTime::UNIX_EPOCH,
            step_ends: Vec::new(),
            pending_exchanges: Default::default(),
            expected: (4..=7)
                .map(|line| ExpectedStep {
                    keyword: "Then ".into(),
                    text: format!("step {line}"),
                    line,
                })
                .collect(),
            retries_left: 0,
        };
        running.report.steps = vec![
            step("Then ", "step 4", 4, Status::Passed, None),
            step("Then ", "step 5", 5, Status::Failed, Some("boom")),
        ];
        add_unrun_steps(&mut running);
        let got: Vec<(usize, Status)> = running
            .report
            .steps
            .iter()
            .map(|s| (s.line, s.status))
            .collect();
        assert_eq!(
            got,
            vec![
                (4, Status::Passed),
                (5, Status::Failed),
                (6, Status::Skipped),
                (7, Status::Skipped)
            ]
        );
    }

    #[test]
    fn an_interrupted_run_skips_unfinished_scenarios_and_fails_without_blaming_a_clause() {
        let mut c = collected_with_feature();
        c.running.insert(
            ("f.feature".into(), 3, "s".into()),
            Running {
                report: scenario("s", 3, Status::Passed),
                started: SystemTime::UNIX_EPOCH,
                step_started: SystemTime::UNIX_EPOCH,
                step_ends: Vec::new(),
                pending_exchanges: Default::default(),
                expected: Vec::new(),
                retries_left: 0,
            },
        );
        let features = c.finish(Some("interrupted by a signal"), SystemTime::UNIX_EPOCH);
        assert_eq!(features[0].scenarios[0].status, Status::Skipped);
        let interrupted = features.last().expect("an interruption entry");
        assert_eq!(interrupted.scenarios[0].status, Status::Failed);
        assert!(interrupted.scenarios[0].clauses.is_empty());
    }

    #[test]
    fn a_problem_fails_the_run_as_its_own_entry() {
        let mut c = collected_with_feature();
        c.problems.push(Problem {
            path: "bad.feature".into(),
            message: "bad.feature:3:1: not valid Gherkin here".into(),
        });
        assert!(c.has_failure());
        let features = c.finish(None, SystemTime::UNIX_EPOCH);
        let entry = features
            .iter()
            .find(|f| f.path == "bad.feature")
            .expect("entry");
        assert_eq!(entry.scenarios[0].status, Status::Failed);
        assert_eq!(
            entry.scenarios[0].steps[0].error.as_deref(),
            Some("bad.feature:3:1: not valid Gherkin here")
        );
    }
}
