//! The one seed derivation. A run has one seed (`--seed`, printed at start); every seeded choice
//! (a scenario's stack, each service's random fault choices) draws from a seed derived from it
//! here, so a run replays exactly and no two choosers share a sequence.
//!
//! ```text
//!   run seed ──derive(path, line, scenario)──► scenario seed ──derive(service)──► service seed
//! ```

/// The seed of one seeded choice: the run's seed mixed with the names of what chooses (the
/// scenario, then the service), so concurrent scenarios and services draw independent,
/// replayable sequences.
pub fn derive_seed(run_seed: u64, parts: &[&str]) -> u64 {
    // FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ run_seed;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_differ_by_scenario_and_service() {
        let a = derive_seed(1, &["scenario a", "value-architect"]);
        assert_eq!(a, derive_seed(1, &["scenario a", "value-architect"]));
        assert_ne!(a, derive_seed(1, &["scenario b", "value-architect"]));
        assert_ne!(a, derive_seed(2, &["scenario a", "value-architect"]));
    }
}
