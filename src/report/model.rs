//! The neutral run model every report writer consumes (SPEC §10).
//!
//! ```text
//!   cucumber events ──(runner builds)──► RunReport ──► redacted() ──► html / junit / cucumber json / results json
//!   each scenario's Evidence (evidence.rs) ──┘   (stack start-up, breakers, histograms, journals)
//! ```
//!
//! The model holds what happened, unredacted; [`RunReport::secrets`] carries the stack's secrets
//! (never serialised, never printed by `Debug`) and every writer renders
//! [`RunReport::redacted`], so a writer cannot forget to redact. Derived views (counts, verdict,
//! clause matrix) are computed here and in `clauses.rs`, never by a writer.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::clauses::ClauseDef;
use super::evidence::Evidence;
use super::format::{serialize_millis, serialize_rfc3339};
use super::redact::{redact_headers, redact_table, redact_text};

/// Outcome of a step or a scenario, as Cucumber reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    Undefined,
}

impl Status {
    /// `passed`, `failed`, `skipped` or `undefined` (Cucumber's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Undefined => "undefined",
        }
    }

    /// A failed or undefined outcome fails the run.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::Undefined)
    }

    /// A scenario's status from its steps: any failed → failed, else any undefined → undefined,
    /// else any skipped → skipped, else passed (an empty scenario passes, as in Cucumber).
    pub fn aggregate<I: IntoIterator<Item = Status>>(statuses: I) -> Status {
        let mut worst = Status::Passed;
        for s in statuses {
            worst = match (worst, s) {
                (Status::Failed, _) | (_, Status::Failed) => Status::Failed,
                (Status::Undefined, _) | (_, Status::Undefined) => Status::Undefined,
                (Status::Skipped, _) | (_, Status::Skipped) => Status::Skipped,
                _ => Status::Passed,
            };
        }
        worst
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The run's overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
        }
    }
}

/// Strings that must never appear in a report (the stack's JWT secrets). `Debug` shows only how
/// many there are; serialisation skips them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<String>);

impl Secrets {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

/// One run of the suite against one stack.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `YYYYMMDD-HHMMSS-<stack>`, see [`super::run_id`].
    pub run_id: String,
    /// Real wall time at which the run started.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub started_at: SystemTime,
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis")]
    pub duration: Duration,
    pub stack: StackInfo,
    pub seed: u64,
    /// `--real-time`: "N seconds pass" slept instead of jumping the stack clock.
    pub real_time: bool,
    pub features: Vec<FeatureReport>,
    /// The clause catalogue the matrix is built against (`crate::clauses::Catalogue::report_rows`).
    pub clauses: Vec<ClauseDef>,
    /// Redacted from every output; see the module docs.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// The stack the run used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StackInfo {
    pub name: String,
    /// The stack directory as given (`scenarios/valueverse`).
    pub dir: String,
    /// Unsupported Kong features and similar warnings from loading the stack (SPEC §2).
    pub warnings: Vec<String>,
}

/// One `.feature` file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeatureReport {
    pub name: String,
    /// Path relative to the project root (`features/auth/jwt.feature`).
    pub path: String,
    /// Line of the `Feature:` keyword (1-based).
    pub line: usize,
    pub description: Option<String>,
    /// Feature tags without `@`. Clause ids here apply to every scenario of the feature.
    pub tags: Vec<String>,
    pub scenarios: Vec<ScenarioReport>,
}

/// One executed scenario (an outline contributes one per example row).
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    /// `Scenario`, `Scenario Outline` or `Example`, as written.
    pub keyword: String,
    pub line: usize,
    /// Scenario tags without `@` (not including the feature's).
    pub tags: Vec<String>,
    /// Clause ids among the tags (`AUTH-4`); [`super::clause_ids`] extracts them.
    pub clauses: Vec<String>,
    pub status: Status,
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis")]
    pub duration: Duration,
    pub steps: Vec<StepReport>,
    /// What the scenario's own stack recorded: start-up time, breaker timelines, histograms,
    /// journals.
    #[serde(skip_serializing_if = "Evidence::is_empty")]
    pub evidence: Evidence,
}

impl ScenarioReport {
    /// The step that decided a failing scenario: the first failed or undefined one.
    pub fn failing_step(&self) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.status.is_failure())
    }
}

/// One step as run.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// `Given `, `When `, `Then `, `And `, `But `, `* ` (with the trailing space, as Cucumber has it).
    pub keyword: String,
    pub text: String,
    pub line: usize,
    pub status: Status,
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis")]
    pub duration: Duration,
    pub error: Option<String>,
    /// The last HTTP exchange of a failing step.
    pub exchange: Option<Exchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docstring: Option<String>,
    /// Data table rows, cells as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<Vec<Vec<String>>>,
}

