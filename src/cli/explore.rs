//! `gauntlet explore` (SPEC §11): the steady-state hypotheses of `experiments/` (or the given
//! paths) against every action, alone and in pairs, from a seed; prints the resilience matrix
//! and writes `reports/<run-id>/`.
//!
//! Exit codes ([`Exit`]): 0 every hypothesis held under every schedule tried; 1 one broke (or
//! does not even hold on the healthy stack); 2 usage errors (unknown consumer or route, an
//! unreadable hypothesis: file and line named); 130/143 interrupted, after writing the partial
//! matrix.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;

use super::{Exit, Signal};
use crate::config::StackDef;
use crate::explore::{
    self, hypothesis, window, Exploration, ExploreSettings, Observer, Outcome, ScheduleResult,
};
use crate::target::{ContainerRun, RunTarget, Target};
use crate::units::parse_duration;

#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Feature files or folders with steady-state hypotheses (default: experiments/).
    pub paths: Vec<PathBuf>,
    /// Stack definition folder.
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
    /// Seed of every random choice (printed and reported; the same seed replays the same
    /// schedules).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start no new schedule after this much wall time (e.g. 10m).
    #[arg(long, value_parser = parse_duration)]
    pub budget: Option<Duration>,
    /// Play at most this many schedules (singles first).
    #[arg(long)]
    pub max_schedules: Option<usize>,
    /// After every single action, try pairs of actions within the budget.
    #[arg(long)]
    pub pairs: bool,
    /// Length of one window of steady load (each window is judged on its own).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub window: Duration,
    /// Shrink at most this many broken schedules into reproducers (repro-<n>.feature).
    #[arg(long, default_value_t = 5)]
    pub max_repros: usize,
    /// Where reports/<run-id>/ is written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Where each schedule's fresh stack runs: in this process, or as containers (SPEC §13;
    /// the invariants are checked in process only).
    #[arg(long, value_enum, default_value_t = Target::Process)]
    pub target: Target,
}

/// The progress line: on a terminal one line rewritten in place, else one line per schedule.
struct Progress {
    terminal: bool,
}

impl Observer for Progress {
    fn starting(&mut self, done: usize, planned: usize, description: &str, broken: usize) {
        if self.terminal {
            let mut line = format!("[{done}/{planned}] {broken} broken · {description}");
            line.truncate(110);
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        }
    }

    fn shrinking(&mut self, n: usize, from: &str) {
        if self.terminal {
            let mut line = format!("shrinking reproducer {n}: {from}");
            line.truncate(110);
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("shrinking reproducer {n}: {from}");
        }
    }

    fn finished(&mut self, result: &ScheduleResult) {
        if self.terminal {
            return;
        }
        let verdict = match &result.outcome {
            Outcome::Held => "held".to_string(),
            Outcome::Broken(b) => format!(
                "BROKEN {} {}: {}",
                b.hypothesis_name, b.objective_text, b.by
            ),
            Outcome::Error { message } => format!("error: {message}"),
        };
        eprintln!(
            "schedule {} ({:.1}s): {} → {verdict}",
            result.id,
            result.played.wall.as_secs_f64(),
            result.description
        );
    }
}

