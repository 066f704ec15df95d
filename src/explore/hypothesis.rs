//! Steady-state hypotheses (SPEC §11): what must stay true while things break, written in Gherkin
//! with the objective vocabulary of the load steps (LAT-1).
//!
//! ```text
//!   experiments/*.feature ──gherkin──► "Given the steady state: …" steps ──parse──► Hypothesis
//!                                                                        ──resolve──► route,
//!                                                                           consumer, quota
//! ```
//! One step is one hypothesis: a consumer's steady load on one route and the objectives that
//! must hold over every window of it:
//!
//! ```gherkin
//! Given the steady state: "frontend-app" reads "/api/v1/value-models" at 50/s with p99 below 250 ms and success ratio at least 99%
//! ```
//! `reads` sends GET, `writes` POST (a JSON docstring below the step is the body), `sends PUT`
//! any method. Objectives: `p<N> below <latency>` and `success ratio at least <N>%`, joined by
//! `and`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cucumber::gherkin;
use regex::Regex;

use crate::config::gateway::{PluginConfig, PluginKind, RatePeriod};
use crate::config::StackDef;
use crate::units::parse_duration;

/// One objective of a hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// The percentile (0–100) of the window's latency must stay below this.
    LatencyBelow { percentile: f64, limit: Duration },
    /// The share (0–1) of 2xx/3xx responses must stay at or above this.
    SuccessAtLeast { ratio: f64 },
}

impl Objective {
    /// `p99 below 250 ms`, `success ratio at least 99%`: the hypothesis wording.
    pub fn describe(&self) -> String {
        match self {
            Objective::LatencyBelow { percentile, limit } => {
                format!(
                    "{} below {}",
                    percentile_label(*percentile),
                    crate::units::format_duration(*limit)
                )
            }
            Objective::SuccessAtLeast { ratio } => {
                format!("success ratio at least {}%", trim(ratio * 100.0))
            }
        }
    }

    /// A short stable id for tags and file names: `p99-below-250ms`, `success-at-least-99`.
    pub fn slug(&self) -> String {
        match self {
            Objective::LatencyBelow { percentile, limit } => format!(
                "{}-below-{}",
                percentile_label(*percentile),
                crate::units::format_duration(*limit)
            )
            .replace('.', "_")
            .replace('µ', "u"),
            Objective::SuccessAtLeast { ratio } => {
                format!("success-at-least-{}", trim(ratio * 100.0)).replace('.', "_")
            }
        }
    }
}

/// `p99`, `p99.9`.
pub fn percentile_label(p: f64) -> String {
    format!("p{}", trim(p))
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A steady-state hypothesis: one consumer's load on one route, and its objectives.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Where it is written (`experiments/valueverse.feature:7`).
    pub file: PathBuf,
    pub line: usize,
    pub consumer: String,
    pub method: http::Method,
    pub path: String,
    /// Requests per second (open model).
    pub rate: f64,
    /// Request body (a `writes` docstring).
    pub body: Option<String>,
    pub objectives: Vec<Objective>,
}

impl Hypothesis {
    /// `frontend-app GET /api/v1/value-models at 50/s`.
    pub fn name(&self) -> String {
        format!(
            "{} {} {} at {}/s",
            self.consumer,
            self.method,
            self.path,
            trim(self.rate)
        )
    }

    /// `experiments/valueverse.feature:7`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// The same load and objectives, wherever written.
    pub fn same_steady_state(&self, other: &Hypothesis) -> bool {
        (
            &self.consumer,
            &self.method,
            &self.path,
            self.rate.to_bits(),
            &self.body,
            &self.objectives,
        ) == (
            &other.consumer,
            &other.method,
            &other.path,
            other.rate.to_bits(),
            &other.body,
            &other.objectives,
        )
    }
}

impl fmt::Display for Hypothesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let objectives: Vec<String> = self.objectives.iter().map(Objective::describe).collect();
        write!(f, "{} with {}", self.name(), objectives.join(" and "))
    }
}

/// A hypothesis that cannot be read or does not fit the stack: a usage error (exit 2) naming
/// the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct HypothesisError {
    pub location: String,
    pub message: String,
}

