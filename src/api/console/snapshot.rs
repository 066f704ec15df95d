//! Answers of the consoles' JSON endpoints, serialised once per change and shared by every
//! poller: the console must not disturb what it watches.
//!
//! ```text
//!   GET ──► version key (cheap: a counter, an index, a health list) ──┐
//!           same key as the kept answer? ──yes──► kept bytes, or 304 when the caller's
//!                │                                If-None-Match is its ETag
//!                no ──► build the JSON, serialise once, keep (key, ETag, bytes)
//! ```
//!
//! A key must determine the answer: two calls with the same key get the same bytes. The ETag is
//! the key, so a page that sends it back (`If-None-Match`) is told `304 Not Modified` and skips
//! both the transfer and its own redrawing.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The kept answer of one endpoint (or one variant of it, e.g. one `limit`).
#[derive(Debug, Default)]
pub struct Snapshot {
    kept: Mutex<Option<Kept>>,
}

#[derive(Debug, Clone)]
struct Kept {
    key: u64,
    etag: HeaderValue,
    body: Bytes,
}

/// A version key from anything hashable (fixed within a process).
pub fn key(parts: impl Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

impl Snapshot {
    /// The answer for `key`: the kept bytes when the key is unchanged (built by `make` and kept
    /// otherwise), or `304` when the request's `If-None-Match` names it.
    pub fn answer(&self, key: u64, request: &HeaderMap, make: impl FnOnce() -> Value) -> Response {
        let etag = HeaderValue::from_str(&format!("\"{key:016x}\"")).expect("hex is a header");
        let unchanged = request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes());
        if unchanged {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        let kept = self
            .kept
            .lock()
            .ok()
            .and_then(|k| k.as_ref().filter(|k| k.key == key).cloned());
        let kept = match kept {
            Some(kept) => kept,
            None => {
                let body = Bytes::from(serde_json::to_vec(&make()).unwrap_or_default());
                let kept = Kept { key, etag, body };
                if let Ok(mut slot) = self.kept.lock() {
                    *slot = Some(kept.clone());
                }
                kept
            }
        };
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::ETAG, kept.etag),
            ],
            kept.body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn etag(r: &Response) -> String {
        r.headers()[header::ETAG]
            .to_str()
            .expect("ascii")
            .to_string()
    }

    #[test]
    fn an_unchanged_key_reuses_the_serialised_answer_and_a_known_etag_gets_304() {
        let snapshot = Snapshot::default();
        let built = Cell::new(0);
        let make = || {
            built.set(built.get() + 1);
            serde_json::json!({"n": built.get()})
        };
        let first = snapshot.answer(1, &HeaderMap::new(), make);
        assert_eq!(first.status(), StatusCode::OK);
        let again = snapshot.answer(1, &HeaderMap::new(), make);
        assert_eq!(built.get(), 1, "the same key is served from what was kept");
        assert_eq!(etag(&first), etag(&again));

        let mut known = HeaderMap::new();
        known.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&etag(&first)).expect("etag"),
        );
        assert_eq!(
            snapshot.answer(1, &known, make).status(),
            StatusCode::NOT_MODIFIED
        );
        let changed = snapshot.answer(2, &known, make);
        assert_eq!(changed.status(), StatusCode::OK);
        assert_eq!(built.get(), 2, "a new key builds a new answer");
        assert_ne!(etag(&changed), etag(&first));
    }
}
