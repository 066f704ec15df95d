//! The byte streams a sidecar's public listener serves: plain TCP or TLS over TCP, borrowed by
//! HTTP serving in a way a fault can take back (to reset it, or to write bytes that are not
//! HTTP).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Closes the connection with a TCP reset (SO_LINGER 0) instead of an orderly close.
pub(super) fn reset<S: Socket>(io: S) {
    let _ = socket2::SockRef::from(io.tcp()).set_linger(Some(Duration::ZERO));
    drop(io);
}

/// An accepted connection: plain TCP, or TLS over TCP; the TCP socket is reachable for resets.
pub(super) trait Socket: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// A stream HTTP serving reads and writes through, which a fault can take back whole.
pub(super) struct Takeable<S> {
    inner: Arc<Mutex<Option<S>>>,
}

impl<S> Clone for Takeable<S> {
    fn clone(&self) -> Self {
        Takeable {
            inner: self.inner.clone(),
        }
    }
}

impl<S> Takeable<S> {
    pub(super) fn new(io: S) -> Self {
        Takeable {
            inner: Arc::new(Mutex::new(Some(io))),
        }
    }

    pub(super) fn take_back(&self) -> Option<S> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(Pin<&mut S>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>>
    where
        S: Unpin,
    {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_mut() {
            Some(io) => f(Pin::new(io)),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Takeable<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.with(|io| io.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Takeable<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.with(|io| io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(|io| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(|io| io.poll_shutdown(cx))
    }
}