fn step_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"^the steady state: "([^"]+)" (reads|writes|sends ([A-Z]+)) "([^"]+)" at (\d+(?:\.\d+)?)(?:/s| per second) with (.+?)(?:,? with JSON:)?$"#,
        )
        .expect("constant regex")
    })
}

/// The step text every hypothesis starts with (for matching and the step catalogue).
pub const STEP_PREFIX: &str = "the steady state: ";

/// Parses the text of one step (without its keyword). `None` when it is not a steady-state step.
///
/// # Errors
/// The text is a steady-state step whose load or objectives cannot be read (the reason).
pub fn parse_step(text: &str, body: Option<&str>) -> Option<Result<ParsedStep, String>> {
    if !text.starts_with(STEP_PREFIX) {
        return None;
    }
    let Some(c) = step_regex().captures(text.trim()) else {
        return Some(Err(format!(
            "cannot read the steady state {text:?}: expected `the steady state: \"<consumer>\" \
             reads|writes|sends <METHOD> \"<path>\" at <N>/s with <objectives>`, e.g. `the steady \
             state: \"frontend-app\" reads \"/api/v1/value-models\" at 50/s with p99 below 250 ms \
             and success ratio at least 99%`"
        )));
    };
    let method = match (&c[2], c.get(3)) {
        ("reads", _) => http::Method::GET,
        ("writes", _) => http::Method::POST,
        (_, Some(m)) => match http::Method::from_bytes(m.as_str().as_bytes()) {
            Ok(m) => m,
            Err(_) => return Some(Err(format!("{:?} is not an HTTP method", m.as_str()))),
        },
        _ => http::Method::GET,
    };
    let rate: f64 = match c[5].parse() {
        Ok(r) if r > 0.0 && f64::is_finite(r) => r,
        _ => return Some(Err(format!("the rate {} must be above zero", &c[5]))),
    };
    let objectives = match parse_objectives(&c[6]) {
        Ok(o) => o,
        Err(e) => return Some(Err(e)),
    };
    Some(Ok(ParsedStep {
        consumer: c[1].to_string(),
        method,
        path: c[4].to_string(),
        rate,
        body: body.map(str::to_string),
        objectives,
    }))
}

/// What one steady-state step says, before it is checked against a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStep {
    pub consumer: String,
    pub method: http::Method,
    pub path: String,
    pub rate: f64,
    pub body: Option<String>,
    pub objectives: Vec<Objective>,
}

fn parse_objectives(text: &str) -> Result<Vec<Objective>, String> {
    let mut out = Vec::new();
    for part in text.split(" and ") {
        let part = part.trim().trim_end_matches(',');
        if let Some(rest) = part.strip_prefix("success ratio at least ") {
            let number = rest.trim().strip_suffix('%').ok_or_else(|| {
                format!("the success ratio {rest:?} needs a percentage, e.g. 99%")
            })?;
            let pct: f64 = number
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=100.0).contains(p))
                .ok_or_else(|| format!("{rest:?} is not a percentage between 0% and 100%"))?;
            out.push(Objective::SuccessAtLeast { ratio: pct / 100.0 });
            continue;
        }
        let Some((p, limit)) = part.split_once(" below ") else {
            return Err(format!(
                "cannot read the objective {part:?}: use `p99 below 250 ms` or `success ratio \
                 at least 99%`"
            ));
        };
        let percentile: f64 = p
            .trim()
            .strip_prefix(['p', 'P'])
            .and_then(|n| n.parse().ok())
            .filter(|n: &f64| (0.0..=100.0).contains(n))
            .ok_or_else(|| format!("{p:?} is not a percentile (p50, p99, p99.9)"))?;
        let limit = parse_duration(limit.trim()).map_err(|e| e.to_string())?;
        out.push(Objective::LatencyBelow { percentile, limit });
    }
    if out.is_empty() {
        return Err("a steady state needs at least one objective".into());
    }
    Ok(out)
}

