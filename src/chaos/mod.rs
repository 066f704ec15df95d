//! Chaos: the faults Gauntlet injects (SPEC §7) and the control API that injects them into a
//! running stack.
//!
//! - [`fault`] — HTTP fault rules and the seeded choices they make; applied by each service's
//!   inbound stage ([`crate::sidecar::inbound`]).
//! - Process faults (stop, start, kill) live with the service they act on
//!   ([`crate::stack::ServiceHandle`]).
//! - [`control`] — the HTTP control API `gauntlet up` serves for `gauntlet chaos` and curl.

pub mod control;
pub mod fault;

use std::time::Duration;

/// Parses a compact duration: `60s`, `200ms`, `1.5s`, `2m`, `1h`, `1d` (also `60 s`).
///
/// # Errors
/// A message naming the input and the accepted units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("`{text}` is not a duration: use e.g. 200ms, 60s, 2m, 1h, 1d");
    let n: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_durations_parse_in_every_unit() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("5 fortnights").is_err());
    }
}
