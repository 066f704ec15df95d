//! The bulkhead stage (SPEC §4, §5): at most `max_concurrent_requests` requests in flight per
//! service. The next one is refused at once, never queued, and never reaches the circuit
//! breaker, so it is not a breaker failure.
//!
//! ```text
//!   pipeline ──► Bulkheads::enter(service) ──► Slot (held by `body::hold_until_done` until
//!                                                    the response body ends)
//!                        └── full ──► BulkheadFull ──► rescue (503)
//! ```

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::gateway::{PluginConfig, PluginKind};
use crate::config::GatewayConfig;

/// A service's bulkhead is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bulkhead of {service} is full ({limit} requests in flight)")]
pub struct BulkheadFull {
    pub service: String,
    pub limit: u32,
}

/// One request's place in a bulkhead; the place is freed when the slot is dropped.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

#[derive(Debug)]
struct Bulkhead {
    service: String,
    limit: u32,
    places: Arc<Semaphore>,
}

/// Every bulkhead of a gateway, indexed like `GatewayConfig::services`.
#[derive(Debug, Default)]
pub struct Bulkheads {
    by_service: Vec<Option<Bulkhead>>,
}

impl Bulkheads {
    /// One bulkhead per service that a `bulkhead` plugin covers (on the service or global).
    pub fn new(config: &GatewayConfig) -> Self {
        let by_service = (0..config.services.len())
            .map(|s| match config.service_plugin(PluginKind::Bulkhead, s) {
                Some(PluginConfig::Bulkhead(c)) => Some(Bulkhead {
                    service: config.services[s].name.clone(),
                    limit: c.max_concurrent_requests,
                    places: Arc::new(Semaphore::new(c.max_concurrent_requests as usize)),
                }),
                _ => None,
            })
            .collect();
        Bulkheads { by_service }
    }

    /// Takes a place in service `service`'s bulkhead; `Ok(None)` when it has none.
    ///
    /// # Errors
    /// [`BulkheadFull`] when every place is taken.
    pub fn enter(&self, service: usize) -> Result<Option<Slot>, BulkheadFull> {
        let Some(Some(bulkhead)) = self.by_service.get(service) else {
            return Ok(None);
        };
        match bulkhead.places.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(Slot(permit))),
            Err(_) => Err(BulkheadFull {
                service: bulkhead.service.clone(),
                limit: bulkhead.limit,
            }),
        }
    }

    /// `(service index, limit, in flight)` of every bulkhead.
    pub fn usage(&self) -> impl Iterator<Item = (usize, u32, u32)> + '_ {
        self.by_service.iter().enumerate().filter_map(|(i, b)| {
            let b = b.as_ref()?;
            let free = u32::try_from(b.places.available_permits()).unwrap_or(u32::MAX);
            Some((i, b.limit, b.limit.saturating_sub(free)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gateway::{BulkheadConfig, PluginInstance, PluginScope, Service};
    use http_body_util::BodyExt;

    fn config(limit: u32) -> GatewayConfig {
        let service = Service {
            id: uuid::Uuid::nil(),
            name: "value-architect".into(),
            host: "value-architect".into(),
            port: 80,
            path: None,
            protocol: "http".into(),
            retries: 3,
            connect_timeout: std::time::Duration::from_secs(1),
            write_timeout: std::time::Duration::from_secs(1),
            read_timeout: std::time::Duration::from_secs(1),
        };
        GatewayConfig {
            services: vec![service.clone(), service],
            plugins: vec![PluginInstance {
                id: uuid::Uuid::nil(),
                scope: PluginScope {
                    service: Some(0),
                    ..Default::default()
                },
                enabled: true,
                config: PluginConfig::Bulkhead(BulkheadConfig {
                    max_concurrent_requests: limit,
                }),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn refuses_the_request_past_the_limit_at_once() {
        let bulkheads = Bulkheads::new(&config(2));
        let a = bulkheads.enter(0).expect("first");
        let _b = bulkheads.enter(0).expect("second");
        assert_eq!(
            bulkheads.enter(0).expect_err("third").to_string(),
            "bulkhead of value-architect is full (2 requests in flight)"
        );
        drop(a);
        assert!(bulkheads.enter(0).is_ok());
    }

    #[test]
    fn a_service_without_the_plugin_is_unlimited() {
        let bulkheads = Bulkheads::new(&config(1));
        for _ in 0..10 {
            assert!(matches!(bulkheads.enter(1), Ok(None)));
        }
    }

    #[tokio::test]
    async fn the_place_is_held_until_the_body_is_read() {
        let bulkheads = Bulkheads::new(&config(1));
        let slot = bulkheads.enter(0).expect("place");
        let body = crate::http::body::hold_until_done(crate::http::body::full("payload"), slot);
        assert!(bulkheads.enter(0).is_err(), "the body is not read yet");
        let bytes = body.collect().await.expect("body").to_bytes();
        assert_eq!(&bytes[..], b"payload");
        assert!(bulkheads.enter(0).is_ok());
    }
}
