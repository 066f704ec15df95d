#!/usr/bin/env bash
# Does watching disturb what is watched? Gateway throughput under wrk with both consoles closed
# and open in headless chromium, interleaved (see console.py). On an idle machine:
#   benches/console.sh                          # 8 rounds of 10 s per mode
#   benches/console.sh --rounds 12 --duration 15
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release -q --bin gauntlet
exec python3 benches/console.py --gauntlet target/release/gauntlet "$@"
