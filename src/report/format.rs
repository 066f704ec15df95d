//! Small, deterministic formatting shared by the report writers: times, durations, ids, and the
//! serde adapters the model uses (durations as milliseconds, wall times as RFC 3339).

use std::time::{Duration, SystemTime};

use serde::Serializer;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

fn utc(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// `2026-11-28T11:03:43Z` (sub-second digits only when present).
pub fn rfc3339(t: SystemTime) -> String {
    utc(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "unrepresentable time".to_string())
}

/// `2026-11-28T11:03:43`, the timestamp JUnit's schema expects (no zone, UTC by convention).
pub fn junit_timestamp(t: SystemTime) -> String {
    utc(t)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_else(|_| "1970-01-01T00:00:00".to_string())
}

/// `2026-11-28 11:03:43 UTC`, for people.
pub fn human_time(t: SystemTime) -> String {
    utc(t)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| "unrepresentable time".to_string())
}

/// `20261128-110343`, the time part of a run id.
pub fn compact_time(t: SystemTime) -> String {
    utc(t)
        .format(format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_else(|_| "00000000-000000".to_string())
}

/// Milliseconds as a float (`1.5` for 1500 µs).
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A duration for people: `850 µs`, `12 ms`, `1.24 s`, `2 min 5 s`.
pub fn human_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros == 0 {
        "0 ms".to_string()
    } else if micros < 1000 {
        format!("{micros} µs")
    } else if micros < 10_000 {
        format!("{:.1} ms", millis(d))
    } else if micros < 1_000_000 {
        format!("{} ms", d.as_millis())
    } else if d.as_secs() < 60 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// A latency in milliseconds for tables: three significant decimals below 10 ms.
pub fn human_millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// A percentile label without trailing zeros: `50`, `99.9`, `99.99`, `100`.
pub fn percentile_label(p: f64) -> String {
    let s = format!("{p:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Lowercase, dash-separated identifier (`JWT authentication` → `jwt-authentication`), the form
/// Cucumber JSON uses for feature and scenario ids.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Serde adapter: a duration as milliseconds (f64).
pub fn serialize_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis(*d))
}

/// Serde adapter: an optional duration as milliseconds (f64) or null.
pub fn serialize_opt_millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(millis(*d)),
        None => s.serialize_none(),
    }
}

/// Serde adapter: a wall time as an RFC 3339 string.
pub fn serialize_rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn formats_wall_times_in_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_863_823);
        assert_eq!(rfc3339(t), "2026-11-28T11:03:43Z");
        assert_eq!(junit_timestamp(t), "2026-11-28T11:03:43");
        assert_eq!(human_time(t), "2026-11-28 11:03:43 UTC");
        assert_eq!(compact_time(t), "20261128-110343");
    }

    #[test]
    fn picks_a_readable_unit_for_durations() {
        assert_eq!(human_duration(Duration::ZERO), "0 ms");
        assert_eq!(human_duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(human_duration(Duration::from_micros(2_500)), "2.5 ms");
        assert_eq!(human_duration(Duration::from_millis(120)), "120 ms");
        assert_eq!(human_duration(Duration::from_millis(1_240)), "1.24 s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 min 5 s");
    }

    #[test]
    fn labels_percentiles_without_trailing_zeros() {
        assert_eq!(percentile_label(50.0), "50");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(percentile_label(99.99), "99.99");
    }

    #[test]
    fn slugs_names_like_cucumber_does() {
        assert_eq!(slug("JWT authentication (Kong)"), "jwt-authentication-kong");
        assert_eq!(slug("  --A  b-- "), "a-b");
    }
}

/// Rendered HTML without the templates' indentation and blank lines (a third of a large report
/// is indentation): every line outside `<pre>` loses its leading whitespace and empty lines go;
/// `<pre>` content is kept byte for byte.
pub fn compact_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_pre = false;
    for line in html.lines() {
        let kept = if in_pre { line } else { line.trim_start() };
        if !in_pre && kept.is_empty() {
            continue;
        }
        out.push_str(kept);
        out.push('\n');
        // Whether the line leaves us inside a <pre>: its last opening or closing tag decides.
        let open = kept.rfind("<pre");
        let close = kept.rfind("</pre>");
        in_pre = match (open, close) {
            (Some(o), Some(c)) => o > c,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => in_pre,
        };
    }
    out
}

#[cfg(test)]
mod compact_tests {
    use super::compact_html;

    #[test]
    fn indentation_and_blank_lines_go_but_pre_content_stays() {
        let html = "<ol>\n    <li>a</li>\n\n    <pre class=\"http\"><strong>GET /</strong>\n  Host: x\n\n  {\"a\": 1}</pre>\n      <p>b</p>\n</ol>\n";
        assert_eq!(
            compact_html(html),
            "<ol>\n<li>a</li>\n<pre class=\"http\"><strong>GET /</strong>\n  Host: x\n\n  {\"a\": 1}</pre>\n<p>b</p>\n</ol>\n"
        );
    }
}