pub async fn execute(args: ExploreArgs) -> Exit {
    // Caught from here on, as in `run`: a signal while the files load or the schedules are
    // planned is kept, and stops the exploration after its first schedule with the partial
    // matrix written, never by the default kill.
    let mut signals = super::Interrupts::listen();
    let def = match StackDef::load(&args.stack) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("experiments")]
    } else {
        args.paths.clone()
    };
    let hypotheses = match hypothesis::load(&paths, &def) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    if args.window.is_zero() {
        eprintln!("error: --window must be above zero");
        return Exit::Usage;
    }
    if let Err(e) = window::Quotas::check(&hypotheses, &def, args.window) {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let target = match args.target {
        Target::Process => RunTarget::Process,
        Target::Docker => match ContainerRun::prepare(&def, 1).await {
            Ok(run) => RunTarget::Containers(run),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::of_container_error(&e);
            }
        },
    };
    let settings = ExploreSettings {
        def: def.clone(),
        hypotheses,
        seed,
        window: args.window,
        budget: args.budget,
        max_schedules: args.max_schedules,
        pairs: args.pairs,
        max_repros: args.max_repros,
        target: target.clone(),
    };
    let planned = explore::plan(&settings).len();
    println!(
        "gauntlet explore: stack {} ({}), seed {seed}, {} hypotheses, {planned} schedules planned, \
         windows of {}",
        def.name(),
        def.dir.display(),
        settings.hypotheses.len(),
        crate::units::format_duration(args.window)
    );
    for h in &settings.hypotheses {
        println!("  hypothesis {} ({})", h, h.location());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let signal: Arc<Mutex<Option<Signal>>> = Arc::default();
    let watcher = {
        let (stop, signal) = (stop.clone(), signal.clone());
        tokio::spawn(async move {
            let which = signals.next().await;
            if let Ok(mut s) = signal.lock() {
                *s = Some(which);
            }
            stop.store(true, Ordering::Relaxed);
            eprintln!(
                "\n{}: finishing the current schedule, then writing the partial matrix",
                which.name()
            );
        })
    };
    let mut progress = Progress {
        terminal: std::io::stderr().is_terminal(),
    };
    let exploration = explore::explore(&settings, &mut progress, &stop).await;
    watcher.abort();
    if let RunTarget::Containers(run) = &target {
        run.remove_all().await;
    }
    if progress.terminal {
        eprint!("\r\x1b[2K");
    }
    for line in summary(&exploration) {
        println!("{line}");
    }
    let code = match write_report(&exploration, &args.report_dir, &args.stack) {
        Ok(dir) => {
            println!("report: {}", dir.display());
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            Some(Exit::Failures)
        }
    };
    let stopped_by = signal.lock().ok().and_then(|s| *s);
    if let Some(signal) = stopped_by {
        return Exit::Interrupted(signal);
    }
    if let Some(code) = code {
        return code;
    }
    if exploration.broken() {
        Exit::Failures
    } else {
        Exit::Success
    }
}

/// The console summary: the matrix, then the verdict line.
pub fn summary(e: &Exploration) -> Vec<String> {
    let mut out = Vec::new();
    let violations = e.violations();
    if !violations.is_empty() {
        out.push(format!(
            "INVARIANT VIOLATIONS ({}): defects of Gauntlet itself, not of the stack",
            violations.len()
        ));
        for (schedule, v) in violations.iter().take(20) {
            let at = if *schedule == 0 {
                "baseline".to_string()
            } else {
                format!("schedule {schedule}")
            };
            out.push(format!("  {} ({at}): {}", v.invariant, v.what));
            for line in v.evidence.iter().take(6) {
                out.push(format!("      {line}"));
            }
        }
    }
    if let Some(u) = &e.unreachable {
        out.push(format!("UNREACHABLE HYPOTHESIS: {u}"));
        out.push("nothing explored".into());
        return out;
    }
    out.push(String::new());
    out.extend(matrix_lines(&e.matrix()));
    let pairs = e.pair_matrix();
    if !pairs.is_empty() || e.skipped_pairs > 0 {
        let broken = pairs.iter().filter(|c| c.verdict == "broken").count();
        let emergent = pairs.iter().filter(|c| c.emergent).count();
        out.push(format!(
            "pairs: {} played, {broken} broke a hypothesis ({emergent} emergent: both held alone), {} skipped (an action broke alone)",
            pairs.len(),
            e.skipped_pairs
        ));
        for c in pairs.iter().filter(|c| c.verdict != "held").take(20) {
            out.push(format!(
                "  #{} {}: {}{}",
                c.schedule,
                c.actions,
                c.detail.clone().unwrap_or_default(),
                if c.emergent { " (emergent)" } else { "" }
            ));
        }
    }
    if !e.repros.is_empty() {
        out.push("reproducers (shrunk; `gauntlet run` fails each on its objective):".into());
        for r in &e.repros {
            out.push(format!(
                "  {}: {} breaks {} of {} ({} replays{})",
                r.file,
                r.description,
                r.objective,
                r.hypothesis,
                r.replays,
                if r.alone {
                    ""
                } else {
                    "; not broken by this hypothesis alone: unshrunk"
                }
            ));
        }
    }
    let broken = e
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Broken(_)))
        .count();
    let errors = e
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error { .. }))
        .count();
    if let Some(why) = &e.stopped_early {
        out.push(format!("stopped early: {why}"));
    }
    out.push(format!(
        "{} of {} schedules played in {:.1}s: {} held, {broken} broke a hypothesis{}",
        e.results.len(),
        e.planned,
        e.wall.as_secs_f64(),
        e.results.len() - broken - errors,
        if errors > 0 {
            format!(", {errors} could not be played")
        } else {
            String::new()
        }
    ));
    out
}

