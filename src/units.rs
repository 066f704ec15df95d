//! The one duration parser and printer: the CLI (`--duration 10s`, `chaos advance 60s`), the
//! steps (`30 seconds pass`), the control API (`{"duration": "60s"}`) and config all read
//! durations through [`parse_duration`], and print them with [`format_duration`].
//!
//! Accepted: a decimal number, optional spaces, and a unit — `500ms`, `500 ms`, `30s`, `30 s`,
//! `30 seconds`, `1.5s`, `2m`, `2 min`, `2 minutes`, `1h`, `1 hour`, `1d`, `2 days`, `800µs`
//! (also `us`). A number without a unit is seconds. Pieces may follow each other without spaces,
//! as Go writes durations (`1h30m`, `1m0.5s`), which is what [`format_duration`] prints for
//! durations of a minute or more, so printing and parsing round-trip exactly. Decimals are exact:
//! `0.1s` is 100 ms, not the nearest float.

use std::fmt;
use std::time::Duration;

/// A text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: use e.g. 500ms, 30s, 1.5s, 2m, 1h, 1d (or 30 seconds, 2 min, 1 hour)")]
pub struct DurationError {
    input: String,
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The nanoseconds in one of `unit`, or `None` for an unknown unit.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SEC,
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1_000_000,
        "us" | "µs" | "microsecond" | "microseconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * NANOS_PER_SEC,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * NANOS_PER_SEC,
        "d" | "day" | "days" => 86_400 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Parses a duration (see the module docs for the accepted forms).
///
/// # Errors
/// [`DurationError`] naming the input and a few accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError {
        input: text.to_string(),
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    let mut pieces = 0;
    while !rest.is_empty() {
        // The number: digits, optionally a `.` and more digits.
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(bad());
        }
        // The unit: letters (and µ) after optional spaces.
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !(c.is_alphabetic()))
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per_unit = unit_nanos(unit).ok_or_else(bad)?;
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let fraction_nanos = if fraction.is_empty() {
            0
        } else {
            let digits = u32::try_from(fraction.len()).map_err(|_| bad())?;
            let scale = 10u128.checked_pow(digits).ok_or_else(bad)?;
            let value: u128 = fraction.parse().map_err(|_| bad())?;
            value.checked_mul(per_unit).ok_or_else(bad)? / scale
        };
        total = whole
            .checked_mul(per_unit)
            .and_then(|n| n.checked_add(fraction_nanos))
            .and_then(|n| n.checked_add(total))
            .ok_or_else(bad)?;
        rest = after.trim_start();
        // A unitless number must stand alone (`1h30` is not a duration).
        if unit.is_empty() && (pieces > 0 || !rest.is_empty()) {
            return Err(bad());
        }
        pieces += 1;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| bad())?;
    let nanos = u32::try_from(total % NANOS_PER_SEC).map_err(|_| bad())?;
    Ok(Duration::new(secs, nanos))
}

/// Prints a duration compactly and exactly: `0s`, `800µs`, `1.5ms`, `200ms`, `1.5s`, `30s`,
/// `2m`, `1m30s`, `1h`, `1d2h`. [`parse_duration`] reads every output back to the same value.
pub fn format_duration(d: Duration) -> String {
    Compact(d).to_string()
}

/// [`format_duration`] as a `Display` value, for `format!` without an intermediate string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compact(pub Duration);

impl fmt::Display for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        let nanos = d.subsec_nanos();
        if secs == 0 {
            return match nanos {
                0 => f.write_str("0s"),
                n if n < 1_000_000 => write!(f, "{}µs", decimal(u64::from(n), 3)),
                n => write!(f, "{}ms", decimal(u64::from(n), 6)),
            };
        }
        if secs < 60 {
            return write!(f, "{}s", seconds(secs, nanos));
        }
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (hours, rest) = (rest / 3_600, rest % 3_600);
        let (minutes, rest) = (rest / 60, rest % 60);
        for (value, unit) in [(days, "d"), (hours, "h"), (minutes, "m")] {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        if rest > 0 || nanos > 0 {
            write!(f, "{}s", seconds(rest, nanos))?;
        }
        Ok(())
    }
}

/// `secs.nanos` with the fraction's trailing zeros dropped (`1.5`, `30`).
fn seconds(secs: u64, nanos: u32) -> String {
    if nanos == 0 {
        secs.to_string()
    } else {
        let fraction = format!("{nanos:09}");
        format!("{secs}.{}", fraction.trim_end_matches('0'))
    }
}

