//! What can be known about features without running them: Gherkin syntax, undefined and
//! ambiguous steps, `<placeholders>` without an Examples column, outlines without Examples,
//! clause tags the catalogue does not know or that are misspelt, scenarios verifying no clause,
//! and names (consumers, services, breakers, metric labels, headers) the stack does not have
//! ([`crate::steps::names`]).
//!
//! ```text
//!   PATH... ─► files::parse_all ─► per scenario: tags ─► Catalogue::classify_tag
//!                                  per step: steps collection (undefined/ambiguous)
//!                               ─► Lint { findings: errors and warnings, by file and line }
//! ```
//! `gauntlet check` prints every finding; `gauntlet run` refuses to start on a [`Lint::blocks_run`]
//! finding (exit 2) and prints the others as warnings.

use std::fmt;
use std::path::PathBuf;

use cucumber::feature::Ext as _;
use cucumber::gherkin;
use cucumber::World as _;

use super::files::{self, Parsed};
use super::selection::Selection;
use crate::clauses::{Catalogue, TagKind};
use crate::config::StackDef;
use crate::steps::{catalog, names, GauntletWorld};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `check` exits 2.
    Error,
    /// Printed; nothing fails.
    Warning,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The file is not valid Gherkin (or cannot be read).
    Syntax,
    UndefinedStep,
    AmbiguousStep,
    /// A `<name>` in an outline step with no Examples column.
    Placeholder,
    OutlineWithoutExamples,
    /// A clause-shaped tag the catalogue does not have (`@ACL-9`).
    UnknownClause,
    /// A clause written wrongly (`@ACL3`, `@acl-3`).
    MalformedClause,
    /// A scenario with no clause tag.
    NoClause,
    /// A scenario with no step (nor a Background).
    NoSteps,
    /// A consumer, service, breaker, metric label or fixed word the stack or step does not have.
    UnknownName,
    /// A header name that is a near miss of one Gauntlet sends (`check` refuses it; `run` warns).
    SuspectHeader,
}

/// One finding, at `location` (`features/x.feature:12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub kind: Kind,
    pub location: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every finding over a set of feature files.
#[derive(Debug, Default)]
pub struct Lint {
    /// Feature files read.
    pub files: usize,
    /// Scenarios the selection runs (outline rows counted one by one).
    pub selected: usize,
    pub findings: Vec<Finding>,
}

impl Lint {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// Whether `run` must not start: a feature it could not run as written (syntax, an
    /// undefined or ambiguous step, a placeholder without a column, an outline without rows).
    pub fn blocks_run(finding: &Finding) -> bool {
        matches!(
            finding.kind,
            Kind::Syntax
                | Kind::UndefinedStep
                | Kind::AmbiguousStep
                | Kind::Placeholder
                | Kind::OutlineWithoutExamples
                | Kind::UnknownName
        )
    }
}

/// Checks every feature under `paths` against the step library, `catalogue` and (when given) the
/// names `stack` has; steps only of the scenarios `selection` selects (a run with `--tags` is not
/// refused for a scenario it skips).
pub fn lint(
    paths: &[PathBuf],
    catalogue: &Catalogue,
    selection: &Selection,
    stack: Option<&StackDef>,
) -> Lint {
    let (parsed, problems) = files::parse_all(paths);
    let mut lint = Lint {
        files: parsed.len() + problems.len(),
        selected: 0,
        findings: Vec::new(),
    };
    for problem in problems {
        let (location, message) = match problem.message.strip_prefix(&format!("{}:", problem.path))
        {
            Some(rest) => match rest.split_once(": ") {
                Some((position, message)) => (
                    format!(
                        "{}:{}",
                        problem.path,
                        position.split(':').next().unwrap_or(position)
                    ),
                    message.to_string(),
                ),
                None => (problem.path.clone(), rest.trim().to_string()),
            },
            None => (problem.path.clone(), problem.message.clone()),
        };
        lint.findings.push(Finding {
            severity: Severity::Error,
            kind: Kind::Syntax,
            location,
            message,
        });
    }
    let collection = GauntletWorld::collection();
    for file in &parsed {
        let text = std::fs::read_to_string(&file.file).unwrap_or_default();
        check_tags(file, &text, catalogue, &mut lint.findings);
        check_descriptions(file, &text, &mut lint.findings);
        lint.selected += check_steps(file, &collection, selection, stack, &mut lint.findings);
    }
    lint
}

/// The step library's matcher, built once, for feature text held in memory (the `gherkin_steps`
/// fuzz target drives it).
pub struct TextLinter {
    collection: cucumber::step::Collection<GauntletWorld>,
}

impl Default for TextLinter {
    fn default() -> Self {
        TextLinter::new()
    }
}

