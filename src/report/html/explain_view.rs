//! The report's "why" (issue 13 item 3): under each failure the config values that govern its
//! failed clauses, linked to their line in the stack's files, which the page renders in full
//! (with the diff against `--baseline-stack` when one was given).
//!
//! ```text
//!   RunReport.explain (redacted) ─┬─► governing_views(clauses)  ─► "Governed by" under a failure
//!                                 ├─► stack_file_views()        ─► #stack-files, one anchor per line
//!                                 └─► baseline_view()           ─► #baseline-diff (compare_page::file_diff_view)
//! ```

use super::super::compare_page::{file_diff_view, FileDiffView};
use super::super::diff::diff_files;
use super::super::explain::Explanation;

/// The values governing one failed clause, as shown under a failure.
pub(in crate::report) struct GoverningView {
    pub clause: String,
    /// `governing-CB-2` on its first showing in the failure list; a later failure of the same
    /// clause links there instead of repeating the values.
    pub anchor: Option<String>,
    /// Shown already above: only a link.
    pub link_only: bool,
    pub values: Vec<ValueView>,
    pub omitted: usize,
}

pub(in crate::report) struct ValueView {
    /// The path without the file (`services[value-architect].plugins[circuit-breaker].config.open_timeout`).
    pub key: String,
    pub value: String,
    /// `kong.yml:17`.
    pub location: String,
    /// `#stack-kong-yml-L17`, when the line is known.
    pub href: Option<String>,
}

/// One stack file with numbered, linkable lines.
pub(in crate::report) struct StackFileView {
    pub name: String,
    pub anchor: String,
    pub lines: Vec<FileLine>,
    /// Lines governing a failed clause are marked.
    pub open: bool,
}

pub(in crate::report) struct FileLine {
    pub no: usize,
    pub id: String,
    pub text: String,
    pub marked: bool,
}

/// The diff of the stack against `--baseline-stack`.
pub(in crate::report) struct BaselineView {
    pub dir: String,
    pub diffs: Vec<FileDiffView>,
}

/// `stack-kong-yml`: the anchor of a stack file.
fn file_anchor(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("stack-{slug}")
}

fn line_anchor(file: &str, line: usize) -> String {
    format!("{}-L{line}", file_anchor(file))
}

/// The governing values of those of `clauses` that failed, in `clauses` order.
pub(in crate::report) fn governing_views(
    explain: &Explanation,
    clauses: &[String],
) -> Vec<GoverningView> {
    let shown: Vec<&str> = explain.files.iter().map(|f| f.name.as_str()).collect();
    clauses
        .iter()
        .filter_map(|id| explain.for_clause(id))
        .map(|c| GoverningView {
            clause: c.clause.clone(),
            anchor: None,
            link_only: false,
            values: c
                .values
                .iter()
                .map(|v| ValueView {
                    key: v
                        .path
                        .split_once(':')
                        .map_or(v.path.as_str(), |(_, key)| key)
                        .to_string(),
                    value: v.value.clone(),
                    location: v.location(),
                    href: v
                        .line
                        .filter(|_| shown.contains(&v.file.as_str()))
                        .map(|line| format!("#{}", line_anchor(&v.file, line))),
                })
                .collect(),
            omitted: c.omitted,
        })
        .collect()
}

/// Marks, across the failure list, the first showing of each clause's values with an anchor and
/// makes every later one a link to it.
pub(in crate::report) fn link_repeats<'a>(lists: impl Iterator<Item = &'a mut Vec<GoverningView>>) {
    let mut seen: Vec<String> = Vec::new();
    for list in lists {
        for g in list.iter_mut() {
            if seen.contains(&g.clause) {
                g.link_only = true;
            } else {
                g.anchor = Some(format!("governing-{}", g.clause));
                seen.push(g.clause.clone());
            }
        }
    }
}

/// Every stack file, lines numbered; lines holding a governing value are marked.
pub(in crate::report) fn stack_file_views(explain: &Explanation) -> Vec<StackFileView> {
    explain
        .files
        .iter()
        .map(|f| {
            let marked: Vec<usize> = explain
                .governing
                .iter()
                .flat_map(|c| &c.values)
                .filter(|v| v.file == f.name)
                .filter_map(|v| v.line)
                .collect();
            StackFileView {
                name: f.name.clone(),
                anchor: file_anchor(&f.name),
                open: !marked.is_empty(),
                lines: f
                    .text
                    .lines()
                    .enumerate()
                    .map(|(i, text)| FileLine {
                        no: i + 1,
                        id: line_anchor(&f.name, i + 1),
                        text: text.to_string(),
                        marked: marked.contains(&(i + 1)),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The diff against `--baseline-stack`, when one was given.
pub(in crate::report) fn baseline_view(explain: &Explanation) -> Option<BaselineView> {
    let baseline = explain.baseline.as_ref()?;
    Some(BaselineView {
        dir: baseline.dir.clone(),
        diffs: diff_files(&baseline.files, &explain.files)
            .iter()
            .map(file_diff_view)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::explain::{ClauseConfig, ConfigValue, StackFile};

    #[test]
    fn a_governing_value_links_to_its_line_in_the_rendered_file() {
        let explain = Explanation {
            files: vec![StackFile {
                name: "kong.yml".into(),
                text: "a: 1\nfailure_threshold: 6\n".into(),
            }],
            baseline: None,
            governing: vec![ClauseConfig {
                clause: "CB-2".into(),
                values: vec![ConfigValue {
                    path: "kong.yml:services[a].failure_threshold".into(),
                    value: "6".into(),
                    file: "kong.yml".into(),
                    line: Some(2),
                }],
                omitted: 0,
            }],
        };
        let views = governing_views(&explain, &["AUTH-1".into(), "CB-2".into()]);
        assert_eq!(views.len(), 1);
        let v = &views[0].values[0];
        assert_eq!(v.key, "services[a].failure_threshold");
        assert_eq!(v.href.as_deref(), Some("#stack-kong-yml-L2"));
        let files = stack_file_views(&explain);
        assert_eq!(files[0].lines[1].id, "stack-kong-yml-L2");
        assert!(files[0].lines[1].marked && !files[0].lines[0].marked);
    }
}
