//! Line diffs of stack files, for `gauntlet compare` (the two runs' stacks) and the run report
//! (`--baseline-stack`): unified-diff hunks with three lines of context.
//!
//! ```text
//!   [StackFile] (a) ─┐
//!                    ├─ diff_files ─► [FileDiff] (changed, added, removed files) ─► hunks ─► console / HTML
//!   [StackFile] (b) ─┘
//! ```
//!
//! Stack files are small (hundreds of lines), so the longest common subsequence is computed
//! directly (O(n·m) cells, refused above [`MAX_CELLS`], where the whole file shows as replaced).

use serde::Serialize;

use super::explain::StackFile;

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Above this many LCS cells a file is shown as wholly replaced instead.
const MAX_CELLS: usize = 4_000_000;

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", content = "text", rename_all = "lowercase")]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

impl DiffLine {
    /// `' '`, `'+'` or `'-'`, as a unified diff prints it.
    pub fn mark(&self) -> char {
        match self {
            DiffLine::Same(_) => ' ',
            DiffLine::Added(_) => '+',
            DiffLine::Removed(_) => '-',
        }
    }

    pub fn text(&self) -> &str {
        match self {
            DiffLine::Same(t) | DiffLine::Added(t) | DiffLine::Removed(t) => t,
        }
    }

    /// `same`, `added` or `removed`, for CSS.
    pub fn class(&self) -> &'static str {
        match self {
            DiffLine::Same(_) => "same",
            DiffLine::Added(_) => "added",
            DiffLine::Removed(_) => "removed",
        }
    }
}

/// A run of changes with its context; line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<DiffLine>,
}

impl Hunk {
    /// `@@ -12,7 +12,7 @@`.
    pub fn header(&self) -> String {
        format!(
            "@@ -{},{} +{},{} @@",
            self.old_start, self.old_len, self.new_start, self.new_len
        )
    }
}

/// How one file differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub name: String,
    /// `changed`, `added` (only in the new stack) or `removed` (only in the old one).
    pub change: &'static str,
    pub added: usize,
    pub removed: usize,
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    /// `kong.yml (+2 −2)`.
    pub fn summary(&self) -> String {
        format!(
            "{} ({}, +{} −{})",
            self.name, self.change, self.added, self.removed
        )
    }

    /// The diff as `---`/`+++`/`@@` text.
    pub fn unified(&self, old_label: &str, new_label: &str) -> String {
        let mut out = format!(
            "--- {old_label}/{}\n+++ {new_label}/{}\n",
            self.name, self.name
        );
        for hunk in &self.hunks {
            out.push_str(&hunk.header());
            out.push('\n');
            for line in &hunk.lines {
                out.push(line.mark());
                out.push_str(line.text());
                out.push('\n');
            }
        }
        out
    }
}

/// The files that differ between `old` and `new` (by name), in name order; equal files are left
/// out, so an empty result means the stacks' files are the same.
pub fn diff_files(old: &[StackFile], new: &[StackFile]) -> Vec<FileDiff> {
    let mut names: Vec<&str> = old.iter().chain(new).map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let find = |files: &[StackFile], name: &str| {
        files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.text.clone())
    };
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (find(old, name), find(new, name));
            let change = match (&a, &b) {
                (Some(a), Some(b)) if a == b => return None,
                (Some(_), Some(_)) => "changed",
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (None, None) => return None,
            };
            let hunks = diff_lines(a.as_deref().unwrap_or(""), b.as_deref().unwrap_or(""));
            let count = |pick: fn(&DiffLine) -> bool| {
                hunks
                    .iter()
                    .flat_map(|h| &h.lines)
                    .filter(|l| pick(l))
                    .count()
            };
            Some(FileDiff {
                name: name.to_string(),
                change,
                added: count(|l| matches!(l, DiffLine::Added(_))),
                removed: count(|l| matches!(l, DiffLine::Removed(_))),
                hunks,
            })
        })
        .collect()
}

/// The hunks turning `old` into `new`; none when they are equal.
pub fn diff_lines(old: &str, new: &str) -> Vec<Hunk> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = edit_script(&a, &b);
    hunks(&ops)
}

/// One line of the edit script, with its 1-based position in the old and the new text.
#[derive(Debug, Clone)]
struct Op {
    line: DiffLine,
    old_no: usize,
    new_no: usize,
}

