//! The fuzz targets (`fuzz/src/lib.rs`) on stable Rust: each target runs over its committed
//! seeds (`fuzz/seeds/<target>/`) and a fixed set of seeded mutations of them (bit flips, cuts,
//! splices, repeated bytes and deep runs of nesting characters). Not coverage-guided — that is
//! `cargo +nightly fuzz run <target>` (fuzz/README.md) — but it runs every target on every
//! build, so a crash cargo-fuzz found and a fix made stays fixed.
//!
//! Each input runs on a thread with a 2 MiB stack, the size of a tokio worker's, where the
//! control and catalog APIs decode request bodies. Before each run the input is written to
//! `<target tmp dir>/fuzz-last-<target>`: after an abort (stack overflow) that file holds it.
//! `GAUNTLET_FUZZ_MUTATIONS` sets the mutations per seed (default 150; 25 for feature files).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("seed entry").path();
            let bytes = std::fs::read(&path).expect("read seed");
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// A small deterministic generator (xorshift64*), so every run tries the same inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = b"\0\xff\"'\\\n\t =:.,[]{}()#%-*&!|>";
const NESTING: [&str; 6] = ["[", "{", "(", "- ", "  ", "{a: "];

/// One mutation of `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let at = rng.below(out.len() + 1);
    match rng.below(7) {
        0 if !out.is_empty() => {
            let i = rng.below(out.len());
            out[i] ^= 1 << rng.below(8);
        }
        1 if !out.is_empty() => {
            let i = rng.below(out.len());
            out[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => {
            let end = (at + rng.below(64)).min(out.len());
            out.drain(at..end);
        }
        3 => {
            let from = rng.below(out.len() + 1);
            let end = (from + rng.below(256)).min(out.len());
            let piece = out[from..end].to_vec();
            out.splice(at..at, piece);
        }
        4 => {
            let unit = NESTING[rng.below(NESTING.len())];
            let depth = [10, 100, 1_000, 30_000][rng.below(4)];
            out.splice(at..at, unit.repeat(depth).into_bytes());
        }
        5 => out.truncate(at),
        _ => {
            let byte = INTERESTING[rng.below(INTERESTING.len())];
            out.splice(at..at, std::iter::repeat_n(byte, 1 + rng.below(4096)));
        }
    }
    out
}

/// Runs `target` on every seed and its mutations, each on a fresh 2 MiB-stack thread.
fn survive(name: &str, target: fn(&[u8])) {
    // Checking a feature matches every step against every step pattern: fewer, in a debug build.
    let default = if name == "gherkin_steps" { 25 } else { 150 };
    let mutations: usize = std::env::var("GAUNTLET_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let last = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-last-{name}"));
    let mut inputs = Vec::new();
    for (path, seed) in seeds(name) {
        let mut rng = Rng::new(&seed);
        inputs.push((path.display().to_string(), seed.clone()));
        let mut current = seed.clone();
        for i in 0..mutations {
            // Stack mutations a few deep before going back to the seed.
            if i % 4 == 0 {
                current = seed.clone();
            }
            current = mutate(&mut rng, &current);
            inputs.push((format!("{} mutation {i}", path.display()), current.clone()));
        }
    }
    for (label, input) in inputs {
        std::fs::write(&last, &input).expect("write the last input");
        let run = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || target(&input))
            .expect("spawn");
        if run.join().is_err() {
            panic!(
                "{name} panicked on {label}; the input is in {}",
                last.display()
            );
        }
    }
}

macro_rules! fuzz_seed_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                survive(stringify!($target), targets::$target);
            }
        )*

        #[test]
        fn every_fuzz_target_has_a_seed_test() {
            let tested = [$(stringify!($target)),*];
            for (name, _) in targets::TARGETS {
                assert!(tested.contains(&name), "{name} has no seed test here");
            }
        }
    };
}

fuzz_seed_tests!(
    jwt_token,
    jwt_extract,
    intentions_hcl,
    intentions_json,
    kong_yml,
    stack_yml,
    gherkin_steps,
    control_fault,
    toxic_json,
);
