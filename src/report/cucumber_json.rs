//! Standard Cucumber JSON writer (`cucumber.json`), the format cucumber-js and cucumber-jvm emit
//! and that CI plugins (Jenkins Cucumber Reports, Xray, ...) read.
//!
//! ```text
//!   RunReport ──redacted()──► [feature {uri, id, keyword, name, description, line, tags,
//!                                        elements: [scenario {id, keyword, name, line, type, tags,
//!                                                   steps: [{keyword, name, line, result}]}]}]
//! ```
//!
//! Durations are nanoseconds. The model does not record tag lines; a tag is reported on the line
//! above its feature or scenario, where tags are normally written. A scenario's tags include its
//! feature's (once, on the feature's tag line), as Cucumber reports them.

use serde::Serialize;

use super::format::slug;
use super::model::{RunReport, Status};
use super::ReportError;

#[derive(Serialize)]
struct Feature<'a> {
    uri: &'a str,
    id: String,
    keyword: &'static str,
    name: &'a str,
    description: &'a str,
    line: usize,
    tags: Vec<Tag>,
    elements: Vec<Element<'a>>,
}

#[derive(Serialize)]
struct Tag {
    name: String,
    line: usize,
}

#[derive(Serialize)]
struct Element<'a> {
    id: String,
    keyword: &'a str,
    name: &'a str,
    description: &'static str,
    line: usize,
    #[serde(rename = "type")]
    kind: &'static str,
    tags: Vec<Tag>,
    steps: Vec<Step<'a>>,
}

#[derive(Serialize)]
struct Step<'a> {
    keyword: &'a str,
    name: &'a str,
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    doc_string: Option<DocString<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<Vec<Row<'a>>>,
    result: StepResult<'a>,
}

#[derive(Serialize)]
struct DocString<'a> {
    value: &'a str,
    content_type: &'static str,
    line: usize,
}

#[derive(Serialize)]
struct Row<'a> {
    cells: &'a [String],
}

#[derive(Serialize)]
struct StepResult<'a> {
    status: &'static str,
    /// Nanoseconds; absent for steps that did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}

fn tags(names: &[String], element_line: usize) -> Vec<Tag> {
    let line = element_line.saturating_sub(1).max(1);
    names
        .iter()
        .map(|t| Tag {
            name: format!("@{}", t.trim_start_matches('@')),
            line,
        })
        .collect()
}

/// Renders `cucumber.json`. Redacts first.
pub fn render(report: &RunReport) -> Result<String, ReportError> {
    let report = report.redacted();
    let features: Vec<Feature<'_>> = report
        .features
        .iter()
        .map(|f| {
            let feature_id = slug(&f.name);
            Feature {
                uri: &f.path,
                id: feature_id.clone(),
                keyword: "Feature",
                name: &f.name,
                description: f.description.as_deref().unwrap_or(""),
                line: f.line,
                tags: tags(&f.tags, f.line),
                elements: f
                    .scenarios
                    .iter()
                    .map(|s| {
                        // Inherited feature tags first (on the feature's tag line), then the
                        // scenario's own.
                        let mut all_tags = tags(&f.tags, f.line);
                        let own: Vec<String> = s
                            .tags
                            .iter()
                            .filter(|t| !f.tags.contains(t))
                            .cloned()
                            .collect();
                        all_tags.extend(tags(&own, s.line));
                        Element {
                            id: format!("{feature_id};{}", slug(&s.name)),
                            keyword: &s.keyword,
                            name: &s.name,
                            description: "",
                            line: s.line,
                            kind: "scenario",
                            tags: all_tags,
                            steps: s
                                .steps
                                .iter()
                                .map(|st| Step {
                                    keyword: &st.keyword,
                                    name: &st.text,
                                    line: st.line,
                                    doc_string: st.docstring.as_deref().map(|value| DocString {
                                        value,
                                        content_type: "",
                                        line: st.line + 1,
                                    }),
                                    rows: st.table.as_ref().map(|rows| {
                                        rows.iter().map(|cells| Row { cells }).collect()
                                    }),
                                    result: StepResult {
                                        status: st.status.as_str(),
                                        duration: match st.status {
                                            Status::Passed | Status::Failed => Some(
                                                u64::try_from(st.duration.as_nanos())
                                                    .unwrap_or(u64::MAX),
                                            ),
                                            Status::Skipped | Status::Undefined => None,
                                        },
                                        error_message: st.error.as_deref(),
                                    },
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let mut json = serde_json::to_string_pretty(&features).map_err(|source| ReportError::Json {
        what: "cucumber.json",
        source,
    })?;
    json.push('\n');
    Ok(json)
}
