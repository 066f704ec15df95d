#!/usr/bin/env bash
# Nightly fuzzing: every cargo-fuzz target for N seconds each (default 600), then a summary.
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz when
# missing. Too long for the per-change CI (`.ci/run` runs the same targets on stable over the
# committed seeds and their mutations instead: tests/fuzz_seeds.rs).
#
#   ci/fuzz.sh            # 10 minutes per target
#   ci/fuzz.sh 30         # a 30-second smoke per target
# Exit 1 when a target crashed (its input is in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo +nightly fuzz build -s none
failed=()
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target"
  echo "== $target, ${seconds}s"
  if ! cargo +nightly fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1; then
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: no crash in $(cargo +nightly fuzz list | wc -l) targets, ${seconds}s each"
