//! The step library QA engineers write features with, organised by domain (never by
//! Given/When/Then). `gauntlet steps` prints [`catalog::CATALOG`].
//!
//! - [`world`] — the scenario's state: its own stack, tokens, the last exchange.
//! - [`stack`] — starting the stack, service-level checks.
//! - [`auth`] — tokens and where the request carries them.
//! - [`http`] — sending requests and asserting on responses and on what the service saw.
//! - [`rate_limit`] — header countdowns, concurrent bursts.
//! - [`chaos`] — process and HTTP faults, and what reached a service (its journal).
//! - [`breaker`] — the circuit breaker's state through the admin API.
//! - [`inflight`] — requests left running in the background.
//! - [`mesh`] — calls over the mesh as any identity, intentions, sidecar metrics, tracing.
//! - [`network`] — toxics on the stack's links, links down and up (SPEC §7.1).
//! - [`load`] — load at a rate or from concurrent clients, latency objectives (LAT-1).
//! - [`observability`] — the gateway's Prometheus metrics.
//! - [`time`] — moving the stack clock.
//! - [`params`] — parameter types (methods, durations).

pub mod auth;
pub mod breaker;
pub mod catalog;
pub mod chaos;
pub mod http;
pub mod inflight;
pub mod load;
pub mod mesh;
pub mod names;
pub mod network;
pub mod observability;
pub mod params;
pub mod rate_limit;
pub mod stack;
pub mod steady_state;
pub mod suggest;
pub mod time;
pub mod world;

pub use world::{GauntletWorld, StepError};
