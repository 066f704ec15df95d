//! Progress for people and CI logs while a run is going (issue 13 item 6): on a terminal one
//! status line kept at the bottom (`[37/132] 2 failed · 41 s`), redrawn every second and after
//! each scenario line; elsewhere (a CI log) a plain `progress:` line every
//! [`PLAIN_EVERY`] (`GAUNTLET_PROGRESS_SECONDS` overrides it), so a `--real-time` run that waits
//! for minutes still shows it is alive.
//!
//! ```text
//!   Collector::finish ──scenario_finished()──► Progress (atomics) ◄──tick()── a timer beside the suite
//!                                               └─► stderr status line (terminal) / stdout `progress:` lines (CI)
//! ```

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::clock::Stopwatch;

/// Plain progress lines are this far apart when stdout is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(30);
/// The terminal's status line is redrawn this often.
const TTY_EVERY: Duration = Duration::from_secs(1);

/// Counts shared by the collector and the timer.
pub struct Progress {
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
    started: Stopwatch,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--quiet` or nothing to show.
    Off,
    /// A status line on stderr, rewritten in place.
    Terminal,
    /// `progress:` lines on stdout every `every`.
    Plain { every: Duration },
}

impl Progress {
    /// Progress over `total` scenarios (rounds of `--repeat` included): a status line when
    /// stdout is a terminal, plain lines otherwise; nothing when `quiet`.
    pub fn new(total: usize, quiet: bool) -> Progress {
        use std::io::IsTerminal as _;
        let mode = if quiet {
            Mode::Off
        } else if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            let every = std::env::var("GAUNTLET_PROGRESS_SECONDS")
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|s| *s > 0)
                .map_or(PLAIN_EVERY, Duration::from_secs);
            Mode::Plain { every }
        };
        Progress {
            total,
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            started: Stopwatch::start(),
            mode,
        }
    }

    /// A progress that shows nothing (tests, `--quiet`).
    pub fn off() -> Progress {
        Progress::new(0, true)
    }

    /// Counts a finished scenario.
    pub fn scenario_finished(&self, failed: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `37/132 scenarios, 2 failed, 41 s elapsed`.
    pub fn summary(&self) -> String {
        let failed = self.failed.load(Ordering::Relaxed);
        format!(
            "{}/{} scenarios, {failed} failed, {} s elapsed",
            self.done.load(Ordering::Relaxed),
            self.total,
            self.started.elapsed().as_secs()
        )
    }

    /// Around a line printed on stdout: the status line is cleared first and drawn again after.
    pub fn print_line(&self, line: &str) {
        if self.mode == Mode::Terminal {
            eprint!("\r\x1b[K");
            println!("{line}");
            self.draw();
        } else {
            println!("{line}");
        }
    }

    fn draw(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K[{}]", self.summary());
        let _ = err.flush();
    }

    /// Removes the status line (before the final summary).
    pub fn clear(&self) {
        if self.mode == Mode::Terminal {
            eprint!("\r\x1b[K");
        }
    }

    /// Shows progress until dropped: redraws the status line, or prints a `progress:` line
    /// every interval. Never completes.
    pub async fn tick(&self) {
        let every = match self.mode {
            Mode::Off => return std::future::pending().await,
            Mode::Terminal => TTY_EVERY,
            Mode::Plain { every } => every,
        };
        loop {
            // Real time on purpose: this paces output for a person, it is no policy timer.
            tokio::time::sleep(every).await;
            match self.mode {
                Mode::Terminal => self.draw(),
                _ => println!("progress: {}", self.summary()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_finished_and_failed_scenarios() {
        let p = Progress::new(4, true);
        p.scenario_finished(false);
        p.scenario_finished(true);
        assert!(
            p.summary().starts_with("2/4 scenarios, 1 failed, "),
            "{}",
            p.summary()
        );
    }
}
