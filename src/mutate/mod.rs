//! Mutation testing (`gauntlet mutate`, SPEC §12): how many single-value config mistakes does the
//! suite catch, and does it blame the clause that governs the mistaken value?
//!
//! ```text
//!   stack files ─► generate ─► mutants ──┐
//!   unmutated copy ─► baseline run (must pass, else exit 2)
//!                                        ├─ per mutant, concurrently (each its own folder and stacks):
//!                                        │    check (StackDef::load) ─ rejected → invalid
//!                                        │    runner::run(features tagged with a governing clause)
//!                                        │      └─ killed / killed for the wrong reason / survived / timed out
//!                                        └─► MutationReport ─► console table, results.json
//! ```
//!
//! Which scenarios run against a mutant: SPEC §12 counts a mutant as killed only when a scenario
//! tagged with a clause governing the mutated value fails, so scenarios with no such clause cannot
//! change its verdict and are not run (`--all-scenarios` runs them too, to find kills for the
//! wrong reason). The mapping is the catalogue's `governs` patterns, never a guess. For the same
//! reason the baseline runs the scenarios tagged with a clause that governs some mutant: the
//! `@serial` latency scenarios (LAT-1 governs no config value) are not part of it.

pub mod equivalent;
pub mod files;
pub mod generate;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;

use crate::clauses::{Catalogue, GovernsPattern};
use crate::clock::{real_wall_now, Stopwatch};
use crate::config::{ConfigError, StackDef};
use crate::report::clause_ids;
use crate::report::mutation::{FailedScenario, MutantResult, MutantStatus, MutationReport};
use crate::report::RunReport;
use crate::runner::{self, RunError, RunOptions};
use equivalent::Equivalents;
use files::StackFiles;
pub use generate::{generate, Mutant};

/// What `gauntlet mutate` can be told.
#[derive(Debug, Clone)]
pub struct MutateOptions {
    /// Feature files or folders (default `features/`).
    pub paths: Vec<PathBuf>,
    pub stack_dir: PathBuf,
    /// Only mutants whose path this pattern matches (`--only 'kong.yml:**.retries'`).
    pub only: Option<GovernsPattern>,
    pub min_score: Option<f64>,
    /// Mutants run at once.
    pub jobs: usize,
    /// Per-mutant wall-time limit; default from the baseline's duration.
    pub timeout: Option<Duration>,
    /// Run every scenario against every mutant, not only those a governing clause tags.
    pub all_scenarios: bool,
    pub seed: Option<u64>,
    /// Where `<run-id>/results.json` goes; `None` writes nothing.
    pub report_dir: Option<PathBuf>,
    /// No progress lines.
    pub quiet: bool,
}

impl Default for MutateOptions {
    fn default() -> Self {
        MutateOptions {
            paths: vec![PathBuf::from("features")],
            stack_dir: PathBuf::from("scenarios/valueverse"),
            only: None,
            min_score: None,
            jobs: 8,
            timeout: None,
            all_scenarios: false,
            seed: None,
            report_dir: Some(PathBuf::from("reports")),
            quiet: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}: no such feature file or folder")]
    MissingPath(PathBuf),
    #[error("no scenario to run under {0}: mutation testing needs a suite")]
    NoScenarios(String),
    #[error("the unmutated stack {stack} fails its own suite ({failed} scenario(s) failed, clauses {clauses}); mutation testing needs a passing baseline, so no score is given (`gauntlet run --stack {stack}` shows more):{}", failures.iter().map(|f| format!("\n  {f}")).collect::<String>())]
    Baseline {
        stack: String,
        failed: usize,
        clauses: String,
        /// `location name: reason` of each failed scenario.
        failures: Vec<String>,
    },
    #[error(
        "no mutant's path matches --only `{0}` (a `*` is a whole segment: `kong.yml:**.retries`)"
    )]
    NoMutants(String),
    #[error(transparent)]
    Run(RunError),
    #[error("cannot write a mutant's stack folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the report: {0}")]
    Report(String),
    #[error("{file}: {} entr{} match no mutant of the stack (the list must stay true; remove or correct them): {}", entries.len(), if entries.len() == 1 { "y" } else { "ies" }, entries.join(", "))]
    UnusedEquivalents { file: String, entries: Vec<String> },
}