/// The resilience matrix on one screen: what breaks the steady state (each with the objective
/// and by how much), then what it survives, grouped by action kind.
fn matrix_lines(matrix: &[explore::MatrixCell]) -> Vec<String> {
    let mut out = Vec::new();
    let held = matrix.iter().filter(|c| c.verdict == "held").count();
    let broken: Vec<_> = matrix.iter().filter(|c| c.verdict == "broken").collect();
    let errors: Vec<_> = matrix.iter().filter(|c| c.verdict == "error").collect();
    out.push(format!(
        "resilience matrix (each action alone): survives {held} of {} actions, {} break the \
         steady state{}",
        matrix.len(),
        broken.len(),
        if errors.is_empty() {
            String::new()
        } else {
            format!(", {} could not be played", errors.len())
        }
    ));
    let kind_w = matrix.iter().map(|c| c.kind.len()).max().unwrap_or(4);
    let target_w = matrix.iter().map(|c| c.target.len()).max().unwrap_or(6);
    for (title, cells) in [("breaks", &broken), ("could not be played", &errors)] {
        if cells.is_empty() {
            continue;
        }
        out.push(format!("  {title}:"));
        for c in cells.iter() {
            out.push(format!(
                "    {:kind_w$}  {:target_w$}  {}",
                c.kind,
                c.target,
                c.detail.clone().unwrap_or_default()
            ));
        }
    }
    if held > 0 {
        out.push("  survives:".into());
        let mut kinds: Vec<&str> = matrix
            .iter()
            .filter(|c| c.verdict == "held")
            .map(|c| c.kind.as_str())
            .collect();
        kinds.dedup();
        for kind in kinds {
            let targets: Vec<&str> = matrix
                .iter()
                .filter(|c| c.verdict == "held" && c.kind == kind)
                .map(|c| c.target.as_str())
                .collect();
            out.push(format!("    {kind:kind_w$}  {}", targets.join(", ")));
        }
    }
    out
}

fn write_report(
    e: &Exploration,
    root: &std::path::Path,
    stack_dir: &std::path::Path,
) -> Result<PathBuf, String> {
    let id = crate::report::run_id(
        crate::clock::real_wall_now(),
        &format!("explore-{}", e.stack),
    );
    let dir = root.join(id);
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let json = crate::report::explore::render_json(e).map_err(|err| err.to_string())?;
    let html = crate::report::explore::render_html(e, &run_id, &stack_dir.display().to_string())
        .map_err(|err| err.to_string())?;
    for (name, text) in [("results.json", &json), ("index.html", &html)] {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    }
    for r in &e.repros {
        let path = dir.join(&r.file);
        std::fs::write(&path, &r.feature)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    }
    Ok(dir)
}
