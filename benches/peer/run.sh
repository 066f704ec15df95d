#!/usr/bin/env bash
# Gauntlet's gateway overhead against HAProxy's on the same path (see bench.py).
#   benches/peer/run.sh                      # mesh off and on, 3 rounds of 5 s per target
#   benches/peer/run.sh --rounds 5 --mode plain --json target/peer.json
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release -q --bin gauntlet
exec python3 benches/peer/bench.py "$@"