/// `value / 10^digits` as an exact decimal without trailing zeros (`1500, 3` → `1.5`).
fn decimal(value: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        whole.to_string()
    } else {
        let fraction = format!("{fraction:0width$}", width = digits as usize);
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_documented_form_parses() {
        assert_eq!(parse("30 seconds"), Duration::from_secs(30));
        assert_eq!(parse("30s"), Duration::from_secs(30));
        assert_eq!(parse("30 s"), Duration::from_secs(30));
        assert_eq!(parse("1 second"), Duration::from_secs(1));
        assert_eq!(parse("500 ms"), Duration::from_millis(500));
        assert_eq!(parse("500ms"), Duration::from_millis(500));
        assert_eq!(parse("250 milliseconds"), Duration::from_millis(250));
        assert_eq!(parse("2 min"), Duration::from_secs(120));
        assert_eq!(parse("2m"), Duration::from_secs(120));
        assert_eq!(parse("2 minutes"), Duration::from_secs(120));
        assert_eq!(parse("90 s"), Duration::from_secs(90));
        assert_eq!(parse("1h"), Duration::from_secs(3600));
        assert_eq!(parse("1 hour"), Duration::from_secs(3600));
        assert_eq!(parse("2 hours"), Duration::from_secs(7200));
        assert_eq!(parse("1d"), Duration::from_secs(86_400));
        assert_eq!(parse("1 day"), Duration::from_secs(86_400));
        assert_eq!(parse("800µs"), Duration::from_micros(800));
        assert_eq!(parse("800 us"), Duration::from_micros(800));
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse("1.5s"), Duration::from_millis(1500));
        assert_eq!(parse("0.1s"), Duration::from_millis(100));
        assert_eq!(parse("1.5 ms"), Duration::from_micros(1500));
        assert_eq!(parse(".5s"), Duration::from_millis(500));
        assert_eq!(parse("2.25m"), Duration::from_secs(135));
    }

    #[test]
    fn a_plain_number_is_seconds() {
        assert_eq!(parse("3"), Duration::from_secs(3));
        assert_eq!(parse(" 60 "), Duration::from_secs(60));
    }

    #[test]
    fn go_style_compound_durations_parse() {
        assert_eq!(parse("1h30m"), Duration::from_secs(5400));
        assert_eq!(parse("1m0.5s"), Duration::from_millis(60_500));
        assert_eq!(parse("1d2h3m4s"), Duration::from_secs(93_784));
    }

    #[test]
    fn anything_else_is_an_error_naming_the_input() {
        for bad in [
            "",
            "soon",
            "5 fortnights",
            "-1s",
            "1.2.3s",
            "s",
            "1h30",
            "1e3s",
            "10 parsecs",
            ".",
        ] {
            let error = parse_duration(bad).expect_err(bad).to_string();
            assert!(error.contains("is not a duration"), "{bad}: {error}");
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }

    #[test]
    fn durations_print_compactly() {
        let f = format_duration;
        assert_eq!(f(Duration::ZERO), "0s");
        assert_eq!(f(Duration::from_nanos(1)), "0.001µs");
        assert_eq!(f(Duration::from_micros(800)), "800µs");
        assert_eq!(f(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(f(Duration::from_millis(200)), "200ms");
        assert_eq!(f(Duration::from_millis(1500)), "1.5s");
        assert_eq!(f(Duration::from_secs(30)), "30s");
        assert_eq!(f(Duration::from_secs(60)), "1m");
        assert_eq!(f(Duration::from_secs(90)), "1m30s");
        assert_eq!(f(Duration::from_secs(3600)), "1h");
        assert_eq!(f(Duration::from_secs(93_784)), "1d2h3m4s");
        assert_eq!(f(Duration::from_millis(60_500)), "1m0.5s");
    }

    #[test]
    fn printing_then_parsing_gives_back_the_same_duration() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(1_234_567_891),
            Duration::from_micros(800),
            Duration::from_millis(1500),
            Duration::from_secs(90),
            Duration::from_secs(86_400 * 3 + 1),
            Duration::new(3_725, 5),
        ] {
            assert_eq!(parse(&format_duration(d)), d, "{}", format_duration(d));
        }
    }
}
