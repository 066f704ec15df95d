//! Mutation paths and the `governs` patterns of the clause catalogue.
//!
//! A mutation path names one config value of a stack: `<file>:<path>`, the path walking the
//! YAML/HCL/JSON structure with list entries named by their name when they have one, by index
//! otherwise:
//!
//! ```text
//!   kong.yml:services[value-architect].plugins[circuit-breaker].config.failure_threshold
//!   kong.yml:plugins[jwt].config.claims_to_verify[0]
//!   intentions.hcl:config_entries.bootstrap[value-architect].Sources[value-committer].Action
//!   stack.yml:mesh.default_intention
//! ```
//!
//! A pattern has the same shape, with wildcards: `*` is one whole segment, `**` any number of
//! segments (none included), `key[*]` the key with any selector, and `*` in the file part any
//! characters (`intentions.*`). A pattern segment without a selector matches the key with or
//! without one (`allow` matches `allow` and `allow[admin]`), so a pattern naming a list also
//! names each of its entries.

use std::fmt;

/// One step of a path: a key, an optional `[selector]` (an entry's name or index), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub key: String,
    pub selector: Option<String>,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)?;
        if let Some(s) = &self.selector {
            write!(f, "[{s}]")?;
        }
        Ok(())
    }
}

/// A path or pattern that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a mutation path: {reason} (expected e.g. `kong.yml:services[value-architect].retries`)")]
pub struct PathError {
    pub text: String,
    pub reason: &'static str,
}

/// Splits `text` into `(file, segments)`.
fn split(text: &str) -> Result<(String, Vec<Segment>), PathError> {
    let bad = |reason| PathError {
        text: text.to_string(),
        reason,
    };
    let (file, path) = text
        .split_once(':')
        .ok_or_else(|| bad("no `<file>:` in front"))?;
    if file.is_empty() {
        return Err(bad("the file name is empty"));
    }
    if path.is_empty() {
        return Err(bad("the path after `:` is empty"));
    }
    let mut segments = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    // Dots inside `[...]` belong to the selector (`Sources[web.v2]`).
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if key.is_empty() {
                    return Err(bad("an empty segment (`..`, or a leading or trailing `.`)"));
                }
                segments.push(Segment {
                    key: std::mem::take(&mut key),
                    selector: None,
                });
            }
            '[' => {
                let mut selector = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some('[') | None => return Err(bad("an unclosed `[`")),
                        Some(c) => selector.push(c),
                    }
                }
                if selector.is_empty() {
                    return Err(bad("an empty `[]`"));
                }
                segments.push(Segment {
                    key: std::mem::take(&mut key),
                    selector: Some(selector),
                });
                match chars.next() {
                    None => {}
                    Some('.') if chars.peek().is_some() => {}
                    Some('.') => {
                        return Err(bad("an empty segment (`..`, or a leading or trailing `.`)"))
                    }
                    Some('[') => return Err(bad("two selectors in a row; write `a[0].[1]`")),
                    Some(_) => return Err(bad("a `[...]` must end its segment")),
                }
            }
            ']' => return Err(bad("a `]` without `[`")),
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        segments.push(Segment {
            key,
            selector: None,
        });
    } else if path.ends_with('.') {
        return Err(bad("an empty segment (`..`, or a leading or trailing `.`)"));
    }
    Ok((file.to_string(), segments))
}

/// One config value of a stack, as `gauntlet mutate` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationPath {
    /// The file name within the stack folder (`kong.yml`, `intentions.hcl`, `stack.yml`).
    pub file: String,
    pub segments: Vec<Segment>,
}

impl MutationPath {
    /// Parses `kong.yml:services[value-architect].retries`.
    ///
    /// # Errors
    /// A [`PathError`] saying what is wrong.
    pub fn parse(text: &str) -> Result<MutationPath, PathError> {
        let (file, segments) = split(text)?;
        Ok(MutationPath { file, segments })
    }
}

impl fmt::Display for MutationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file)?;
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                write!(f, ".")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// A `governs` pattern of a clause (see the module docs for the wildcards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernsPattern {
    text: String,
    file: String,
    segments: Vec<Segment>,
}