impl TextLinter {
    pub fn new() -> Self {
        TextLinter {
            collection: GauntletWorld::collection(),
        }
    }

    /// Parses `text` as the feature file `file` and checks it as [`lint`] checks files.
    pub fn lint(&self, file: &std::path::Path, text: &str, catalogue: &Catalogue) -> Vec<Finding> {
        let mut findings = Vec::new();
        match gherkin::Feature::parse(text, gherkin::GherkinEnv::default()) {
            Ok(feature) => {
                let parsed = Parsed {
                    file: file.to_path_buf(),
                    feature,
                };
                check_tags(&parsed, text, catalogue, &mut findings);
                check_descriptions(&parsed, text, &mut findings);
                check_steps(
                    &parsed,
                    &self.collection,
                    &Selection::default(),
                    None,
                    &mut findings,
                );
            }
            Err(e) => findings.push(Finding {
                severity: Severity::Error,
                kind: Kind::Syntax,
                location: file.display().to_string(),
                message: e.to_string(),
            }),
        }
        findings
    }
}

/// The line of the last `@tag` at or before `before` (1-based), for a finding about a tag.
fn tag_line(text: &str, tag: &str, before: usize) -> usize {
    let wanted = format!("@{tag}");
    text.lines()
        .enumerate()
        .take(before)
        .filter(|(_, line)| {
            line.split_whitespace()
                .any(|word| word == wanted || word.starts_with(&format!("{wanted}#")))
        })
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or(before)
}

fn check_tags(file: &Parsed, text: &str, catalogue: &Catalogue, out: &mut Vec<Finding>) {
    let path = file.display();
    let feature_line = file.feature.position.line;
    let judge = |tag: &str, line: usize, out: &mut Vec<Finding>| match catalogue.classify_tag(tag) {
        TagKind::Unknown { id, closest } => out.push(Finding {
            severity: Severity::Error,
            kind: Kind::UnknownClause,
            location: format!("{path}:{}", tag_line(text, tag, line)),
            message: format!(
                "@{id} is not a clause of {}{}",
                catalogue.origin,
                closest
                    .map(|c| format!(" (did you mean @{c}?)"))
                    .unwrap_or_default()
            ),
        }),
        TagKind::Malformed { tag, id } => {
            let message = if catalogue.get(&id).is_some() {
                format!("@{tag} looks like clause {id}: write it @{id}")
            } else {
                let ids = catalogue.clauses.iter().map(|c| c.id.as_str());
                format!(
                    "@{tag} looks like a clause id, written @{id}, but {} has no {id}{}",
                    catalogue.origin,
                    crate::config::kong::yaml::closest(&id, ids)
                        .map(|c| format!(" (did you mean @{c}?)"))
                        .unwrap_or_default()
                )
            };
            out.push(Finding {
                severity: Severity::Error,
                kind: Kind::MalformedClause,
                location: format!("{path}:{}", tag_line(text, &tag, line)),
                message,
            });
        }
        TagKind::Clause(_) | TagKind::Other => {}
    };
    for tag in &file.feature.tags {
        judge(tag, feature_line, out);
    }
    for rule in &file.feature.rules {
        for tag in &rule.tags {
            judge(tag, rule.position.line, out);
        }
    }
    for (scenario, tags) in file.scenarios() {
        for tag in &scenario.tags {
            judge(tag, scenario.position.line, out);
        }
        for examples in &scenario.examples {
            for tag in &examples.tags {
                judge(tag, examples.position.line, out);
            }
        }
        // A tag meant as a clause (even a wrong one, reported above) is not "no clause tag".
        let verifies_a_clause = tags
            .iter()
            .chain(scenario.examples.iter().flat_map(|e| &e.tags))
            .any(|t| !matches!(catalogue.classify_tag(t), TagKind::Other));
        if !verifies_a_clause {
            out.push(Finding {
                severity: Severity::Warning,
                kind: Kind::NoClause,
                location: format!("{path}:{}", scenario.position.line),
                message: format!(
                    "scenario \"{}\" has no clause tag (e.g. @AUTH-4): the clause matrix does not count it",
                    scenario.name
                ),
            });
        }
    }
}

