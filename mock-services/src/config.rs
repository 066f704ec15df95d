//! What a mock is and how it is configured: the service kind, its peer addresses
//! ([`MockConfig`]), its tuning and the wall clock its timestamps come from ([`MockOptions`]), and
//! the errors raised while validating them.
//!
//! ```text
//! MockConfig (raw URLs) + MockOptions --upstream::Peer::configure--> Ready(client) | Invalid(reason)
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Default time budget of one outbound call (committer → architect, architect → committer).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time budget of one data store operation of value-committer (connect, send, the whole
/// reply): a store slower than this is a store that is gone. Well under the gateway's 30 s read
/// timeout, so the client gets the committer's 503 and not a 504; not much under the architect
/// call's budget, so a loaded machine's scheduling never passes for a slow store (2 s did, in a
/// loaded e2e run).
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which mock service to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MockKind {
    /// Keeps value models (CRUD) and can publish them to value-committer.
    ValueArchitect,
    /// Keeps commitments; fetches their value model from value-architect on creation.
    ValueCommitter,
    /// A tcp stand-in for the database: every byte received is written back.
    Postgres,
    /// A minimal RESP server: `PING`, `ECHO`, `QUIT`.
    Redis,
}

/// What a mock speaks on its port (the `protocol:` of its `stack.yml` service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MockProtocol {
    /// HTTP/1.1 and HTTP/2 (the JSON services).
    Http,
    /// Raw tcp (the data stores).
    Tcp,
}

impl MockProtocol {
    /// `http` or `tcp`, as written in `stack.yml`.
    pub fn name(self) -> &'static str {
        match self {
            MockProtocol::Http => "http",
            MockProtocol::Tcp => "tcp",
        }
    }
}

impl fmt::Display for MockProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl MockKind {
    /// Every kind, in a stable order (http mocks first).
    pub const ALL: [MockKind; 4] = [
        MockKind::ValueArchitect,
        MockKind::ValueCommitter,
        MockKind::Postgres,
        MockKind::Redis,
    ];

    /// The service name as used in `stack.yml`, intentions and JSON bodies.
    pub fn name(self) -> &'static str {
        match self {
            MockKind::ValueArchitect => "value-architect",
            MockKind::ValueCommitter => "value-committer",
            MockKind::Postgres => "postgres",
            MockKind::Redis => "redis",
        }
    }

    /// What this mock speaks on its port.
    pub fn protocol(self) -> MockProtocol {
        match self {
            MockKind::ValueArchitect | MockKind::ValueCommitter => MockProtocol::Http,
            MockKind::Postgres | MockKind::Redis => MockProtocol::Tcp,
        }
    }
}

impl fmt::Display for MockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MockKind {
    type Err = MockError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MockKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| MockError::UnknownKind(s.to_owned()))
    }
}

/// Where `created_at`/`updated_at` timestamps come from.
///
/// Defaults to the system wall clock; the harness passes its stack clock's wall time so that
/// timestamps move with clock jumps.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl WallClock {
    /// The operating system's wall clock.
    pub fn system() -> Self {
        WallClock(Arc::new(system_now))
    }

    /// A clock read through `now` (e.g. `move || stack_clock.wall()`).
    pub fn from_fn(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        WallClock(Arc::new(now))
    }

    /// The current time of this clock.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::system()
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WallClock(..)")
    }
}

// The mocks only print timestamps into JSON bodies; no policy timer reads this. Standalone
// (`mock-service` binary) the system clock is the right source; in a stack the harness injects its
// stack clock through `WallClock::from_fn`.
#[allow(clippy::disallowed_methods)]
fn system_now() -> SystemTime {
    SystemTime::now()
}

/// Where a mock finds its peer. Only plain `http://host:port[/prefix]` URLs are usable; check
/// with [`MockConfig::validate`]. A mock started with an unusable URL still serves, and answers the
/// requests that need the peer with 503 naming the problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockConfig {
    /// Base URL of value-architect (in a stack, the committer's local mesh upstream listener,
    /// e.g. `http://127.0.0.1:9191`). Used by value-committer only.
    pub architect_url: Option<String>,
    /// Base URL of value-committer. Used by value-architect's `publish` only.
    pub committer_url: Option<String>,
    /// Where value-committer's redis is (`tcp://host:port`; in a stack its local mesh upstream
    /// listener). When set, each created commitment is `SET` there and reads `GET` it.
    pub redis_url: Option<String>,
    /// Where value-committer's postgres is (`tcp://host:port`). When set, each created
    /// commitment is written there first.
    pub postgres_url: Option<String>,
}