impl MutateError {
    /// Whether this is the user's input (exit 2) rather than a failure of the run.
    pub fn is_usage(&self) -> bool {
        match self {
            MutateError::Config(_)
            | MutateError::MissingPath(_)
            | MutateError::NoScenarios(_)
            | MutateError::Baseline { .. }
            | MutateError::UnusedEquivalents { .. }
            | MutateError::NoMutants(_) => true,
            MutateError::Run(e) => matches!(
                e,
                RunError::Config(_)
                    | RunError::Selection(_)
                    | RunError::MissingPath(_)
                    | RunError::Features { .. }
            ),
            MutateError::Io(_) | MutateError::Report(_) => false,
        }
    }
}

/// `kong.yml:57:9: ` in a message about a written-back file.
static LINE_COLUMN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"((?:kong|stack)\.yml|intentions\.\w+):\d+(?::\d+)?: ")
        .expect("a valid regex")
});

/// What every mutant's run shares.
struct Shared<'a> {
    options: &'a MutateOptions,
    equivalents: &'a Equivalents,
    files: &'a StackFiles,
    catalogue: &'a Catalogue,
    seed: u64,
    timeout: Duration,
    /// Clause ids with at least one scenario in the baseline.
    verified: BTreeSet<String>,
}

/// Runs the baseline, then every mutant; returns the report (also written when
/// `options.report_dir` is set).
///
/// # Errors
/// Bad input (missing path, invalid stack, no scenarios, a failing baseline) or report I/O.
pub async fn run(options: &MutateOptions) -> Result<MutationReport, MutateError> {
    let started_at = real_wall_now();
    let stopwatch = Stopwatch::start();
    for path in &options.paths {
        if !path.exists() {
            return Err(MutateError::MissingPath(path.clone()));
        }
    }
    let stack = StackDef::load(&options.stack_dir)?;
    let files = StackFiles::read(&options.stack_dir)?;
    let catalogue = Catalogue::for_features(&options.paths)?;
    let equivalents = Equivalents::load(&options.stack_dir)?;
    let seed = options.seed.unwrap_or_else(rand::random);
    let stack_label = options.stack_dir.display().to_string();

    let mut mutants = generate(&files);
    let unused = equivalents.unused(&mutants);
    if !unused.is_empty() {
        return Err(MutateError::UnusedEquivalents {
            file: equivalents
                .file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            entries: unused,
        });
    }
    if let Some(only) = &options.only {
        mutants.retain(|m| only.matches(&m.path));
        if mutants.is_empty() {
            return Err(MutateError::NoMutants(only.to_string()));
        }
    }
    // The baseline runs on the written-back copy, which is what every mutant differs from. It
    // runs the scenarios that can kill a mutant: those tagged with a clause governing one (all
    // of them with --all-scenarios). A scenario whose clauses govern no mutant never runs
    // against one, so its verdict (a latency objective on a loaded machine) cannot change a
    // score.
    let baseline_tags = if options.all_scenarios {
        None
    } else {
        let governing: Vec<String> = catalogue
            .clauses
            .iter()
            .filter(|c| mutants.iter().any(|m| c.governs(&m.path)))
            .map(|c| format!("@{}", c.id))
            .collect();
        if governing.is_empty() {
            return Err(MutateError::NoScenarios(
                "the catalogue: no clause governs any mutant".to_string(),
            ));
        }
        Some(governing.join(" or "))
    };
    let baseline_dir = files.write(None)?;
    let baseline_watch = Stopwatch::start();
    let baseline = runner::run(&run_options(
        options,
        &baseline_dir.path,
        baseline_tags,
        seed,
    ))
    .await
    .map_err(MutateError::Run)?;
    let baseline_duration = baseline_watch.elapsed();
    drop(baseline_dir);
    let counts = baseline.report.counts().scenarios;
    if counts.total == 0 {
        let paths: Vec<String> = options
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(MutateError::NoScenarios(paths.join(", ")));
    }
    if !baseline.passed() {
        return Err(MutateError::Baseline {
            stack: stack_label,
            failed: counts.failed + counts.undefined,
            clauses: baseline.failed_clauses().join(", "),
            failures: failed_scenarios(&baseline.report, &[])
                .into_iter()
                .map(|f| {
                    format!(
                        "{} {} [{}]: {}",
                        f.location,
                        f.name,
                        f.clauses.join(", "),
                        f.reason
                    )
                })
                .collect(),
        });
    }
    let verified = scenario_clauses(&baseline.report);
    let timeout = options
        .timeout
        .unwrap_or_else(|| baseline_duration * 3 + Duration::from_secs(30));

    if !options.quiet {
        println!(
            "gauntlet mutate: stack {stack_label}, seed {seed}: baseline {} scenarios passed in {:.1} s; {} mutants, {} at once, {:.0} s timeout each",
            counts.total,
            baseline_duration.as_secs_f64(),
            mutants.len(),
            options.jobs,
            timeout.as_secs_f64()
        );
    }
    let shared = Shared {
        options,
        equivalents: &equivalents,
        files: &files,
        catalogue: &catalogue,
        seed,
        timeout,
        verified,
    };
    let total = mutants.len();
    let mut done = 0usize;
    let mut results = Vec::with_capacity(total);
    let mut stream = futures::stream::iter(mutants.iter())
        .map(|m| evaluate(&shared, m))
        .buffer_unordered(options.jobs.max(1));
    while let Some(result) = stream.next().await {
        let result = result?;
        done += 1;
        if !options.quiet {
            println!(
                "[{done}/{total}] {:<9} #{} {}",
                result.status.as_str(),
                result.id,
                result.describe()
            );
        }
        results.push(result);
    }
    drop(stream);

    let mut report = MutationReport {
        run_id: crate::report::run_id(started_at, &format!("{}-mutate", stack.name())),
        started_at,
        duration: stopwatch.elapsed(),
        stack: stack_label,
        seed,
        baseline_scenarios: counts.total,
        baseline_duration,
        min_score: options.min_score,
        all_scenarios: options.all_scenarios,
        mutants: results,
        secrets: stack.gateway.jwt_secrets(),
    };
    report.sort();
    if let Some(root) = &options.report_dir {
        let dir = root.join(&report.run_id);
        let json = crate::report::mutation::render_json(&report)
            .map_err(|e| MutateError::Report(e.to_string()))?;
        let html = crate::report::mutation_page::render(&report)
            .map_err(|e| MutateError::Report(e.to_string()))?;
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("results.json"), json))
            .and_then(|()| std::fs::write(dir.join("index.html"), html))
            .map_err(|e| MutateError::Report(format!("{}: {e}", dir.display())))?;
        if !options.quiet {
            println!("report: {}", dir.join("index.html").display());
        }
    }
    Ok(report)
}

