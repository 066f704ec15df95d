//! JUnit XML writer (`junit.xml`) for CI test tabs (Jenkins, GitLab, GitHub annotations).
//!
//! ```text
//!   RunReport ──redacted()──► <testsuites> ─► <testsuite> per feature ─► <testcase> per scenario
//! ```
//!
//! `classname` is the feature's path (`features/auth/jwt.feature`), so CI tools group cases by
//! file; `name` is unique within it: a Scenario Outline row carries its example values
//! (`Roles may use routes (consumer=admin-user, route=/x)`), and a name that still repeats gets
//! its line. Each case has `<properties>`: one `clause` per clause it verifies, its `tag`s, and
//! with `--repeat` its `repeats` and `flaky`. `time` is in seconds. A failed scenario carries
//! `<failure message="<step>: <error>" type="failed">` whose body lists the steps and the failing
//! step's last request and response; an undefined step is a failure of type `undefined` (it fails
//! the run); a skipped scenario is `<skipped/>`. Everything is escaped, and characters XML 1.0
//! cannot carry are replaced with U+FFFD, so the file is always well-formed.

use std::fmt::Write as _;

use super::format::junit_timestamp;
use super::model::{Exchange, FeatureReport, RunReport, ScenarioReport, Status};

/// Renders `junit.xml`. Redacts first.
pub fn render(report: &RunReport) -> String {
    let report = report.redacted();
    let counts = report.counts().scenarios;
    let timestamp = junit_timestamp(report.started_at);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        attr(&format!("gauntlet {}", report.run_id)),
        counts.total,
        counts.failed + counts.undefined,
        counts.skipped,
        seconds(report.duration),
        timestamp,
    );
    for feature in &report.features {
        write_suite(&mut x, &report, feature, &timestamp);
    }
    x.push_str("</testsuites>\n");
    x
}

fn write_suite(x: &mut String, report: &RunReport, feature: &FeatureReport, timestamp: &str) {
    let c = feature.counts().scenarios;
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" file=\"{}\">",
        attr(&feature.name),
        c.total,
        c.failed + c.undefined,
        c.skipped,
        seconds(feature.duration()),
        timestamp,
        attr(&feature.path),
    );
    x.push_str("    <properties>\n");
    let properties = [
        ("run_id", report.run_id.clone()),
        ("seed", report.seed.to_string()),
        ("stack", report.stack.name.clone()),
        ("stack_dir", report.stack.dir.clone()),
        ("real_time", report.real_time.to_string()),
    ];
    for (name, value) in properties {
        let _ = writeln!(
            x,
            "      <property name=\"{name}\" value=\"{}\"/>",
            attr(&value)
        );
    }
    x.push_str("    </properties>\n");
    let names = case_names(feature);
    for (scenario, name) in feature.scenarios.iter().zip(&names) {
        write_case(x, feature, scenario, name);
    }
    x.push_str("  </testsuite>\n");
}

/// Each scenario's case name, unique within the feature: outline rows carry their example
/// values ([`ScenarioReport::full_name`]), and a name that still repeats gets `[line N]`.
fn case_names(feature: &FeatureReport) -> Vec<String> {
    let full: Vec<String> = feature.scenarios.iter().map(|s| s.full_name()).collect();
    full.iter()
        .zip(&feature.scenarios)
        .map(|(name, s)| {
            if full.iter().filter(|n| *n == name).count() > 1 {
                format!("{name} [line {}]", s.line)
            } else {
                name.clone()
            }
        })
        .collect()
}

fn write_case(x: &mut String, feature: &FeatureReport, scenario: &ScenarioReport, name: &str) {
    let classname = if feature.path.is_empty() {
        &feature.name
    } else {
        &feature.path
    };
    let _ = writeln!(
        x,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\" file=\"{}\" line=\"{}\">",
        attr(name),
        attr(classname),
        seconds(scenario.duration),
        attr(&feature.path),
        scenario.line,
    );
    write_case_properties(x, scenario);
    match scenario.status {
        Status::Passed => {}
        Status::Skipped => x.push_str("      <skipped/>\n"),
        Status::Failed | Status::Undefined => {
            let _ = writeln!(
                x,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                attr(&failure_message(scenario)),
                scenario.status.as_str(),
                text(&failure_details(feature, scenario)),
            );
        }
    }
    x.push_str("    </testcase>\n");
}

