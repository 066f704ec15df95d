//! The toxic chain of one direction of one connection (Toxiproxy's `ToxicLink`).
//!
//! ```text
//!   input pipe ──chunk──► toxic 1 ──► toxic 2 ──► … ──► sink (socket write half, or the pipe the caller reads)
//!                           ▲ the link's current chain, re-read on every change
//! ```
//! The stage contract, as Toxiproxy writes it down: stop promptly when the connection is killed,
//! never lose bytes in flight (removing a latency toxic flushes the chunk it holds), pass the end
//! of stream on. Every wait is on the stack clock, so a jump ends it. Each toxic is rolled once
//! per connection and direction against its toxicity (re-rolled when it is updated), from the
//! connection's seed.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use super::pipe::{Chunk, End, Pipe};
use super::{Link, Stream, ToxicKind, ToxicSlot};
use crate::clock::StackInstant;

/// How late a bandwidth slice may be and still be caught up on by the next one (wake-ups of a
/// loaded machine); a longer gap is a pause in the data, after which the rate starts afresh.
const BANDWIDTH_CATCH_UP: Duration = Duration::from_millis(20);

/// tokio's timer fires on whole milliseconds, rounding every deadline up: a wait aimed at
/// `due` ends within [due, due + 1 ms), 0.5 ms late on average. A latency toxic aims this much
/// earlier so its delay is right on average (never more than half a millisecond early).
const TIMER_ROUNDING: Duration = Duration::from_micros(500);

/// One piped connection: its link, its number, and the signal that ends it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub link: Arc<Link>,
    pub id: u64,
    pub kill: watch::Sender<Option<End>>,
    /// What the caller reads: when its reader is gone after the caller's end of stream has
    /// passed, the connection is over.
    pub to_caller: Arc<Pipe>,
}

impl Conn {
    /// Ends the connection (the first end wins).
    pub fn kill(&self, end: End) {
        self.kill.send_if_modified(|k| {
            if k.is_none() {
                *k = Some(end);
                true
            } else {
                false
            }
        });
    }
}

/// Where a direction's bytes go.
#[derive(Debug)]
pub(crate) enum Sink {
    Socket(OwnedWriteHalf),
    Pipe(Arc<Pipe>),
}

/// Why a chunk stopped flowing: the connection ended.
#[derive(Debug)]
struct Stopped;

enum Waited {
    Elapsed,
    /// The link changed: look the toxic up again.
    Changed,
}

/// A toxic's state on this connection and direction.
#[derive(Debug, Clone)]
struct Run {
    version: u64,
    on: bool,
    /// Since when a `timeout` toxic has seen no data.
    quiet_since: StackInstant,
    /// Bytes a `limit_data` toxic let through (kept across updates).
    passed: u64,
    /// When a `bandwidth` toxic may send next (`None` before its first slice).
    next_send: Option<StackInstant>,
    kind: ToxicKind,
}

/// Resolves once the connection has ended (never, if the signal is gone unset).
async fn ended(kill: &mut watch::Receiver<Option<End>>) {
    loop {
        if kill.borrow_and_update().is_some() {
            return;
        }
        if kill.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Reads the socket into `pipe`, timestamping each chunk on arrival, until the end or a kill.
pub(crate) async fn read_socket(conn: Arc<Conn>, mut socket: OwnedReadHalf, pipe: Arc<Pipe>) {
    let mut kill = conn.kill.subscribe();
    let clock = conn.link.clock().clone();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            read = socket.read(&mut buf) => match read {
                Ok(0) => { pipe.close(End::Eof); break; }
                Err(e) => {
                    let end = if e.kind() == io::ErrorKind::ConnectionReset { End::Reset } else { End::Eof };
                    pipe.close(end);
                    break;
                }
                Ok(n) => {
                    let chunk = Chunk { data: Bytes::copy_from_slice(&buf[..n]), at: clock.now() };
                    let mut ending = conn.kill.subscribe();
                    tokio::select! {
                        pushed = pipe.push(chunk) => if pushed.is_err() { break },
                        _ = ended(&mut ending) => break,
                    }
                }
            },
            _ = ended(&mut kill) => break,
        }
    }
}

/// Runs one direction until its end.
pub(crate) async fn run(conn: Arc<Conn>, stream: Stream, input: Arc<Pipe>, sink: Sink) {
    let mut p = Processor {
        rng: StdRng::seed_from_u64(
            conn.link.connection_seed(conn.id) ^ (stream == Stream::Upstream) as u64,
        ),
        gen: conn.link.subscribe(),
        kill: conn.kill.subscribe(),
        runs: HashMap::new(),
        chain: Arc::new(Vec::new()),
        conn,
        stream,
        input,
        sink,
    };
    let end = p.main().await;
    p.finish(end).await;
}

