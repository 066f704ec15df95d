//! Which scenarios a run runs: `--tags`, `--name REGEX`, and locations with lines
//! (`features/resilience/circuit_breaker.feature:22`, the form the console and `rerun.txt` print),
//! all of which must hold.
//!
//! ```text
//!   "x.feature:22:40" ─► Location ─► resolve (against the parsed file) ─► scenario lines
//!   --tags, --name ──────────────────────────────────────────────────────┴─► Selection::selects
//! ```
//! A line selects the scenario it falls in: its keyword line, a step, or for a Scenario Outline
//! its keyword line (every row) or one Examples row (that row only). `@file` reads locations from
//! a rerun file, one or more per line (cucumber's rerun convention).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cucumber::gherkin;
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;
use regex::Regex;

use super::files::Parsed;

/// A feature file or folder, and the lines of the scenarios wanted in it (none: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub lines: Vec<usize>,
}

impl Location {
    /// `features/x.feature:22:40` → the file and lines 22 and 40; a path without `:N` as is.
    pub fn parse(text: &str) -> Location {
        let mut path = text;
        let mut lines = Vec::new();
        while let Some((head, tail)) = path.rsplit_once(':') {
            match tail.parse::<usize>() {
                Ok(line) if !head.is_empty() => {
                    lines.push(line);
                    path = head;
                }
                _ => break,
            }
        }
        lines.reverse();
        Location {
            path: PathBuf::from(path),
            lines,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        for line in &self.lines {
            write!(f, ":{line}")?;
        }
        Ok(())
    }
}

/// The locations of a rerun file (`@reports/latest/rerun.txt`): whitespace-separated
/// `path:line:line` entries; blank lines and `#` comments are skipped.
///
/// # Errors
/// The file cannot be read.
pub fn read_rerun_file(path: &Path) -> std::io::Result<Vec<Location>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(str::split_whitespace)
        .map(Location::parse)
        .collect())
}

/// The file's canonical path, for comparing paths given differently (`./features/x.feature`).
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// What must hold for a scenario to run.
#[derive(Debug, Default)]
pub struct Selection {
    tags: Option<TagOperation>,
    name: Option<Regex>,
    /// Per feature file (canonical path): the scenario lines wanted, as cucumber numbers them
    /// (an outline row's scenario has the row's line).
    lines: BTreeMap<PathBuf, BTreeSet<usize>>,
}

/// A filter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("invalid tag expression {expr:?}: {message}")]
    Tags { expr: String, message: String },
    #[error("invalid --name regex {expr:?}: {message}")]
    Name { expr: String, message: String },
    #[error("{location}: {message}")]
    Line { location: String, message: String },
}

impl Selection {
    /// A selection by tag expression and name regex (each optional).
    ///
    /// # Errors
    /// An expression that does not parse.
    pub fn new(tags: Option<&str>, name: Option<&str>) -> Result<Selection, SelectionError> {
        let tags = tags
            .map(|expr| {
                expr.parse::<TagOperation>()
                    .map_err(|e| SelectionError::Tags {
                        expr: expr.to_string(),
                        message: e.to_string(),
                    })
            })
            .transpose()?;
        let name = name
            .map(|expr| {
                Regex::new(expr).map_err(|e| SelectionError::Name {
                    expr: expr.to_string(),
                    message: e.to_string(),
                })
            })
            .transpose()?;
        Ok(Selection {
            tags,
            name,
            lines: BTreeMap::new(),
        })
    }

    /// Restricts `parsed`'s file to the scenarios at `lines` (see the module docs).
    ///
    /// # Errors
    /// A line that is in no scenario, naming the lines where the file's scenarios start.
    pub fn restrict(&mut self, parsed: &Parsed, lines: &[usize]) -> Result<(), SelectionError> {
        let scenarios = scenario_spans(parsed);
        let wanted = self.lines.entry(canonical(&parsed.file)).or_default();
        for line in lines {
            let found: Vec<usize> = scenarios
                .iter()
                .filter_map(|s| s.resolve(*line))
                .flatten()
                .collect();
            if found.is_empty() {
                let starts: Vec<String> = scenarios
                    .iter()
                    .map(|s| s.keyword_line.to_string())
                    .collect();
                return Err(SelectionError::Line {
                    location: format!("{}:{line}", parsed.display()),
                    message: format!(
                        "no scenario at this line (scenarios start at lines {})",
                        if starts.is_empty() {
                            "none: the file has no scenario".to_string()
                        } else {
                            starts.join(", ")
                        }
                    ),
                });
            }
            wanted.extend(found);
        }
        Ok(())
    }