/// `clause` per clause id, `tag` per other tag, and `--repeat`'s `repeats` and `flaky`.
fn write_case_properties(x: &mut String, scenario: &ScenarioReport) {
    let mut properties: Vec<(&str, String)> = Vec::new();
    for clause in &scenario.clauses {
        properties.push(("clause", clause.clone()));
    }
    for tag in scenario
        .tags
        .iter()
        .filter(|t| !scenario.clauses.contains(t))
    {
        properties.push(("tag", tag.clone()));
    }
    for (column, value) in &scenario.examples {
        properties.push(("example", format!("{column}={value}")));
    }
    if !scenario.repeats.is_empty() {
        let repeats: Vec<&str> = scenario.repeats.iter().map(|s| s.as_str()).collect();
        properties.push(("repeats", repeats.join(",")));
        properties.push(("flaky", scenario.is_flaky().to_string()));
    }
    if properties.is_empty() {
        return;
    }
    x.push_str("      <properties>\n");
    for (name, value) in properties {
        let _ = writeln!(
            x,
            "        <property name=\"{name}\" value=\"{}\"/>",
            attr(&value)
        );
    }
    x.push_str("      </properties>\n");
}

/// `Then the response status is 401: expected 401, got 200` (first line of the error).
fn failure_message(scenario: &ScenarioReport) -> String {
    match scenario.failing_step() {
        Some(step) => {
            let what = format!("{}{}", step.keyword, step.text);
            match (step.status, step.error.as_deref()) {
                (_, Some(e)) => format!("{what}: {}", e.lines().next().unwrap_or("")),
                (Status::Undefined, None) => format!("undefined step: {what}"),
                (_, None) => format!("{what}: failed"),
            }
        }
        None => format!("scenario {}", scenario.status),
    }
}

fn failure_details(feature: &FeatureReport, scenario: &ScenarioReport) -> String {
    let mut d = String::new();
    let _ = writeln!(
        d,
        "{}: {} ({}:{})",
        scenario.keyword, scenario.name, feature.path, scenario.line
    );
    for step in &scenario.steps {
        let _ = writeln!(
            d,
            "  {:<9} {}{} (line {})",
            step.status.as_str(),
            step.keyword,
            step.text,
            step.line
        );
        if let Some(error) = &step.error {
            for line in error.lines() {
                let _ = writeln!(d, "            {line}");
            }
        }
    }
    if let Some(exchange) = scenario.failing_step().and_then(|s| s.exchange.as_ref()) {
        d.push('\n');
        d.push_str(&exchange_text(exchange));
    }
    d
}

/// The last request and response as plain text (already redacted by the caller).
fn exchange_text(e: &Exchange) -> String {
    let mut d = String::new();
    let _ = writeln!(d, "Last request:\n  {} {}", e.request.method, e.request.url);
    for (name, value) in &e.request.headers {
        let _ = writeln!(d, "  {name}: {value}");
    }
    if !e.request.body.is_empty() {
        let _ = writeln!(d, "\n  {}", e.request.body);
    }
    match &e.response {
        Some(r) => {
            let _ = writeln!(d, "Last response:\n  HTTP {}", r.status);
            for (name, value) in &r.headers {
                let _ = writeln!(d, "  {name}: {value}");
            }
            if !r.body.is_empty() {
                let _ = writeln!(d, "\n  {}", r.body);
            }
        }
        None => d.push_str("Last response: none (no response received)\n"),
    }
    d
}

fn seconds(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// A character XML 1.0 can carry.
fn xml_char_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attribute => out.push_str("&quot;"),
            '\'' if in_attribute => out.push_str("&apos;"),
            // Attribute-value normalisation would turn raw whitespace into spaces.
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            c if xml_char_ok(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

fn attr(s: &str) -> String {
    escape(s, true)
}

fn text(s: &str) -> String {
    escape(s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            attr("a<b> & \"c\" 'd'\nx\u{1}"),
            "a&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;&#10;x\u{FFFD}"
        );
        assert_eq!(text("<\"q\">\n\u{0}"), "&lt;\"q\"&gt;\n\u{FFFD}");
    }

    #[test]
    fn formats_time_in_seconds_with_milliseconds() {
        assert_eq!(
            seconds(std::time::Duration::from_micros(1_234_567)),
            "1.235"
        );
    }
}
