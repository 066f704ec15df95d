//! The connection to the Docker Engine (SPEC §13): which socket, whether it answers, and the API
//! version both clients speak.
//!
//! ```text
//!   DOCKER_HOST | /var/run/docker.sock ──► ping + version ──► Engine (bollard, negotiated)
//!                                                        └──► testcontainers (DOCKER_HOST, via
//!                                                             the version shim on old engines)
//! ```
//! testcontainers 0.28 pins its requests to API 1.53 and never negotiates; an older engine (Docker
//! 20.10 speaks 1.41) refuses every such request. When the engine is older, a small in-process
//! proxy on a private unix socket rewrites the version prefix of each request path to the
//! engine's own, and testcontainers is pointed at it (`DOCKER_HOST`). Nothing else changes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use testcontainers::bollard::{self, Docker};

/// The API version testcontainers' own client sends.
const TESTCONTAINERS_API: (usize, usize) = (1, 53);

/// The engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no Docker engine at {socket}: {reason}\n  start it (`sudo systemctl start docker`) or point DOCKER_HOST at a running engine (unix:///path/to/docker.sock)")]
    Missing { socket: String, reason: String },
    #[error("permission denied on the Docker socket {socket}\n  add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again), or run with access to the socket")]
    Permission { socket: String },
    #[error("the Docker engine at {socket} does not answer: {reason}")]
    Unresponsive { socket: String, reason: String },
    #[error("DOCKER_HOST={0} is not supported: Gauntlet talks to a local engine over a unix socket (unix:///var/run/docker.sock)")]
    UnsupportedHost(String),
    #[error("cannot start the Docker API version shim: {0}")]
    Shim(std::io::Error),
}

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    /// The socket tried, for messages.
    pub socket: PathBuf,
    /// The API version spoken (`1.41`).
    pub api_version: String,
}

static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The socket DOCKER_HOST names, or the default one.
///
/// # Errors
/// A DOCKER_HOST that is not a unix socket.
pub fn socket_path() -> Result<PathBuf, EngineError> {
    match std::env::var("GAUNTLET_DOCKER_HOST")
        .ok()
        .or_else(|| std::env::var("DOCKER_HOST").ok())
    {
        None => Ok(PathBuf::from("/var/run/docker.sock")),
        Some(host) if host.is_empty() => Ok(PathBuf::from("/var/run/docker.sock")),
        Some(host) => match host.strip_prefix("unix://") {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(EngineError::UnsupportedHost(host)),
        },
    }
}

/// Connects to the engine, checks it answers, and makes testcontainers speak its version.
///
/// # Errors
/// No socket, no permission, an engine that does not answer: each names the socket and the fix.
pub async fn connect() -> Result<Engine, EngineError> {
    let socket = socket_path()?;
    let shown = socket.display().to_string();
    // The socket itself first: a missing file or a permission problem says so plainly.
    if let Err(e) = std::os::unix::net::UnixStream::connect(&socket) {
        return Err(match e.kind() {
            std::io::ErrorKind::PermissionDenied => EngineError::Permission { socket: shown },
            _ => EngineError::Missing {
                socket: shown,
                reason: e.to_string(),
            },
        });
    }
    let unresponsive = |e: bollard::errors::Error| EngineError::Unresponsive {
        socket: shown.clone(),
        reason: e.to_string(),
    };
    let docker = Docker::connect_with_unix(&shown, 120, bollard::API_DEFAULT_VERSION)
        .map_err(unresponsive)?
        .negotiate_version()
        .await
        .map_err(unresponsive)?;
    let version = docker.client_version();
    let api_version = version.to_string();
    let old = (version.major_version, version.minor_version) < TESTCONTAINERS_API;
    // testcontainers reads DOCKER_HOST when it makes its client: point it at this engine (through
    // the shim when the engine is older than testcontainers' fixed version).
    let target = if old {
        let shim = SHIM
            .get_or_init(|| shim::spawn(&socket, &api_version).map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| EngineError::Shim(std::io::Error::other(e)))?;
        shim
    } else {
        socket.clone()
    };
    set_docker_host(&target);
    Ok(Engine {
        docker,
        socket,
        api_version,
    })
}

fn set_docker_host(path: &Path) {
    let value = format!("unix://{}", path.display());
    if std::env::var("DOCKER_HOST").ok().as_deref() != Some(value.as_str()) {
        if std::env::var_os("GAUNTLET_DOCKER_HOST").is_none() {
            // Remember the real engine for later connections in this process.
            if let Ok(real) = std::env::var("DOCKER_HOST") {
                std::env::set_var("GAUNTLET_DOCKER_HOST", real);
            } else {
                std::env::set_var("GAUNTLET_DOCKER_HOST", "unix:///var/run/docker.sock");
            }
        }
        std::env::set_var("DOCKER_HOST", value);
    }
}

mod shim {
    //! The version shim: HTTP/1.1 over a private unix socket, each request forwarded to the
    //! engine's socket on a fresh connection with its `/v1.NN/` prefix rewritten.

    use std::path::{Path, PathBuf};

    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Request, Uri};
    use hyper_util::rt::TokioIo;

    pub(super) fn spawn(engine: &Path, version: &str) -> std::io::Result<PathBuf> {
        let path = std::env::temp_dir().join(format!(
            "gauntlet-docker-{}-{}.sock",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        let engine = engine.to_path_buf();
        let version = version.to_string();
        // Its own thread and runtime: it must outlive any one runtime of the process (tests).
        std::thread::Builder::new()
            .name("docker-api-shim".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
                        return;
                    };
                    while let Ok((stream, _)) = listener.accept().await {
                        let engine = engine.clone();
                        let version = version.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| {
                                forward(req, engine.clone(), version.clone())
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })?;
        Ok(path)
    }

    async fn forward(
        mut req: Request<Incoming>,
        engine: PathBuf,
        version: String,
    ) -> Result<hyper::Response<Incoming>, std::io::Error> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let rewritten = rewrite(&path, &version);
        *req.uri_mut() = rewritten.parse::<Uri>().map_err(std::io::Error::other)?;
        let stream = tokio::net::UnixStream::connect(&engine).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        sender
            .send_request(req)
            .await
            .map_err(std::io::Error::other)
    }

    /// `/v1.53/containers/json` → `/v1.41/containers/json`; other paths unchanged.
    pub(super) fn rewrite(path: &str, version: &str) -> String {
        if let Some(rest) = path.strip_prefix("/v") {
            if let Some(slash) = rest.find('/') {
                let candidate = &rest[..slash];
                if candidate.split('.').all(|p| p.parse::<u32>().is_ok()) {
                    return format!("/v{version}{}", &rest[slash..]);
                }
            }
        }
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::shim::rewrite;

    #[test]
    fn the_shim_rewrites_only_the_version_prefix() {
        assert_eq!(
            rewrite("/v1.53/containers/json?all=1", "1.41"),
            "/v1.41/containers/json?all=1"
        );
        assert_eq!(rewrite("/_ping", "1.41"), "/_ping");
        assert_eq!(rewrite("/volumes/v1.2/x", "1.41"), "/volumes/v1.2/x");
    }
}