    /// Whether the (expanded) scenario runs.
    pub fn selects(
        &self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
    ) -> bool {
        if let Some(tags) = &self.tags {
            let all = feature
                .tags
                .iter()
                .chain(rule.iter().flat_map(|r| &r.tags))
                .chain(&scenario.tags);
            if !tags.eval(all) {
                return false;
            }
        }
        if let Some(name) = &self.name {
            if !name.is_match(&scenario.name) {
                return false;
            }
        }
        match feature.path.as_deref().map(canonical) {
            Some(path) => self
                .lines
                .get(&path)
                .is_none_or(|lines| lines.contains(&scenario.position.line)),
            None => true,
        }
    }
}

/// Where one scenario lies in its file, and the lines cucumber gives its runs.
struct ScenarioSpan {
    keyword_line: usize,
    /// The last line belonging to the scenario (its last step, docstring or table row, or its
    /// last Examples row).
    last_line: usize,
    /// An outline's rows: (row line, the line cucumber numbers its run with).
    rows: Vec<usize>,
}

impl ScenarioSpan {
    /// The run lines a user line selects, or `None` when it is outside the scenario.
    fn resolve(&self, line: usize) -> Option<Vec<usize>> {
        if line < self.keyword_line || line > self.last_line {
            return None;
        }
        if self.rows.is_empty() {
            return Some(vec![self.keyword_line]);
        }
        Some(if self.rows.contains(&line) {
            vec![line]
        } else {
            self.rows.clone()
        })
    }
}

/// Every scenario of the file with its extent, in file order.
fn scenario_spans(parsed: &Parsed) -> Vec<ScenarioSpan> {
    let mut spans: Vec<ScenarioSpan> = parsed
        .scenarios()
        .into_iter()
        .map(|(s, _)| {
            // cucumber numbers an outline row's run `Examples line + row index + 2` (the header
            // row follows the Examples keyword).
            let rows: Vec<usize> = s
                .examples
                .iter()
                .flat_map(|e| {
                    let body = e
                        .table
                        .as_ref()
                        .map_or(0, |t| t.rows.len().saturating_sub(1));
                    (0..body).map(move |i| e.position.line + i + 2)
                })
                .collect();
            let last_step = s
                .steps
                .iter()
                .map(|step| {
                    let extra = step.table.as_ref().map_or(0, |t| t.rows.len())
                        + step.docstring.as_ref().map_or(0, |d| d.lines().count() + 2);
                    step.position.line + extra
                })
                .max()
                .unwrap_or(s.position.line);
            ScenarioSpan {
                keyword_line: s.position.line,
                last_line: rows
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(last_step)
                    .max(last_step),
                rows,
            }
        })
        .collect();
    spans.sort_by_key(|s| s.keyword_line);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_splits_into_the_path_and_its_lines() {
        assert_eq!(
            Location::parse("features/a.feature:12:30"),
            Location {
                path: "features/a.feature".into(),
                lines: vec![12, 30]
            }
        );
        assert_eq!(
            Location::parse("features/a.feature").lines,
            Vec::<usize>::new()
        );
        assert_eq!(Location::parse("features").path, PathBuf::from("features"));
        assert_eq!(
            Location::parse("features/a.feature:12").to_string(),
            "features/a.feature:12"
        );
    }

    fn parsed(text: &str) -> (tempfile::TempDir, Parsed) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.feature");
        std::fs::write(&file, text).unwrap();
        let parsed = super::super::files::parse(&file).unwrap();
        (dir, parsed)
    }

    const FEATURE: &str = "Feature: f

  Scenario: one
    Given the stack is running
    Then the response status is 200

  Scenario Outline: rows
    Given I have a valid token for \"<who>\"

    Examples:
      | who          |
      | admin-user   |
      | frontend-app |
";

    #[test]
    fn a_line_selects_the_scenario_it_falls_in_and_an_outline_row_only_that_row() {
        let (_dir, p) = parsed(FEATURE);
        let spans = scenario_spans(&p);
        assert_eq!(spans[0].resolve(3), Some(vec![3]));
        assert_eq!(spans[0].resolve(5), Some(vec![3]));
        assert_eq!(spans[0].resolve(6), None);
        assert_eq!(spans[1].resolve(7), Some(vec![12, 13]));
        assert_eq!(spans[1].resolve(13), Some(vec![13]));
        let mut selection = Selection::default();
        let e = selection.restrict(&p, &[1]).unwrap_err();
        assert!(
            e.to_string().contains("scenarios start at lines 3, 7"),
            "{e}"
        );
    }
}
