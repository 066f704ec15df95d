//! Writing the Prometheus text exposition format (version 0.0.4): the `# HELP`/`# TYPE` lines of
//! a metric family and label-value escaping, shared by the gateway's `/metrics` and the
//! sidecars' `/stats/prometheus`.

use std::fmt::Write as _;

/// The `# HELP` and `# TYPE … counter` lines of a counter family.
pub fn counter(out: &mut String, name: &str, help: &str) {
    family(out, name, help, "counter");
}

/// The `# HELP` and `# TYPE … gauge` lines of a gauge family.
pub fn gauge(out: &mut String, name: &str, help: &str) {
    family(out, name, help, "gauge");
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, double quote, newline).
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_backslashes_quotes_and_newlines() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn writes_help_then_type() {
        let mut out = String::new();
        gauge(&mut out, "x_in_flight", "Requests in flight.");
        assert_eq!(
            out,
            "# HELP x_in_flight Requests in flight.\n# TYPE x_in_flight gauge\n"
        );
    }
}
