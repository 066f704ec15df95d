//! `gauntlet compare [<run-a> <run-b>]`: what changed between two runs (SPEC §10, issue 13
//! item 2). Prints the table, writes `compare.html`, exits 1 on a regression.

use std::path::{Path, PathBuf};

use clap::Args;

use super::Exit;
use crate::report::compare::{self, RunRef};
use crate::report::compare_page;

#[derive(Debug, Args)]
#[command(after_help = "\
Runs are ids (20261201-101500-valueverse) found in <report-dir>/history.jsonl, or run directories
(reports/latest, reports/20261201-101500-valueverse). Without runs: the newest run against the one
before it on the same stack.

A regression is a scenario failing in B that passed in A (or was not in A) and was not flaky in
the runs before B, or a p50/p99 that grew by more than its noise band (the spread of the last 10
runs on the stack, at least 10% and 0.5 ms).

Exit status: 0 no regression; 1 a regression; 2 a run cannot be found.")]
pub struct CompareArgs {
    /// The older run (A): an id or a run directory. Give both runs or neither.
    pub run_a: Option<String>,
    /// The newer run (B).
    pub run_b: Option<String>,
    /// The report root holding history.jsonl and the run directories.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Where the HTML page goes (default: <report-dir>/compare.html).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the comparison as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: CompareArgs) -> Exit {
    let (a, b, history, warnings) = match compare::resolve(
        &args.report_dir,
        args.run_a.as_deref(),
        args.run_b.as_deref(),
    ) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let comparison = compare::compare(&a, &b, &history);
    if args.json {
        match serde_json::to_string_pretty(&comparison) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("error: cannot serialise the comparison: {e}"),
        }
    }
    let html = args
        .html
        .unwrap_or_else(|| args.report_dir.join("compare.html"));
    let hrefs = (href(&html, &a), href(&html, &b));
    let written = compare_page::render(&comparison, hrefs)
        .map_err(|e| e.to_string())
        .and_then(|page| {
            if let Some(parent) = html.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&html, page).map_err(|e| e.to_string())
        });
    if !args.json {
        for line in compare::console_lines(&comparison) {
            println!("{line}");
        }
    }
    match written {
        Ok(()) => eprintln!("compare report: {}", html.display()),
        // The verdict stands without the page.
        Err(e) => eprintln!("error: writing {}: {e}", html.display()),
    }
    if comparison.is_regression() {
        Exit::Failures
    } else {
        Exit::Success
    }
}

/// A link from the page to a run's report: relative when they share a folder.
fn href(page: &Path, run: &RunRef) -> Option<String> {
    let dir = run.dir.as_ref()?;
    let index = dir.join("index.html");
    if !index.is_file() {
        return None;
    }
    let same_parent = match (page.parent(), dir.parent()) {
        (Some(p), Some(d)) => {
            std::fs::canonicalize(if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            })
            .ok()
                == std::fs::canonicalize(if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                })
                .ok()
        }
        _ => false,
    };
    match (same_parent, dir.file_name()) {
        (true, Some(name)) => Some(format!("{}/index.html", name.to_string_lossy())),
        _ => std::fs::canonicalize(&index)
            .ok()
            .map(|p| format!("file://{}", p.display())),
    }
}
