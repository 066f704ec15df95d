//! Links (SPEC §7.1): every TCP hop of a stack, named `<source>-><destination>`, with Toxiproxy's
//! toxics on the bytes it carries.
//!
//! ```text
//!   client ──client->gateway──► gateway ──gateway->value-architect──► value-architect's sidecar
//!                                         value-committer's sidecar ──value-committer->redis──► redis's sidecar
//!
//!   one hop:   caller code ◄──► LinkStream ◄──► TcpStream ◄──► peer
//!                                  │ no toxic, enabled: reads and writes go straight to the socket
//!                                  └ otherwise: a pump per direction runs the toxic chain (pump.rs)
//! ```
//! A link is not an extra proxy: the socket of one end of the hop is wrapped in a [`LinkStream`]
//! in process (the gateway's accepted and dialled sockets, each sidecar's dialled socket, under
//! TLS where the hop is inside the mesh). While a link has no toxic the wrapper only reads one
//! atomic per call; the first toxic (or a disable) moves each open connection onto pumps at once.
//!
//! - [`toxic`] — toxic types and Toxiproxy's JSON; [`stream`] — the wrapper; [`pump`] — the toxic
//!   chain of one direction; [`pipe`] — the in-process byte queue between wrapper and pumps;
//!   [`proxy`] — extra links to loopback processes (`POST /proxies`).
//! - The Toxiproxy HTTP API over a stack's [`Links`] is [`crate::api::toxiproxy`].

pub mod pipe;
pub mod proxy;
pub mod pump;
pub mod stream;
pub mod toxic;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use serde_json::{json, Value};

use crate::clock::StackClock;
use crate::seed::derive_seed;
pub use stream::{LinkStream, Side};
pub use toxic::{Stream, Toxic, ToxicKind};

/// What the links API refuses, with Toxiproxy's status and message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("bad request body: {0}")]
    BadBody(String),
    #[error("missing required field: {0}")]
    MissingField(&'static str),
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    #[error("invalid toxic type: {0:?} (one of latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, noop)")]
    InvalidType(String),
    #[error("toxic already exists")]
    ToxicExists,
    #[error("toxic not found")]
    ToxicNotFound,
    #[error("proxy not found")]
    ProxyNotFound,
    #[error("proxy already exists")]
    ProxyExists,
    /// A change a link of the stack cannot take (moving or deleting a hop of the stack).
    #[error("{0}")]
    Conflict(String),
    /// Binding or another system error.
    #[error("{0}")]
    Internal(String),
}

impl LinkError {
    /// Toxiproxy's HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            LinkError::BadBody(_)
            | LinkError::MissingField(_)
            | LinkError::InvalidStream
            | LinkError::InvalidType(_) => 400,
            LinkError::ToxicNotFound | LinkError::ProxyNotFound => 404,
            LinkError::ToxicExists | LinkError::ProxyExists | LinkError::Conflict(_) => 409,
            LinkError::Internal(_) => 500,
        }
    }
}

/// A toxic on a link, with the version its open connections compare to know it changed.
#[derive(Debug, Clone)]
pub struct ToxicSlot {
    pub toxic: Toxic,
    pub version: u64,
}

#[derive(Debug)]
struct LinkState {
    enabled: bool,
    /// In the order added (Toxiproxy's chain).
    toxics: Arc<Vec<ToxicSlot>>,
    listen: String,
    upstream: String,
}

/// What was put on one link over its life: the report's record of a scenario's network faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkHistory {
    /// Every toxic added, in the order added, with the values it last had (an update replaces
    /// them; a removed toxic stays listed).
    pub toxics: Vec<Toxic>,
    /// Whether the link was ever disabled.
    pub disabled: bool,
}

/// The wakers of one open connection, so a change reaches it even while it waits on its socket.
#[derive(Debug, Default)]
pub(crate) struct ConnWakers {
    pub read: futures::task::AtomicWaker,
    pub write: futures::task::AtomicWaker,
}

