//! Decoding of L7 permissions: `Permissions[]` → `Action` + `HTTP { PathExact | PathPrefix |
//! PathRegex, Methods, Header[] }`, with Consul's validation rules (one path match, known
//! upper-case methods, one match kind per header, paths starting with `/`, valid regexes).

use super::{get, join, Decoder};
use crate::config::intentions::model::{
    HeaderMatch, HeaderMatchKind, HttpMatch, PathMatch, Pattern, Permission,
};
use crate::config::intentions::syntax::{normalize_key, Item, Node};
use crate::config::ConfigError;

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

impl Decoder<'_> {
    pub(super) fn permission(
        &mut self,
        node: &Node,
        path: &str,
    ) -> Result<Permission, ConfigError> {
        let items = self.object(node, path)?;
        self.check_keys(
            items,
            path,
            &["Action", "HTTP"],
            &[(
                "JWT",
                "JWT requirements are not emulated: this permission applies without them",
            )],
        )?;
        let action_item = self.required(items, "Action", path, node.pos)?;
        let action = self.action(&action_item.value, &join(path, &action_item.key))?;
        let http_item = self.required(items, "HTTP", path, node.pos)?;
        let http = self.http(&http_item.value, &join(path, &http_item.key))?;
        Ok(Permission { action, http })
    }

    fn http(&mut self, node: &Node, path: &str) -> Result<HttpMatch, ConfigError> {
        let items = self.object(node, path)?;
        self.check_keys(
            items,
            path,
            &["PathExact", "PathPrefix", "PathRegex", "Methods", "Header"],
            &[],
        )?;
        if items.is_empty() {
            return Err(self.err(
                node.pos,
                path,
                "must not be empty (give a path, Methods or Header)",
            ));
        }
        let mut out = HttpMatch::default();
        let paths: Vec<&Item> = ["PathExact", "PathPrefix", "PathRegex"]
            .iter()
            .filter_map(|k| get(items, k))
            .collect();
        if paths.len() > 1 {
            return Err(self.err(
                paths[1].key_pos,
                &join(path, &paths[1].key),
                "at most one of PathExact, PathPrefix and PathRegex may be set",
            ));
        }
        if let Some(item) = paths.first() {
            let key = join(path, &item.key);
            let text = self.string(&item.value, &key)?;
            let norm = normalize_key(&item.key);
            out.path = Some(if norm == "pathregex" {
                let pattern = Pattern::new(text).map_err(|e| {
                    self.err(
                        item.value.pos,
                        &key,
                        format!("invalid regular expression: {e}"),
                    )
                })?;
                PathMatch::Regex(pattern)
            } else {
                if !text.starts_with('/') {
                    return Err(self.err(
                        item.value.pos,
                        &key,
                        format!("must start with `/`, found \"{text}\""),
                    ));
                }
                if norm == "pathexact" {
                    PathMatch::Exact(text.into())
                } else {
                    PathMatch::Prefix(text.into())
                }
            });
        }
        if let Some(item) = get(items, "Methods") {
            let key = join(path, &item.key);
            for (i, m) in self.list(&item.value, &key)?.into_iter().enumerate() {
                let mkey = format!("{key}[{i}]");
                let method = self.string(m, &mkey)?;
                if !METHODS.contains(&method) {
                    return Err(self.err(
                        m.pos,
                        &mkey,
                        format!(
                            "invalid HTTP method \"{method}\" (use one of {})",
                            METHODS.join(", ")
                        ),
                    ));
                }
                if out.methods.iter().any(|x| x == method) {
                    return Err(self.err(
                        m.pos,
                        &mkey,
                        format!("method \"{method}\" is listed twice"),
                    ));
                }
                out.methods.push(method.into());
            }
        }
        if let Some(item) = get(items, "Header") {
            let key = join(path, &item.key);
            for (i, h) in self.list(&item.value, &key)?.into_iter().enumerate() {
                out.headers.push(self.header(h, &format!("{key}[{i}]"))?);
            }
        }
        Ok(out)
    }

    fn header(&mut self, node: &Node, path: &str) -> Result<HeaderMatch, ConfigError> {
        let items = self.object(node, path)?;
        self.check_keys(
            items,
            path,
            &[
                "Name", "Present", "Exact", "Prefix", "Suffix", "Regex", "Invert",
            ],
            &[],
        )?;
        let name_item = self.required(items, "Name", path, node.pos)?;
        let name_key = join(path, &name_item.key);
        let name = self.string(&name_item.value, &name_key)?;
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(self.err(
                name_item.value.pos,
                &name_key,
                format!("\"{name}\" is not a valid header name"),
            ));
        }
        let mut kinds = Vec::new();
        if let Some(item) = get(items, "Present") {
            if self.boolean(&item.value, &join(path, &item.key))? {
                kinds.push((item, HeaderMatchKind::Present));
            }
        }
        for key in ["Exact", "Prefix", "Suffix", "Regex"] {
            let Some(item) = get(items, key) else {
                continue;
            };
            let ikey = join(path, &item.key);
            let text = self.string(&item.value, &ikey)?.to_string();
            let kind = match key {
                "Exact" => HeaderMatchKind::Exact(text),
                "Prefix" => HeaderMatchKind::Prefix(text),
                "Suffix" => HeaderMatchKind::Suffix(text),
                _ => HeaderMatchKind::Regex(Pattern::new(&text).map_err(|e| {
                    self.err(
                        item.value.pos,
                        &ikey,
                        format!("invalid regular expression: {e}"),
                    )
                })?),
            };
            kinds.push((item, kind));
        }
        let invert = match get(items, "Invert") {
            Some(item) => self.boolean(&item.value, &join(path, &item.key))?,
            None => false,
        };
        match kinds.len() {
            0 => Err(self.err(
                node.pos,
                path,
                "give one of Present = true, Exact, Prefix, Suffix or Regex",
            )),
            1 => {
                let (_, kind) = kinds.remove(0);
                Ok(HeaderMatch {
                    name: name.into(),
                    kind,
                    invert,
                })
            }
            _ => Err(self.err(
                kinds[1].0.key_pos,
                &join(path, &kinds[1].0.key),
                "a header condition takes only one of Present, Exact, Prefix, Suffix and Regex",
            )),
        }
    }
}
