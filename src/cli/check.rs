//! `gauntlet check`: validates the stack and the features without running anything.

use std::path::{Path, PathBuf};

use clap::Args;
use cucumber::gherkin::{self, GherkinEnv};
use cucumber::World as _;

use super::Exit;
use crate::config::StackDef;
use crate::steps::catalog;
use crate::steps::GauntletWorld;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Feature files or folders (default: features/).
    pub paths: Vec<PathBuf>,
    /// Stack definition folder.
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
}

pub fn execute(args: CheckArgs) -> Exit {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("features")]
    } else {
        args.paths
    };
    let mut problems = Vec::new();
    match StackDef::load(&args.stack) {
        Ok(stack) => {
            println!(
                "stack {}: ok ({} routes, {} consumers)",
                stack.dir.display(),
                stack.gateway.routes.len(),
                stack.gateway.consumers.len()
            );
            for warning in &stack.warnings {
                println!("warning: {warning}");
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    let (features, feature_problems) = check_features(&paths);
    problems.extend(feature_problems);
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    if problems.is_empty() {
        println!("{features} feature files: ok");
        Exit::Success
    } else {
        eprintln!("{} problem(s)", problems.len());
        Exit::Usage
    }
}

/// Parses every feature under `paths` and checks each step against the step library. Returns
/// the number of feature files and the problems (`file:line: message`).
pub fn check_features(paths: &[PathBuf]) -> (usize, Vec<String>) {
    let checker = FeatureChecker::new();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if let Err(e) = collect_features(path, &mut files) {
            problems.push(format!("{}: {e}", path.display()));
        }
    }
    for file in &files {
        match gherkin::Feature::parse_path(file, GherkinEnv::default()) {
            Ok(feature) => checker.check(file, &feature, &mut problems),
            Err(e) => {
                problems.push(crate::runner::gherkin_error::describe_file_error(&e).message);
            }
        }
    }
    (files.len(), problems)
}

/// The step library's matcher, built once, applied to parsed features.
pub struct FeatureChecker {
    collection: cucumber::step::Collection<GauntletWorld>,
}

impl Default for FeatureChecker {
    fn default() -> Self {
        FeatureChecker::new()
    }
}

impl FeatureChecker {
    pub fn new() -> Self {
        FeatureChecker {
            collection: GauntletWorld::collection(),
        }
    }

    /// Parses feature `text` (named `file` in messages) and checks its steps: the problems,
    /// a parse error included.
    pub fn check_text(&self, file: &Path, text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        match gherkin::Feature::parse(text, GherkinEnv::default()) {
            Ok(feature) => self.check(file, &feature, &mut problems),
            Err(e) => problems.push(format!("{}: {e}", file.display())),
        }
        problems
    }

    /// Checks every step of `feature` against the step library.
    fn check(&self, file: &Path, feature: &gherkin::Feature, problems: &mut Vec<String>) {
        let collection = &self.collection;
        let scenarios = feature
            .scenarios
            .iter()
            .chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()));
        // (step, from a Scenario Outline)
        let mut steps: Vec<(gherkin::Step, bool)> = feature
            .background
            .iter()
            .chain(feature.rules.iter().filter_map(|r| r.background.as_ref()))
            .flat_map(|b| b.steps.iter().map(|s| (s.clone(), false)))
            .collect();
        for scenario in scenarios {
            let outline = !scenario.examples.is_empty();
            steps.extend(expand_outline(scenario).into_iter().map(|s| (s, outline)));
        }
        for (step, outline) in &steps {
            let unresolved = if *outline {
                unresolved_placeholder(&step.value)
            } else {
                None
            };
            if let Some(placeholder) = unresolved {
                problems.push(format!(
                    "{}:{}: <{placeholder}> has no column in the Examples table: {}{}",
                    file.display(),
                    step.position.line,
                    step.keyword,
                    step.value
                ));
                continue;
            }
            match collection.find(step) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let hint = catalog::closest(&step.value)
                        .map(|d| format!("; closest known step: {} {}", d.keyword, d.example))
                        .unwrap_or_default();
                    problems.push(format!(
                        "{}:{}: undefined step: {}{}{hint}",
                        file.display(),
                        step.position.line,
                        step.keyword,
                        step.value
                    ));
                }
                Err(e) => problems.push(format!(
                    "{}:{}: ambiguous step: {} ({} definitions match)",
                    file.display(),
                    step.position.line,
                    step.value,
                    e.possible_matches.len()
                )),
            }
        }
    }
}

/// A `<name>` left in a step after outline expansion (cucumber refuses to run it).
fn unresolved_placeholder(text: &str) -> Option<&str> {
    let start = text.find('<')?;
    let rest = &text[start + 1..];
    let end = rest.find('>')?;
    let name = &rest[..end];
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ' '))
    .then_some(name)
}

/// The scenario's steps, once per Examples row with `<placeholders>` filled in (a plain
/// scenario's steps as they are).
fn expand_outline(scenario: &gherkin::Scenario) -> Vec<gherkin::Step> {
    let rows: Vec<(Vec<String>, Vec<String>)> = scenario
        .examples
        .iter()
        .filter_map(|e| e.table.as_ref())
        .filter_map(|t| {
            let (header, body) = t.rows.split_first()?;
            Some(
                body.iter()
                    .map(|row| (header.clone(), row.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect();
    if rows.is_empty() {
        return scenario.steps.clone();
    }
    rows.iter()
        .flat_map(|(header, row)| {
            scenario.steps.iter().map(move |step| {
                let mut step = step.clone();
                for (name, value) in header.iter().zip(row) {
                    step.value = step.value.replace(&format!("<{name}>"), value);
                }
                step
            })
        })
        .collect()
}

fn collect_features(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_features(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "feature") {
            out.push(entry);
        }
    }
    Ok(())
}
