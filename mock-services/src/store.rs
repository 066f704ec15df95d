//! value-committer's data stores: each created commitment is written to **postgres** (the
//! record) and **redis** (what reads are served from), over raw tcp, one connection per
//! operation, each bounded by [`crate::MockOptions::store_timeout`].
//!
//! ```text
//! create ─► postgres: `INSERT ... ;\n` ──────────► wait for the same bytes back (the echo mock)
//!        └► redis:    SET commitment:<id> <json> ─► wait for +OK
//! read   ─► redis:    GET commitment:<id> ───────► bulk (the stored commitment) | $-1 (not there)
//! ```
//!
//! In a stack the addresses are value-committer's local mesh upstream listeners, so every byte
//! crosses the links `value-committer->postgres` and `value-committer->redis`: a toxic on them is
//! what the committer's clients see. Any failure — refused, reset, closed early, a wrong reply, or
//! nothing within the timeout — is a [`StoreError`] naming the store; the committer answers 503.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::MockError;

/// Longest redis value read back (a commitment is a few hundred bytes).
const MAX_VALUE: usize = 64 * 1024;

/// Which store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    Postgres,
    Redis,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Postgres => "postgres",
            StoreKind::Redis => "redis",
        }
    }
}

/// Why a store operation failed: `redis: connection refused`, `postgres: no reply within 10s`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", store.name())]
pub(crate) struct StoreError {
    pub store: StoreKind,
    pub detail: String,
}

/// One configured store: its `host:port` and the time budget of one operation.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    kind: StoreKind,
    addr: String,
    timeout: Duration,
}

/// Checks a store URL (`tcp://host:port`, or a bare `host:port`) and returns `host:port`.
///
/// # Errors
/// [`MockError::InvalidUpstreamUrl`] naming `setting`.
pub(crate) fn parse_store_url(setting: &'static str, url: &str) -> Result<String, MockError> {
    let reject = |reason: &str| MockError::InvalidUpstreamUrl {
        setting,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = match url.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some(_) => return Err(reject("only tcp:// is supported")),
        None => url,
    };
    let rest = rest.trim_end_matches('/');
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(reject("a host and port are required"));
    };
    if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
        return Err(reject("a host and port are required"));
    }
    Ok(rest.to_owned())
}

impl Store {
    /// A store of `kind` at `url` (see [`parse_store_url`]).
    ///
    /// # Errors
    /// As [`parse_store_url`].
    pub(crate) fn new(
        kind: StoreKind,
        setting: &'static str,
        url: &str,
        timeout: Duration,
    ) -> Result<Store, MockError> {
        Ok(Store {
            kind,
            addr: parse_store_url(setting, url)?,
            timeout,
        })
    }

    fn error(&self, detail: impl Into<String>) -> StoreError {
        StoreError {
            store: self.kind,
            detail: detail.into(),
        }
    }

    /// Runs `exchange` on a fresh connection within the timeout.
    async fn with_connection<T, F>(
        &self,
        exchange: impl FnOnce(TcpStream) -> F,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, String>>,
    {
        let run = async {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| connect_error(&e))?;
            let _ = stream.set_nodelay(true);
            exchange(stream).await
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(result) => result.map_err(|detail| self.error(detail)),
            Err(_) => Err(self.error(format!("no reply within {:?}", self.timeout))),
        }
    }

    /// postgres: writes `statement` and waits until the same bytes came back (the mock echoes;
    /// a database would acknowledge).
    pub(crate) async fn write_record(&self, statement: &[u8]) -> Result<(), StoreError> {
        self.with_connection(|mut stream| async move {
            stream.write_all(statement).await.map_err(io_error)?;
            let mut echoed = vec![0u8; statement.len()];
            stream
                .read_exact(&mut echoed)
                .await
                .map_err(|e| closed_or(&e))?;
            if echoed != statement {
                return Err("acknowledged other bytes than were sent".to_owned());
            }
            let _ = stream.shutdown().await;
            Ok(())
        })
        .await
    }

