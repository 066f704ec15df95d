//! The **redis** mock: a minimal RESP server, enough for a client's health check and for
//! scenarios that prove a command crosses the mesh.
//!
//! | Command | Reply |
//! |---|---|
//! | `PING` | `+PONG` |
//! | `PING msg` | bulk string `msg` |
//! | `ECHO msg` | bulk string `msg` |
//! | `SET key value` | `+OK` (the value is kept for every connection of this mock; options after the value are ignored) |
//! | `GET key` | bulk string, or the null bulk `$-1` when the key was never set |
//! | `QUIT` | `+OK`, then the connection is closed |
//! | anything else | `-ERR unknown command '<name>'` |
//!
//! Commands come as RESP arrays of bulk strings (`*1\r\n$4\r\nPING\r\n`, what clients send) or
//! inline (`PING\r\n`, what `telnet`/`nc` users type); names are case-insensitive. Pipelined
//! commands are answered in order. A malformed request gets `-ERR Protocol error: ...` and the
//! connection is closed, as Redis does. The keys live as long as the mock: a restarted redis
//! starts empty, as a Redis without persistence does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, BytesMut};

use super::{Flow, Session};

/// Longest inline command or `*`/`$` header line accepted (Redis' `PROTO_INLINE_MAX_SIZE`).
const MAX_INLINE: usize = 64 * 1024;
/// Most arguments in one command (a mock needs few; this bounds what one request can buffer).
const MAX_ARGS: usize = 1024;
/// Longest bulk string accepted.
const MAX_BULK: usize = 1024 * 1024;
/// Longest command name echoed back in an error.
const MAX_NAME_IN_ERROR: usize = 128;

/// The keys of one redis mock, shared by its connections.
pub(crate) type Keys = Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>;

/// One connection's RESP state: the mock's keys (the driver keeps the input buffer).
#[derive(Debug, Default)]
pub(crate) struct Resp {
    pub(crate) keys: Keys,
}

impl Session for Resp {
    fn feed(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Flow {
        loop {
            match parse(input) {
                Ok(None) => return Flow::Continue,
                Ok(Some((args, used))) => {
                    input.advance(used);
                    // An empty inline line or an empty array is no command at all.
                    if !args.is_empty() && self.execute(&args, output) == Flow::Close {
                        return Flow::Close;
                    }
                }
                Err(message) => {
                    output.extend_from_slice(
                        format!("-ERR Protocol error: {message}\r\n").as_bytes(),
                    );
                    input.clear();
                    return Flow::Close;
                }
            }
        }
    }
}

/// Arguments of one command and the bytes it took.
type Parsed = (Vec<Vec<u8>>, usize);

/// The first command in `buf`: `Ok(None)` while it is incomplete.
fn parse(buf: &[u8]) -> Result<Option<Parsed>, String> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buf),
        Some(_) => parse_inline(buf),
    }
}

/// `PING\r\n`, `ECHO hello\n`: words separated by spaces, up to a newline.
fn parse_inline(buf: &[u8]) -> Result<Option<Parsed>, String> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        return too_long(buf.len(), "too big inline request");
    };
    let line = buf[..newline]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..newline]);
    let args = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|word| !word.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok(Some((args, newline + 1)))
}

/// `*<n>\r\n` followed by `n` bulk strings `$<len>\r\n<bytes>\r\n`.
fn parse_array(buf: &[u8]) -> Result<Option<Parsed>, String> {
    let Some((count, mut pos)) = header(buf, 0, "too big mbulk count string")? else {
        return Ok(None);
    };
    let count = match count {
        // `*0` and `*-1` carry no command.
        n if n <= 0 => return Ok(Some((Vec::new(), pos))),
        n => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_ARGS)
            .ok_or_else(|| "invalid multibulk length".to_owned())?,
    };
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&other) => {
                return Err(format!("expected '$', got '{}'", char::from(other)));
            }
        }
        let Some((len, start)) = header(buf, pos, "too big bulk count string")? else {
            return Ok(None);
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= MAX_BULK)
            .ok_or_else(|| "invalid bulk length".to_owned())?;
        // The bulk and its trailing CRLF must both have arrived.
        let end = start + len;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        args.push(buf[start..end].to_vec());
        pos = end + 2;
    }
    Ok(Some((args, pos)))
}