/// A request and, when one came back, its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    pub request: HttpRecord,
    pub response: Option<HttpResponseRecord>,
}

/// A request as sent. `Debug` redacts credentials.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct HttpRecord {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A response as received. `Debug` redacts credentials.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct HttpResponseRecord {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl fmt::Debug for HttpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRecord")
            .field("method", &self.method)
            .field("url", &redact_text(&self.url, &[]))
            .field("headers", &redact_headers(&self.headers, &[]))
            .field("body", &redact_text(&self.body, &[]))
            .finish()
    }
}

impl fmt::Debug for HttpResponseRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponseRecord")
            .field("status", &self.status)
            .field("headers", &redact_headers(&self.headers, &[]))
            .field("body", &redact_text(&self.body, &[]))
            .finish()
    }
}

/// A latency histogram recorded by a latency or load step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistogramReport {
    pub name: String,
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    /// Ascending percentiles (`50`, `90`, `99`, `99.9`, ...) with their values.
    pub percentiles: Vec<PercentileValue>,
    /// File name under `histograms/` (`commitments-read.hlog`), when an interval log was recorded.
    pub hlog_file: Option<String>,
    /// The HdrHistogram interval log text; [`super::write_all`] writes it to `hlog_file`.
    #[serde(skip)]
    pub hlog: Option<String>,
}

/// One row of a percentile table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PercentileValue {
    pub percentile: f64,
    pub value_ms: f64,
}

/// How many of something ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub undefined: usize,
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        self.total += 1;
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Undefined => self.undefined += 1,
        }
    }
}

/// Scenario and step counts of a run or a feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub scenarios: Counts,
    pub steps: Counts,
}

impl FeatureReport {
    pub fn counts(&self) -> RunCounts {
        let mut counts = RunCounts::default();
        for scenario in &self.scenarios {
            counts.scenarios.add(scenario.status);
            for step in &scenario.steps {
                counts.steps.add(step.status);
            }
        }
        counts
    }

    /// Total scenario time.
    pub fn duration(&self) -> Duration {
        self.scenarios.iter().map(|s| s.duration).sum()
    }
}

impl RunReport {
    pub fn counts(&self) -> RunCounts {
        let mut total = RunCounts::default();
        for feature in &self.features {
            let c = feature.counts();
            for (sum, part) in [
                (&mut total.scenarios, c.scenarios),
                (&mut total.steps, c.steps),
            ] {
                sum.total += part.total;
                sum.passed += part.passed;
                sum.failed += part.failed;
                sum.skipped += part.skipped;
                sum.undefined += part.undefined;
            }
        }
        total
    }

    /// Every scenario with its feature, in report order.
    pub fn scenarios(&self) -> impl Iterator<Item = (&FeatureReport, &ScenarioReport)> {
        self.features
            .iter()
            .flat_map(|f| f.scenarios.iter().map(move |s| (f, s)))
    }

    /// Every scenario's latency histograms, in report order.
    pub fn histograms(&self) -> impl Iterator<Item = &HistogramReport> {
        self.scenarios().flat_map(|(_, s)| &s.evidence.histograms)
    }

    /// Scenario counts only (`counts().scenarios`).
    pub fn scenario_counts(&self) -> Counts {
        self.counts().scenarios
    }

    /// Passed iff at least one scenario ran and none failed or was undefined.
    pub fn verdict(&self) -> Verdict {
        let c = self.counts().scenarios;
        // An invariant violation (SPEC §11) is a defect of Gauntlet: the run fails on it.
        let sound = super::invariants::violations(self).is_empty();
        if c.total > 0 && c.failed == 0 && c.undefined == 0 && sound {
            Verdict::Passed
        } else {
            Verdict::Failed
        }
    }

