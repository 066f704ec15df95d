//! Custom parameter types for step expressions: `{method}` and `{duration}`.

use std::str::FromStr;
use std::time::Duration;

use cucumber::Parameter;

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
        let (n, unit) = s
            .split_once(' ')
            .ok_or_else(|| format!("not a duration: {s}"))?;
        let n: u64 = n.parse().map_err(|e| format!("not a duration: {s}: {e}"))?;
        let seconds = |k: u64| Duration::from_secs(n.saturating_mul(k));
        let duration = match unit.trim_end_matches('s') {
            "m" | "millisecond" => Duration::from_millis(n),
            "second" => seconds(1),
            "minute" => seconds(60),
            "hour" => seconds(3600),
            "day" => seconds(86_400),
            _ => return Err(format!("unknown unit in {s}")),
        };
        Ok(DurationParam(duration))
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
}
