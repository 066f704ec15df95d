//! `gauntlet check`: validates the stack, the clause catalogue and the features without running
//! anything ([`crate::runner::lint`]). Exit 2 on any error; warnings alone exit 0.

use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::clauses::Catalogue;
use crate::config::StackDef;
use crate::runner::lint;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Feature files or folders (default: features/).
    pub paths: Vec<PathBuf>,
    /// Stack definition folder.
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
}

pub fn execute(args: CheckArgs) -> Exit {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("features")]
    } else {
        args.paths
    };
    let mut errors: Vec<String> = Vec::new();
    match StackDef::load(&args.stack) {
        Ok(stack) => {
            println!(
                "stack {}: ok ({} routes, {} consumers)",
                stack.dir.display(),
                stack.gateway.routes.len(),
                stack.gateway.consumers.len()
            );
            for warning in &stack.warnings {
                println!("warning: {warning}");
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
    let catalogue = match Catalogue::for_features(&paths) {
        Ok(catalogue) => Some(catalogue),
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    let features = catalogue.as_ref().map(|catalogue| {
        let result = lint::lint(&paths, catalogue);
        for warning in result.warnings() {
            println!("warning: {warning}");
        }
        errors.extend(result.errors().map(ToString::to_string));
        result.files
    });
    for error in &errors {
        eprintln!("error: {error}");
    }
    if errors.is_empty() {
        if let (Some(n), Some(catalogue)) = (features, &catalogue) {
            println!(
                "{n} feature files: ok ({} clauses from {})",
                catalogue.clauses.len(),
                catalogue.origin
            );
        }
        Exit::Success
    } else {
        eprintln!("{} problem(s)", errors.len());
        Exit::Usage
    }
}
