//! Serving the tcp mocks (postgres, redis): one accept loop and one connection driver shared by
//! both, each protocol being a small [`Session`] that turns received bytes into replies.
//!
//! ```text
//! TcpListener --serve--> accept loop task --one task per connection--> drive(stream, Session)
//!                          stop():     abort: port closed, connections reset
//!                          shutdown(): port closed, `closing` raised, connections finish, close
//!
//! drive:  read ─► input buffer ─► Session::feed ─► output buffer ─► write_all ─► (Close? shut down)
//! ```
//!
//! # The session contract
//!
//! - `feed` consumes the complete units at the front of `input` (all of it for an echo, whole
//!   commands for RESP), leaving a partial unit there for the next read, and appends every reply
//!   to `output` in order, so pipelined requests are answered in the order they came.
//! - A reply is written in full before the next read (backpressure: a peer that never reads stops
//!   being read).
//! - `Flow::Close` ends the connection after `output` has been written (`QUIT`, a protocol error).
//! - On a graceful shutdown a connection closes as soon as it holds no partial unit: what was
//!   fully received is answered, an idle connection is closed at once (like an idle HTTP
//!   keep-alive connection). [`crate::SHUTDOWN_GRACE`] bounds the wait.

mod postgres;
mod redis;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::config::MockKind;
use crate::server::{ACCEPT_BACKOFF, SHUTDOWN_GRACE};

/// Bytes asked for per read; a session may buffer more while a unit is incomplete.
const READ_CHUNK: usize = 8 * 1024;

/// What the driver does after a [`Session::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    Continue,
    /// Write what is in `output`, then close the connection.
    Close,
}

/// One tcp protocol, one instance per connection (see the module docs for the contract).
pub(crate) trait Session: Send + 'static {
    /// Consumes the complete units at the front of `input`, appending the replies to `output`.
    fn feed(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Flow;
}

/// A fresh session for `kind` over the mock's shared `keys` (redis), or `None` for an http mock.
fn session_for(kind: MockKind, keys: &redis::Keys) -> Option<Box<dyn Session>> {
    match kind {
        MockKind::Postgres => Some(Box::new(postgres::Echo)),
        MockKind::Redis => Some(Box::new(redis::Resp { keys: keys.clone() })),
        MockKind::ValueArchitect | MockKind::ValueCommitter => None,
    }
}

impl Session for Box<dyn Session> {
    fn feed(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Flow {
        (**self).feed(input, output)
    }
}

/// The accept loop of a tcp mock: one task per connection, all owned by a `JoinSet` so that
/// aborting this future resets them too. Returns once `stop` fires and the connections have
/// finished (at most [`SHUTDOWN_GRACE`] later).
pub(crate) async fn serve(kind: MockKind, listener: TcpListener, mut stop: oneshot::Receiver<()>) {
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    // What this mock keeps (redis' keys): as long as it runs, shared by its connections.
    let keys = redis::Keys::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small replies: do not let Nagle + delayed ACK hold them back.
                    let _ = stream.set_nodelay(true);
                    match session_for(kind, &keys) {
                        Some(session) => {
                            connections.spawn(drive(stream, session, closing_rx.clone()));
                        }
                        // `start_with` routes http kinds elsewhere; never serve them raw.
                        None => drop(stream),
                    }
                }
                Err(err) => {
                    tracing::warn!(service = kind.name(), error = %err, "mock accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut stop => break,
        }
    }
    // Close the port first, then let connections answer what they hold within the grace period.
    drop(listener);
    let _ = closing_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    // Dropping `connections` aborts whatever is still running.
}

