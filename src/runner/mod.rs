//! Runs features against a stack and produces the run report (`gauntlet run`, the e2e test).
//!
//! ```text
//!   StackDef ─► RunSettings ─┐
//!   features/ ─► cucumber ───┼─ before hook: each World gets the settings (its stack starts lazily)
//!                            ├─ after hook: the scenario's evidence (start-up, breakers,
//!                            │              histograms, journals) → extras
//!                            └─ Collector ─► RunReport ─► report::write_all ─► reports/<run-id>/
//! ```

pub mod collected;
pub mod collector;
pub mod console;
pub mod evidence;
pub mod files;
pub mod gherkin_error;
pub mod lint;
pub mod progress;
pub mod repeat;
pub mod selection;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cucumber::{cli, parser, runner, World as _};
use futures::FutureExt;

use crate::clauses::Catalogue;
use crate::clock::{real_wall_now, Stopwatch};
use crate::config::{ConfigError, StackDef};
use crate::report::{self, model::RunReport, model::Secrets, model::StackInfo};
use crate::seed::derive_seed;
use crate::steps::world::RunSettings;
use crate::steps::GauntletWorld;
use crate::target::{ContainerRun, RunTarget, Target};
use collected::Collected;
use collector::{scenario_key, Collector, ExtrasMap};
use selection::{Selection, SelectionError};

/// Stacks of containers running at once under `--target docker` unless `--concurrency` says:
/// each is 2 containers per service and the gateway, mostly idle once started.
pub const CONTAINER_STACKS: usize = 4;

/// Everything `gauntlet run` can be told.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Feature files or folders.
    pub paths: Vec<PathBuf>,
    pub stack_dir: PathBuf,
    /// Cucumber tag expression (`@AUTH-4 and not @slow`).
    pub tags: Option<String>,
    pub seed: Option<u64>,
    pub concurrency: Option<usize>,
    pub fail_fast: bool,
    pub real_time: bool,
    /// Where `<run-id>/` and `latest/` go; `None` writes no report.
    pub report_dir: Option<PathBuf>,
    /// Suppress per-scenario console lines.
    pub quiet: bool,
    /// Only scenarios whose name matches this regex (`--name`).
    pub name: Option<String>,
    /// Run directories kept under `report_dir` (`--keep`); the history keeps every run.
    pub keep: usize,
    /// Feature files of `paths` restricted to the scenarios at these lines
    /// (`features/x.feature:22`); a file not listed runs whole.
    pub lines: BTreeMap<PathBuf, Vec<usize>>,
    /// `--repeat N`: run the suite N times (at least once) and mark flaky scenarios.
    pub repeat: usize,
    /// `--baseline-stack DIR`: the report diffs the stack's files against this one's.
    pub baseline_stack: Option<PathBuf>,
    /// `--otlp-endpoint URL`: every scenario's spans are exported there when it ends.
    pub otlp: Option<crate::trace::otlp::OtlpExporter>,
    /// `--target`: each scenario's stack in this process, or as containers (SPEC §13).
    pub target: crate::target::Target,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            paths: vec![PathBuf::from("features")],
            stack_dir: PathBuf::from("scenarios/valueverse"),
            tags: None,
            seed: None,
            concurrency: None,
            fail_fast: false,
            real_time: false,
            report_dir: Some(PathBuf::from("reports")),
            quiet: false,
            name: None,
            keep: report::history::DEFAULT_KEEP,
            lines: BTreeMap::new(),
            repeat: 1,
            baseline_stack: None,
            otlp: None,
            target: crate::target::Target::Process,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// Features that cannot run as written (undefined or ambiguous steps, syntax): nothing ran.
    #[error("{} problem(s) in the features; nothing was run:\n{}", findings.len(), findings.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Features { findings: Vec<lint::Finding> },
    #[error("{0}: no such feature file or folder")]
    MissingPath(PathBuf),
    #[error("report directory {path}: {message}")]
    ReportDir { path: PathBuf, message: String },
    /// `--target docker` cannot start: no engine, a service it cannot run, the image build.
    #[error("{0}")]
    Containers(#[from] crate::docker::DockerError),
}