struct Processor {
    conn: Arc<Conn>,
    stream: Stream,
    input: Arc<Pipe>,
    sink: Sink,
    rng: StdRng,
    gen: watch::Receiver<u64>,
    kill: watch::Receiver<Option<End>>,
    runs: HashMap<String, Run>,
    /// This direction's toxics, in chain order.
    chain: Arc<Vec<ToxicSlot>>,
}

impl Processor {
    fn now(&self) -> StackInstant {
        self.conn.link.clock().now()
    }

    fn killed(&self) -> Option<End> {
        *self.kill.borrow()
    }

    /// Re-reads the link: the chain, rolls for new or updated toxics; a disabled link or a
    /// removed `timeout` toxic ends the connection (Toxiproxy's `Cleanup`).
    fn refresh(&mut self) {
        self.gen.borrow_and_update();
        if !self.conn.link.is_enabled() {
            self.conn.kill(End::Eof);
            return;
        }
        let all = self.conn.link.toxics();
        let chain: Vec<ToxicSlot> = all
            .iter()
            .filter(|t| t.toxic.stream == self.stream)
            .cloned()
            .collect();
        let removed_timeout = self.runs.iter().any(|(name, run)| {
            matches!(run.kind, ToxicKind::Timeout { .. })
                && !chain.iter().any(|t| &t.toxic.name == name)
        });
        self.runs
            .retain(|name, _| chain.iter().any(|t| &t.toxic.name == name));
        let now = self.now();
        for slot in &chain {
            let toxicity = slot.toxic.toxicity;
            let fresh = self
                .runs
                .get(&slot.toxic.name)
                .is_none_or(|r| r.version != slot.version);
            if !fresh {
                continue;
            }
            let on = toxicity >= 1.0 || (toxicity > 0.0 && self.rng.random::<f64>() < toxicity);
            match self.runs.get_mut(&slot.toxic.name) {
                Some(run) => {
                    run.version = slot.version;
                    run.on = on;
                    run.kind = slot.toxic.kind.clone();
                    run.quiet_since = now;
                }
                None => {
                    self.runs.insert(
                        slot.toxic.name.clone(),
                        Run {
                            version: slot.version,
                            on,
                            quiet_since: now,
                            passed: 0,
                            next_send: None,
                            kind: slot.toxic.kind.clone(),
                        },
                    );
                }
            }
        }
        self.chain = Arc::new(chain);
        if removed_timeout {
            self.conn.kill(End::Eof);
        }
    }

    /// The toxic named `name` as it is now, if it is still on and applies to this connection.
    fn current(&self, name: &str) -> Option<ToxicKind> {
        self.runs.get(name).filter(|r| r.on).map(|r| r.kind.clone())
    }

    /// When a `timeout` toxic closes the connection, if one is on with a non-zero timeout.
    fn timeout_deadline(&self) -> Option<StackInstant> {
        self.chain
            .iter()
            .filter_map(|slot| {
                let run = self.runs.get(&slot.toxic.name).filter(|r| r.on)?;
                match run.kind {
                    ToxicKind::Timeout { timeout } if timeout > 0 => {
                        run.quiet_since.checked_add(Duration::from_millis(timeout))
                    }
                    _ => None,
                }
            })
            .min()
    }