fn run_options(
    options: &MutateOptions,
    stack_dir: &Path,
    tags: Option<String>,
    seed: u64,
) -> RunOptions {
    RunOptions {
        paths: options.paths.clone(),
        stack_dir: stack_dir.to_path_buf(),
        tags,
        seed: Some(seed),
        report_dir: None,
        quiet: true,
        ..RunOptions::default()
    }
}

/// Clause ids of every scenario of a run (its own tags and its feature's).
fn scenario_clauses(report: &RunReport) -> BTreeSet<String> {
    report
        .features
        .iter()
        .flat_map(|f| {
            let feature = clause_ids(&f.tags);
            f.scenarios
                .iter()
                .flat_map(move |s| s.clauses.iter().cloned().chain(feature.clone()))
        })
        .collect()
}

/// The failed scenarios of a run, with their clauses (own and feature tags) and the failing
/// step's first line, each `(from, to)` replaced in it.
fn failed_scenarios(report: &RunReport, replace: &[(&str, &str)]) -> Vec<FailedScenario> {
    let mut out = Vec::new();
    for feature in &report.features {
        let feature_clauses = clause_ids(&feature.tags);
        for scenario in &feature.scenarios {
            if !scenario.status.is_failure() {
                continue;
            }
            let mut clauses = scenario.clauses.clone();
            for id in &feature_clauses {
                if !clauses.contains(id) {
                    clauses.push(id.clone());
                }
            }
            let mut reason = scenario
                .failing_step()
                .and_then(|s| s.error.as_deref())
                .and_then(|e| e.lines().next())
                .unwrap_or("failed")
                .to_string();
            for (from, to) in replace {
                reason = reason.replace(from, to);
            }
            out.push(FailedScenario {
                location: format!("{}:{}", feature.path, scenario.line),
                name: scenario.name.clone(),
                clauses,
                reason,
            });
        }
    }
    out
}

