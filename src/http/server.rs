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
        let mut listener = Some(listener);
        loop {
            let enabled = link.is_enabled();
            if !enabled {
                // Closing the listener refuses new connections at the TCP level.
                listener = None;
            } else if listener.is_none() {
                match TcpListener::bind(addr).await {
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
pub async fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await
}