fn edit_script(a: &[&str], b: &[&str]) -> Vec<Op> {
    // Common prefix and suffix need no table.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    let mut push = |line: DiffLine, i: usize, j: usize| {
        ops.push(Op {
            line,
            old_no: i + 1,
            new_no: j + 1,
        })
    };
    for (k, line) in a.iter().enumerate().take(prefix) {
        push(DiffLine::Same(line.to_string()), k, k);
    }
    if am.len().saturating_mul(bm.len()) > MAX_CELLS {
        for (k, line) in am.iter().enumerate() {
            push(DiffLine::Removed(line.to_string()), prefix + k, prefix);
        }
        for (k, line) in bm.iter().enumerate() {
            push(
                DiffLine::Added(line.to_string()),
                prefix + am.len(),
                prefix + k,
            );
        }
    } else {
        // lcs[x][y]: length of the longest common subsequence of am[x..] and bm[y..].
        let width = bm.len() + 1;
        let mut lcs = vec![0u32; (am.len() + 1) * width];
        for x in (0..am.len()).rev() {
            for y in (0..bm.len()).rev() {
                lcs[x * width + y] = if am[x] == bm[y] {
                    lcs[(x + 1) * width + y + 1] + 1
                } else {
                    lcs[(x + 1) * width + y].max(lcs[x * width + y + 1])
                };
            }
        }
        while i < am.len() || j < bm.len() {
            if i < am.len() && j < bm.len() && am[i] == bm[j] {
                push(DiffLine::Same(am[i].to_string()), prefix + i, prefix + j);
                i += 1;
                j += 1;
            } else if j < bm.len()
                && (i == am.len() || lcs[i * width + j + 1] >= lcs[(i + 1) * width + j])
            {
                push(DiffLine::Added(bm[j].to_string()), prefix + i, prefix + j);
                j += 1;
            } else {
                push(DiffLine::Removed(am[i].to_string()), prefix + i, prefix + j);
                i += 1;
            }
        }
    }
    for k in 0..suffix {
        let (x, y) = (a.len() - suffix + k, b.len() - suffix + k);
        push(DiffLine::Same(a[x].to_string()), x, y);
    }
    // Within a change, removed lines read better before added ones.
    let mut k = 0;
    while k < ops.len() {
        if matches!(ops[k].line, DiffLine::Same(_)) {
            k += 1;
            continue;
        }
        let end = ops[k..]
            .iter()
            .position(|o| matches!(o.line, DiffLine::Same(_)))
            .map_or(ops.len(), |p| k + p);
        ops[k..end].sort_by_key(|o| matches!(o.line, DiffLine::Added(_)));
        k = end;
    }
    ops
}

fn hunks(ops: &[Op]) -> Vec<Hunk> {
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o.line, DiffLine::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT + 1 {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let slice = &ops[start..end];
        let old_len = slice
            .iter()
            .filter(|o| !matches!(o.line, DiffLine::Added(_)))
            .count();
        let new_len = slice
            .iter()
            .filter(|o| !matches!(o.line, DiffLine::Removed(_)))
            .count();
        let start_of = |skip: fn(&DiffLine) -> bool, no: fn(&Op) -> usize, len: usize| {
            let first = slice.iter().map(no).min().unwrap_or(1);
            if len == 0 {
                first - 1
            } else {
                slice
                    .iter()
                    .filter(|o| !skip(&o.line))
                    .map(no)
                    .min()
                    .unwrap_or(first)
            }
        };
        out.push(Hunk {
            old_start: start_of(|l| matches!(l, DiffLine::Added(_)), |o| o.old_no, old_len),
            old_len,
            new_start: start_of(|l| matches!(l, DiffLine::Removed(_)), |o| o.new_no, new_len),
            new_len,
            lines: slice.iter().map(|o| o.line.clone()).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> StackFile {
        StackFile {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn equal_texts_have_no_hunks() {
        assert!(diff_lines("a\nb\n", "a\nb\n").is_empty());
    }

    #[test]
    fn a_changed_value_is_one_hunk_with_context_and_positions() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old.replace("line 10\n", "line ten\n");
        let hunks = diff_lines(&old, &new);
        assert_eq!(hunks.len(), 1);
        let h = &hunks[0];
        assert_eq!(h.header(), "@@ -7,7 +7,7 @@");
        let marks: String = h.lines.iter().map(DiffLine::mark).collect();
        assert_eq!(marks, "   -+   ");
        assert_eq!(h.lines[3], DiffLine::Removed("line 10".into()));
        assert_eq!(h.lines[4], DiffLine::Added("line ten".into()));
    }

    #[test]
    fn distant_changes_are_separate_hunks_and_near_ones_merge() {
        let old: String = (1..=40).map(|i| format!("{i}\n")).collect();
        let new = old
            .replace("\n5\n", "\nfive\n")
            .replace("\n35\n", "\nthirty-five\n");
        assert_eq!(diff_lines(&old, &new).len(), 2);
        let near = old
            .replace("\n5\n", "\nfive\n")
            .replace("\n9\n", "\nnine\n");
        assert_eq!(diff_lines(&old, &near).len(), 1);
    }

    #[test]
    fn insertions_and_deletions_at_the_ends() {
        let hunks = diff_lines("a\nb\n", "a\nb\nc\n");
        assert_eq!(hunks[0].header(), "@@ -1,2 +1,3 @@");
        let hunks = diff_lines("x\na\n", "a\n");
        assert_eq!(hunks[0].lines[0], DiffLine::Removed("x".into()));
        assert_eq!(hunks[0].header(), "@@ -1,2 +1,1 @@");
        let hunks = diff_lines("", "new\n");
        assert_eq!(hunks[0].header(), "@@ -0,0 +1,1 @@");
    }

    #[test]
    fn files_are_matched_by_name_and_equal_ones_left_out() {
        let old = [
            file("kong.yml", "a: 1\n"),
            file("stack.yml", "s\n"),
            file("gone.hcl", "g\n"),
        ];
        let new = [
            file("kong.yml", "a: 2\n"),
            file("stack.yml", "s\n"),
            file("new.json", "{}\n"),
        ];
        let diffs = diff_files(&old, &new);
        let shape: Vec<(&str, &str, usize, usize)> = diffs
            .iter()
            .map(|d| (d.name.as_str(), d.change, d.added, d.removed))
            .collect();
        assert_eq!(
            shape,
            [
                ("gone.hcl", "removed", 0, 1),
                ("kong.yml", "changed", 1, 1),
                ("new.json", "added", 1, 0)
            ]
        );
        assert!(diffs[1].unified("a", "b").contains("-a: 1\n+a: 2\n"));
    }
}