/// Runs one mutant.
async fn evaluate(shared: &Shared<'_>, mutant: &Mutant) -> Result<MutantResult, MutateError> {
    let watch = Stopwatch::start();
    let governing: Vec<String> = shared
        .catalogue
        .clauses
        .iter()
        .filter(|c| c.governs(&mutant.path))
        .map(|c| c.id.clone())
        .collect();
    let mut result = MutantResult {
        id: mutant.id,
        path: mutant.path.to_string(),
        old: mutant.old.clone(),
        new: mutant.new.clone(),
        status: MutantStatus::Survived,
        governing_clauses: governing.clone(),
        failed_clauses: Vec::new(),
        failed_scenarios: Vec::new(),
        scenarios_run: 0,
        note: None,
        duration: Duration::ZERO,
    };
    let dir = shared.files.write(Some((mutant.file, &mutant.tree)))?;
    // Messages name the file as the user wrote it; line numbers would be those of the
    // written-back JSON, so they go.
    let in_dir = |message: String| {
        let message = message
            .replace(&format!("{}/", dir.path.display()), "")
            .replace("intentions.json", shared.files.name(mutant.file));
        LINE_COLUMN.replace_all(&message, "$1: ").into_owned()
    };
    if let Err(e) = StackDef::load(&dir.path) {
        result.status = MutantStatus::Invalid;
        result.note = Some(format!("check rejects it: {}", in_dir(e.to_string())));
        return Ok(result);
    }
    let tags = if shared.options.all_scenarios {
        None
    } else {
        let tested: Vec<&String> = governing
            .iter()
            .filter(|id| shared.verified.contains(*id))
            .collect();
        if tested.is_empty() {
            result.note = Some(if governing.is_empty() {
                "no clause governs this value (features/clauses.yml `governs`)".to_string()
            } else {
                format!("no scenario verifies {}", governing.join(", "))
            });
            result.duration = watch.elapsed();
            return Ok(declared(shared, mutant, result));
        }
        Some(
            tested
                .iter()
                .map(|id| format!("@{id}"))
                .collect::<Vec<_>>()
                .join(" or "),
        )
    };
    let options = run_options(shared.options, &dir.path, tags, shared.seed);
    let outcome = match tokio::time::timeout(shared.timeout, runner::run(&options)).await {
        Err(_) => {
            result.status = MutantStatus::TimedOut;
            result.note = Some(format!(
                "the features did not finish within {:.0} s",
                shared.timeout.as_secs_f64()
            ));
            result.duration = watch.elapsed();
            return Ok(declared(shared, mutant, result));
        }
        Ok(Err(RunError::Config(e))) => {
            result.status = MutantStatus::Invalid;
            result.note = Some(format!("check rejects it: {}", in_dir(e.to_string())));
            return Ok(result);
        }
        Ok(Err(RunError::Features { findings })) => {
            result.status = MutantStatus::Invalid;
            let first = findings
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            result.note = Some(format!(
                "check rejects the features on it: {}",
                in_dir(first)
            ));
            return Ok(result);
        }
        Ok(Err(e)) => return Err(MutateError::Run(e)),
        Ok(Ok(outcome)) => outcome,
    };
    result.duration = watch.elapsed();
    result.scenarios_run = outcome.report.counts().scenarios.total;
    let dir_text = format!("{}/", dir.path.display());
    result.failed_scenarios = failed_scenarios(&outcome.report, &[(&dir_text, "")]);
    let mut failed: Vec<String> = result
        .failed_scenarios
        .iter()
        .flat_map(|s| s.clauses.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let order = |id: &String| {
        shared
            .catalogue
            .clauses
            .iter()
            .position(|c| &c.id == id)
            .unwrap_or(usize::MAX)
    };
    failed.sort_by_key(order);
    result.failed_clauses = failed;
    result.status = if result
        .failed_clauses
        .iter()
        .any(|id| governing.contains(id))
    {
        MutantStatus::Killed
    } else if result.failed_scenarios.is_empty() {
        MutantStatus::Survived
    } else {
        MutantStatus::KilledForWrongReason
    };
    Ok(declared(shared, mutant, result))
}

/// Applies `equivalent-mutants.yml`: a declared equivalent that survived is `equivalent` (not
/// scored); one that was killed or timed out is `equivalent-killed`, an error.
fn declared(shared: &Shared<'_>, mutant: &Mutant, mut result: MutantResult) -> MutantResult {
    let Some(entry) = shared.equivalents.find(mutant) else {
        return result;
    };
    match result.status {
        MutantStatus::Survived | MutantStatus::KilledForWrongReason => {
            result.status = MutantStatus::Equivalent;
            result.note = Some(format!("declared equivalent: {}", entry.reason));
        }
        MutantStatus::Killed | MutantStatus::TimedOut => {
            result.status = MutantStatus::EquivalentKilled;
            result.note = Some(format!(
                "declared equivalent in {} ({}), but the suite tells it apart: remove it from the list",
                equivalent::FILE_NAME,
                entry.reason
            ));
        }
        MutantStatus::Invalid | MutantStatus::Equivalent | MutantStatus::EquivalentKilled => {}
    }
    result
}
