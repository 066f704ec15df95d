//! Feature files that cannot be used, described as `path:line:col: message` for `run`, `check`
//! and the report.

use cucumber::gherkin::ParseFileError;
use cucumber::parser;

use super::collected::Problem;
use super::collector::display_path;

/// A parse or Examples-expansion error as a [`Problem`].
pub fn describe(error: &parser::Error) -> Problem {
    match error {
        parser::Error::Parsing(e) => describe_file_error(e),
        parser::Error::ExampleExpansion(e) => {
            let path = e.path.as_deref().map(display_path).unwrap_or_default();
            Problem {
                message: format!(
                    "{path}:{}:{}: <{}> has no column in the Examples table",
                    e.pos.line, e.pos.col, e.name
                ),
                path,
            }
        }
    }
}

/// A gherkin file error with its position: `path:line:col: not valid Gherkin; expected …`.
pub fn describe_file_error(error: &ParseFileError) -> Problem {
    match error {
        ParseFileError::Reading { path, source } => {
            let path = display_path(path);
            Problem {
                message: format!("{path}: cannot read: {source}"),
                path,
            }
        }
        ParseFileError::Parsing {
            path: file, source, ..
        } => {
            let path = display_path(file);
            // gherkin prints "Error at LINE:COL: {expected tokens}".
            let text = source.to_string();
            let line: Option<usize> = text
                .strip_prefix("Error at ")
                .and_then(|d| d.split(':').next())
                .and_then(|l| l.parse().ok());
            let explained = line.and_then(|line| {
                let source = std::fs::read_to_string(file).ok()?;
                explain(&source, line)
            });
            if let Some((line, message)) = explained {
                return Problem {
                    message: format!("{path}:{line}: {message}"),
                    path,
                };
            }
            let detail = text.strip_prefix("Error at ").unwrap_or(&text);
            let message = match detail.split_once(": ") {
                Some((position, expected)) => {
                    format!("{path}:{position}: not valid Gherkin here; expected one of {expected}")
                }
                None => format!("{path}: not valid Gherkin: {text}"),
            };
            Problem { path, message }
        }
    }
}

/// Gherkin's keywords that end in a colon, as written at the start of a line.
const SECTION_KEYWORDS: [&str; 10] = [
    "Feature",
    "Rule",
    "Background",
    "Scenario",
    "Example",
    "Scenario Outline",
    "Scenario Template",
    "Examples",
    "Scenarios",
    "Ability",
];

/// Step keywords.
pub(super) const STEP_KEYWORDS: [&str; 5] = ["Given", "When", "Then", "And", "But"];

/// The likely cause of a parse error reported at `error_line`: the last line at or before it that
/// starts with a misspelt keyword (`Scenari: z`, `Gven the stack`), as `(line, message)`.
fn explain(source: &str, error_line: usize) -> Option<(usize, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let upto = error_line.min(lines.len());
    (0..upto).rev().find_map(|i| {
        let line = lines[i].trim_start();
        if line.is_empty() || line.starts_with(['#', '@', '|', '"', '`']) {
            return None;
        }
        if let Some((head, _)) = line.split_once(':') {
            if !head.is_empty() && head.len() <= 20 && !SECTION_KEYWORDS.contains(&head) {
                if let Some(best) = crate::config::kong::yaml::closest(head, SECTION_KEYWORDS) {
                    return Some((
                        i + 1,
                        format!("unknown keyword `{head}:` (did you mean `{best}:`?)"),
                    ));
                }
            }
        }
        let first = line.split_whitespace().next()?;
        if !STEP_KEYWORDS.contains(&first) && i + 1 == error_line {
            if let Some(best) = crate::config::kong::yaml::closest(first, STEP_KEYWORDS) {
                return Some((
                    i + 1,
                    format!("unknown step keyword `{first}` (did you mean `{best}`?)"),
                ));
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn a_misspelt_section_keyword_is_named_with_the_keyword_meant() {
        let source = "Feature: x\n\n  Scenario: a\n    Given the stack is running\n\n  Scenari: z\n    Given the stack is running\n";
        assert_eq!(
            explain(source, 7),
            Some((
                6,
                "unknown keyword `Scenari:` (did you mean `Scenario:`?)".into()
            ))
        );
    }

    #[test]
    fn a_misspelt_step_keyword_on_the_error_line_is_named() {
        let source = "Feature: x\n  Scenario: a\n    Gven the stack is running\n";
        assert_eq!(
            explain(source, 3),
            Some((
                3,
                "unknown step keyword `Gven` (did you mean `Given`?)".into()
            ))
        );
        assert_eq!(explain("Feature: x\n  Scenario: a\n    it runs\n", 3), None);
    }
}
