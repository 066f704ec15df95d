//! `gauntlet steps`: the step catalog, by domain.

use super::Exit;
use crate::steps::catalog::CATALOG;

pub fn execute() -> Exit {
    print!("{}", render());
    Exit::Success
}

/// The catalog as text: each domain, then each step's pattern, description and example.
pub fn render() -> String {
    let mut out = String::new();
    let mut domain = "";
    for doc in CATALOG {
        if doc.domain != domain {
            domain = doc.domain;
            out.push_str(&format!("\n== {domain} ==\n"));
        }
        let first_keyword = doc.keyword.split('/').next().unwrap_or(doc.keyword);
        out.push_str(&format!(
            "{} {}\n    {}\n    e.g. {} {}\n",
            doc.keyword, doc.pattern, doc.description, first_keyword, doc.example
        ));
    }
    out
}