/// A step whose keyword is misspelt (`Gven the stack is running`) is read as the scenario's
/// description and silently never runs: catch it, and scenarios with no step at all.
fn check_descriptions(file: &Parsed, text: &str, out: &mut Vec<Finding>) {
    let path = file.display();
    let lines: Vec<&str> = text.lines().collect();
    let has_background = file.feature.background.is_some();
    for (scenario, _) in file.scenarios() {
        let start = scenario.position.line;
        let end = scenario
            .steps
            .first()
            .map_or(lines.len(), |s| s.position.line.saturating_sub(1));
        for (i, line) in lines.iter().enumerate().take(end).skip(start) {
            let Some(first) = line.split_whitespace().next() else {
                continue;
            };
            if super::gherkin_error::STEP_KEYWORDS.contains(&first) || first.starts_with('#') {
                continue;
            }
            if let Some(best) =
                crate::config::kong::yaml::closest(first, super::gherkin_error::STEP_KEYWORDS)
            {
                out.push(Finding {
                    severity: Severity::Error,
                    kind: Kind::Syntax,
                    location: format!("{path}:{}", i + 1),
                    message: format!(
                        "unknown step keyword `{first}` (did you mean `{best}`?); as written the line is description text and never runs"
                    ),
                });
            }
        }
        if scenario.steps.is_empty() && !has_background {
            out.push(Finding {
                severity: Severity::Warning,
                kind: Kind::NoSteps,
                location: format!("{path}:{start}"),
                message: format!(
                    "scenario \"{}\" has no steps: it passes without checking anything",
                    scenario.name
                ),
            });
        }
    }
}

fn is_outline(scenario: &gherkin::Scenario) -> bool {
    let keyword = scenario.keyword.trim();
    keyword == "Scenario Outline" || keyword == "Scenario Template"
}

fn check_steps(
    file: &Parsed,
    collection: &cucumber::step::Collection<GauntletWorld>,
    selection: &Selection,
    stack: Option<&StackDef>,
    out: &mut Vec<Finding>,
) -> usize {
    let path = file.display();
    for (scenario, _) in file.scenarios() {
        let has_rows = scenario
            .examples
            .iter()
            .filter_map(|e| e.table.as_ref())
            .any(|t| t.rows.len() > 1);
        if is_outline(scenario) && !has_rows {
            out.push(Finding {
                severity: Severity::Error,
                kind: Kind::OutlineWithoutExamples,
                location: format!("{path}:{}", scenario.position.line),
                message: format!(
                    "{} at line {} has no Examples table (add `Examples:` with a header row and at least one row, or make it a Scenario)",
                    scenario.keyword.trim(),
                    scenario.position.line
                ),
            });
        }
    }
    // The scenarios exactly as the runner sees them: outlines expanded by cucumber itself.
    let feature = match file.feature.clone().expand_examples() {
        Ok(feature) => feature,
        Err(e) => {
            out.push(Finding {
                severity: Severity::Error,
                kind: Kind::Placeholder,
                location: format!("{path}:{}", e.pos.line),
                message: format!("<{}> has no column in the Examples table", e.name),
            });
            return 0;
        }
    };
    let plain = feature.scenarios.iter().map(|s| (None, s));
    let in_rules = feature
        .rules
        .iter()
        .flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s)));
    let mut steps: Vec<&gherkin::Step> = Vec::new();
    let mut any_selected = false;
    let mut selected = 0;
    for (rule, scenario) in plain.chain(in_rules) {
        if !selection.selects(&feature, rule, scenario) {
            continue;
        }
        any_selected = true;
        selected += 1;
        steps.extend(
            rule.and_then(|r| r.background.as_ref())
                .iter()
                .flat_map(|b| &b.steps),
        );
        steps.extend(&scenario.steps);
    }
    if any_selected {
        steps.extend(feature.background.iter().flat_map(|b| &b.steps));
    }
    steps.sort_by_key(|s| s.position.line);
    let mut seen: Vec<(usize, &str)> = Vec::new();
    for step in steps {
        // An outline's step is checked once per distinct text.
        let key = (step.position.line, step.value.as_str());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let location = format!("{path}:{}", step.position.line);
        match collection.find(step) {
            Ok(Some(_)) => {
                for message in stack
                    .map(|s| names::check(&step.value, s))
                    .unwrap_or_default()
                {
                    let kind = if message.starts_with("header ") {
                        Kind::SuspectHeader
                    } else {
                        Kind::UnknownName
                    };
                    out.push(Finding {
                        severity: Severity::Error,
                        kind,
                        location: location.clone(),
                        message,
                    });
                }
            }
            Ok(None) => {
                let hint = catalog::did_you_mean(step)
                    .map(|s| format!("; closest known step: {s}"))
                    .unwrap_or_default();
                out.push(Finding {
                    severity: Severity::Error,
                    kind: Kind::UndefinedStep,
                    location,
                    message: format!("undefined step: {}{}{hint}", step.keyword, step.value),
                });
            }
            Err(e) => out.push(Finding {
                severity: Severity::Error,
                kind: Kind::AmbiguousStep,
                location,
                message: format!(
                    "ambiguous step: {} ({} definitions match)",
                    step.value,
                    e.possible_matches.len()
                ),
            }),
        }
    }
    selected
}
