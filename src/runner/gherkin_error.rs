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
        ParseFileError::Parsing { path, source, .. } => {
            let path = display_path(path);
            // gherkin prints "Error at LINE:COL: {expected tokens}".
            let text = source.to_string();
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
