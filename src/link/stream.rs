//! [`LinkStream`]: one end's socket of a hop, wrapped so the link's toxics apply to it.
//!
//! ```text
//!   fast path (link enabled, no toxic):  caller ◄──► TcpStream           one atomic load per call
//!   piped (any toxic, from then on):     caller ◄──► pipes ◄──► pumps ◄──► TcpStream halves
//! ```
//! Which way is `upstream` depends on the end wrapped: the dialling end ([`Side::Dialer`], the
//! gateway towards a service, a sidecar towards its upstream) writes upstream; the accepting end
//! ([`Side::Acceptor`], the gateway's proxy port) reads upstream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::pipe::{End, Pipe};
use super::pump::{self, Conn, Sink};
use super::{ConnWakers, Link, Stream};

/// Which end of the hop the wrapped socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The end that connected: its writes go upstream.
    Dialer,
    /// The end that accepted: its reads come upstream.
    Acceptor,
}

enum Mode {
    Direct(TcpStream),
    Piped {
        /// What the caller reads.
        from_link: Arc<Pipe>,
        /// What the caller writes.
        to_link: Arc<Pipe>,
    },
    /// The link was disabled under this connection.
    Closed,
}

/// A socket of a hop, through its link.
pub struct LinkStream {
    link: Arc<Link>,
    side: Side,
    id: u64,
    wakers: Arc<ConnWakers>,
    mode: Mode,
}

impl std::fmt::Debug for LinkStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkStream")
            .field("link", &self.link.name())
            .field("side", &self.side)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LinkStream {
    /// Wraps a connected socket.
    ///
    /// # Errors
    /// `ConnectionRefused` when the link is disabled (the socket is closed).
    pub fn new(link: Arc<Link>, socket: TcpStream, side: Side) -> io::Result<LinkStream> {
        if !link.is_enabled() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("link {} is down", link.name()),
            ));
        }
        let (id, wakers) = link.register();
        let mut stream = LinkStream {
            link,
            side,
            id,
            wakers,
            mode: Mode::Direct(socket),
        };
        if stream.link.is_active() {
            stream.leave_fast_path();
        }
        Ok(stream)
    }

    /// Connects to `addr` through `link` as its dialling end (`TCP_NODELAY` set).
    ///
    /// # Errors
    /// The link is down (`ConnectionRefused`), or the connection fails.
    pub async fn connect(link: Arc<Link>, addr: std::net::SocketAddr) -> io::Result<LinkStream> {
        if !link.is_enabled() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("link {} is down", link.name()),
            ));
        }
        let socket = TcpStream::connect(addr).await?;
        let _ = socket.set_nodelay(true);
        LinkStream::new(link, socket, Side::Dialer)
    }

    /// The link this connection goes through.
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Moves the connection onto pumps (a toxic appeared), or closes it (the link went down).
    fn leave_fast_path(&mut self) {
        let Mode::Direct(_) = self.mode else {
            return;
        };
        let Mode::Direct(socket) = std::mem::replace(&mut self.mode, Mode::Closed) else {
            return;
        };
        if !self.link.is_enabled() {
            // Dropping the socket closes it: the link is down.
            return;
        }
        let (read, write) = socket.into_split();
        let from_link = Arc::new(Pipe::default());
        let to_link = Arc::new(Pipe::default());
        let from_socket = Arc::new(Pipe::default());
        let conn = Arc::new(Conn {
            link: self.link.clone(),
            id: self.id,
            kill: tokio::sync::watch::Sender::new(None),
            to_caller: from_link.clone(),
        });
        let (reads, writes) = match self.side {
            Side::Dialer => (Stream::Downstream, Stream::Upstream),
            Side::Acceptor => (Stream::Upstream, Stream::Downstream),
        };
        tokio::spawn(pump::read_socket(conn.clone(), read, from_socket.clone()));
        tokio::spawn(pump::run(
            conn.clone(),
            reads,
            from_socket,
            Sink::Pipe(from_link.clone()),
        ));
        tokio::spawn(pump::run(
            conn,
            writes,
            to_link.clone(),
            Sink::Socket(write),
        ));
        self.mode = Mode::Piped { from_link, to_link };
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.mode {
                Mode::Direct(socket) => {
                    if this.link.is_active() {
                        this.leave_fast_path();
                        continue;
                    }
                    match Pin::new(socket).poll_read(cx, buf) {
                        Poll::Pending => {
                            // Registered after the socket, re-checked after registering: a
                            // change in between is never missed.
                            this.wakers.read.register(cx.waker());
                            if this.link.is_active() {
                                continue;
                            }
                            return Poll::Pending;
                        }
                        ready => return ready,
                    }
                }
                Mode::Piped { from_link, .. } => return from_link.poll_read(cx, buf),
                Mode::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match &mut this.mode {
                Mode::Direct(socket) => {
                    if this.link.is_active() {
                        this.leave_fast_path();
                        continue;
                    }
                    match Pin::new(socket).poll_write(cx, data) {
                        Poll::Pending => {
                            this.wakers.write.register(cx.waker());
                            if this.link.is_active() {
                                continue;
                            }
                            return Poll::Pending;
                        }
                        ready => return ready,
                    }
                }
                Mode::Piped { to_link, .. } => {
                    return to_link.poll_push(cx, data, this.link.clock().now())
                }
                Mode::Closed => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().mode {
            Mode::Direct(socket) => Pin::new(socket).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().mode {
            Mode::Direct(socket) => Pin::new(socket).poll_shutdown(cx),
            Mode::Piped { to_link, .. } => {
                to_link.close(End::Eof);
                Poll::Ready(Ok(()))
            }
            Mode::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for LinkStream {
    fn drop(&mut self) {
        if let Mode::Piped { from_link, to_link } = &self.mode {
            from_link.close_reader();
            to_link.close(End::Eof);
        }
    }
}
