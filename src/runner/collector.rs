//! Turns cucumber's event stream into the neutral [`RunReport`](crate::report::RunReport) model, printing one line per
//! finished scenario as it goes.
//!
//! ```text
//!   cucumber runner ──events──► Collector ──► console progress
//!                                   └──────► FeatureReport / ScenarioReport / StepReport
//! ```
//! Undefined steps: cucumber reports a step no definition matches as "skipped"; the collector
//! checks the step collection and reports it as undefined, which fails the scenario.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cucumber::event::{self, Cucumber, Scenario as ScenarioEvent, Step as StepEvent};
use cucumber::gherkin;
use cucumber::{cli, parser, step, Event, Writer};

use super::collected::{add_unrun_steps, Collected, ExpectedStep, Running, ScenarioKey};
use crate::report::evidence::Evidence;
use crate::report::model::{FeatureReport, ScenarioReport, Status, StepReport};
use crate::report::{self, model};
use crate::steps::world::Exchange;
use crate::steps::GauntletWorld;

/// Each finished scenario's evidence, from the `after` hook (the World's side) to the collector.
pub type ExtrasMap = Arc<Mutex<BTreeMap<ScenarioKey, Evidence>>>;

pub fn scenario_key(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> ScenarioKey {
    (
        feature_path(feature),
        scenario.position.line,
        scenario.name.clone(),
    )
}

fn feature_path(feature: &gherkin::Feature) -> String {
    feature
        .path
        .as_ref()
        .map(|p| display_path(p))
        .unwrap_or_else(|| feature.name.clone())
}

/// A path relative to the working directory when it is under it.
pub fn display_path(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Collects events into reports.
pub struct Collector {
    steps: step::Collection<GauntletWorld>,
    extras: ExtrasMap,
    secrets: Vec<String>,
    /// Shared with the runner, so an interrupted run can still report what happened.
    state: Arc<Mutex<Collected>>,
    quiet: bool,
    /// The run's progress line (progress.rs).
    progress: Arc<super::progress::Progress>,
}

impl Collector {
    pub fn new(
        extras: ExtrasMap,
        secrets: Vec<String>,
        state: Arc<Mutex<Collected>>,
        quiet: bool,
        progress: Arc<super::progress::Progress>,
    ) -> Self {
        use cucumber::World as _;
        Collector {
            steps: GauntletWorld::collection(),
            extras,
            secrets,
            state,
            quiet,
            progress,
        }
    }

    /// Runs `f` on the collected state.
    fn with_state<T>(&self, f: impl FnOnce(&mut Collected) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut state| f(&mut state))
    }

    fn on_feature(
        &mut self,
        feature: &gherkin::Feature,
        ev: event::Feature<GauntletWorld>,
        at: SystemTime,
    ) {
        let path = feature_path(feature);
        self.with_state(|state| {
            state
                .features
                .entry(path.clone())
                .or_insert_with(|| FeatureReport {
                    name: feature.name.clone(),
                    path,
                    line: feature.position.line,
                    description: feature.description.clone(),
                    tags: feature.tags.clone(),
                    scenarios: Vec::new(),
                });
        });
        match ev {
            event::Feature::Scenario(scenario, ev) => {
                self.on_scenario(feature, None, &scenario, ev, at)
            }
            event::Feature::Rule(rule, event::Rule::Scenario(scenario, ev)) => {
                self.on_scenario(feature, Some(&rule), &scenario, ev, at)
            }
            _ => {}
        }
    }

    fn on_scenario(
        &mut self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        ev: event::RetryableScenario<GauntletWorld>,
        at: SystemTime,
    ) {
        let key = scenario_key(feature, scenario);
        match ev.event {
            ScenarioEvent::Started => {
                let tags: Vec<String> = feature
                    .tags
                    .iter()
                    .chain(rule.iter().flat_map(|r| &r.tags))
                    .chain(&scenario.tags)
                    .cloned()
                    .collect();
                let clauses = tags
                    .iter()
                    .filter(|t| report::clauses::is_clause_id(t))
                    .cloned()
                    .collect();
                let expected = feature
                    .background
                    .iter()
                    .chain(rule.and_then(|r| r.background.as_ref()))
                    .flat_map(|b| &b.steps)
                    .chain(&scenario.steps)
                    .map(|s| ExpectedStep {
                        keyword: s.keyword.clone(),
                        text: s.value.clone(),
                        line: s.position.line,
                    })
                    .collect();
                // An outline row: cucumber keeps the header and this row's values.
                let examples = scenario
                    .examples
                    .first()
                    .and_then(|e| e.table.as_ref())
                    .and_then(|t| match t.rows.as_slice() {
                        [header, row, ..] => {
                            Some(header.iter().cloned().zip(row.iter().cloned()).collect())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                let running = Running {
                    report: ScenarioReport {
                        name: scenario.name.clone(),
                        keyword: scenario.keyword.clone(),
                        line: scenario.position.line,
                        tags,
                        clauses,
                        status: Status::Passed,
                        duration: Duration::ZERO,
                        steps: Vec::new(),
                        examples,
                        repeats: Vec::new(),
                        started_at: None,
                        evidence: Evidence::default(),
                    },
                    started: at,
                    step_started: at,
                    step_ends: Vec::new(),
                    pending_exchanges: Default::default(),
                    expected,
                    retries_left: ev.retries.map_or(0, |r| r.left),
                };
                self.with_state(|state| state.running.insert(key, running));
            }
            ScenarioEvent::Background(step, ev) | ScenarioEvent::Step(step, ev) => {
                self.on_step(&key, &step, ev, at)
            }
            ScenarioEvent::Hook(_, event::Hook::Failed(_, info)) => {
                self.with_state(|state| {
                    let Some(running) = state.running.get_mut(&key) else {
                        return;
                    };
                    running.report.status = Status::Failed;
                    running.report.steps.push(StepReport {
                        keyword: "Hook ".into(),
                        text: "scenario set-up".into(),
                        line: running.report.line,
                        status: Status::Failed,
                        duration: Duration::ZERO,
                        error: Some(panic_message(&info)),
                        exchange: None,
                        exchanges: Vec::new(),
                        exchanges_omitted: 0,
                        docstring: None,
                        table: None,
                    });
                });
            }
            ScenarioEvent::Finished => self.finish(feature, key, at),
            _ => {}
        }
    }

    fn on_step(
        &mut self,
        key: &ScenarioKey,
        step: &gherkin::Step,
        ev: StepEvent<GauntletWorld>,
        at: SystemTime,
    ) {
        let undefined =
            matches!(ev, StepEvent::Skipped) && matches!(self.steps.find(step), Ok(None));
        // Every exchange of the scenario, when this step failed (the World comes with it).
        let mut timed: Vec<(SystemTime, Exchange)> = Vec::new();
        let (status, error, exchange) = match ev {
            StepEvent::Started => {
                self.with_state(|state| {
                    if let Some(running) = state.running.get_mut(key) {
                        running.step_started = at;
                    }
                });
                return;
            }
            StepEvent::Passed(..) => (Status::Passed, None, None),
            StepEvent::Skipped if undefined => {
                let hint = crate::steps::catalog::did_you_mean(step)
                    .map(|s| format!("; closest known step: {s}"))
                    .unwrap_or_default();
                (
                    Status::Undefined,
                    Some(format!("undefined step: {}{}", step.value, hint)),
                    None,
                )
            }
            StepEvent::Skipped => (Status::Skipped, None, None),
            StepEvent::Failed(_, _, world, err) => {
                let exchange = world
                    .as_ref()
                    .and_then(|w| w.exchanges.last().cloned())
                    .map(to_report_exchange);
                timed = world
                    .as_ref()
                    .map(|w| w.exchanges.timed().map(|(t, e)| (t, e.clone())).collect())
                    .unwrap_or_default();
                (Status::Failed, Some(step_error_message(&err)), exchange)
            }
        };
        self.with_state(|state| {
            let Some(running) = state.running.get_mut(key) else {
                return;
            };
            if !timed.is_empty() {
                place_exchanges(running, timed);
            }
            running.step_ends.push(at);
            let (exchanges, exchanges_omitted) = std::mem::take(&mut running.pending_exchanges);
            running.report.steps.push(StepReport {
                keyword: step.keyword.clone(),
                text: step.value.clone(),
                line: step.position.line,
                status,
                duration: at.duration_since(running.step_started).unwrap_or_default(),
                error,
                exchange,
                exchanges,
                exchanges_omitted,
                docstring: step.docstring.clone(),
                table: step.table.as_ref().map(|t| t.rows.clone()),
            });
        });
    }

    fn finish(&mut self, feature: &gherkin::Feature, key: ScenarioKey, at: SystemTime) {
        let Some(Some(mut running)) = self.with_state(|state| state.running.remove(&key)) else {
            return;
        };
        let mut evidence = self
            .extras
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&key))
            .unwrap_or_default();
        let hook_failed = running.report.status == Status::Failed;
        add_unrun_steps(&mut running);
        let report = &mut running.report;
        report.duration = at.duration_since(running.started).unwrap_or_default();
        report.started_at = Some(running.started);
        report.status = if hook_failed {
            Status::Failed
        } else {
            Status::aggregate(report.steps.iter().map(|s| s.status))
        };
        // What reached the services explains a failure; a passing scenario does not keep it.
        if !report.status.is_failure() {
            evidence.journals.clear();
            evidence.traces.clear();
        }
        report.evidence = evidence;
        // A failed attempt that `@retry` will run again is not a result yet.
        if report.status.is_failure() && running.retries_left > 0 {
            return;
        }
        self.progress.scenario_finished(report.status.is_failure());
        if !self.quiet {
            self.progress.print_line(&scenario_line(
                report,
                &feature_path(feature),
                &self.secrets,
            ));
        }
        let path = feature_path(feature);
        self.with_state(|state| state.record(&path, running.report));
    }
}

/// `✔ features/x.feature:12 name [CLAUSE] (3 ms)`, and for a failure where and why.
fn scenario_line(s: &ScenarioReport, path: &str, secrets: &[String]) -> String {
    let mark = match s.status {
        Status::Passed => "✔",
        Status::Skipped => "–",
        _ => "✘",
    };
    let clauses = if s.clauses.is_empty() {
        String::new()
    } else {
        format!(" [{}]", s.clauses.join(" "))
    };
    let mut line = format!(
        "{mark} {path}:{} {}{clauses} ({} ms)",
        s.line,
        report::redact::redact_text(&s.full_name(), secrets),
        s.duration.as_millis()
    );
    if let Some(step) = s.failing_step() {
        let error = step.error.as_deref().unwrap_or("");
        line.push_str(&format!(
            "\n    at line {}: {}{}\n    {}",
            step.line,
            step.keyword,
            report::redact::redact_text(&step.text, secrets),
            report::redact::redact_text(error, secrets)
        ));
    }
    line
}

/// Puts each exchange of a failing scenario under the step that made it: the first step that
/// ended after it was recorded (steps run one after another), the failing one for the rest.
/// A step keeps its first and last [`model::STEP_EXCHANGES`]` / 2` exchanges and counts the rest.
fn place_exchanges(running: &mut Running, timed: Vec<(SystemTime, Exchange)>) {
    let steps = running.report.steps.len();
    let mut buckets: Vec<Vec<Exchange>> = vec![Vec::new(); steps + 1];
    for (t, exchange) in timed {
        let index = running
            .step_ends
            .iter()
            .position(|end| *end >= t)
            .unwrap_or(steps);
        buckets[index.min(steps)].push(exchange);
    }
    let current = buckets.pop().unwrap_or_default();
    for (step, bucket) in running.report.steps.iter_mut().zip(buckets) {
        (step.exchanges, step.exchanges_omitted) = keep_ends(bucket);
    }
    running.pending_exchanges = keep_ends(current);
}

/// The first and last halves of [`model::STEP_EXCHANGES`], and how many were left out.
fn keep_ends(all: Vec<Exchange>) -> (Vec<model::Exchange>, usize) {
    let half = model::STEP_EXCHANGES / 2;
    let total = all.len();
    if total <= model::STEP_EXCHANGES {
        return (all.into_iter().map(to_report_exchange).collect(), 0);
    }
    let kept = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i < half || *i >= total - half)
        .map(|(_, e)| to_report_exchange(e))
        .collect();
    (kept, total - 2 * half)
}

fn to_report_exchange(e: Exchange) -> model::Exchange {
    let headers = |h: &http::HeaderMap| {
        h.iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect()
    };
    model::Exchange {
        request: model::HttpRecord {
            method: e.request.method.to_string(),
            url: e.request.url.clone(),
            headers: e
                .request
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&e.request.body).into_owned(),
        },
        response: e.response.map(|r| model::HttpResponseRecord {
            status: r.status,
            headers: headers(&r.headers),
            body: String::from_utf8_lossy(&r.body).into_owned(),
        }),
    }
}

fn step_error_message(err: &event::StepError) -> String {
    match err {
        event::StepError::Panic(info) => panic_message(info),
        other => other.to_string(),
    }
}

fn panic_message(info: &event::Info) -> String {
    if let Some(s) = info.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = info.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "the step panicked".to_string()
    }
}

// The collector keys every event by scenario, so it handles interleaved (concurrent) scenarios.
impl cucumber::writer::Normalized for Collector {}

impl Writer<GauntletWorld> for Collector {
    type Cli = cli::Empty;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<Cucumber<GauntletWorld>>>,
        _cli: &Self::Cli,
    ) {
        match event {
            Err(e) => {
                let problem = super::gherkin_error::describe(&e);
                if !self.quiet {
                    println!("✘ {}", problem.message);
                }
                self.with_state(|state| state.problems.push(problem));
            }
            Ok(ev) => {
                let at = ev.at;
                if let Cucumber::Feature(feature, ev) = ev.value {
                    self.on_feature(&feature, ev, at);
                }
            }
        }
    }
}