impl MockConfig {
    /// Sets [`MockConfig::architect_url`].
    pub fn with_architect_url(mut self, url: impl Into<String>) -> Self {
        self.architect_url = Some(url.into());
        self
    }

    /// Sets [`MockConfig::committer_url`].
    pub fn with_committer_url(mut self, url: impl Into<String>) -> Self {
        self.committer_url = Some(url.into());
        self
    }

    /// Sets [`MockConfig::redis_url`].
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// Sets [`MockConfig::postgres_url`].
    pub fn with_postgres_url(mut self, url: impl Into<String>) -> Self {
        self.postgres_url = Some(url.into());
        self
    }

    /// Checks every URL that is set.
    ///
    /// # Errors
    /// [`MockError::InvalidUpstreamUrl`] for the first unusable one.
    pub fn validate(&self) -> Result<(), MockError> {
        if let Some(url) = &self.architect_url {
            crate::upstream::parse_base_url("architect_url", url)?;
        }
        if let Some(url) = &self.committer_url {
            crate::upstream::parse_base_url("committer_url", url)?;
        }
        if let Some(url) = &self.redis_url {
            crate::store::parse_store_url("redis_url", url)?;
        }
        if let Some(url) = &self.postgres_url {
            crate::store::parse_store_url("postgres_url", url)?;
        }
        Ok(())
    }
}

/// Tuning that scenarios rarely change; [`MockOptions::default`] is what `start` uses.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Time budget of one outbound call, connect to last body byte
    /// (default [`DEFAULT_UPSTREAM_TIMEOUT`]).
    pub upstream_timeout: Duration,
    /// Time budget of one data store operation of value-committer (default
    /// [`DEFAULT_STORE_TIMEOUT`]); past it the committer answers 503.
    pub store_timeout: Duration,
    /// Source of the timestamps written into models, commitments and sync records
    /// (default: the system clock).
    pub wall_clock: WallClock,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            wall_clock: WallClock::system(),
        }
    }
}

/// Errors raised while building or starting a mock.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error(
        "unknown mock service `{0}` (expected value-architect, value-committer, postgres or redis)"
    )]
    UnknownKind(String),
    #[error("invalid {setting} `{url}`: {reason}")]
    InvalidUpstreamUrl {
        setting: &'static str,
        url: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds_by_their_service_names() {
        for kind in MockKind::ALL {
            assert_eq!(kind.name().parse::<MockKind>().ok(), Some(kind));
        }
    }

    #[test]
    fn rejects_an_unknown_kind_naming_the_valid_ones() {
        let err = "value-auditor".parse::<MockKind>().err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("value-auditor"), "{message}");
        assert!(
            message.contains("value-architect, value-committer, postgres or redis"),
            "{message}"
        );
    }

    #[test]
    fn data_stores_speak_tcp_and_services_http() {
        let tcp: Vec<MockKind> = MockKind::ALL
            .into_iter()
            .filter(|kind| kind.protocol() == MockProtocol::Tcp)
            .collect();
        assert_eq!(tcp, [MockKind::Postgres, MockKind::Redis]);
        assert_eq!(MockKind::ValueArchitect.protocol().to_string(), "http");
    }

    #[test]
    fn validate_names_the_setting_with_the_unusable_url() {
        let config = MockConfig::default()
            .with_architect_url("http://127.0.0.1:9001")
            .with_committer_url("ftp://127.0.0.1:9002");
        let message = config
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            message,
            "invalid committer_url `ftp://127.0.0.1:9002`: only http:// is supported"
        );
    }

    #[test]
    fn injected_wall_clock_is_what_now_returns() {
        let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = WallClock::from_fn(move || fixed);
        assert_eq!(clock.now(), fixed);
    }
}
