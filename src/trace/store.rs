//! One stack's trace store: a bounded ring of compact records, written once per hop on the
//! request path and expanded into [`Span`]s only when someone reads them.
//!
//! ```text
//!   gateway: one GatewayRecord per request ─────────┐
//!   each sidecar inbound: one per request ──────────┼─► TraceStore ring (CAPACITY records,
//!   each sidecar outbound: one per connection ──────┘   oldest dropped)
//!                                                          └─spans()/traces()─► report, console, OTLP
//! ```
//! Memory is bounded: at most [`CAPACITY`] records (each a few hundred bytes plus its path),
//! whatever the load. Writing is one short lock per hop; reading copies the records out and
//! expands them outside the lock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::UNIX_EPOCH;

use super::gateway::GatewayRecord;
use super::sidecar::{InboundRecord, OutboundRecord};
use super::span::{group, Span, Trace};
use crate::clock::{real_wall_now, Stopwatch};
use crate::config::GatewayConfig;

/// Records kept per stack (requests through the gateway plus requests at each sidecar).
pub const CAPACITY: usize = 2048;

/// Records read per trace wanted by [`TraceStore::traces`]: generous for a request through
/// the gateway and a few sidecars.
const RECORDS_PER_TRACE: u64 = 16;

/// What one hop recorded about one request.
#[derive(Debug, Clone)]
pub enum Record {
    Gateway(Box<GatewayRecord>),
    Inbound(Box<InboundRecord>),
    Outbound(Box<OutboundRecord>),
}

/// The `limit` traces that started last (by their earliest record) among `keys`.
fn newest(keys: impl Iterator<Item = (u128, u64)>, limit: usize) -> HashSet<u128> {
    let mut starts: HashMap<u128, u64> = HashMap::new();
    for (trace, start) in keys {
        let earliest = starts.entry(trace).or_insert(start);
        *earliest = (*earliest).min(start);
    }
    let mut by_start: Vec<(u64, u128)> = starts.into_iter().map(|(t, s)| (s, t)).collect();
    by_start.sort_unstable_by(|a, b| b.cmp(a));
    by_start.into_iter().take(limit).map(|(_, t)| t).collect()
}

impl Record {
    /// The record's trace id and when its hop started.
    fn key(&self) -> (u128, u64) {
        match self {
            Record::Gateway(r) => r.key(),
            Record::Inbound(r) => r.key(),
            Record::Outbound(r) => r.key(),
        }
    }
}

/// A stack's spans (cheap to clone: a handle).
#[derive(Debug, Clone)]
pub struct TraceStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    recording: AtomicBool,
    epoch: Stopwatch,
    epoch_unix_nanos: u64,
    capacity: usize,
    ring: Mutex<Ring>,
    /// The gateway's configuration: route, service, consumer and plugin names for its spans.
    gateway: OnceLock<Arc<GatewayConfig>>,
}

#[derive(Debug, Default)]
struct Ring {
    records: VecDeque<Record>,
    /// Records ever pushed (a cursor for readers that take only what is new).
    pushed: u64,
}

impl Default for TraceStore {
    fn default() -> Self {
        TraceStore::new()
    }
}

impl TraceStore {
    /// A recording store of [`CAPACITY`] records.
    pub fn new() -> TraceStore {
        TraceStore::with_capacity(CAPACITY)
    }

    pub fn with_capacity(capacity: usize) -> TraceStore {
        let epoch_unix_nanos = real_wall_now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        TraceStore {
            inner: Arc::new(Inner {
                recording: AtomicBool::new(true),
                epoch: Stopwatch::start(),
                epoch_unix_nanos,
                capacity: capacity.max(1),
                ring: Mutex::new(Ring::default()),
                gateway: OnceLock::new(),
            }),
        }
    }

    /// Whether hops record (on unless turned off, e.g. to measure what recording costs).
    pub fn is_recording(&self) -> bool {
        self.inner.recording.load(Ordering::Relaxed)
    }

    pub fn set_recording(&self, on: bool) {
        self.inner.recording.store(on, Ordering::Relaxed);
    }

    /// Nanoseconds since the store's epoch (real time).
    pub fn now(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The store's epoch, for builders that read the time without the store.
    pub(crate) fn epoch(&self) -> Stopwatch {
        self.inner.epoch
    }

    /// Names the gateway whose requests this store records.
    pub fn set_gateway(&self, config: Arc<GatewayConfig>) {
        let _ = self.inner.gateway.set(config);
    }

    pub(crate) fn push(&self, record: Record) {
        if let Ok(mut ring) = self.inner.ring.lock() {
            if ring.records.len() == self.inner.capacity {
                ring.records.pop_front();
            }
            ring.records.push_back(record);
            ring.pushed += 1;
        }
    }

    /// Records ever pushed (dropped ones included).
    pub fn pushed(&self) -> u64 {
        self.inner.ring.lock().map_or(0, |r| r.pushed)
    }

    /// Every span still held.
    pub fn spans(&self) -> Vec<Span> {
        self.spans_since(0).0
    }

    /// The spans of records pushed after `cursor` (a value [`TraceStore::spans_since`] or
    /// [`TraceStore::pushed`] returned), and the cursor to pass next time. Records dropped
    /// before they were read are skipped.
    pub fn spans_since(&self, cursor: u64) -> (Vec<Span>, u64) {
        let (records, pushed) = self.records_since(cursor);
        (self.expand(&records), pushed)
    }

    /// The records pushed after `cursor` still held, and the cursor to pass next time.
    fn records_since(&self, cursor: u64) -> (Vec<Record>, u64) {
        match self.inner.ring.lock() {
            Ok(ring) => {
                let held = ring.records.len() as u64;
                let new = ring.pushed.saturating_sub(cursor).min(held) as usize;
                let skip = ring.records.len() - new;
                (
                    ring.records.iter().skip(skip).cloned().collect::<Vec<_>>(),
                    ring.pushed,
                )
            }
            Err(_) => (Vec::new(), cursor),
        }
    }

    /// The most recent `limit` traces, newest first. Only the newest records are read (a
    /// request leaves a few: the gateway's and each sidecar's), so a full ring under load
    /// costs no more than a quiet one.
    ///
    /// The window holds several times `limit` traces: only the newest `limit` of them (by
    /// their earliest record) are expanded into spans and grouped.
    pub fn traces(&self, limit: usize) -> Vec<Trace> {
        let window =
            usize::try_from((limit as u64).saturating_mul(RECORDS_PER_TRACE)).unwrap_or(usize::MAX);
        // Under the lock the requests push under: only the keys of the window, and a copy of
        // the records of its newest `limit` traces (the window holds several times as many).
        let records: Vec<Record> = match self.inner.ring.lock() {
            Ok(ring) => {
                let skip = ring.records.len().saturating_sub(window);
                let recent = || ring.records.iter().skip(skip);
                let wanted = newest(recent().map(Record::key), limit);
                recent()
                    .filter(|r| wanted.contains(&r.key().0))
                    .cloned()
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        let mut traces = group(self.expand(&records));
        traces.truncate(limit);
        traces
    }

    fn expand(&self, records: &[Record]) -> Vec<Span> {
        let epoch = self.inner.epoch_unix_nanos;
        let gateway = self.inner.gateway.get().map(|c| c.as_ref());
        let mut spans = Vec::new();
        for record in records {
            match record {
                Record::Gateway(r) => r.spans(gateway, epoch, &mut spans),
                Record::Inbound(r) => r.spans(epoch, &mut spans),
                Record::Outbound(r) => r.spans(epoch, &mut spans),
            }
        }
        spans
    }
}
