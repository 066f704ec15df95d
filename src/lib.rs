//! Gauntlet: a chaos and conformance harness for a Kong-style gateway and a Consul-style mesh.
//!
//! ```text
//!   scenarios/<stack>/ ──► config ──► stack (services behind their sidecars + gateway on
//!                                            loopback, one clock)
//!   features/*.feature ──► runner (cucumber, steps/) ──drives──► stack ◄── chaos (faults,
//!                                                                          control API)
//!                              └──► report (neutral model ──► html, junit, cucumber json, results)
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod chaos;
pub mod clauses;
pub mod cli;
pub mod clock;
pub mod config;
pub mod docker;
pub mod explore;
pub mod gateway;
pub mod http;
pub mod jws;
pub mod link;
pub mod load;
pub mod mesh;
pub mod mutate;
pub mod outcome;
pub mod prometheus;
pub mod protocol;
pub mod report;
pub mod runner;
pub mod seed;
pub mod service;
pub mod sidecar;
pub mod stack;
pub mod steps;
pub mod target;
pub mod token;
pub mod trace;
pub mod units;
