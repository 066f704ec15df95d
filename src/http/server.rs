//! Serving HTTP/1.1 and HTTP/2 on a bound loopback listener, stopping everything on drop.
//!
//! The gateway proxy, and any handler written as a plain async function of a request, runs on
//! this, and so do the axum APIs ([`serve_router`]). Dropping (or `shutdown`) the
//! [`ServerHandle`] closes the port and aborts every open connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::body::Body;

/// A running server. Dropping it stops the server and its connections.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener and resets every open connection; returns once the port is closed.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `handler` on `listener` until the handle is dropped.
pub fn serve<H, F>(listener: TcpListener, handler: H) -> std::io::Result<ServerHandle>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let addr = listener.local_addr()?;
    let handler = Arc::new(handler);
    let task = accept_loop(listener, move |stream, peer| {
        let handler = handler.clone();
        async move {
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler(req, peer).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    });
    Ok(ServerHandle { addr, task })
}

/// [`serve`] with every accepted connection through `link` (its accepting end): the hop
/// `client->gateway`. While the link is down the port is closed, so new connections are refused
/// (as a disabled Toxiproxy proxy stops listening) and open ones are closed by the link; once it
/// is up again the same address is bound anew. Open connections live on across both.
pub fn serve_linked<H, F>(
    listener: TcpListener,
    link: std::sync::Arc<crate::link::Link>,
    handler: H,
) -> std::io::Result<ServerHandle>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let addr = listener.local_addr()?;
    let handler = Arc::new(handler);
    let connection = move |stream: TcpStream, peer: SocketAddr, link| {
        let handler = handler.clone();
        async move {
            // A connection accepted just before the link went down is closed here.
            let Ok(stream) =
                crate::link::LinkStream::new(link, stream, crate::link::Side::Acceptor)
            else {
                return;
            };
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler(req, peer).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    };
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        let mut changes = link.subscribe();
        // The port stays the gateway's while the link is down (see `PortHold`).
        let hold = PortHold::of(&listener).ok().flatten();
        let mut listener = Some(listener);
        loop {
            let enabled = link.is_enabled();
            if !enabled {
                // Closing the listener refuses new connections at the TCP level.
                listener = None;
            } else if listener.is_none() {
                let bound = match &hold {
                    Some(hold) => hold.listen(),
                    None => TcpListener::bind(addr).await,
                };
                match bound {
                    Ok(bound) => listener = Some(bound),
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "cannot re-bind the gateway proxy port");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            let accept = async {
                match &listener {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                accepted = accept => {
                    let Ok((stream, peer)) = accepted else {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, peer, link.clone()));
                }
                _ = changes.changed() => {}
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(ServerHandle { addr, task })
}

/// Accepts connections on `listener` and runs `connection` for each (`TCP_NODELAY` set). The
/// connections live in the returned task: aborting it closes the port and cuts them all. An
/// accept error (out of file descriptors and the like) backs off instead of spinning.
pub fn accept_loop<C, F>(listener: TcpListener, connection: C) -> tokio::task::JoinHandle<()>
where
    C: Fn(TcpStream, SocketAddr) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, peer));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

/// Serves an axum router (admin, control and catalog APIs) until the handle is dropped;
/// dropping it closes the port and its open connections, so a client left connected keeps no
/// part of a stopped stack alive.
pub fn serve_router(listener: TcpListener, router: axum::Router) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let task = accept_loop(listener, move |stream, _| {
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    });
    Ok(ServerHandle { addr, task })
}

/// Binds a loopback listener: on `port`, or an ephemeral one when `port` is 0.
///
/// An ephemeral port is bound shareable (`SO_REUSEPORT`), so that a [`PortHold`] can keep it
/// reserved while its listener is closed. A fixed port is not: a second process asking for it
/// gets `Address already in use`, as it should.
pub async fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    listen_on(port, port == 0)
}

fn listen_on(port: u16, shareable: bool) -> std::io::Result<TcpListener> {
    let socket = loopback_socket(shareable)?;
    socket.bind(&SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

fn tcp_socket() -> std::io::Result<socket2::Socket> {
    socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
}

fn loopback_socket(shareable: bool) -> std::io::Result<socket2::Socket> {
    let socket = tcp_socket()?;
    // As tokio's own `TcpListener::bind`: a restart may bind over connections in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(shareable)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A loopback port kept reserved while nothing listens on it (a stopped service's public port).
///
/// The hold is a bound socket that never listens, kept beside the listener for as long as the
/// port is the owner's: while the listener is closed, connections to the port are refused, and
/// the kernel hands the port to no other socket — not as an outgoing connection's local port,
/// not to another listener's `bind` — until [`PortHold::listen`] opens it again. Without it, a
/// stopped service's ephemeral port is free, and under load an outgoing connection of another
/// stack takes it before the service starts again (`Address already in use`).
#[derive(Debug)]
pub struct PortHold {
    /// Held open only for its binding.
    _socket: socket2::Socket,
    port: u16,
}

impl PortHold {
    /// Reserves the port `listener` listens on (take it while the listener is open). `None`
    /// when the listener was not bound shareable (a fixed port, see [`bind_loopback`]).
    ///
    /// # Errors
    /// When the hold cannot be bound.
    pub fn of(listener: &TcpListener) -> std::io::Result<Option<PortHold>> {
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() || !socket2::SockRef::from(listener).reuse_port()? {
            return Ok(None);
        }
        let socket = tcp_socket()?;
        // Shareable with the listener that reopens the port; not `SO_REUSEADDR`, so that no
        // other bind — not even one with `SO_REUSEADDR` — may share it while it is held.
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        Ok(Some(PortHold {
            _socket: socket,
            port: addr.port(),
        }))
    }

    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Listens on the reserved port again; the hold stays, for the next close.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub fn listen(&self) -> std::io::Result<TcpListener> {
        listen_on(self.port, true)
    }
}