impl GovernsPattern {
    /// Parses `kong.yml:**.plugins[circuit-breaker].config.failure_threshold`.
    ///
    /// # Errors
    /// A [`PathError`] saying what is wrong.
    pub fn parse(text: &str) -> Result<GovernsPattern, PathError> {
        let (file, segments) = split(text)?;
        if segments
            .iter()
            .any(|s| s.key.contains("**") && (s.key != "**" || s.selector.is_some()))
        {
            return Err(PathError {
                text: text.to_string(),
                reason: "`**` must be a whole segment",
            });
        }
        Ok(GovernsPattern {
            text: text.to_string(),
            file,
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern names `path`.
    pub fn matches(&self, path: &MutationPath) -> bool {
        glob(&self.file, &path.file) && segments_match(&self.segments, &path.segments)
    }
}

impl fmt::Display for GovernsPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `*` in `pattern` matches any run of characters of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

fn segment_matches(pattern: &Segment, segment: &Segment) -> bool {
    if pattern.key == "*" && pattern.selector.is_none() {
        return true;
    }
    if pattern.key != segment.key {
        return false;
    }
    match (&pattern.selector, &segment.selector) {
        (None, _) => true,
        (Some(p), Some(s)) => p == "*" || p == s,
        (Some(_), None) => false,
    }
}

fn segments_match(pattern: &[Segment], path: &[Segment]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first.key == "**" => {
            (0..=path.len()).any(|skip| segments_match(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((head, tail)) => segment_matches(first, head) && segments_match(rest, tail),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn governs(pattern: &str, path: &str) -> bool {
        GovernsPattern::parse(pattern)
            .unwrap()
            .matches(&MutationPath::parse(path).unwrap())
    }

    #[test]
    fn a_double_star_matches_any_depth_including_none() {
        let p = "kong.yml:**.plugins[circuit-breaker].config.failure_threshold";
        assert!(governs(
            p,
            "kong.yml:services[value-architect].plugins[circuit-breaker].config.failure_threshold"
        ));
        assert!(governs(
            p,
            "kong.yml:plugins[circuit-breaker].config.failure_threshold"
        ));
        assert!(!governs(
            p,
            "kong.yml:services[value-architect].plugins[circuit-breaker].config.open_timeout"
        ));
        assert!(!governs(
            p,
            "stack.yml:plugins[circuit-breaker].config.failure_threshold"
        ));
    }

    #[test]
    fn a_key_without_selector_names_the_list_and_each_entry() {
        let p = "kong.yml:**.plugins[jwt].config.claims_to_verify";
        assert!(governs(p, "kong.yml:plugins[jwt].config.claims_to_verify"));
        assert!(governs(
            p,
            "kong.yml:plugins[jwt].config.claims_to_verify[0]"
        ));
        assert!(!governs(
            p,
            "kong.yml:plugins[acl].config.claims_to_verify[0]"
        ));
        assert!(governs(
            "kong.yml:services[*].retries",
            "kong.yml:services[value-committer].retries"
        ));
        assert!(!governs(
            "kong.yml:services[*].retries",
            "kong.yml:services.retries"
        ));
    }

    #[test]
    fn an_entity_pattern_does_not_name_its_fields_unless_it_ends_in_a_double_star() {
        let entity = "intentions.*:**.Sources[*]";
        let path = "intentions.hcl:config_entries.bootstrap[value-architect].Sources[api-gateway]";
        assert!(governs(entity, path));
        assert!(!governs(entity, &format!("{path}.Action")));
        assert!(governs(
            "intentions.*:**.Sources[*].**",
            &format!("{path}.Action")
        ));
        assert!(governs(
            "intentions.*:**.Sources[*].Action",
            &format!("{path}.Action")
        ));
    }

    #[test]
    fn the_file_part_takes_a_star_and_a_single_star_is_one_segment() {
        assert!(governs("intentions.*:Name", "intentions.json:Name"));
        assert!(governs("intentions.*:Name", "intentions.hcl:Name"));
        assert!(!governs("intentions.*:Name", "kong.yml:Name"));
        assert!(governs(
            "kong.yml:services[*].*",
            "kong.yml:services[a].retries"
        ));
        assert!(!governs(
            "kong.yml:services[*].*",
            "kong.yml:services[a].routes[r].paths"
        ));
    }

    #[test]
    fn selectors_may_hold_dots_and_paths_print_back_as_written() {
        let text = "intentions.hcl:Sources[web.v2].Action";
        let path = MutationPath::parse(text).unwrap();
        assert_eq!(path.segments[0].selector.as_deref(), Some("web.v2"));
        assert_eq!(path.to_string(), text);
        let top = MutationPath::parse("intentions.json:[0].Sources[x]").unwrap();
        assert_eq!(top.segments[0].key, "");
        assert_eq!(top.to_string(), "intentions.json:[0].Sources[x]");
    }

    #[test]
    fn malformed_paths_say_what_is_wrong() {
        for (text, reason) in [
            ("services.retries", "no `<file>:`"),
            ("kong.yml:", "empty"),
            ("kong.yml:a..b", "empty segment"),
            ("kong.yml:a[b", "unclosed"),
            ("kong.yml:a[]", "empty `[]`"),
            ("kong.yml:a[b]c", "must end its segment"),
            ("kong.yml:a.", "empty segment"),
            ("kong.yml:a[b].", "empty segment"),
        ] {
            let e = MutationPath::parse(text).unwrap_err();
            assert!(e.to_string().contains(reason), "{text}: {e}");
        }
        assert!(GovernsPattern::parse("kong.yml:a**.b").is_err());
    }
}