/// Runs one connection until the peer closes, the session asks to close, or a graceful shutdown
/// finds it holding no partial unit.
async fn drive<S: Session>(
    mut stream: TcpStream,
    mut session: S,
    mut closing: watch::Receiver<bool>,
) {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::new();
    let mut draining = *closing.borrow();
    loop {
        if draining && input.is_empty() {
            break;
        }
        input.reserve(READ_CHUNK);
        tokio::select! {
            read = stream.read_buf(&mut input) => {
                // EOF or a reset: the peer is gone (a partial unit is dropped with it).
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
                let flow = session.feed(&mut input, &mut output);
                if !output.is_empty() {
                    if stream.write_all(&output).await.is_err() {
                        return;
                    }
                    output.clear();
                }
                if flow == Flow::Close {
                    break;
                }
            }
            // Only `true` is ever sent; a dropped sender also means the server is going away.
            _ = closing.changed(), if !draining => draining = true,
        }
    }
    // Send FIN after the last reply; the peer may already be gone.
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::config::{MockConfig, MockKind};
    use crate::test_support::spawn;

    async fn connect(addr: std::net::SocketAddr) -> TcpStream {
        match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(err) => panic!("connect {addr}: {err}"),
        }
    }

    /// Reads until `want` bytes arrived (or EOF), with a deadline.
    async fn read_exactly(stream: &mut TcpStream, want: usize) -> Vec<u8> {
        let mut got = vec![0u8; want];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut got)).await;
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        got
    }

    /// Reads what follows, expecting the connection to be closed (EOF or reset) soon.
    async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "connection still open after {rest:?}");
        rest
    }

    #[tokio::test]
    async fn tcp_mocks_report_their_kind_and_a_tcp_url() {
        for kind in [MockKind::Postgres, MockKind::Redis] {
            let mock = spawn(kind, MockConfig::default()).await;
            assert_eq!(mock.kind(), kind);
            assert!(mock.is_running());
            assert_eq!(mock.base_url(), format!("tcp://{}", mock.addr));
        }
    }

    #[tokio::test]
    async fn stopping_closes_the_port_and_resets_open_connections() {
        // PING's reply: the echo for postgres, `+PONG\r\n` for redis.
        for (kind, reply) in [(MockKind::Postgres, 6), (MockKind::Redis, 7)] {
            let mock = spawn(kind, MockConfig::default()).await;
            let addr = mock.addr;
            let mut stream = connect(addr).await;
            // A first exchange proves the connection was taken by the server.
            assert!(stream.write_all(b"PING\r\n").await.is_ok());
            let _ = read_exactly(&mut stream, reply).await;
            mock.stop().await;
            assert!(TcpStream::connect(addr).await.is_err(), "{kind} port open");
            let mut buf = [0u8; 16];
            let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
            assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{kind}: {read:?}");
        }
    }

    #[tokio::test]
    async fn shutting_down_answers_what_was_received_then_closes_idle_connections() {
        let mock = spawn(MockKind::Redis, MockConfig::default()).await;
        let addr = mock.addr;
        let mut idle = connect(addr).await;
        assert!(idle.write_all(b"PING\r\n").await.is_ok());
        assert_eq!(read_exactly(&mut idle, 7).await, b"+PONG\r\n");
        tokio::time::timeout(Duration::from_secs(2), mock.shutdown())
            .await
            .unwrap_or_else(|_| panic!("shutdown waited for an idle connection"));
        assert!(TcpStream::connect(addr).await.is_err());
        assert!(read_to_close(&mut idle).await.is_empty());
    }

    #[tokio::test]
    async fn shutting_down_waits_for_a_partial_command_within_the_grace() {
        let mock = spawn(MockKind::Redis, MockConfig::default()).await;
        let mut stream = connect(mock.addr).await;
        assert!(stream
            .write_all(b"PING\r\n*2\r\n$4\r\nECHO\r\n")
            .await
            .is_ok());
        assert_eq!(read_exactly(&mut stream, 7).await, b"+PONG\r\n");
        let shutdown = tokio::spawn(mock.shutdown());
        // The half-sent ECHO is still answered, then the connection closes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(stream.write_all(b"$2\r\nhi\r\n").await.is_ok());
        assert_eq!(read_to_close(&mut stream).await, b"$2\r\nhi\r\n");
        let done = tokio::time::timeout(Duration::from_secs(2), shutdown).await;
        assert!(matches!(done, Ok(Ok(()))), "{done:?}");
    }

    #[tokio::test]
    async fn a_stopped_tcp_port_can_be_served_again() {
        let mock = spawn(MockKind::Postgres, MockConfig::default()).await;
        let addr = mock.addr;
        mock.stop().await;
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(err) => panic!("cannot rebind {addr}: {err}"),
        };
        let again = crate::start(MockKind::Postgres, listener, MockConfig::default()).await;
        let mut stream = connect(again.addr).await;
        assert!(stream.write_all(b"again").await.is_ok());
        assert_eq!(read_exactly(&mut stream, 5).await, b"again");
    }
}
