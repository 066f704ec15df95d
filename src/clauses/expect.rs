//! `expect.yml` of a stack folder: what the full suite must do on that stack when it is a
//! negative control (a deliberately broken stack). `cargo test --features e2e` runs the suite on
//! every folder under `scenarios/`: one without `expect.yml` must pass every scenario; one with
//! it must fail exactly the clauses listed, with at least one failure saying `because`.
//!
//! ```yaml
//! # scenarios/broken-auth/expect.yml
//! fails: [AUTH-4]
//! because: "expected status 401, got 200"
//! ```

use std::path::Path;

use serde::Deserialize;

use super::Catalogue;
use crate::config::kong::yaml::{closest, Source};
use crate::config::ConfigError;

/// The file name in a stack folder.
pub const FILE_NAME: &str = "expect.yml";

/// What the suite must do on a negative-control stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The clauses that must fail, sorted; no other clause may fail.
    pub fails: Vec<String>,
    /// A fragment of at least one failure message: the reason the stack is broken.
    pub because: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    fails: Vec<String>,
    because: String,
}

impl Expectation {
    /// The `expect.yml` of `stack_dir`, or `None` when it has none (a conformant stack). The
    /// clause ids are checked against `catalogue`.
    ///
    /// # Errors
    /// The file does not parse, lists no clause, names a clause the catalogue does not have
    /// (with the closest id), or has an empty `because`: file, line and key.
    pub fn load(
        stack_dir: &Path,
        catalogue: &Catalogue,
    ) -> Result<Option<Expectation>, ConfigError> {
        let path = stack_dir.join(FILE_NAME);
        if !path.is_file() {
            return Ok(None);
        }
        let source = Source::read(&path)?;
        let raw: RawExpectation = source.parse()?;
        if raw.fails.is_empty() {
            return Err(source.error(
                "fails",
                "list at least one clause: a stack that must pass everything needs no expect.yml",
            ));
        }
        for (i, id) in raw.fails.iter().enumerate() {
            if catalogue.get(id).is_none() {
                let ids = catalogue.clauses.iter().map(|c| c.id.as_str());
                let hint = closest(id, ids)
                    .map(|b| format!(" (did you mean `{b}`?)"))
                    .unwrap_or_default();
                return Err(source.error(
                    format!("fails[{i}]"),
                    format!("no clause `{id}` in the catalogue{hint}"),
                ));
            }
        }
        if raw.because.trim().is_empty() {
            return Err(source.error("because", "say what a failure of this stack must contain"));
        }
        let mut fails = raw.fails;
        fails.sort();
        fails.dedup();
        Ok(Some(Expectation {
            fails,
            because: raw.because,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Option<Expectation>, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(FILE_NAME), text).expect("write");
        Expectation::load(dir.path(), &Catalogue::built_in())
    }

    #[test]
    fn a_stack_without_expect_yml_must_pass_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            Expectation::load(dir.path(), &Catalogue::built_in()).expect("no file"),
            None
        );
    }

    #[test]
    fn lists_the_clauses_sorted_and_the_reason() {
        let e = load("fails: [ACL-4, ACL-2]\nbecause: \"expected status 403, got 200\"\n")
            .expect("valid")
            .expect("present");
        assert_eq!(e.fails, ["ACL-2", "ACL-4"]);
        assert_eq!(e.because, "expected status 403, got 200");
    }

    #[test]
    fn an_unknown_clause_is_named_at_its_key_with_the_closest_id() {
        let e = load("fails: [AUTH-4, ACL-9]\nbecause: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expect.yml:1"), "{e}");
        assert!(
            e.contains("fails[1]: no clause `ACL-9` in the catalogue"),
            "{e}"
        );
        let e = load("fails: []\nbecause: x\n").unwrap_err().to_string();
        assert!(e.contains("list at least one clause"), "{e}");
        let e = load("fail: [AUTH-4]\nbecause: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fail"), "{e}");
    }
}
