//! `rerun.txt`: the locations of the run's failed scenarios, one feature file a line
//! (`features/resilience/circuit_breaker.feature:22:78`), cucumber's rerun format.
//! `gauntlet run @reports/latest/rerun.txt` runs exactly those scenarios again. Empty when
//! nothing failed.

use super::model::{RunReport, Status};

/// The file's text.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    for feature in &report.features {
        let lines: Vec<String> = feature
            .scenarios
            .iter()
            .filter(|s| s.status == Status::Failed)
            .map(|s| s.line.to_string())
            .collect();
        if !lines.is_empty() {
            out.push_str(&feature.path);
            for line in lines {
                out.push(':');
                out.push_str(&line);
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{FeatureReport, ScenarioReport};
    use std::time::Duration;

    fn scenario(line: usize, status: Status) -> ScenarioReport {
        ScenarioReport {
            name: format!("s{line}"),
            keyword: "Scenario".into(),
            line,
            tags: vec![],
            clauses: vec![],
            status,
            duration: Duration::ZERO,
            steps: vec![],
            examples: Vec::new(),
            repeats: Vec::new(),
            started_at: None,
            evidence: Default::default(),
        }
    }

    fn report(features: Vec<FeatureReport>) -> RunReport {
        RunReport {
            run_id: "r".into(),
            started_at: std::time::SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            stack: Default::default(),
            seed: 0,
            real_time: false,
            features,
            clauses: vec![],
            explain: Default::default(),
            secrets: Default::default(),
        }
    }

    #[test]
    fn lists_the_failed_scenarios_of_each_file_on_one_line() {
        let report = report(vec![
            FeatureReport {
                path: "features/a.feature".into(),
                scenarios: vec![
                    scenario(12, Status::Failed),
                    scenario(20, Status::Passed),
                    scenario(30, Status::Failed),
                ],
                ..FeatureReport::default()
            },
            FeatureReport {
                path: "features/b.feature".into(),
                scenarios: vec![scenario(7, Status::Skipped)],
                ..FeatureReport::default()
            },
        ]);
        assert_eq!(render(&report), "features/a.feature:12:30\n");
        assert_eq!(render(&self::report(vec![])), "");
    }
}