/// One hop: its toxics, whether it is up, and its open connections.
#[derive(Debug)]
pub struct Link {
    name: String,
    /// Part of the stack (not made by `POST /proxies`): never moved or deleted.
    builtin: bool,
    state: RwLock<LinkState>,
    /// Disabled or with a toxic: connections must leave the fast path.
    active: AtomicBool,
    /// Bumped on every change; pumps wait on it.
    generation: tokio::sync::watch::Sender<u64>,
    conns: Mutex<Vec<Weak<ConnWakers>>>,
    next_conn: AtomicU64,
    next_version: AtomicU64,
    /// Connections opened so far.
    opened: AtomicU64,
    /// What was ever put on the link (for the report): every toxic added, as last set, and
    /// whether it was ever disabled.
    history: Mutex<LinkHistory>,
    seed: u64,
    clock: StackClock,
}

impl Link {
    fn new(
        name: &str,
        listen: String,
        upstream: String,
        builtin: bool,
        seed: u64,
        clock: StackClock,
    ) -> Link {
        Link {
            name: name.to_string(),
            builtin,
            state: RwLock::new(LinkState {
                enabled: true,
                toxics: Arc::new(Vec::new()),
                listen,
                upstream,
            }),
            active: AtomicBool::new(false),
            generation: tokio::sync::watch::Sender::new(0),
            conns: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(0),
            next_version: AtomicU64::new(1),
            opened: AtomicU64::new(0),
            history: Mutex::new(LinkHistory::default()),
            seed: derive_seed(seed, &["link", name]),
            clock,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    pub fn clock(&self) -> &StackClock {
        &self.clock
    }

    pub fn is_enabled(&self) -> bool {
        self.read().enabled
    }

    /// The toxics in chain order.
    pub fn toxics(&self) -> Arc<Vec<ToxicSlot>> {
        self.read().toxics.clone()
    }

    /// Connections opened through this link so far.
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    pub fn listen(&self) -> String {
        self.read().listen.clone()
    }

    pub fn upstream(&self) -> String {
        self.read().upstream.clone()
    }

    /// Every toxic ever added and whether the link was ever down.
    pub fn history(&self) -> LinkHistory {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remember(&self, f: impl FnOnce(&mut LinkHistory)) {
        f(&mut self.history.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Whether connections must leave the fast path (disabled, or some toxic).
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The seed of one connection's toxicity rolls and jitter.
    pub(crate) fn connection_seed(&self, conn: u64) -> u64 {
        derive_seed(self.seed, &[&conn.to_string()])
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, LinkState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn change<T>(
        &self,
        f: impl FnOnce(&mut LinkState) -> Result<T, LinkError>,
    ) -> Result<T, LinkError> {
        let out = {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            let out = f(&mut state)?;
            self.active.store(
                !state.enabled || !state.toxics.is_empty(),
                Ordering::Release,
            );
            out
        };
        self.generation.send_modify(|g| *g += 1);
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for conn in conns.iter().filter_map(Weak::upgrade) {
            conn.read.wake();
            conn.write.wake();
        }
        Ok(out)
    }

    /// Registers a new connection: its number (for its seed) and its wakers.
    pub(crate) fn register(&self) -> (u64, Arc<ConnWakers>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
        let wakers = Arc::new(ConnWakers::default());
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if conns.len() >= 64 && conns.len().is_power_of_two() {
            conns.retain(|w| w.strong_count() > 0);
        }
        conns.push(Arc::downgrade(&wakers));
        (id, wakers)
    }

    /// Enables or disables the link. Disabled: new connections are refused, open ones closed.
    pub fn set_enabled(&self, enabled: bool) {
        let _ = self.change(|s| {
            s.enabled = enabled;
            Ok(())
        });
        if !enabled {
            self.remember(|h| h.disabled = true);
        }
    }

    /// Appends a toxic to the chain.
    ///
    /// # Errors
    /// [`LinkError::ToxicExists`] when a toxic of that name is on the link (either stream).
    pub fn add_toxic(&self, toxic: Toxic) -> Result<Toxic, LinkError> {
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        let added = self.change(|s| {
            if s.toxics.iter().any(|t| t.toxic.name == toxic.name) {
                return Err(LinkError::ToxicExists);
            }
            let mut toxics = (*s.toxics).clone();
            toxics.push(ToxicSlot {
                toxic: toxic.clone(),
                version,
            });
            s.toxics = Arc::new(toxics);
            Ok(toxic)
        })?;
        self.remember(|h| h.toxics.push(added.clone()));
        Ok(added)
    }

    /// Adds a toxic from Toxiproxy's JSON.
    ///
    /// # Errors
    /// As [`Toxic::from_json`] and [`Link::add_toxic`].
    pub fn add_toxic_json(&self, body: &[u8]) -> Result<Toxic, LinkError> {
        self.add_toxic(Toxic::from_json(body)?)
    }

    /// A toxic by name.
    ///
    /// # Errors
    /// [`LinkError::ToxicNotFound`].
    pub fn toxic(&self, name: &str) -> Result<Toxic, LinkError> {
        self.read()
            .toxics
            .iter()
            .find(|t| t.toxic.name == name)
            .map(|t| t.toxic.clone())
            .ok_or(LinkError::ToxicNotFound)
    }

    /// Updates a toxic in place (its position in the chain is kept).
    ///
    /// # Errors
    /// [`LinkError::ToxicNotFound`], or what `update` refuses.
    pub fn update_toxic(
        &self,
        name: &str,
        update: impl FnOnce(&Toxic) -> Result<Toxic, LinkError>,
    ) -> Result<Toxic, LinkError> {
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        self.change(|s| {
            let mut toxics = (*s.toxics).clone();
            let slot = toxics
                .iter_mut()
                .find(|t| t.toxic.name == name)
                .ok_or(LinkError::ToxicNotFound)?;
            let next = update(&slot.toxic)?;
            *slot = ToxicSlot {
                toxic: next.clone(),
                version,
            };
            s.toxics = Arc::new(toxics);
            Ok(next)
        })
        .inspect(|next| {
            self.remember(|h| {
                if let Some(seen) = h.toxics.iter_mut().rev().find(|t| t.name == next.name) {
                    *seen = next.clone();
                }
            });
        })
    }

    /// Removes one toxic; the others stay.
    ///
    /// # Errors
    /// [`LinkError::ToxicNotFound`].
    pub fn remove_toxic(&self, name: &str) -> Result<(), LinkError> {
        self.change(|s| {
            if !s.toxics.iter().any(|t| t.toxic.name == name) {
                return Err(LinkError::ToxicNotFound);
            }
            s.toxics = Arc::new(
                s.toxics
                    .iter()
                    .filter(|t| t.toxic.name != name)
                    .cloned()
                    .collect(),
            );
            Ok(())
        })
    }

    /// Enables the link and removes every toxic (`POST /reset`).
    pub fn reset(&self) {
        let _ = self.change(|s| {
            s.enabled = true;
            s.toxics = Arc::new(Vec::new());
            Ok(())
        });
    }

    /// Toxiproxy's JSON for this link (a proxy): upstream toxics, then downstream, in chain order.
    pub fn to_json(&self) -> Value {
        let state = self.read();
        let toxics: Vec<Value> = [Stream::Upstream, Stream::Downstream]
            .iter()
            .flat_map(|stream| {
                state
                    .toxics
                    .iter()
                    .filter(move |t| t.toxic.stream == *stream)
                    .map(|t| t.toxic.to_json())
            })
            .collect();
        json!({
            "name": self.name,
            "listen": state.listen,
            "upstream": state.upstream,
            "enabled": state.enabled,
            "toxics": toxics,
        })
    }

    /// Moves an extra link (only those made by `POST /proxies`).
    pub(crate) fn set_addresses(&self, listen: String, upstream: String) {
        let _ = self.change(|s| {
            s.listen = listen;
            s.upstream = upstream;
            Ok(())
        });
    }
}

/// The links of one stack, by name.
#[derive(Debug, Clone)]
pub struct Links {
    inner: Arc<LinksInner>,
}

#[derive(Debug)]
struct LinksInner {
    links: RwLock<BTreeMap<String, Arc<Link>>>,
    /// Extra links' listeners (`POST /proxies`), by name.
    proxies: Mutex<BTreeMap<String, proxy::ExtraProxy>>,
    seed: u64,
    clock: StackClock,
}

impl Links {
    /// No links yet; toxicity rolls and jitter draw from `seed`, timers read `clock`.
    pub fn new(seed: u64, clock: StackClock) -> Links {
        Links {
            inner: Arc::new(LinksInner {
                links: RwLock::new(BTreeMap::new()),
                proxies: Mutex::new(BTreeMap::new()),
                seed,
                clock,
            }),
        }
    }

    pub fn clock(&self) -> &StackClock {
        &self.inner.clock
    }

    /// Declares a hop of the stack: `listen` is where its connections go in, `upstream` where
    /// they lead. Declaring a name twice returns the existing link.
    pub fn declare(&self, name: &str, listen: SocketAddr, upstream: SocketAddr) -> Arc<Link> {
        let mut links = self.write();
        links
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Link::new(
                    name,
                    listen.to_string(),
                    upstream.to_string(),
                    true,
                    self.inner.seed,
                    self.inner.clock.clone(),
                ))
            })
            .clone()
    }

    /// A link by name.
    ///
    /// # Errors
    /// [`LinkError::ProxyNotFound`].
    pub fn get(&self, name: &str) -> Result<Arc<Link>, LinkError> {
        self.read()
            .get(name)
            .cloned()
            .ok_or(LinkError::ProxyNotFound)
    }

    /// Every link, by name.
    pub fn all(&self) -> Vec<Arc<Link>> {
        self.read().values().cloned().collect()
    }

    /// Every link's name.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Enables every link and removes every toxic (`POST /reset`).
    pub async fn reset(&self) {
        for link in self.all() {
            link.reset();
        }
        proxy::restart_disabled(self).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Link>>> {
        self.inner.links.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Link>>> {
        self.inner.links.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn new_extra(&self, name: &str, listen: String, upstream: String) -> Arc<Link> {
        Arc::new(Link::new(
            name,
            listen,
            upstream,
            false,
            self.inner.seed,
            self.inner.clock.clone(),
        ))
    }

    pub(crate) fn insert(&self, link: Arc<Link>) -> Result<(), LinkError> {
        let mut links = self.write();
        if links.contains_key(link.name()) {
            return Err(LinkError::ProxyExists);
        }
        links.insert(link.name().to_string(), link);
        Ok(())
    }

    pub(crate) fn forget(&self, name: &str) {
        self.write().remove(name);
    }

    pub(crate) fn proxies(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, proxy::ExtraProxy>> {
        self.inner.proxies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The link name of a hop.
pub fn link_name(source: &str, destination: &str) -> String {
    format!("{source}->{destination}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Arc<Link> {
        let links = Links::new(1, StackClock::new());
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        links.declare("gateway->value-architect", addr, addr)
    }

    #[test]
    fn toxics_keep_their_order_and_names_are_unique_across_streams() {
        let link = link();
        link.add_toxic_json(br#"{"name":"a","type":"latency","stream":"downstream"}"#)
            .expect("a");
        link.add_toxic_json(br#"{"name":"b","type":"timeout","stream":"upstream"}"#)
            .expect("b");
        link.add_toxic_json(br#"{"name":"c","type":"noop"}"#)
            .expect("c");
        assert_eq!(
            link.add_toxic_json(br#"{"name":"a","type":"noop","stream":"upstream"}"#),
            Err(LinkError::ToxicExists)
        );
        let json = link.to_json();
        let names: Vec<&str> = json["toxics"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names, ["b", "a", "c"], "upstream first, then downstream");
        link.remove_toxic("a").expect("removed");
        assert_eq!(link.remove_toxic("a"), Err(LinkError::ToxicNotFound));
        assert!(link.is_active());
        link.reset();
        assert!(!link.is_active());
        assert!(link.toxics().is_empty());
    }

    #[test]
    fn the_history_keeps_every_toxic_added_as_last_set_and_a_disable() {
        let link = link();
        link.add_toxic_json(br#"{"name":"slow","type":"latency","attributes":{"latency":10}}"#)
            .expect("slow");
        link.update_toxic("slow", |t| {
            let mut next = t.clone();
            next.kind = ToxicKind::Latency {
                latency: 20,
                jitter: 0,
            };
            Ok(next)
        })
        .expect("updated");
        link.remove_toxic("slow").expect("removed");
        link.add_toxic_json(br#"{"type":"noop"}"#).expect("noop");
        link.reset();
        assert!(!link.history().disabled);
        link.set_enabled(false);
        let history = link.history();
        assert!(history.disabled);
        let names: Vec<&str> = history.toxics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["slow", "noop_downstream"]);
        assert_eq!(
            history.toxics[0].kind,
            ToxicKind::Latency {
                latency: 20,
                jitter: 0
            }
        );
    }

    #[test]
    fn a_disabled_link_is_active_until_enabled() {
        let link = link();
        link.set_enabled(false);
        assert!(link.is_active());
        assert!(!link.to_json()["enabled"].as_bool().expect("bool"));
        link.set_enabled(true);
        assert!(!link.is_active());
    }
}
