//! The mutation report (`gauntlet mutate`, SPEC §12): per mutant, killed or not and why; the score.
//!
//! ```text
//!   mutate::run ──builds──► MutationReport ─┬─► render_json   ──► reports/<run-id>/results.json
//!                                           └─► console_table ──► stdout
//! ```
//!
//! Survivors come first everywhere: they are what a suite author acts on. Redaction: mutation
//! paths and values come from kong.yml, whose secrets (`jwt_secrets[*].secret`) are never
//! mutated; failure reasons come from steps and are redacted with the stack's secrets.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::format::{serialize_millis, serialize_rfc3339};
use super::redact::redact_text;
use super::ReportError;

/// Identifies the document; bump `VERSION` when a field changes meaning or disappears.
pub const FORMAT: &str = "gauntlet-mutation";
pub const VERSION: u32 = 1;

/// What became of one mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MutantStatus {
    /// Declared equivalent in `equivalent-mutants.yml`, yet killed: the list is wrong (an
    /// error whatever the score).
    EquivalentKilled,
    /// No scenario verifying a governing clause failed (the suite missed the mistake).
    Survived,
    /// Scenarios failed, but none tagged with a clause that governs the mutated value.
    KilledForWrongReason,
    /// The run did not finish within the timeout (counted as detected, as PIT and Stryker do).
    TimedOut,
    /// A scenario tagged with a governing clause failed.
    Killed,
    /// Declared equivalent in `equivalent-mutants.yml` and not killed (not scored).
    Equivalent,
    /// `check` rejects the mutated stack (not scored).
    Invalid,
}

impl MutantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MutantStatus::EquivalentKilled => "equivalent-killed",
            MutantStatus::Survived => "survived",
            MutantStatus::KilledForWrongReason => "killed-for-wrong-reason",
            MutantStatus::TimedOut => "timed-out",
            MutantStatus::Killed => "killed",
            MutantStatus::Equivalent => "equivalent",
            MutantStatus::Invalid => "invalid",
        }
    }

    /// Counts towards the score's numerator.
    pub fn is_detected(self) -> bool {
        matches!(self, MutantStatus::Killed | MutantStatus::TimedOut)
    }

    /// Counts towards the score's denominator.
    pub fn is_scored(self) -> bool {
        !matches!(
            self,
            MutantStatus::Equivalent | MutantStatus::EquivalentKilled | MutantStatus::Invalid
        )
    }
}

/// A failed scenario of a mutant's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedScenario {
    /// `features/resilience/circuit_breaker.feature:22`.
    pub location: String,
    pub name: String,
    /// Clause ids of the scenario (its own tags and its feature's).
    pub clauses: Vec<String>,
    /// The failing step's message, first line.
    pub reason: String,
}

/// One mutant's result.
#[derive(Debug, Clone, Serialize)]
pub struct MutantResult {
    pub id: usize,
    /// `kong.yml:services[value-architect].retries`.
    pub path: String,
    pub old: String,
    pub new: String,
    pub status: MutantStatus,
    /// Clauses that govern the mutated value (from the catalogue's `governs`).
    pub governing_clauses: Vec<String>,
    /// Clauses of the failed scenarios.
    pub failed_clauses: Vec<String>,
    pub failed_scenarios: Vec<FailedScenario>,
    /// Scenarios run against the mutant.
    pub scenarios_run: usize,
    /// Why it is invalid, equivalent, or survived without running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis")]
    pub duration: Duration,
}

impl MutantResult {
    /// `kong.yml:services[value-architect].retries: 3 → 4`.
    pub fn describe(&self) -> String {
        format!("{}: {} → {}", self.path, self.old, self.new)
    }
}

/// Mutant counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MutantCounts {
    pub total: usize,
    pub killed: usize,
    pub timed_out: usize,
    pub survived: usize,
    pub killed_for_wrong_reason: usize,
    pub equivalent: usize,
    /// Declared equivalent but killed: each one is an error.
    pub equivalent_killed: usize,
    pub invalid: usize,
}

