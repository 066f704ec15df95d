//! Load generation and latency histograms (SPEC LAT-1, §9 `gauntlet load`, §10 histograms): the
//! engine behind `gauntlet load` and the load steps.
//!
//! ```text
//!   LoadPlan ──► generator (tokio tasks, one keep-alive connection each)
//!                   │ Sample per request (raw: times + status or error kind)
//!                   ▼
//!                channel ──► collector (HDR histograms: run, label, status class; 1 s intervals)
//!                                 │ LoadResult
//!                                 ▼
//!                summary (pure) ──► CLI table · step assertions · report HistogramReport + .hlog
//! ```
//! The generator never aggregates and the collector never touches the network, so neither
//! slows the other down; everything runs on the tokio runtime, so a load step never blocks the
//! other scenarios of a run.
//!
//! Latency is real time (SPEC §3: injected latency is measured, never jumped), read through
//! [`crate::clock::real_instant`].

pub mod collector;
pub mod generator;
pub mod hlog;
pub mod plan;
pub mod summary;
pub mod threshold;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use collector::{ErrorKind, LoadResult, Outcome, Sample};
pub use plan::{LoadPlan, Model, PlanError, RequestTemplate, Stop, Target};
pub use summary::Summary;

use crate::clock::{real_instant, real_wall_now};

/// Live counters of a run, for a progress display, and a switch to stop it early.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub errors: AtomicU64,
    stop: AtomicBool,
    /// Hand each sample over as soon as its request ends (no batching).
    live: bool,
}

impl Progress {
    /// Counters for a consumer that judges requests as they end (the explorer's windows):
    /// every sample goes to the collector at once instead of in batches.
    pub fn live() -> Progress {
        Progress {
            live: true,
            ..Progress::default()
        }
    }

    /// Whether samples are handed over one by one.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Asks every worker to stop after its current request (Ctrl-C).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The collector task died (a bug: it panicked).
#[derive(Debug, thiserror::Error)]
#[error("the load collector failed: {0}")]
pub struct LoadError(String);

/// Runs `plan` to the end and returns what was recorded. `description` heads the interval log.
///
/// # Errors
/// Only if the collector task panicked.
pub async fn run(
    plan: LoadPlan,
    description: &str,
    progress: Arc<Progress>,
) -> Result<LoadResult, LoadError> {
    let plan = Arc::new(plan);
    let labels = plan.templates.iter().map(|t| t.label.clone()).collect();
    let target_rate = match plan.model {
        Model::Open { rate } => Some(rate),
        Model::Closed => None,
    };
    let log = hlog::HlogWriter::new(real_wall_now(), description);
    let (samples, mut received) = tokio::sync::mpsc::unbounded_channel::<Vec<Sample>>();
    let collector = tokio::spawn(async move {
        let mut recorder = collector::Recorder::new(labels, target_rate, log);
        while let Some(batch) = received.recv().await {
            for sample in &batch {
                recorder.record(sample);
            }
        }
        recorder.finish()
    });
    // The generator owns the only sender: the collector ends when the last worker is done.
    generator::generate(plan, real_instant(), samples, progress).await;
    collector.await.map_err(|e| LoadError(e.to_string()))
}
