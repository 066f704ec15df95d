//! Feature files on disk: finding them under the paths a command was given and parsing them, for
//! `gauntlet check`, `gauntlet clauses` and the checks `gauntlet run` makes before it starts.
//!
//! ```text
//!   PATH... ─► feature_files ─► parse ─► Parsed { file, feature }
//!                                     └► Problem "path:line: message" (readable Gherkin errors)
//! ```

use std::path::{Path, PathBuf};

use cucumber::gherkin::{self, GherkinEnv};

use super::collected::Problem;
use super::collector::display_path;
use super::gherkin_error;

/// One parsed feature file.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub file: PathBuf,
    pub feature: gherkin::Feature,
}

impl Parsed {
    /// Every scenario with the tags that apply to it (feature, rule and its own, without `@`).
    pub fn scenarios(&self) -> Vec<(&gherkin::Scenario, Vec<String>)> {
        let feature_tags = &self.feature.tags;
        let plain = self.feature.scenarios.iter().map(|s| (s, None));
        let in_rules = self
            .feature
            .rules
            .iter()
            .flat_map(|r| r.scenarios.iter().map(move |s| (s, Some(r))));
        plain
            .chain(in_rules)
            .map(|(s, rule)| {
                let tags = feature_tags
                    .iter()
                    .chain(rule.iter().flat_map(|r| &r.tags))
                    .chain(&s.tags)
                    .cloned()
                    .collect();
                (s, tags)
            })
            .collect()
    }

    /// `features/x.feature` as the console and the report print it.
    pub fn display(&self) -> String {
        display_path(&self.file)
    }
}

/// The `.feature` files under `paths` (a file as given; a folder walked in name order).
///
/// # Errors
/// A path that cannot be read, as `path: message`.
pub fn feature_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if let Err(e) = collect(path, &mut files) {
            let path = display_path(path);
            problems.push(Problem {
                message: format!("{path}: {e}"),
                path,
            });
        }
    }
    files.dedup();
    (files, problems)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
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
            collect(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "feature") {
            out.push(entry);
        }
    }
    Ok(())
}

/// Parses one feature file.
///
/// # Errors
/// A [`Problem`] with `path:line:` and a readable message.
pub fn parse(file: &Path) -> Result<Parsed, Problem> {
    gherkin::Feature::parse_path(file, GherkinEnv::default())
        .map(|feature| Parsed {
            file: file.to_path_buf(),
            feature,
        })
        .map_err(|e| gherkin_error::describe_file_error(&e))
}

/// Every feature file under `paths`, parsed; the files that could not be read or parsed.
pub fn parse_all(paths: &[PathBuf]) -> (Vec<Parsed>, Vec<Problem>) {
    let (files, mut problems) = feature_files(paths);
    let mut parsed = Vec::new();
    for file in files {
        match parse(&file) {
            Ok(p) => parsed.push(p),
            Err(problem) => problems.push(problem),
        }
    }
    (parsed, problems)
}
