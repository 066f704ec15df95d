//! Kong's `correlation-id` plugin (priority 100001, the first plugin): gives each request an
//! id in `header_name` (default `Kong-Request-ID`) for the upstream, and echoes it to the
//! client under `echo_downstream`.
//!
//! `kong/plugins/correlation-id/handler.lua`: `access` keeps a non-empty client value, else
//! generates one and sets it upstream; `header_filter` (echo only) sends the access value, else
//! the request's, else a fresh one (a request refused before `access` ran). Generators:
//! `uuid` (a random UUID), `uuid#counter` (default: the worker's UUID, `#`, a counter from 1),
//! `tracker` (`<server_addr>-<server_port>-<pid>-<connection>-<connection_requests>-<time>`).

use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::config::gateway::IdGenerator;

/// The generators' state: one "worker" as Kong's `init_worker` makes it.
#[derive(Debug)]
pub struct IdSource {
    worker: Uuid,
    counter: AtomicU64,
    /// Requests seen, standing in for nginx's connection serial in `tracker`.
    serial: AtomicU64,
}

impl Default for IdSource {
    fn default() -> Self {
        IdSource {
            worker: uuid::Builder::from_random_bytes(rand::random()).into_uuid(),
            counter: AtomicU64::new(0),
            serial: AtomicU64::new(0),
        }
    }
}

/// Where the gateway runs, for the `tracker` generator.
#[derive(Debug, Clone, Copy)]
pub struct Tracker {
    pub server_addr: std::net::IpAddr,
    pub server_port: u16,
    /// Wall-clock seconds (with milliseconds) of the stack clock.
    pub now: f64,
}

impl IdSource {
    /// A fresh id from `generator`.
    pub fn generate(&self, generator: IdGenerator, tracker: Tracker) -> String {
        match generator {
            IdGenerator::Uuid => uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string(),
            IdGenerator::UuidCounter => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
                format!("{}#{n}", self.worker)
            }
            IdGenerator::Tracker => {
                let connection = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
                format!(
                    "{}-{}-{}-{connection}-1-{:.3}",
                    tracker.server_addr,
                    tracker.server_port,
                    std::process::id(),
                    tracker.now
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Tracker {
        Tracker {
            server_addr: "127.0.0.1".parse().unwrap(),
            server_port: 8000,
            now: 1_700_000_000.25,
        }
    }

    // Shapes asserted by `spec/03-plugins/11-correlation-id/01-access_spec.lua`.
    #[test]
    fn uuid_counter_counts_from_one_on_one_worker_uuid() {
        let ids = IdSource::default();
        let a = ids.generate(IdGenerator::UuidCounter, tracker());
        let b = ids.generate(IdGenerator::UuidCounter, tracker());
        let (wa, na) = a.split_once('#').unwrap();
        let (wb, nb) = b.split_once('#').unwrap();
        assert_eq!((wa, na, nb), (wb, "1", "2"));
        assert!(Uuid::parse_str(wa).is_ok());
    }

    #[test]
    fn uuid_and_tracker_have_kongs_shapes() {
        let ids = IdSource::default();
        let u = ids.generate(IdGenerator::Uuid, tracker());
        assert_eq!(Uuid::parse_str(&u).unwrap().get_version_num(), 4);
        let t = ids.generate(IdGenerator::Tracker, tracker());
        let re = regex::Regex::new(r"^127\.0\.0\.1-8000-\d+-1-1-1700000000\.250$").unwrap();
        assert!(re.is_match(&t), "{t}");
    }
}