/// A whole mutation run.
#[derive(Debug, Clone, Serialize)]
pub struct MutationReport {
    pub run_id: String,
    #[serde(serialize_with = "serialize_rfc3339")]
    pub started_at: SystemTime,
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis")]
    pub duration: Duration,
    /// The stack directory as given.
    pub stack: String,
    pub seed: u64,
    /// Scenarios of the unmutated suite (all passed).
    pub baseline_scenarios: usize,
    #[serde(rename = "baseline_duration_ms", serialize_with = "serialize_millis")]
    pub baseline_duration: Duration,
    /// `--min-score`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// Whether each mutant ran every scenario (`--all-scenarios`) or only those tagged with a
    /// clause governing its value (the others cannot kill it).
    pub all_scenarios: bool,
    /// Survivors first, then by id.
    pub mutants: Vec<MutantResult>,
    #[serde(skip)]
    pub secrets: Vec<String>,
}

impl MutationReport {
    pub fn counts(&self) -> MutantCounts {
        let mut c = MutantCounts {
            total: self.mutants.len(),
            ..MutantCounts::default()
        };
        for m in &self.mutants {
            match m.status {
                MutantStatus::Killed => c.killed += 1,
                MutantStatus::TimedOut => c.timed_out += 1,
                MutantStatus::Survived => c.survived += 1,
                MutantStatus::KilledForWrongReason => c.killed_for_wrong_reason += 1,
                MutantStatus::Equivalent => c.equivalent += 1,
                MutantStatus::EquivalentKilled => c.equivalent_killed += 1,
                MutantStatus::Invalid => c.invalid += 1,
            }
        }
        c
    }

    /// Detected mutants as a percentage of the scored ones (100 when none is scored).
    pub fn score(&self) -> f64 {
        let scored = self.mutants.iter().filter(|m| m.status.is_scored()).count();
        let detected = self
            .mutants
            .iter()
            .filter(|m| m.status.is_detected())
            .count();
        if scored == 0 {
            100.0
        } else {
            detected as f64 * 100.0 / scored as f64
        }
    }

    /// Whether the run meets its objective: no declared equivalent was killed, and the score
    /// reaches `--min-score` when one was given.
    pub fn passed(&self) -> bool {
        self.counts().equivalent_killed == 0 && self.min_score.is_none_or(|min| self.score() >= min)
    }

    /// Mutants run (not invalid or equivalent) per second of the whole run.
    pub fn mutants_per_second(&self) -> f64 {
        let run = self.mutants.iter().filter(|m| m.status.is_scored()).count();
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            run as f64 / secs
        } else {
            0.0
        }
    }

    /// Survivors first (survived, wrong reason), then the rest, each by id.
    pub fn sort(&mut self) {
        self.mutants.sort_by_key(|m| (m.status, m.id));
    }

    /// A copy with the stack's secrets removed from failure reasons.
    pub fn redacted(&self) -> MutationReport {
        let mut copy = self.clone();
        for m in &mut copy.mutants {
            for f in &mut m.failed_scenarios {
                f.reason = redact_text(&f.reason, &self.secrets);
            }
            if let Some(note) = &mut m.note {
                *note = redact_text(note, &self.secrets);
            }
        }
        copy
    }
}

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    version: u32,
    score: f64,
    passed: bool,
    counts: MutantCounts,
    mutants_per_second: f64,
    #[serde(flatten)]
    report: &'a MutationReport,
}

/// Renders the mutation `results.json`. Redacts first.
pub fn render_json(report: &MutationReport) -> Result<String, ReportError> {
    let report = report.redacted();
    let score = report.score();
    let document = Document {
        format: FORMAT,
        version: VERSION,
        score: (score * 100.0).round() / 100.0,
        passed: report.passed(),
        counts: report.counts(),
        mutants_per_second: (report.mutants_per_second() * 100.0).round() / 100.0,
        report: &report,
    };
    let mut json = serde_json::to_string_pretty(&document).map_err(|source| ReportError::Json {
        what: "results.json",
        source,
    })?;
    json.push('\n');
    Ok(json)
}

