//! `mock-service`: runs one mock standalone on a loopback port until Ctrl-C.
//!
//! ```text
//! mock-service <value-architect|value-committer|postgres|redis> --port N [--host 127.0.0.1]
//!              [--architect-url URL] [--committer-url URL] [--redis-url tcp://H:P] [--postgres-url tcp://H:P]
//! ```
//!
//! `postgres` (a tcp echo) and `redis` (a minimal RESP server) ignore the URLs; only
//! value-committer uses the store URLs.
//!
//! Prints `listening on <addr>` once the port accepts connections. Exit codes: 0 after Ctrl-C,
//! 1 when the port cannot be bound, 2 for usage errors (a non-loopback host, a bad URL).

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use mock_services::{start, MockConfig, MockKind};

/// Runs a Gauntlet mock service (value-architect, value-committer, postgres or redis) on a
/// loopback port.
#[derive(Debug, Parser)]
#[command(name = "mock-service", version)]
struct Args {
    /// Which service: value-architect, value-committer, postgres (tcp echo) or redis (RESP).
    #[arg(value_parser = parse_kind)]
    service: MockKind,
    /// Port to listen on (0 picks a free one).
    #[arg(long)]
    port: u16,
    /// Loopback address to bind (127.0.0.1, ::1 or localhost).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Base URL of value-architect (used by value-committer).
    #[arg(long)]
    architect_url: Option<String>,
    /// Base URL of value-committer (used by value-architect's publish).
    #[arg(long)]
    committer_url: Option<String>,
    /// Where value-committer's redis listens (`tcp://host:port`).
    #[arg(long)]
    redis_url: Option<String>,
    /// Where value-committer's postgres listens (`tcp://host:port`).
    #[arg(long)]
    postgres_url: Option<String>,
}

fn parse_kind(value: &str) -> Result<MockKind, String> {
    value
        .parse()
        .map_err(|err: mock_services::MockError| err.to_string())
}

/// The address to bind, refusing anything but loopback.
fn loopback_ip(host: &str) -> Result<IpAddr, String> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = trimmed
        .parse()
        .map_err(|_| format!("--host `{host}` is not an IP address or `localhost`"))?;
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err(format!(
            "refusing to listen on non-loopback host {host}: mock services bind loopback only \
             (use 127.0.0.1, ::1 or localhost)"
        ))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let ip = match loopback_ip(&args.host) {
        Ok(ip) => ip,
        Err(message) => {
            eprintln!("mock-service: {message}");
            return ExitCode::from(2);
        }
    };
    let config = MockConfig {
        architect_url: args.architect_url,
        committer_url: args.committer_url,
        redis_url: args.redis_url,
        postgres_url: args.postgres_url,
    };
    if let Err(err) = config.validate() {
        eprintln!("mock-service: {err}");
        return ExitCode::from(2);
    }
    let addr = SocketAddr::new(ip, args.port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("mock-service: cannot listen on {addr}: {err}");
            return ExitCode::from(1);
        }
    };
    let mock = start(args.service, listener, config).await;
    println!("listening on {}", mock.addr);
    // Whoever waits for the line may be reading a pipe: do not leave it in the buffer.
    let _ = std::io::stdout().flush();

    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("mock-service: cannot wait for Ctrl-C: {err}");
    }
    mock.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_hosts() {
        assert_eq!(
            loopback_ip("127.0.0.1"),
            Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(
            loopback_ip("localhost"),
            Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert!(loopback_ip("::1").is_ok_and(|ip| ip.is_loopback()));
        assert!(loopback_ip("[::1]").is_ok_and(|ip| ip.is_loopback()));
    }

    #[test]
    fn refuses_non_loopback_hosts_with_a_clear_error() {
        let message = loopback_ip("0.0.0.0").err().unwrap_or_default();
        assert!(
            message.starts_with("refusing to listen on non-loopback host 0.0.0.0"),
            "{message}"
        );
        assert!(loopback_ip("example.com").is_err());
    }
}