/// Reads every steady-state step of the `.feature` files at `paths` (files or folders).
///
/// # Errors
/// A file that cannot be read or parsed, a step that cannot be read, or a consumer or route the
/// stack does not have: each names the file and line.
pub fn load(paths: &[PathBuf], stack: &StackDef) -> Result<Vec<Hypothesis>, HypothesisError> {
    let mut files = Vec::new();
    for path in paths {
        collect_features(path, &mut files).map_err(|message| HypothesisError {
            location: path.display().to_string(),
            message,
        })?;
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let feature =
            gherkin::Feature::parse_path(&file, gherkin::GherkinEnv::default()).map_err(|e| {
                HypothesisError {
                    location: file.display().to_string(),
                    message: e.to_string(),
                }
            })?;
        let steps = feature
            .background
            .iter()
            .flat_map(|b| b.steps.iter())
            .chain(feature.scenarios.iter().flat_map(|s| s.steps.iter()))
            .chain(
                feature
                    .rules
                    .iter()
                    .flat_map(|r| r.scenarios.iter().flat_map(|s| s.steps.iter())),
            );
        for step in steps {
            let location = format!("{}:{}", file.display(), step.position.line);
            let Some(parsed) = parse_step(&step.value, step.docstring.as_deref()) else {
                continue;
            };
            let parsed = parsed.map_err(|message| HypothesisError {
                location: location.clone(),
                message,
            })?;
            check_against_stack(&parsed, stack).map_err(|message| HypothesisError {
                location: location.clone(),
                message,
            })?;
            let h = Hypothesis {
                file: file.clone(),
                line: step.position.line,
                consumer: parsed.consumer,
                method: parsed.method,
                path: parsed.path,
                rate: parsed.rate,
                body: parsed.body,
                objectives: parsed.objectives,
            };
            // The same steady state in two files (an experiment in method form repeating a
            // hypothesis of the suite) is one hypothesis: its load is sent once.
            if !out.iter().any(|o: &Hypothesis| o.same_steady_state(&h)) {
                out.push(h);
            }
        }
    }
    if out.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(HypothesisError {
            location: names.join(", "),
            message: "no steady-state hypothesis found (a step `Given the steady state: \
                      \"<consumer>\" reads \"<path>\" at <N>/s with p99 below <latency>`)"
                .into(),
        });
    }
    Ok(out)
}

fn collect_features(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("cannot read: {e}"))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect_features(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "feature") {
            out.push(p);
        }
    }
    Ok(())
}

/// One steady-state step read and checked against `stack`: the hypothesis it declares.
///
/// # Errors
/// Not a steady-state step, or one that cannot be read or does not fit the stack.
pub fn from_step(
    text: &str,
    body: Option<&str>,
    file: &Path,
    line: usize,
    stack: &StackDef,
) -> Result<Hypothesis, String> {
    let parsed = parse_step(text, body)
        .ok_or_else(|| format!("{text:?} is not a steady-state step (`the steady state: …`)"))??;
    check_against_stack(&parsed, stack)?;
    Ok(Hypothesis {
        file: file.to_path_buf(),
        line,
        consumer: parsed.consumer,
        method: parsed.method,
        path: parsed.path,
        rate: parsed.rate,
        body: parsed.body,
        objectives: parsed.objectives,
    })
}