    async fn main(&mut self) -> End {
        loop {
            self.refresh();
            if let Some(end) = self.killed() {
                return end;
            }
            let deadline = self.timeout_deadline();
            let clock = self.conn.link.clock().clone();
            let timer = async {
                match deadline {
                    Some(d) => clock.sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let input = self.input.clone();
            tokio::select! {
                biased;
                _ = self.kill.changed() => {}
                _ = self.gen.changed() => {}
                _ = timer => self.conn.kill(End::Eof),
                item = input.pop() => match item {
                    Ok(Some(chunk)) => {
                        if self.pass(chunk, 0).await.is_err() {
                            return self.killed().unwrap_or(End::Eof);
                        }
                    }
                    Ok(None) => return self.eof().await,
                    Err(end) => {
                        self.conn.kill(end);
                        return end;
                    }
                },
            }
        }
    }

    /// Waits until `due` on the stack clock, or a change, or the end.
    async fn wait_until(&mut self, due: Option<StackInstant>) -> Result<Waited, Stopped> {
        let clock = self.conn.link.clock().clone();
        let timer = async {
            match due {
                Some(d) => clock.sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let woke = tokio::select! {
            biased;
            _ = ended(&mut self.kill) => return Err(Stopped),
            _ = self.gen.changed() => Waited::Changed,
            _ = timer => Waited::Elapsed,
        };
        if let Waited::Changed = woke {
            self.refresh();
            if self.killed().is_some() {
                return Err(Stopped);
            }
        }
        Ok(woke)
    }

    /// Waits `d` of stack time, ended early only by the connection's end.
    async fn sleep(&mut self, d: Duration) -> Result<(), Stopped> {
        let clock = self.conn.link.clock().clone();
        tokio::select! {
            biased;
            _ = ended(&mut self.kill) => Err(Stopped),
            _ = clock.sleep(d) => Ok(()),
        }
    }

    /// Sends `chunk` through the chain from position `from`, then to the sink.
    fn pass(
        &mut self,
        mut chunk: Chunk,
        from: usize,
    ) -> futures::future::BoxFuture<'_, Result<(), Stopped>> {
        Box::pin(async move {
            let chain = self.chain.clone();
            for (i, slot) in chain.iter().enumerate().skip(from) {
                let name = &slot.toxic.name;
                match self.current(name) {
                    None | Some(ToxicKind::Noop) | Some(ToxicKind::SlowClose { .. }) => {}
                    Some(ToxicKind::Latency { .. }) => self.latency(name, &mut chunk).await?,
                    Some(ToxicKind::Timeout { .. }) => {
                        let now = self.now();
                        if let Some(run) = self.runs.get_mut(name) {
                            run.quiet_since = now;
                        }
                        return Ok(());
                    }
                    Some(ToxicKind::ResetPeer { timeout }) => {
                        self.sleep(Duration::from_millis(timeout)).await?;
                        self.conn.kill(End::Reset);
                        return Err(Stopped);
                    }
                    Some(ToxicKind::LimitData { bytes }) => {
                        let passed = self.runs.get(name).map_or(0, |r| r.passed);
                        let room = bytes.saturating_sub(passed);
                        let take = usize::try_from(room)
                            .unwrap_or(usize::MAX)
                            .min(chunk.data.len());
                        if let Some(run) = self.runs.get_mut(name) {
                            run.passed += take as u64;
                        }
                        if take > 0 {
                            let piece = Chunk {
                                data: chunk.data.slice(..take),
                                at: chunk.at,
                            };
                            self.pass(piece, i + 1).await?;
                        }
                        if passed + take as u64 >= bytes {
                            self.conn.kill(End::Eof);
                            return Err(Stopped);
                        }
                        return Ok(());
                    }
                    Some(ToxicKind::Bandwidth { .. }) => {
                        return self.bandwidth(name, chunk, i + 1).await
                    }
                    Some(ToxicKind::Slicer {
                        average_size,
                        size_variation,
                        delay,
                    }) => {
                        let bounds = self.slices(chunk.data.len(), average_size, size_variation);
                        for w in bounds.windows(2) {
                            let piece = Chunk {
                                data: chunk.data.slice(w[0]..w[1]),
                                at: chunk.at,
                            };
                            self.pass(piece, i + 1).await?;
                            if delay > 0 {
                                self.sleep(Duration::from_micros(delay)).await?;
                            }
                        }
                        return Ok(());
                    }
                }
            }
            self.emit(chunk).await
        })
    }

    /// `latency`: the chunk waits latency ± jitter from its arrival; removing the toxic meanwhile
    /// sends it at once, updating it recomputes the wait.
    async fn latency(&mut self, name: &str, chunk: &mut Chunk) -> Result<(), Stopped> {
        loop {
            let Some(ToxicKind::Latency { latency, jitter }) = self.current(name) else {
                return Ok(());
            };
            let delay = self.jittered(latency, jitter);
            let Some(due) = chunk.at.checked_add(delay) else {
                return Ok(());
            };
            let aim = chunk
                .at
                .checked_add(delay.saturating_sub(TIMER_ROUNDING))
                .unwrap_or(due);
            if let Waited::Elapsed = self.wait_until(Some(aim)).await? {
                // Stacked latency toxics add up (Toxiproxy moves the chunk's timestamp).
                chunk.at = due;
                return Ok(());
            }
        }
    }

    /// `latency + uniform[-jitter, jitter)` ms, never negative (Toxiproxy's `delay`).
    fn jittered(&mut self, latency: u64, jitter: u64) -> Duration {
        let ms = if jitter == 0 {
            latency as i64
        } else {
            latency as i64 + self.rng.random_range(-(jitter as i64)..jitter as i64)
        };
        Duration::from_millis(ms.max(0) as u64)
    }

    /// `bandwidth`: pieces of at most rate×100 bytes, each sent when the rate allows.
    async fn bandwidth(&mut self, name: &str, chunk: Chunk, next: usize) -> Result<(), Stopped> {
        let mut data = chunk.data;
        while !data.is_empty() {
            let Some(ToxicKind::Bandwidth { rate }) = self.current(name) else {
                // Removed (or rolled off by an update): the rest passes at once.
                return self.pass(Chunk { data, at: chunk.at }, next).await;
            };
            if rate == 0 {
                // Nothing passes until the toxic changes.
                self.wait_until(None).await?;
                continue;
            }
            let size = data
                .len()
                .min(usize::try_from(rate * 100).unwrap_or(usize::MAX));
            let now = self.now();
            // Slices are due back to back from the first: a pump woken a little late (a busy
            // machine) catches up instead of adding its lateness to every slice. After a longer
            // pause the schedule starts again from now (no burst of saved-up credit).
            let start = match self.runs.get(name).and_then(|r| r.next_send) {
                Some(next) if next + BANDWIDTH_CATCH_UP >= now => next,
                _ => now,
            };
            let due = start + Duration::from_nanos(size as u64 * 1_000_000 / rate);
            if let Some(run) = self.runs.get_mut(name) {
                run.next_send = Some(due);
            }
            match self.wait_until(Some(due)).await? {
                Waited::Changed => continue,
                Waited::Elapsed => {
                    let piece = data.split_to(size);
                    self.pass(
                        Chunk {
                            data: piece,
                            at: chunk.at,
                        },
                        next,
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Toxiproxy's slicer split: halve around the middle (± up to `variation`) until a piece is
    /// within `variation` of `average`. Returns the piece boundaries.
    fn slices(&mut self, len: usize, average: u64, variation: u64) -> Vec<usize> {
        let average = usize::try_from(average).unwrap_or(usize::MAX);
        let variation = usize::try_from(variation).unwrap_or(usize::MAX);
        let mut bounds = vec![0];
        let mut stack = vec![(0usize, len)];
        while let Some((start, end)) = stack.pop() {
            let size = end - start;
            if size.saturating_sub(average) <= variation || size < 2 {
                bounds.push(end);
                continue;
            }
            let mut mid = start + size / 2;
            if variation > 0 {
                let v = variation.min(size) as i64;
                let shift = self.rng.random_range(-v..v);
                mid = (mid as i64 + shift).clamp(start as i64 + 1, end as i64 - 1) as usize;
            }
            // Depth first, left half first.
            stack.push((mid, end));
            stack.push((start, mid));
        }
        bounds
    }

    /// Writes a chunk to the sink.
    async fn emit(&mut self, chunk: Chunk) -> Result<(), Stopped> {
        if chunk.data.is_empty() {
            return Ok(());
        }
        let written = match &mut self.sink {
            Sink::Pipe(pipe) => {
                let pipe = pipe.clone();
                tokio::select! {
                    biased;
                    _ = ended(&mut self.kill) => return Err(Stopped),
                    pushed = pipe.push(chunk) => pushed,
                }
            }
            Sink::Socket(socket) => {
                tokio::select! {
                    biased;
                    _ = ended(&mut self.kill) => return Err(Stopped),
                    written = socket.write_all(&chunk.data) => written,
                }
            }
        };
        if written.is_err() {
            self.conn.kill(End::Eof);
            return Err(Stopped);
        }
        Ok(())
    }

    /// The end of stream through the chain: `slow_close` delays it, `reset_peer` turns it into
    /// a reset, `timeout` and `limit_data` close.
    async fn eof(&mut self) -> End {
        self.refresh();
        let chain = self.chain.clone();
        for slot in chain.iter() {
            let step = match self.current(&slot.toxic.name) {
                Some(ToxicKind::SlowClose { delay }) => {
                    self.sleep(Duration::from_millis(delay)).await
                }
                Some(ToxicKind::ResetPeer { timeout }) => {
                    if self.sleep(Duration::from_millis(timeout)).await.is_ok() {
                        self.conn.kill(End::Reset);
                    }
                    return End::Reset;
                }
                _ => Ok(()),
            };
            if step.is_err() {
                return self.killed().unwrap_or(End::Eof);
            }
        }
        End::Eof
    }

    /// Passes the end on to the sink.
    async fn finish(self, end: End) {
        let killed = self.killed();
        match self.sink {
            Sink::Pipe(pipe) => pipe.close(killed.unwrap_or(end)),
            Sink::Socket(mut socket) => {
                if killed == Some(End::Reset) || end == End::Reset {
                    // Abortive close: the peer sees RST (Toxiproxy sets SO_LINGER 0).
                    let _ =
                        socket2::SockRef::from(socket.as_ref()).set_linger(Some(Duration::ZERO));
                    socket.forget();
                } else {
                    let _ = socket.shutdown().await;
                }
            }
        }
        // The caller's writes fail from now on.
        self.input.close_reader();
        if killed.is_none() && self.conn.to_caller.reader_gone() {
            // The caller closed and went away: nothing more will be read, the connection is over.
            self.conn.kill(End::Eof);
        }
    }
}

#[cfg(test)]
mod tests;
