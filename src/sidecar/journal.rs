//! The journal of a service's inbound stage (SPEC §7): every request that reached the service's
//! address, in arrival order, with what the fault stage did to it, so a scenario can count
//! attempts and see what arrived.
//!
//! Only a fixed set of harmless headers is kept (never `Authorization` or cookies), and query
//! values are replaced by `…` (a query may carry a token).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::clock::StackInstant;

/// Headers the journal keeps (lower case).
pub const KEPT_HEADERS: [&str; 11] = [
    "host",
    "content-type",
    "user-agent",
    "traceparent",
    "tracestate",
    "x-request-id",
    "x-consumer-username",
    "x-consumer-groups",
    "x-forwarded-for",
    "x-forwarded-path",
    "x-real-ip",
];

/// Entries kept per service; older ones are dropped (the count goes on). An entry with its kept
/// headers is about 1.5 KB of heap, so a full journal holds about 1.5 MB: a scenario reads the
/// last few entries and the count, and a long-running `up` (benches/soak.sh) must not grow by
/// the size of a journal of every service (10,000 entries grew `up` by ~18 MB).
pub const CAPACITY: usize = 1_000;

/// One request as it reached a service's inbound stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 1 for the first request the service ever received.
    pub seq: u64,
    /// Stack-clock time since the stack started (jumps included).
    #[serde(
        rename = "stack_time_ms",
        serialize_with = "millis",
        deserialize_with = "from_millis"
    )]
    pub at: Duration,
    /// The caller's mesh identity (the URI SAN of its certificate), when there is a mesh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub method: String,
    /// Path and query as received, query values redacted.
    pub path: String,
    pub headers: BTreeMap<String, String>,
    /// What the fault stage did (`abort 503`, `delay 20 ms`, `hang`…); `None`: passed on untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// The path, and the query with every value replaced by `…`: a query may carry a token
/// (`?jwt=…`), and the journal never keeps credentials.
fn path_with_redacted_query(uri: &http::Uri) -> String {
    match uri.query() {
        None => uri.path().to_string(),
        Some(query) => {
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}=…"),
                    None => pair.to_string(),
                })
                .collect();
            format!("{}?{}", uri.path(), redacted.join("&"))
        }
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `stack_time_ms` read back from JSON (a container's control API, `GET /services/{name}/journal`).
fn from_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// The journal of one service.
#[derive(Debug)]
pub struct Journal {
    entries: Mutex<VecDeque<JournalEntry>>,
    /// How many requests arrived in all; waiters watch it.
    count: watch::Sender<u64>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            entries: Mutex::new(VecDeque::new()),
            count: watch::channel(0).0,
        }
    }
}

impl Journal {
    /// Records a request's arrival.
    pub fn record(
        &self,
        at: StackInstant,
        source: Option<&str>,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        fault: Option<String>,
    ) {
        let kept = headers
            .iter()
            .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.push(JournalEntry {
            seq: 0,
            at: at.since_start(),
            source: source.map(str::to_string),
            method: method.to_string(),
            path: path_with_redacted_query(uri),
            headers: kept,
            fault,
        });
    }

    /// Records a TCP connection's arrival (method `TCP`, no path).
    pub fn record_connection(&self, at: StackInstant, source: Option<&str>, fault: Option<String>) {
        self.push(JournalEntry {
            seq: 0,
            at: at.since_start(),
            source: source.map(str::to_string),
            method: "TCP".into(),
            path: String::new(),
            headers: BTreeMap::new(),
            fault,
        });
    }

    /// Numbers `entry`, keeps it (dropping the oldest past [`CAPACITY`]) and wakes waiters.
    fn push(&self, mut entry: JournalEntry) {
        let mut entries = self.lock();
        entry.seq = *self.count.borrow() + 1;
        let seq = entry.seq;
        entries.push_back(entry);
        if entries.len() > CAPACITY {
            entries.pop_front();
        }
        self.count.send_replace(seq);
    }

    /// How many requests have arrived.
    pub fn count(&self) -> u64 {
        *self.count.borrow()
    }

    /// The kept entries, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().iter().cloned().collect()
    }

    /// The last `n` kept entries, oldest first.
    pub fn last(&self, n: usize) -> Vec<JournalEntry> {
        let entries = self.lock();
        entries
            .iter()
            .skip(entries.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// Waits (real time, at most `patience`) until at least `n` requests have arrived; returns
    /// the count reached.
    pub async fn wait_for(&self, n: u64, patience: Duration) -> u64 {
        let mut rx = self.count.subscribe();
        let _ = tokio::time::timeout(patience, rx.wait_for(|c| *c >= n)).await;
        self.count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<JournalEntry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_safe_headers_only_and_counts_arrivals() {
        let journal = Journal::default();
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer secret".parse().expect("value"));
        headers.insert("traceparent", "00-abc-def-01".parse().expect("value"));
        journal.record(
            StackInstant::default(),
            Some("api-gateway"),
            &http::Method::GET,
            &"/api/v1/value-models?x=1&jwt=eyJ.secret.sig"
                .parse()
                .expect("uri"),
            &headers,
            Some("abort 503".into()),
        );
        let entries = journal.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].path, "/api/v1/value-models?x=…&jwt=…");
        assert!(!entries[0].headers.contains_key("authorization"));
        assert_eq!(entries[0].headers["traceparent"], "00-abc-def-01");
        assert_eq!(journal.wait_for(1, Duration::from_millis(1)).await, 1);
        assert_eq!(journal.wait_for(2, Duration::from_millis(5)).await, 1);
    }

    #[test]
    fn keeps_the_last_entries_and_counts_them_all() {
        let journal = Journal::default();
        let total = CAPACITY as u64 + 5;
        for _ in 0..total {
            journal.record_connection(StackInstant::default(), None, None);
        }
        assert_eq!(journal.count(), total);
        let entries = journal.entries();
        assert_eq!(entries.len(), CAPACITY);
        assert_eq!(entries.first().map(|e| e.seq), Some(6));
        assert_eq!(entries.last().map(|e| e.seq), Some(total));
        let last: Vec<u64> = journal.last(2).iter().map(|e| e.seq).collect();
        assert_eq!(last, vec![total - 1, total]);
    }
}