    /// A copy with every secret, JWT and credential header removed from everything a writer may
    /// print: names, descriptions, tags, step text, errors, docstrings, tables, exchanges,
    /// warnings, each scenario's evidence. Writers call this themselves; it is idempotent.
    pub fn redacted(&self) -> RunReport {
        let secrets = self.secrets.as_slice();
        let text = |s: &str| redact_text(s, secrets);
        let mut out = self.clone();
        out.stack.warnings = out.stack.warnings.iter().map(|w| text(w)).collect();
        for feature in &mut out.features {
            feature.name = text(&feature.name);
            feature.description = feature.description.as_deref().map(text);
            feature.tags = feature.tags.iter().map(|t| text(t)).collect();
            for scenario in &mut feature.scenarios {
                scenario.name = text(&scenario.name);
                scenario.tags = scenario.tags.iter().map(|t| text(t)).collect();
                scenario.evidence.redact(secrets);
                for step in &mut scenario.steps {
                    step.text = text(&step.text);
                    step.error = step.error.as_deref().map(text);
                    step.docstring = step.docstring.as_deref().map(text);
                    step.table = step
                        .table
                        .as_deref()
                        .map(|rows| redact_table(rows, secrets));
                    if let Some(exchange) = &mut step.exchange {
                        let request = &mut exchange.request;
                        request.url = text(&request.url);
                        request.headers = redact_headers(&request.headers, secrets);
                        request.body = text(&request.body);
                        if let Some(response) = &mut exchange.response {
                            response.headers = redact_headers(&response.headers, secrets);
                            response.body = text(&response.body);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(status: Status) -> StepReport {
        StepReport {
            keyword: "Given ".into(),
            text: "a step".into(),
            line: 3,
            status,
            duration: Duration::from_millis(1),
            error: None,
            exchange: None,
            docstring: None,
            table: None,
        }
    }

    fn scenario(status: Status, steps: Vec<StepReport>) -> ScenarioReport {
        ScenarioReport {
            name: "s".into(),
            keyword: "Scenario".into(),
            line: 2,
            tags: vec![],
            clauses: vec![],
            status,
            duration: Duration::from_millis(2),
            steps,
            evidence: Evidence::default(),
        }
    }

    fn run(scenarios: Vec<ScenarioReport>) -> RunReport {
        RunReport {
            run_id: "r".into(),
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            stack: StackInfo::default(),
            seed: 1,
            real_time: false,
            features: vec![FeatureReport {
                scenarios,
                ..FeatureReport::default()
            }],
            clauses: vec![],
            secrets: Secrets(vec!["topsecret".into()]),
        }
    }

    #[test]
    fn aggregates_step_statuses_worst_first() {
        use Status::*;
        assert_eq!(Status::aggregate([Passed, Skipped, Failed]), Failed);
        assert_eq!(Status::aggregate([Passed, Undefined, Skipped]), Undefined);
        assert_eq!(Status::aggregate([Passed, Skipped]), Skipped);
        assert_eq!(Status::aggregate([]), Passed);
    }

    #[test]
    fn counts_scenarios_and_steps_by_status() {
        let r = run(vec![
            scenario(Status::Passed, vec![step(Status::Passed)]),
            scenario(
                Status::Failed,
                vec![step(Status::Failed), step(Status::Skipped)],
            ),
        ]);
        let c = r.counts();
        assert_eq!(
            (c.scenarios.total, c.scenarios.passed, c.scenarios.failed),
            (2, 1, 1)
        );
        assert_eq!((c.steps.total, c.steps.skipped), (3, 1));
    }

    #[test]
    fn verdict_fails_on_undefined_and_on_an_empty_run() {
        assert_eq!(run(vec![]).verdict(), Verdict::Failed);
        assert_eq!(
            run(vec![scenario(Status::Undefined, vec![])]).verdict(),
            Verdict::Failed
        );
        assert_eq!(
            run(vec![
                scenario(Status::Passed, vec![]),
                scenario(Status::Skipped, vec![])
            ])
            .verdict(),
            Verdict::Passed
        );
    }

    #[test]
    fn debug_output_never_shows_secrets_or_credentials() {
        let mut s = step(Status::Failed);
        s.exchange = Some(Exchange {
            request: HttpRecord {
                method: "GET".into(),
                url: "/x".into(),
                headers: vec![("Authorization".into(), "Bearer opaque-credential".into())],
                body: String::new(),
            },
            response: None,
        });
        let r = run(vec![scenario(Status::Failed, vec![s])]);
        let debug = format!("{r:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(!debug.contains("opaque-credential"), "{debug}");
        assert!(debug.contains("Bearer [REDACTED]"));
    }

    #[test]
    fn redacted_copy_removes_secrets_from_steps_and_errors() {
        let mut s = step(Status::Failed);
        s.text = "a token signed with topsecret".into();
        s.error = Some("expected 401, secret topsecret".into());
        let r = run(vec![scenario(Status::Failed, vec![s])]).redacted();
        let step = &r.features[0].scenarios[0].steps[0];
        assert_eq!(step.text, "a token signed with [REDACTED]");
        assert_eq!(
            step.error.as_deref(),
            Some("expected 401, secret [REDACTED]")
        );
    }
}