/// The console table: one line per mutant (survivors first), then the score.
pub fn console_table(report: &MutationReport) -> Vec<String> {
    let report = report.redacted();
    let width = report
        .mutants
        .iter()
        .map(|m| m.status.as_str().len())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for m in &report.mutants {
        let why = match m.status {
            MutantStatus::Killed | MutantStatus::KilledForWrongReason => {
                format!("failed {}", m.failed_clauses.join(", "))
            }
            MutantStatus::EquivalentKilled => format!(
                "failed {}; {}",
                m.failed_clauses.join(", "),
                m.note.clone().unwrap_or_default()
            ),
            _ => m.note.clone().unwrap_or_else(|| {
                if m.governing_clauses.is_empty() {
                    String::new()
                } else {
                    format!("governed by {}", m.governing_clauses.join(", "))
                }
            }),
        };
        let why = if why.is_empty() {
            why
        } else {
            format!("  ({why})")
        };
        lines.push(format!(
            "{:<width$}  #{:<3} {}{why}",
            m.status.as_str(),
            m.id,
            m.describe()
        ));
    }
    let c = report.counts();
    lines.push(String::new());
    lines.push(format!(
        "mutation score {:.1}%: {} killed, {} timed out, {} survived, {} killed for the wrong reason ({} equivalent and {} invalid not scored) of {} mutants",
        report.score(),
        c.killed,
        c.timed_out,
        c.survived,
        c.killed_for_wrong_reason,
        c.equivalent,
        c.invalid,
        c.total,
    ));
    if c.equivalent_killed > 0 {
        lines.push(format!(
            "error: {} mutant(s) declared equivalent in equivalent-mutants.yml were killed: the list must stay true",
            c.equivalent_killed
        ));
    }
    lines.push(format!(
        "{:.1} s, {:.2} mutants/s (baseline: {} scenarios in {:.1} s)",
        report.duration.as_secs_f64(),
        report.mutants_per_second(),
        report.baseline_scenarios,
        report.baseline_duration.as_secs_f64(),
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: usize, status: MutantStatus) -> MutantResult {
        MutantResult {
            id,
            path: "kong.yml:services[value-architect].retries".to_string(),
            old: "3".to_string(),
            new: "4".to_string(),
            status,
            governing_clauses: vec!["RETRY-1".to_string()],
            failed_clauses: vec![],
            failed_scenarios: vec![],
            scenarios_run: 3,
            note: None,
            duration: Duration::from_millis(5),
        }
    }

    fn report(mutants: Vec<MutantResult>) -> MutationReport {
        MutationReport {
            run_id: "x".to_string(),
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs(2),
            stack: "scenarios/valueverse".to_string(),
            seed: 1,
            baseline_scenarios: 10,
            baseline_duration: Duration::from_secs(1),
            min_score: Some(100.0),
            all_scenarios: false,
            mutants,
            secrets: vec!["s3cret".to_string()],
        }
    }

    #[test]
    fn score_counts_kills_and_timeouts_over_scored_mutants() {
        let r = report(vec![
            result(1, MutantStatus::Killed),
            result(2, MutantStatus::TimedOut),
            result(3, MutantStatus::Survived),
            result(4, MutantStatus::KilledForWrongReason),
            result(5, MutantStatus::Invalid),
            result(6, MutantStatus::Equivalent),
        ]);
        assert_eq!(r.score(), 50.0);
        assert_eq!(r.counts().invalid, 1);
        assert_eq!(report(vec![]).score(), 100.0);
    }

    #[test]
    fn survivors_come_first_and_secrets_never_show() {
        let mut killed = result(1, MutantStatus::Killed);
        killed.failed_scenarios.push(FailedScenario {
            location: "a.feature:3".to_string(),
            name: "n".to_string(),
            clauses: vec!["RETRY-1".to_string()],
            reason: "token signed with s3cret".to_string(),
        });
        let mut r = report(vec![killed, result(2, MutantStatus::Survived)]);
        r.sort();
        assert_eq!(r.mutants[0].id, 2);
        let json = render_json(&r).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        assert!(json.contains("\"passed\": false"), "{json}");
        let table = console_table(&r);
        assert!(table[0].starts_with("survived"), "{table:?}");
    }
}
