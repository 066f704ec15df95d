//! `gauntlet steps`: the step catalog by domain, and what each parameter accepts; `--json` for
//! editor tooling (patterns, the regex each step is matched with, examples, parameters).

use clap::Args;
use cucumber::codegen::{StepConstructor, WorldInventory};
use serde_json::json;

use super::Exit;
use crate::steps::catalog::{StepDoc, CATALOG};
use crate::steps::params::PARAMETERS;
use crate::steps::GauntletWorld;

#[derive(Debug, Args)]
pub struct StepsArgs {
    /// Print one JSON object (parameters, steps with their regexes) for editor tooling.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: StepsArgs) -> Exit {
    if args.json {
        println!("{}", render_json());
    } else {
        print!("{}", render());
    }
    Exit::Success
}

/// The catalog as text: what each parameter accepts, then each domain's steps with their
/// pattern, description and example.
pub fn render() -> String {
    let mut out = String::from("== parameters ==\n");
    for p in PARAMETERS {
        out.push_str(&format!(
            "{{{}}}  {}\n    e.g. {}\n",
            p.name,
            p.accepts,
            p.examples.join(", ")
        ));
    }
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

/// The regexes the step library registered for `doc` (one per keyword it takes).
fn regexes(doc: &StepDoc) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut push = |keyword: &str, re: &regex::Regex| {
        if doc.keyword.split('/').any(|k| k == keyword)
            && re.is_match(doc.example)
            && !found.contains(&re.as_str().to_string())
        {
            found.push(re.as_str().to_string());
        }
    };
    for s in cucumber::codegen::inventory::iter::<<GauntletWorld as WorldInventory>::Given> {
        push("Given", &s.inner().1());
    }
    for s in cucumber::codegen::inventory::iter::<<GauntletWorld as WorldInventory>::When> {
        push("When", &s.inner().1());
    }
    for s in cucumber::codegen::inventory::iter::<<GauntletWorld as WorldInventory>::Then> {
        push("Then", &s.inner().1());
    }
    found
}

/// The catalog as one JSON object.
pub fn render_json() -> serde_json::Value {
    let steps: Vec<serde_json::Value> = CATALOG
        .iter()
        .map(|doc| {
            json!({
                "domain": doc.domain,
                "keywords": doc.keyword.split('/').collect::<Vec<_>>(),
                "pattern": doc.pattern,
                "patterns": doc.pattern.split(" / ").collect::<Vec<_>>(),
                "description": doc.description,
                "example": doc.example,
                "regex": regexes(doc),
            })
        })
        .collect();
    json!({"parameters": PARAMETERS, "steps": steps})
}