/// The result of a run.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: RunReport,
    /// `reports/<run-id>/`, when a report was written.
    pub report_path: Option<PathBuf>,
    /// Feature files that could not be used (each also fails the run and is in the report).
    pub problems: Vec<collected::Problem>,
    /// The run was stopped by a signal before every scenario finished.
    pub interrupted: bool,
    /// Report files that could not be written, and skipped history lines: printed, but they
    /// never change the verdict.
    pub report_errors: Vec<String>,
    pub report_warnings: Vec<String>,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        !self.interrupted && self.report.verdict() == report::model::Verdict::Passed
    }

    /// Ids of the clauses with a failing scenario, in catalogue order.
    pub fn failed_clauses(&self) -> Vec<String> {
        self.report
            .clause_matrix()
            .rows
            .into_iter()
            .filter(|r| r.verdict == report::clauses::ClauseVerdict::Failed)
            .map(|r| r.id)
            .collect()
    }
}

/// Runs the features of `options` against its stack.
///
/// # Errors
/// Configuration errors (exit 2), bad tags, missing paths, report I/O.
pub async fn run(options: &RunOptions) -> Result<RunOutcome, RunError> {
    run_until(options, std::future::pending()).await
}

/// [`run`], stopping early when `interrupt` completes (Ctrl-C): every stack is stopped (the
/// running scenarios' Worlds are dropped), unfinished scenarios are reported as failed, and the
/// report is written all the same.
///
/// # Errors
/// As [`run`].
pub async fn run_until(
    options: &RunOptions,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<RunOutcome, RunError> {
    let started_at = real_wall_now();
    let stopwatch = Stopwatch::start();
    let stack = Arc::new(StackDef::load(&options.stack_dir)?);
    let catalogue = Catalogue::for_features(&options.paths)?;
    let seed = options.seed.unwrap_or_else(rand::random);
    for path in &options.paths {
        if !path.exists() {
            return Err(RunError::MissingPath(path.clone()));
        }
    }
    // Find out now, not after the suite ran, that the report cannot be written.
    if let Some(root) = &options.report_dir {
        std::fs::create_dir_all(root).map_err(|e| RunError::ReportDir {
            path: root.clone(),
            message: e.to_string(),
        })?;
    }
    // The same folder given twice runs once.
    let mut paths: Vec<&PathBuf> = Vec::new();
    for path in &options.paths {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    let mut selection = Selection::new(options.tags.as_deref(), options.name.as_deref())?;
    for (file, lines) in &options.lines {
        let parsed = files::parse(file).map_err(|p| RunError::Features {
            findings: vec![lint::Finding {
                severity: lint::Severity::Error,
                kind: lint::Kind::Syntax,
                location: p.path.clone(),
                message: p.message.clone(),
            }],
        })?;
        selection.restrict(&parsed, lines)?;
    }
    // Refuse to start what cannot run as written: an undefined step is a usage error, never a
    // broken clause.
    let checked = lint::lint(&options.paths, &catalogue, &selection, Some(&stack));
    let blocking: Vec<lint::Finding> = checked
        .findings
        .iter()
        .filter(|f| lint::Lint::blocks_run(f))
        .cloned()
        .collect();
    if !blocking.is_empty() {
        return Err(RunError::Features { findings: blocking });
    }
    let selection = Arc::new(selection);
    let target = match options.target {
        Target::Process => RunTarget::Process,
        Target::Docker => {
            let stacks = options.concurrency.unwrap_or(CONTAINER_STACKS);
            RunTarget::Containers(ContainerRun::prepare(&stack, stacks).await?)
        }
    };
    // Scenarios beyond the stacks that may run at once would only wait for one.
    let concurrency = match &target {
        RunTarget::Process => options.concurrency,
        RunTarget::Containers(run) => Some(run.stacks()),
    };
    let settings = Arc::new(RunSettings {
        stack: stack.clone(),
        real_time: options.real_time,
        seed,
        target: target.clone(),
    });
    if !options.quiet {
        println!(
            "gauntlet: stack {} ({}), seed {seed}{}",
            stack.name(),
            stack.dir.display(),
            if options.real_time { ", real time" } else { "" }
        );
        if let RunTarget::Containers(run) = &target {
            println!(
                "containers: image {}, stacks {}-1, {}-2, … ({} at once, each restarted for the next scenario)",
                run.image().reference(),
                run.name(),
                run.name(),
                run.stacks()
            );
        }
        for warning in &stack.warnings {
            println!("warning: {warning}");
        }
        let not_blocking = checked
            .findings
            .iter()
            .filter(|f| !lint::Lint::blocks_run(f));
        for finding in not_blocking {
            println!("warning: {finding}");
        }
    }

    // Each scenario's evidence, by scenario (a retried scenario keeps its last attempt's).
    let extras: ExtrasMap = Arc::new(Mutex::new(BTreeMap::new()));
    let secrets = stack.gateway.jwt_secrets();

    // Options are given here, never parsed from the process arguments (those are gauntlet's).
    let opts: cli::Opts<parser::basic::Cli, runner::basic::Cli, cli::Empty, cli::Empty> =
        cli::Opts {
            runner: runner::basic::Cli {
                concurrency,
                fail_fast: options.fail_fast,
                ..Default::default()
            },
            ..Default::default()
        };

    let collected = Arc::new(Mutex::new(Collected::default()));
    let progress = Arc::new(progress::Progress::new(
        checked.selected * options.repeat.max(1),
        options.quiet,
    ));
    // Finished rounds of `--repeat`; the last (or interrupted) round stays in `collected`.
    let rounds: Mutex<Vec<Vec<crate::report::model::FeatureReport>>> = Mutex::default();
    let repeat = options.repeat.max(1);
    let suite = async {
        for round in 0..repeat {
            if round > 0 {
                let failed_before = rounds
                    .lock()
                    .map(|r| {
                        r.iter()
                            .flatten()
                            .flat_map(|f| &f.scenarios)
                            .any(|s| s.status.is_failure())
                    })
                    .unwrap_or(false);
                if options.fail_fast && failed_before {
                    break;
                }
                if !options.quiet {
                    println!("repeat: round {} of {repeat}", round + 1);
                }
            }
            for path in &paths {
                let failed = collected.lock().map(|c| c.has_failure()).unwrap_or(false);
                if options.fail_fast && failed {
                    break;
                }
                let before_settings = settings.clone();
                let after_extras = extras.clone();
                let otlp = options.otlp.clone();
                let collector = Collector::new(
                    extras.clone(),
                    secrets.clone(),
                    collected.clone(),
                    options.quiet,
                    progress.clone(),
                );
                GauntletWorld::cucumber::<&Path>()
                    .with_writer(collector)
                    .with_cli(opts.clone())
                    // Each scenario's World gets the run settings; its stack starts on first use.
                    .before(move |feature, _, scenario, world| {
                        let (path, line, name) = scenario_key(feature, scenario);
                        world.seed =
                            derive_seed(before_settings.seed, &[&path, &line.to_string(), &name]);
                        world.settings = Some(before_settings.clone());
                        async {}.boxed_local()
                    })
                    // Keep what the report needs from the World before it (and its stack) is dropped.
                    .after(move |feature, _, scenario, finished, world| {
                        let extras = after_extras.clone();
                        let otlp = otlp.clone();
                        async move {
                            // An experiment that failed before its rollbacks plays them now,
                            // as Chaos Toolkit does, before the evidence is taken.
                            let key = scenario_key(feature, scenario);
                            let Some(world) = world else {
                                return;
                            };
                            crate::steps::steady_state::play_forced_rollbacks(
                                scenario, finished, world,
                            )
                            .await;
                            let evidence = Some(evidence::of(world, &key).await);
                            // The scenario's spans to the collector, in the background.
                            if let (Some(otlp), Some(stack)) = (
                                &otlp,
                                world
                                    .started_stack()
                                    .and_then(|s| s.in_process("spans").ok()),
                            ) {
                                otlp.send(stack.traces().spans());
                            }
                            // Its stack goes now, containers included, before the next starts.
                            world.shutdown_stack().await;
                            if let (Some(evidence), Ok(mut map)) = (evidence, extras.lock()) {
                                map.insert(key, evidence);
                            }
                        }
                        .boxed_local()
                    })
                    .filter_run(path.as_path(), {
                        let selection = selection.clone();
                        move |feature, rule, scenario| selection.selects(feature, rule, scenario)
                    })
                    .await;
            }
            if round + 1 < repeat {
                let finished = collected
                    .lock()
                    .map(|mut c| c.finish(None, real_wall_now()));
                if let (Ok(finished), Ok(mut rounds)) = (finished, rounds.lock()) {
                    rounds.push(finished);
                }
            }
        }
    };
    let interrupted = tokio::select! {
        () = suite => false,
        () = interrupt => true,
        () = progress.tick() => false,
    };
    progress.clear();
    // The suite future is dropped here when interrupted: every World, and so every stack and
    // every process it started, is stopped before the report is written.
    if interrupted && !options.quiet {
        println!("interrupted: stopping every stack and writing the report");
    }
    // Whatever containers a scenario left (an interrupted one) go too.
    if let RunTarget::Containers(run) = &target {
        run.remove_all().await;
    }
    let (last_round, problems) = collected
        .lock()
        .map(|mut c| {
            let problems = c.problems().to_vec();
            let reason = interrupted.then_some("the run was interrupted by a signal");
            (c.finish(reason, real_wall_now()), problems)
        })
        .unwrap_or_default();
    let mut all_rounds = rounds.into_inner().unwrap_or_default();
    all_rounds.push(last_round);
    let features = repeat::merge(all_rounds);

    let run_id = report::run_id(started_at, stack.name());
    let mut report = RunReport {
        run_id: match &options.report_dir {
            Some(root) => report::history::unique_run_id(root, &run_id),
            None => run_id,
        },
        started_at,
        duration: stopwatch.elapsed(),
        stack: StackInfo {
            name: stack.name().to_string(),
            dir: stack.dir.display().to_string(),
            warnings: stack.warnings.iter().map(ToString::to_string).collect(),
        },
        seed,
        real_time: options.real_time,
        features,
        clauses: catalogue.report_rows(),
        explain: Default::default(),
        secrets: Secrets(secrets),
    };
    // What explains the failures: the values governing each failed clause, the stack's files.
    let mut explain_warnings = Vec::new();
    if options.report_dir.is_some() {
        let failed: Vec<String> = report
            .clause_matrix()
            .rows
            .into_iter()
            .filter(|r| r.verdict == report::clauses::ClauseVerdict::Failed)
            .map(|r| r.id)
            .collect();
        let (explain, warnings) = report::explain::build(
            &stack.dir,
            options.baseline_stack.as_deref(),
            &catalogue,
            &failed,
        );
        report.explain = explain;
        explain_warnings = warnings;
    }
    let (report_path, report_errors, mut report_warnings) = match &options.report_dir {
        Some(root) => {
            let provenance = report::history::Provenance::current(&stack.dir);
            let published = report::publish::publish(&report, root, &provenance, options.keep);
            (published.run_dir, published.errors, published.warnings)
        }
        None => (None, Vec::new(), Vec::new()),
    };
    report_warnings.extend(explain_warnings);
    Ok(RunOutcome {
        report,
        report_path,
        problems,
        interrupted,
        report_errors,
        report_warnings,
    })
}