/// A `*<n>\r\n` or `$<n>\r\n` line starting at `at`: its number and where the next line starts.
fn header(buf: &[u8], at: usize, too_big: &str) -> Result<Option<(i64, usize)>, String> {
    let rest = &buf[at..];
    let Some(cr) = rest.windows(2).position(|w| w == b"\r\n") else {
        return too_long(rest.len(), too_big);
    };
    let number = std::str::from_utf8(&rest[1..cr])
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    match number {
        Some(n) => Ok(Some((n, at + cr + 2))),
        None if rest[0] == b'*' => Err("invalid multibulk length".to_owned()),
        None => Err("invalid bulk length".to_owned()),
    }
}

/// An incomplete line: wait for more, unless it is already longer than any line may be.
fn too_long<T>(len: usize, message: &str) -> Result<Option<T>, String> {
    if len > MAX_INLINE {
        Err(message.to_owned())
    } else {
        Ok(None)
    }
}

impl Resp {
    /// Runs one command (`args` is not empty), appending its reply.
    fn execute(&self, args: &[Vec<u8>], output: &mut BytesMut) -> Flow {
        let name = &args[0];
        match (name.to_ascii_uppercase().as_slice(), args.len()) {
            (b"PING", 1) => output.extend_from_slice(b"+PONG\r\n"),
            (b"PING", 2) | (b"ECHO", 2) => bulk(&args[1], output),
            (b"PING", _) => wrong_arity("ping", output),
            (b"ECHO", _) => wrong_arity("echo", output),
            (b"SET", n) if n >= 3 => {
                self.lock().insert(args[1].clone(), args[2].clone());
                output.extend_from_slice(b"+OK\r\n");
            }
            (b"SET", _) => wrong_arity("set", output),
            (b"GET", 2) => match self.lock().get(&args[1]) {
                Some(value) => bulk(value, output),
                None => output.extend_from_slice(b"$-1\r\n"),
            },
            (b"GET", _) => wrong_arity("get", output),
            (b"QUIT", _) => {
                output.extend_from_slice(b"+OK\r\n");
                return Flow::Close;
            }
            _ => {
                let shown = printable(name);
                output.extend_from_slice(format!("-ERR unknown command '{shown}'\r\n").as_bytes());
            }
        }
        Flow::Continue
    }

    // A panic while holding the lock cannot leave a half-written entry (one insert).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<u8>>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn bulk(value: &[u8], output: &mut BytesMut) {
    output.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
    output.extend_from_slice(value);
    output.extend_from_slice(b"\r\n");
}

fn wrong_arity(command: &str, output: &mut BytesMut) {
    output.extend_from_slice(
        format!("-ERR wrong number of arguments for '{command}' command\r\n").as_bytes(),
    );
}

