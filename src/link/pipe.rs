//! The in-process byte queue between a [`super::LinkStream`] and a pump: timestamped chunks, a
//! byte budget for backpressure, and an end that says how the connection ended (an orderly
//! close keeps the queued bytes; a reset drops them and reads fail with `ConnectionReset`).

use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use tokio::io::ReadBuf;

use crate::clock::StackInstant;

/// How many bytes a pipe holds before its writer waits.
const CAPACITY: usize = 256 * 1024;

/// A piece of the byte stream and when it arrived (on the stack clock).
#[derive(Debug, Clone)]
pub struct Chunk {
    pub data: Bytes,
    pub at: StackInstant,
}

/// How a pipe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Orderly: the reader gets the queued bytes, then end of stream.
    Eof,
    /// Reset: queued bytes are dropped; the reader gets `ConnectionReset`.
    Reset,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Chunk>,
    bytes: usize,
    end: Option<End>,
    /// The reader is gone: writes fail.
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// One direction's queue.
#[derive(Debug, Default)]
pub struct Pipe {
    state: Mutex<State>,
}

impl Pipe {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `data` (copied) as one chunk arriving `at`, or waits for room.
    pub fn poll_push(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
        at: StackInstant,
    ) -> Poll<io::Result<usize>> {
        let mut s = self.lock();
        if s.reader_gone || s.end.is_some() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if s.bytes >= CAPACITY {
            s.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = data.len().min(CAPACITY - s.bytes);
        s.bytes += n;
        s.queue.push_back(Chunk {
            data: Bytes::copy_from_slice(&data[..n]),
            at,
        });
        if let Some(w) = s.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    /// Queues a whole chunk, waiting for room.
    ///
    /// # Errors
    /// `BrokenPipe` when the reader is gone or the pipe ended.
    pub async fn push(&self, chunk: Chunk) -> io::Result<()> {
        let mut chunk = Some(chunk);
        std::future::poll_fn(|cx| {
            let mut s = self.lock();
            if s.reader_gone || s.end.is_some() {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if s.bytes >= CAPACITY && !s.queue.is_empty() {
                s.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(chunk) = chunk.take() {
                s.bytes += chunk.data.len();
                s.queue.push_back(chunk);
            }
            if let Some(w) = s.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// The next chunk, `Ok(None)` at an orderly end, `Err` after a reset.
    pub fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Result<Option<Chunk>, End>> {
        let mut s = self.lock();
        if s.end == Some(End::Reset) {
            return Poll::Ready(Err(End::Reset));
        }
        if let Some(chunk) = s.queue.pop_front() {
            s.bytes -= chunk.data.len();
            if let Some(w) = s.writer.take() {
                w.wake();
            }
            return Poll::Ready(Ok(Some(chunk)));
        }
        if s.end == Some(End::Eof) {
            return Poll::Ready(Ok(None));
        }
        s.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// [`Pipe::poll_pop`] as a future.
    pub async fn pop(&self) -> Result<Option<Chunk>, End> {
        std::future::poll_fn(|cx| self.poll_pop(cx)).await
    }

    /// Reads into `buf` as a socket would: bytes, end of stream, or `ConnectionReset`.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut s = self.lock();
        if s.end == Some(End::Reset) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        let mut copied = 0;
        while buf.remaining() > 0 {
            let Some(front) = s.queue.front_mut() else {
                break;
            };
            let n = front.data.len().min(buf.remaining());
            buf.put_slice(&front.data[..n]);
            front.data.advance(n);
            copied += n;
            if front.data.is_empty() {
                s.queue.pop_front();
            }
        }
        if copied > 0 {
            s.bytes -= copied;
            if let Some(w) = s.writer.take() {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        if s.end == Some(End::Eof) || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        s.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ends the pipe (the first end wins); a reset drops what is queued.
    pub fn close(&self, end: End) {
        let mut s = self.lock();
        if s.end.is_none() || end == End::Reset {
            s.end = Some(end);
        }
        if end == End::Reset {
            s.queue.clear();
            s.bytes = 0;
        }
        if let Some(w) = s.reader.take() {
            w.wake();
        }
        if let Some(w) = s.writer.take() {
            w.wake();
        }
    }

    /// The reader is gone: writers fail from now on.
    pub fn close_reader(&self) {
        let mut s = self.lock();
        s.reader_gone = true;
        s.queue.clear();
        s.bytes = 0;
        if let Some(w) = s.writer.take() {
            w.wake();
        }
    }

    /// Whether the reader went away.
    pub fn reader_gone(&self) -> bool {
        self.lock().reader_gone
    }
}
