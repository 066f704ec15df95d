//! Custom parameter types for step expressions: `{method}`, `{duration}`, and for latency
//! objectives `{percentile}`, `{latency}` and `{percent}`. Durations and latencies are read by
//! the one duration parser, [`crate::units::parse_duration`].

use std::str::FromStr;
use std::time::Duration;

use cucumber::Parameter;

use crate::units::parse_duration;

/// An HTTP method in a step (`GET`, `POST`, …).
#[derive(Debug, Clone, PartialEq, Eq, Parameter)]
#[param(name = "method", regex = "GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS")]
pub struct MethodParam(pub http::Method);

impl FromStr for MethodParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        http::Method::from_bytes(s.as_bytes())
            .map(MethodParam)
            .map_err(|e| format!("not an HTTP method: {s}: {e}"))
    }
}

/// A duration in a step: `60 seconds`, `1 minute`, `2 hours`, `1 day`, `250 ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(
    name = "duration",
    regex = r"\d+ (?:ms|milliseconds?|seconds?|minutes?|hours?|days?)"
)]
pub struct DurationParam(pub Duration);

impl FromStr for DurationParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s)
            .map(DurationParam)
            .map_err(|e| e.to_string())
    }
}

/// A latency percentile in a step: `p50`, `p99`, `p99.9`.
#[derive(Debug, Clone, Copy, PartialEq, Parameter)]
#[param(name = "percentile", regex = r"p\d+(?:\.\d+)?")]
pub struct PercentileParam(pub f64);

impl FromStr for PercentileParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p: f64 = s
            .trim_start_matches('p')
            .parse()
            .map_err(|e| format!("not a percentile: {s}: {e}"))?;
        if (0.0..=100.0).contains(&p) {
            Ok(PercentileParam(p))
        } else {
            Err(format!("a percentile is between p0 and p100, not {s}"))
        }
    }
}

/// A latency in a step: `50 ms`, `1.5 s`, `800 µs` (also `us`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(name = "latency", regex = r"\d+(?:\.\d+)? (?:ms|s|µs|us)")]
pub struct LatencyParam(pub Duration);

impl FromStr for LatencyParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s)
            .map(LatencyParam)
            .map_err(|e| e.to_string())
    }
}

/// A percentage in a step: `99%`, `99.5%`, as a fraction (0.995).
#[derive(Debug, Clone, Copy, PartialEq, Parameter)]
#[param(name = "percent", regex = r"\d+(?:\.\d+)?%")]
pub struct PercentParam(pub f64);

impl FromStr for PercentParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim_end_matches('%')
            .parse::<f64>()
            .map(|p| PercentParam(p / 100.0))
            .map_err(|e| format!("not a percentage: {s}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        let d = |s: &str| s.parse::<DurationParam>().unwrap().0;
        assert_eq!(d("250 ms"), Duration::from_millis(250));
        assert_eq!(d("1 second"), Duration::from_secs(1));
        assert_eq!(d("61 seconds"), Duration::from_secs(61));
        assert_eq!(d("2 minutes"), Duration::from_secs(120));
        assert_eq!(d("1 hour"), Duration::from_secs(3600));
        assert_eq!(d("1 day"), Duration::from_secs(86_400));
    }

    #[test]
    fn latency_objectives_parse_percentiles_latencies_and_percentages() {
        assert_eq!("p99.9".parse::<PercentileParam>().unwrap().0, 99.9);
        assert!("p101".parse::<PercentileParam>().is_err());
        let l = |s: &str| s.parse::<LatencyParam>().unwrap().0;
        assert_eq!(l("50 ms"), Duration::from_millis(50));
        assert_eq!(l("1.5 s"), Duration::from_millis(1500));
        assert_eq!(l("800 µs"), Duration::from_micros(800));
        assert_eq!("99.5%".parse::<PercentParam>().unwrap().0, 0.995);
    }
}
