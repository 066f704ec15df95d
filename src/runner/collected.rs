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
                "feature file could not be used",
                &problem.message,
            ));
        }
        if let Some(reason) = interrupted {
            let message = format!(
                "{reason}; {count} scenario(s) were still running and are reported as skipped"
            );
            features.push(problem_entry("(run)", "run interrupted", &message));
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
        docstring: None,
        table: None,
    }
}

/// A one-scenario "feature" that carries a failure belonging to no scenario. It has no clause
/// tags, so it fails the run without failing any clause.
fn problem_entry(path: &str, name: &str, message: &str) -> FeatureReport {
    FeatureReport {
        name: format!("{path}: {name}"),
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
            steps: vec![step("", name, 1, Status::Failed, Some(message))],
            stack_startup: None,
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
