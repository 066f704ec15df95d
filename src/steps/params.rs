//! Custom parameter types for step expressions: `{method}`, `{duration}`, and for latency
//! objectives `{percentile}`, `{latency}` and `{percent}`. Durations and latencies are read by
//! the one duration parser, [`crate::units::parse_duration`], and accept what people write:
//! `30 seconds`, `30s`, `30 s`, `500ms`, `2 min`, `90 s`, `1.5s`, `1h30m`. [`PARAMETERS`] says
//! what every parameter of the step catalog accepts (`gauntlet steps`).

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

/// A duration in a step: `60 seconds`, `60s`, `1 minute`, `2 min`, `2 hours`, `1 day`, `250 ms`,
/// `250ms`, `1.5s`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(
    name = "duration",
    regex = r"\d+(?:\.\d+)? ?(?:ms|milliseconds?|µs|us|microseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)(?:\d+(?:\.\d+)?(?:ms|µs|us|s|m|h|d))*"
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

/// A latency percentile in a step: `p50`, `P50`, `p99`, `p99.9`.
#[derive(Debug, Clone, Copy, PartialEq, Parameter)]
#[param(name = "percentile", regex = r"[pP]\d+(?:\.\d+)?")]
pub struct PercentileParam(pub f64);

impl FromStr for PercentileParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p: f64 = s
            .trim_start_matches(['p', 'P'])
            .parse()
            .map_err(|e| format!("not a percentile: {s}: {e}"))?;
        if (0.0..=100.0).contains(&p) {
            Ok(PercentileParam(p))
        } else {
            Err(format!("a percentile is between p0 and p100, not {s}"))
        }
    }
}

/// A latency in a step: `50 ms`, `50ms`, `1.5 s`, `1.5s`, `800 µs` (also `us`); any duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(
    name = "latency",
    regex = r"\d+(?:\.\d+)? ?(?:ms|milliseconds?|µs|us|microseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)(?:\d+(?:\.\d+)?(?:ms|µs|us|s|m|h|d))*"
)]
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

/// What one parameter of the step catalog accepts, for `gauntlet steps`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ParamDoc {
    /// `{duration}` as it appears in patterns, without braces.
    pub name: &'static str,
    pub accepts: &'static str,
    pub examples: &'static [&'static str],
}

/// Every parameter type the step patterns use.
pub const PARAMETERS: &[ParamDoc] = &[
    ParamDoc {
        name: "string",
        accepts: "text in double quotes, or in single quotes when it holds double quotes",
        examples: &["\"admin-user\"", "'Bearer error=\"invalid_token\"'"],
    },
    ParamDoc {
        name: "int",
        accepts: "a whole number",
        examples: &["100", "0"],
    },
    ParamDoc {
        name: "float",
        accepts: "a number, with or without decimals",
        examples: &["50", "12.5"],
    },
    ParamDoc {
        name: "word",
        accepts: "one word without spaces",
        examples: &["OPEN", "HALF-OPEN", "minute", "2xx", "deny"],
    },
    ParamDoc {
        name: "method",
        accepts: "an HTTP method in capitals",
        examples: &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    },
    ParamDoc {
        name: "duration",
        accepts: "a number and a unit (ms, s, min, h, d, or spelt out), with or without a space; decimals and 1h30m too",
        examples: &["30 seconds", "30s", "500 ms", "500ms", "2 min", "2m", "90 s", "1.5s", "1 hour", "1 day"],
    },
    ParamDoc {
        name: "latency",
        accepts: "a duration, usually in ms or µs",
        examples: &["50 ms", "50ms", "1.5 s", "800 µs", "800us"],
    },
    ParamDoc {
        name: "percentile",
        accepts: "p (or P) and a percentile between 0 and 100",
        examples: &["p50", "P50", "p99", "p99.9"],
    },
    ParamDoc {
        name: "percent",
        accepts: "a number and %",
        examples: &["99%", "99.5%", "100%"],
    },
];

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

    /// The parameter regexes accept what people write, and every documented example parses.
    #[test]
    fn every_documented_spelling_matches_the_regex_and_parses() {
        let whole = |re: &str, s: &str| {
            regex::Regex::new(&format!("^(?:{re})$"))
                .unwrap()
                .is_match(s)
        };
        let duration = <DurationParam as cucumber::Parameter>::REGEX;
        for s in [
            "50ms",
            "50 ms",
            "2 min",
            "90 s",
            "1.5s",
            "30 seconds",
            "1h30m",
            "1 day",
            "2m",
        ] {
            assert!(whole(duration, s), "{s}");
            assert!(s.parse::<DurationParam>().is_ok(), "{s}");
        }
        assert_eq!(
            "2 min".parse::<DurationParam>().unwrap().0,
            Duration::from_secs(120)
        );
        assert_eq!(
            "50ms".parse::<LatencyParam>().unwrap().0,
            Duration::from_millis(50)
        );
        assert!(whole(
            <PercentileParam as cucumber::Parameter>::REGEX,
            "P50"
        ));
        assert_eq!("P50".parse::<PercentileParam>().unwrap().0, 50.0);
        for doc in PARAMETERS {
            let regex = match doc.name {
                "duration" => duration,
                "latency" => <LatencyParam as cucumber::Parameter>::REGEX,
                "percentile" => <PercentileParam as cucumber::Parameter>::REGEX,
                "percent" => <PercentParam as cucumber::Parameter>::REGEX,
                "method" => <MethodParam as cucumber::Parameter>::REGEX,
                _ => continue,
            };
            for example in doc.examples {
                assert!(whole(regex, example), "{{{}}}: {example}", doc.name);
            }
        }
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