    /// redis: `SET key value`, expecting `+OK`.
    pub(crate) async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let command = resp_command(&[b"SET", key.as_bytes(), value]);
        self.with_connection(|stream| async move {
            let mut stream = BufReader::new(stream);
            stream.write_all(&command).await.map_err(io_error)?;
            let line = read_line(&mut stream).await?;
            if line != "+OK" {
                return Err(format!("unexpected reply {line:?} to SET"));
            }
            Ok(())
        })
        .await
    }

    /// redis: `GET key` — the value, or `None` for redis' null bulk.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let command = resp_command(&[b"GET", key.as_bytes()]);
        self.with_connection(|stream| async move {
            let mut stream = BufReader::new(stream);
            stream.write_all(&command).await.map_err(io_error)?;
            let line = read_line(&mut stream).await?;
            let Some(len) = line.strip_prefix('$') else {
                return Err(format!("unexpected reply {line:?} to GET"));
            };
            let len: i64 = len
                .parse()
                .map_err(|_| format!("unexpected reply {line:?} to GET"))?;
            if len < 0 {
                return Ok(None);
            }
            let len = usize::try_from(len)
                .ok()
                .filter(|len| *len <= MAX_VALUE)
                .ok_or_else(|| format!("value of {len} bytes is too large"))?;
            let mut value = vec![0u8; len + 2];
            stream
                .read_exact(&mut value)
                .await
                .map_err(|e| closed_or(&e))?;
            value.truncate(len);
            Ok(Some(value))
        })
        .await
    }
}

/// A RESP array of bulk strings.
fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One reply line without its CRLF; EOF before it is "connection closed".
async fn read_line(stream: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = Vec::new();
    let read = (&mut *stream)
        .take(1024)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| closed_or(&e))?;
    if read == 0 || !line.ends_with(b"\n") {
        return Err("connection closed before the reply".to_owned());
    }
    let text = String::from_utf8_lossy(&line);
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn connect_error(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        _ => format!("cannot connect: {err}"),
    }
}

fn io_error(err: std::io::Error) -> String {
    closed_or(&err)
}

/// EOF, a reset and a broken pipe all read as the peer closing the connection (which of them a
/// closing peer causes is a race of the two sockets, not something a client can act on);
/// anything else keeps its text.
fn closed_or(err: &std::io::Error) -> String {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    match err.kind() {
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
            "connection closed before the reply".to_owned()
        }
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MockConfig, MockKind};
    use crate::test_support::{closed_port, spawn};

    fn store(kind: StoreKind, url: &str, timeout: Duration) -> Store {
        match Store::new(kind, "redis_url", url, timeout) {
            Ok(store) => store,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn store_urls_are_tcp_host_port() {
        assert_eq!(
            parse_store_url("redis_url", "tcp://127.0.0.1:6379").ok(),
            Some("127.0.0.1:6379".to_owned())
        );
        assert_eq!(
            parse_store_url("redis_url", "localhost:5432").ok(),
            Some("localhost:5432".to_owned())
        );
        for bad in ["http://127.0.0.1:1", "tcp://127.0.0.1", "tcp://:1", "x:y"] {
            assert!(parse_store_url("redis_url", bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn redis_set_then_get_round_trips_and_a_missing_key_is_none() {
        let redis = spawn(MockKind::Redis, MockConfig::default()).await;
        let store = store(StoreKind::Redis, &redis.base_url(), Duration::from_secs(2));
        assert_eq!(store.set("commitment:1", b"{\"a\":1}\r\n").await, Ok(()));
        assert_eq!(
            store.get("commitment:1").await,
            Ok(Some(b"{\"a\":1}\r\n".to_vec()))
        );
        assert_eq!(store.get("commitment:2").await, Ok(None));
    }

    #[tokio::test]
    async fn postgres_write_waits_for_the_echo() {
        let postgres = spawn(MockKind::Postgres, MockConfig::default()).await;
        let store = store(
            StoreKind::Postgres,
            &postgres.base_url(),
            Duration::from_secs(2),
        );
        assert_eq!(store.write_record(b"INSERT 1;\n").await, Ok(()));
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_naming_the_store() {
        let store = store(
            StoreKind::Redis,
            &closed_port().to_string(),
            Duration::from_secs(2),
        );
        let err = store.set("k", b"v").await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("redis: connection refused"));
    }

    #[tokio::test]
    async fn a_silent_store_times_out() {
        // Accepts and never answers.
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => panic!("{err}"),
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        let store = store(StoreKind::Postgres, &addr, Duration::from_millis(100));
        let err = store.write_record(b"x").await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("postgres: no reply within 100ms"));
        held.abort();
    }
}
