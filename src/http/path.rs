//! Request-path normalisation, as Kong does it before routing: the path the gateway matches,
//! decides on and sends upstream, and the path the config loader checks route paths against.

/// Kong's request-path normalization before routing (`kong/tools/uri.lua` `normalize`, with
/// slashes merged): percent-encoded unreserved characters are decoded, other escapes get
/// upper-case hex, `.`/`..` segments are resolved (RFC 3986 §5.2.4) and `//` becomes `/`. The
/// normalized path is both matched and sent upstream, so what the ACL decided on is what the
/// service receives.
pub fn normalize_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        if escape {
            let hex = &path[i + 1..i + 3];
            if let Ok(value) = u8::from_str_radix(hex, 16) {
                if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                    decoded.push(char::from(value));
                } else {
                    decoded.push('%');
                    decoded.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        let ch = path[i..].chars().next().unwrap_or('/');
        decoded.push(ch);
        i += ch.len_utf8();
    }
    let mut segments: Vec<&str> = Vec::new();
    let trailing_slash =
        decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (trailing_slash && !segments.is_empty()) {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_like_kong_before_matching() {
        assert_eq!(
            normalize_path("/api/v1/value-models/../../../internal/v1/sync"),
            "/internal/v1/sync"
        );
        assert_eq!(
            normalize_path("/api/v1/%76alue-models"),
            "/api/v1/value-models"
        );
        assert_eq!(
            normalize_path("//api//v1/value-models/"),
            "/api/v1/value-models/"
        );
        assert_eq!(normalize_path("/a/%2f/b%2Fc"), "/a/%2F/b%2Fc");
        assert_eq!(normalize_path("/a/./b/."), "/a/b/");
        assert_eq!(normalize_path("/.."), "/");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("/bad%zzescape%4"), "/bad%zzescape%4");
        assert_eq!(normalize_path("/é%"), "/é%");
    }
}