/// The consumer and a route for the method and path must exist in the stack.
fn check_against_stack(step: &ParsedStep, stack: &StackDef) -> Result<(), String> {
    let gateway = &stack.gateway;
    if gateway.consumer_by_name(&step.consumer).is_none() {
        let known: Vec<String> = gateway.consumers.iter().map(|c| c.display_name()).collect();
        let closest =
            crate::config::kong::yaml::closest(&step.consumer, known.iter().map(String::as_str));
        return Err(format!(
            "no consumer {:?} in {}{}; known consumers: {}",
            step.consumer,
            stack.dir.display(),
            closest
                .map(|c| format!(" (did you mean {c:?}?)"))
                .unwrap_or_default(),
            known.join(", ")
        ));
    }
    let (path, query) = match step.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (step.path.as_str(), None),
    };
    if !path.starts_with('/') {
        return Err(format!("the path {:?} must start with /", step.path));
    }
    if crate::gateway::router::match_route(gateway, &step.method, path, query).is_none() {
        let routes: Vec<String> = gateway
            .routes
            .iter()
            .map(|r| {
                let methods: Vec<&str> = r.methods.iter().map(http::Method::as_str).collect();
                let paths: Vec<String> = r
                    .paths
                    .iter()
                    .map(|p| match p {
                        crate::config::gateway::RoutePath::Prefix(s) => s.clone(),
                        crate::config::gateway::RoutePath::Regex(r) => format!("~{}", r.as_str()),
                    })
                    .collect();
                format!("{} {} ({})", r.name, paths.join(","), methods.join(","))
            })
            .collect();
        return Err(format!(
            "no route of {} matches {} {}; routes: {}",
            stack.dir.display(),
            step.method,
            step.path,
            routes.join("; ")
        ));
    }
    Ok(())
}

/// The rate limits that apply to a hypothesis's requests: `(plugin index, period, limit)`.
/// Requests of hypotheses sharing a consumer and plugin instance share its quota.
pub fn quotas(h: &Hypothesis, stack: &StackDef) -> Vec<(usize, RatePeriod, u64)> {
    let gateway = &stack.gateway;
    let Some((consumer, _)) = gateway.consumer_by_name(&h.consumer) else {
        return Vec::new();
    };
    let (path, query) = match h.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (h.path.as_str(), None),
    };
    let Some(route) = crate::gateway::router::match_route(gateway, &h.method, path, query) else {
        return Vec::new();
    };
    let Some(plugin) = gateway.resolve_plugin(
        PluginKind::RateLimiting,
        route.route,
        route.service,
        Some(consumer),
    ) else {
        return Vec::new();
    };
    let index = gateway
        .plugins
        .iter()
        .position(|p| std::ptr::eq(p, plugin))
        .unwrap_or(0);
    match &plugin.config {
        PluginConfig::RateLimiting(c) => c
            .limits
            .iter()
            .map(|(period, limit)| (index, *period, *limit))
            .collect(),
        _ => Vec::new(),
    }
}

/// The stack service a hypothesis's route leads to (by kong service name).
pub fn service_of(h: &Hypothesis, stack: &StackDef) -> Option<String> {
    let gateway = &stack.gateway;
    let path = h.path.split('?').next().unwrap_or(&h.path);
    let route = crate::gateway::router::match_route(gateway, &h.method, path, None)?;
    Some(gateway.services[route.service?].name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_issue_example() {
        let parsed = parse_step(
            "the steady state: \"frontend-app\" reads \"/api/v1/value-models\" at 50/s with p99 \
             below 250 ms and success ratio at least 99%",
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(parsed.consumer, "frontend-app");
        assert_eq!(parsed.method, http::Method::GET);
        assert_eq!(parsed.rate, 50.0);
        assert_eq!(
            parsed.objectives,
            vec![
                Objective::LatencyBelow {
                    percentile: 99.0,
                    limit: Duration::from_millis(250)
                },
                Objective::SuccessAtLeast { ratio: 0.99 }
            ]
        );
        assert_eq!(parsed.objectives[0].slug(), "p99-below-250ms");
        assert_eq!(
            parsed.objectives[1].describe(),
            "success ratio at least 99%"
        );
    }

    #[test]
    fn writes_and_other_methods_and_bad_objectives() {
        let w = parse_step(
            "the steady state: \"admin-user\" sends PUT \"/x\" at 2.5 per second with p50 below 1s",
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(w.method, http::Method::PUT);
        assert_eq!(w.rate, 2.5);
        assert!(parse_step("the stack is running", None).is_none());
        let bad = parse_step(
            "the steady state: \"a\" reads \"/x\" at 5/s with p99 under 3 ms",
            None,
        )
        .unwrap();
        assert!(bad.unwrap_err().contains("p99 under 3 ms"));
        let bad = parse_step("the steady state: whatever", None).unwrap();
        assert!(bad.unwrap_err().contains("expected"));
    }
}