/// A command name fit for a one-line error: control characters (a CR/LF would end the reply
/// early) become spaces, and it is cut at [`MAX_NAME_IN_ERROR`] characters.
fn printable(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .chars()
        .take(MAX_NAME_IN_ERROR)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::{MockConfig, MockKind};
    use crate::test_support::spawn;

    /// Feeds `input` in one piece; returns the replies and whether the session closed.
    fn run(input: &[u8]) -> (String, Flow, usize) {
        let mut input = BytesMut::from(input);
        let mut output = BytesMut::new();
        let flow = Resp::default().feed(&mut input, &mut output);
        (
            String::from_utf8_lossy(&output).into_owned(),
            flow,
            input.len(),
        )
    }

    #[test]
    fn answers_ping_inline_and_as_an_array() {
        assert_eq!(run(b"PING\r\n"), ("+PONG\r\n".into(), Flow::Continue, 0));
        assert_eq!(
            run(b"*1\r\n$4\r\nPING\r\n"),
            ("+PONG\r\n".into(), Flow::Continue, 0)
        );
        assert_eq!(run(b"ping\n").0, "+PONG\r\n");
        assert_eq!(run(b"PING hello\r\n").0, "$5\r\nhello\r\n");
    }

    #[test]
    fn echo_answers_a_bulk_string_keeping_binary_bytes() {
        assert_eq!(
            run(b"*2\r\n$4\r\nECHO\r\n$7\r\na b\r\nc!\r\n").0,
            "$7\r\na b\r\nc!\r\n"
        );
        assert_eq!(run(b"echo hi\r\n").0, "$2\r\nhi\r\n");
        assert_eq!(
            run(b"ECHO\r\n").0,
            "-ERR wrong number of arguments for 'echo' command\r\n"
        );
    }

    #[test]
    fn quit_answers_ok_and_closes_ignoring_what_follows() {
        assert_eq!(run(b"QUIT\r\nPING\r\n"), ("+OK\r\n".into(), Flow::Close, 6));
    }

    #[test]
    fn unknown_commands_are_named_in_the_error() {
        assert_eq!(
            run(b"*2\r\n$4\r\nHSET\r\n$1\r\nk\r\n").0,
            "-ERR unknown command 'HSET'\r\n"
        );
        assert_eq!(
            run(b"*1\r\n$6\r\nbad\r\nx\r\n").0,
            "-ERR unknown command 'bad  x'\r\n"
        );
    }

    #[test]
    fn pipelined_commands_are_answered_in_order_and_a_partial_one_waits() {
        let (replies, flow, left) =
            run(b"PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\na\r\nDEL k\r\n*1\r\n$4\r\nPI");
        assert_eq!(
            replies,
            "+PONG\r\n$1\r\na\r\n-ERR unknown command 'DEL'\r\n"
        );
        assert_eq!((flow, left), (Flow::Continue, 10));
    }

    #[test]
    fn set_keeps_a_value_that_get_returns_and_unknown_keys_are_null() {
        let session = Resp::default();
        let mut input = BytesMut::from(
            &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\r\n\r\nGET k\r\nget nope\r\nSET k\r\n"[..],
        );
        let mut output = BytesMut::new();
        let mut session = session;
        assert_eq!(session.feed(&mut input, &mut output), Flow::Continue);
        assert_eq!(
            String::from_utf8_lossy(&output),
            "+OK\r\n$3\r\na\r\n\r\n$-1\r\n-ERR wrong number of arguments for 'set' command\r\n"
        );
    }

    #[tokio::test]
    async fn keys_set_on_one_connection_are_read_on_another() {
        let mock = spawn(MockKind::Redis, MockConfig::default()).await;
        let connect = || async {
            match tokio::net::TcpStream::connect(mock.addr).await {
                Ok(stream) => stream,
                Err(err) => panic!("connect: {err}"),
            }
        };
        let mut writer = connect().await;
        assert!(writer.write_all(b"SET c-1 {\"a\":1}\r\n").await.is_ok());
        let mut ok = [0u8; 5];
        let read = tokio::time::timeout(Duration::from_secs(2), writer.read_exact(&mut ok)).await;
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        assert_eq!(&ok, b"+OK\r\n");
        let mut reader = connect().await;
        assert!(reader.write_all(b"GET c-1\r\nQUIT\r\n").await.is_ok());
        let mut replies = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(2), reader.read_to_end(&mut replies)).await;
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        assert_eq!(
            String::from_utf8_lossy(&replies),
            "$7\r\n{\"a\":1}\r\n+OK\r\n"
        );
    }

    #[test]
    fn empty_lines_and_empty_arrays_are_no_commands() {
        assert_eq!(
            run(b"\r\n*0\r\n*-1\r\n"),
            (String::new(), Flow::Continue, 0)
        );
    }

    #[test]
    fn malformed_requests_get_a_protocol_error_and_close() {
        let cases: [(&[u8], &str); 4] = [
            (b"*x\r\n", "invalid multibulk length"),
            (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
            (b"*1\r\n$-3\r\n", "invalid bulk length"),
            (b"*1\r\n$99999999\r\n", "invalid bulk length"),
        ];
        for (input, message) in cases {
            let expected = format!("-ERR Protocol error: {message}\r\n");
            assert_eq!(run(input), (expected, Flow::Close, 0), "{input:?}");
        }
        let endless = vec![b'a'; MAX_INLINE + 1];
        assert_eq!(run(&endless).1, Flow::Close);
    }

    #[tokio::test]
    async fn serves_pipelined_commands_split_across_writes() {
        let mock = spawn(MockKind::Redis, MockConfig::default()).await;
        let mut stream = match tokio::net::TcpStream::connect(mock.addr).await {
            Ok(stream) => stream,
            Err(err) => panic!("connect: {err}"),
        };
        // Three commands in two writes, the cut in the middle of a bulk string.
        assert!(stream
            .write_all(b"PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhel")
            .await
            .is_ok());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(stream.write_all(b"lo\r\nQUIT\r\n").await.is_ok());
        let mut replies = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut replies)).await;
        assert!(matches!(read, Ok(Ok(_))), "QUIT did not close: {read:?}");
        assert_eq!(
            String::from_utf8_lossy(&replies),
            "+PONG\r\n+PONG\r\n$5\r\nhello\r\n+OK\r\n"
        );
    }
}
