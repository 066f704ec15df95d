//! `gauntlet clauses`: the clause catalogue (`features/clauses.yml`), each clause with the
//! scenarios that verify it, by domain; `--governs PATH` lists the clauses governing one config
//! value; `--json` for tools.
//!
//! ```text
//!   $ gauntlet clauses --domain resilience
//!   resilience
//!     CB-1       1 scenario    A breaker starts CLOSED.
//!     ...
//! ```

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::Exit;
use crate::clauses::{Catalogue, MutationPath, TagKind};
use crate::runner::files;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gauntlet clauses                                     every clause, with its scenarios' count
  gauntlet clauses --domain mesh --scenarios           the mesh clauses and where each is verified
  gauntlet clauses --governs 'kong.yml:services[value-architect].retries'
  gauntlet clauses --json                              id, domain, text, governs, scenarios")]
pub struct ClausesArgs {
    /// Feature files or folders whose scenarios are counted (default: features/).
    pub paths: Vec<PathBuf>,
    /// Only the clauses of this domain (auth, acl, rate_limit, resilience, mesh, ...).
    #[arg(long)]
    pub domain: Option<String>,
    /// Only the clauses governing this config value (a mutation path, as `gauntlet mutate`
    /// prints it: `kong.yml:plugins[jwt].config.maximum_expiration`).
    #[arg(long, value_name = "PATH")]
    pub governs: Option<String>,
    /// List each clause's scenarios (file:line name).
    #[arg(long)]
    pub scenarios: bool,
    /// Print one JSON array instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A scenario verifying a clause: `features/x.feature:12` and its name.
struct ScenarioAt {
    location: String,
    name: String,
}

pub fn execute(args: ClausesArgs) -> Exit {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("features")]
    } else {
        args.paths.clone()
    };
    let catalogue = match Catalogue::for_features(&paths) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let governs = match args.governs.as_deref().map(MutationPath::parse).transpose() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("error: --governs: {e}");
            return Exit::Usage;
        }
    };
    if let Some(domain) = &args.domain {
        let domains = catalogue.domains();
        if !domains.contains(&domain.as_str()) {
            eprintln!(
                "error: no clause has the domain {domain:?}; the domains are {}",
                domains.join(", ")
            );
            return Exit::Usage;
        }
    }
    let (parsed, problems) = files::parse_all(&paths);
    for problem in &problems {
        eprintln!(
            "warning: {} (its scenarios are not counted)",
            problem.message
        );
    }
    let mut verified: Vec<Vec<ScenarioAt>> = catalogue.clauses.iter().map(|_| Vec::new()).collect();
    for file in &parsed {
        for (scenario, tags) in file.scenarios() {
            let mut seen: Vec<usize> = Vec::new();
            for tag in &tags {
                if let TagKind::Clause(id) = catalogue.classify_tag(tag) {
                    if let Some(i) = catalogue.clauses.iter().position(|c| c.id == id) {
                        if !seen.contains(&i) {
                            seen.push(i);
                            verified[i].push(ScenarioAt {
                                location: format!("{}:{}", file.display(), scenario.position.line),
                                name: scenario.name.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    let selected: Vec<usize> = (0..catalogue.clauses.len())
        .filter(|i| {
            let c = &catalogue.clauses[*i];
            args.domain.as_ref().is_none_or(|d| *d == c.domain)
                && governs.as_ref().is_none_or(|p| c.governs(p))
        })
        .collect();

    if args.json {
        let list: Vec<serde_json::Value> = selected
            .iter()
            .map(|i| {
                let c = &catalogue.clauses[*i];
                json!({
                    "id": c.id,
                    "domain": c.domain,
                    "text": c.text,
                    "governs": c.governs.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "scenarios": verified[*i].iter().map(|s| json!({"location": s.location, "name": s.name})).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Exit::Success;
    }

    println!(
        "{} clauses from {}",
        catalogue.clauses.len(),
        catalogue.origin
    );
    if let Some(path) = &governs {
        if selected.is_empty() {
            println!(
                "no clause governs {path}: a mutation of it can only be killed for another reason"
            );
            return Exit::Success;
        }
        println!("governing {path}:");
    }
    let mut domain = "";
    for i in &selected {
        let c = &catalogue.clauses[*i];
        if c.domain != domain {
            domain = &c.domain;
            println!("\n{domain}");
        }
        let n = verified[*i].len();
        let count = match n {
            0 => "uncovered".to_string(),
            1 => "1 scenario".to_string(),
            n => format!("{n} scenarios"),
        };
        println!("  {:<10} {count:<13} {}", c.id, c.text);
        if let Some(path) = &governs {
            for p in c.governs.iter().filter(|p| p.matches(path)) {
                println!("  {:<10} {:<13} governs it by {p}", "", "");
            }
        }
        if args.scenarios {
            for s in &verified[*i] {
                println!("  {:<10} {:<13} {} {}", "", "", s.location, s.name);
            }
        }
    }
    Exit::Success
}
