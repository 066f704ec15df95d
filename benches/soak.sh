#!/usr/bin/env bash
# Soak: `gauntlet up` under steady load while every HTTP fault kind, every process fault, every
# toxic (when the control API serves Toxiproxy's routes) and clock jumps are toggled in turn.
# Samples the `up` process's resident memory, open file descriptors and threads, writes the
# series to a CSV, and fails when any of them grows by more than 10% over the last two thirds
# of the run (the first third is warm-up: allocator pools, connection pools, lazy statics).
#
#   benches/soak.sh                        # 30 minutes
#   benches/soak.sh --duration 2m          # a quick look
#   benches/soak.sh --duration 8h --out /tmp/soak-night
#
# Options: --duration D (30m; s, m, h), --interval S (sampling, 10), --step S (seconds between
# two actions, 4), --rate R (requests/s of each of the two load streams, 40), --port-offset N
# (added to every fixed port of the stack, 20000), --out DIR (soak.csv, actions.log, up.log),
# --bin PATH (default: target/release/gauntlet, built when missing), --max-growth PCT (10).
#
# The stack is a copy of scenarios/valueverse on shifted ports. The copy raises the rate limits
# (minute/hour) so the load reaches the services: the soak measures resources, not policy.
# The load is GETs only, because the mocks keep what a POST creates (growth by design).
# With GAUNTLET_API_TOKEN set, `up` requires it and every client here sends it.
# Exit 0: no metric grew more than allowed; 1: one did, or the stack died; 2: usage.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=30m interval=10 step=4 rate=40 offset=20000 out="" bin="" max_growth=10
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --step) step="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --port-offset) offset="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --max-growth) max_growth="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak: unknown option $1" >&2; exit 2 ;;
  esac
done

seconds_of() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *[0-9]) echo "$1" ;;
    *) echo "soak: bad duration $1" >&2; exit 2 ;;
  esac
}
total=$(seconds_of "$duration")
out=${out:-target/soak/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
if [ -z "$bin" ]; then
  bin=target/release/gauntlet
  [ -x "$bin" ] || cargo build --release --bin gauntlet
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${up_pid:-}" ]; then
    kill -INT "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
  fi
  rm -rf "${stack:-}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The stack: valueverse with every fixed port shifted by the offset and roomy rate limits. When a
# port is taken, the next offset (+1000) is tried, five times.
stack=$(mktemp -d)
cp scenarios/valueverse/* "$stack"/
sed -i -e 's/^\( *minute:\) 100$/\1 100000000/' -e 's/^\( *hour:\) 10000$/\1 1000000000/' "$stack/kong.yml"
port_of() { awk -v k="$1:" '/^ports:/{p=1} p && $1==k {print $2; exit}' "$stack/stack.yml"; }
auth=()
if [ -n "${GAUNTLET_API_TOKEN:-}" ]; then auth=(-H "Authorization: Bearer $GAUNTLET_API_TOKEN"); fi
for attempt in 1 2 3 4 5; do
  awk -v off="$offset" '
    /^ports:/ { inports = 1; print; next }
    inports && /^[^ #]/ { inports = 0 }
    (inports || $1 == "local_port:" || $1 == "- local_port:") && $NF ~ /^[0-9]+$/ {
      sub(/[0-9]+$/, $NF + off)
    }
    { print }' scenarios/valueverse/stack.yml > "$stack/stack.yml"
  proxy="http://127.0.0.1:$(port_of gateway_proxy)"
  control="http://127.0.0.1:$(port_of control)"
  "$bin" up --stack "$stack" --certs-dir "$stack/certs" --seed 1 >"$out/up.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "${auth[@]}" "$control/" >/dev/null 2>&1 && break
    kill -0 "$up_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$up_pid" 2>/dev/null && break
  wait "$up_pid" 2>/dev/null || true
  unset up_pid
  if ! grep -q 'cannot bind' "$out/up.log" || [ "$attempt" = 5 ]; then
    echo "soak: gauntlet up exited:"; cat "$out/up.log"; exit 1
  fi
  offset=$((offset + 1000))
done
token=$("$bin" token --consumer admin-user --stack "$stack" --minutes 1380 | tail -n1)
toxiproxy=no
if curl -sf "${auth[@]}" "$control/version" >/dev/null 2>&1; then toxiproxy=yes; fi
echo "soak: $duration against $proxy (control $control, toxics: $toxiproxy), output in $out"

# Steady load: two GET streams, one per service, for the whole run.
for path in /api/v1/value-models /api/v1/commitments; do
  "$bin" load "$proxy$path" --rate "$rate" --duration "${total}s" --connections 8 \
    --timeout 60s -H "Authorization: Bearer $token" >"$out/load-${path##*/}.log" 2>&1 &
  pids+=($!)
done

# Sampler: one CSV line per interval (seconds since start, RSS KiB, open FDs, threads).
echo "seconds,rss_kib,fds,threads" >"$out/soak.csv"
(
  start=$(date +%s)
  while kill -0 "$up_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/{print $2}' "/proc/$up_pid/status" 2>/dev/null || echo 0)
    threads=$(awk '/^Threads:/{print $2}' "/proc/$up_pid/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$up_pid/fd" 2>/dev/null | wc -l)
    echo "$(( $(date +%s) - start )),$rss,$fds,$threads" >>"$out/soak.csv"
    sleep "$interval"
  done
) &
pids+=($!)

chaos() { "$bin" chaos --control "$control" "$@" >>"$out/actions.log" 2>&1 || echo "  (refused: $*)" >>"$out/actions.log"; }
api() { curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' "$@" >>"$out/actions.log" 2>&1 || true; echo >>"$out/actions.log"; }
act() { echo "$(date +%T) $*" >>"$out/actions.log"; "$@"; sleep "$step"; }

# One rotation: every HTTP fault kind, every process fault, every toxic, clock jumps.
rotation() {
  act chaos fault value-architect --status 503 --times 5
  act chaos fault value-committer --status 500 --body '{"message":"soak"}' --method GET --path /api --times 5
  act chaos fault value-architect --delay 200ms --times 20
  act chaos fault value-committer --delay 100ms..300ms --probability 0.5 --times 20
  act chaos fault value-architect --hang --times 3
  act chaos advance 31s
  act chaos fault value-committer --reset --times 5
  act chaos fault value-architect --malformed --times 5
  act chaos clear
  act chaos stop value-architect
  act chaos start value-architect
  act chaos kill value-committer
  act chaos start value-committer
  act chaos stop postgres
  act chaos start postgres
  act chaos kill redis
  act chaos start redis
  act chaos pause value-architect
  act chaos unpause value-architect
  act chaos pause redis
  act chaos unpause redis
  act chaos advance 61s
  if [ "$toxiproxy" = yes ]; then
    local links
    links=$(curl -s "${auth[@]}" "$control/proxies" | jq -r 'keys[]' 2>/dev/null || true)
    for link in $links; do
      for toxic in '{"type":"latency","attributes":{"latency":50,"jitter":10}}' \
                   '{"type":"bandwidth","attributes":{"rate":100}}' \
                   '{"type":"slow_close","attributes":{"delay":100}}' \
                   '{"type":"timeout","attributes":{"timeout":500}}' \
                   '{"type":"reset_peer","attributes":{"timeout":100}}' \
                   '{"type":"slicer","attributes":{"average_size":64,"size_variation":32,"delay":100}}' \
                   '{"type":"limit_data","attributes":{"bytes":2048}}'; do
        act api -X POST "$control/proxies/$link/toxics" -d "$toxic"
      done
      act api -X POST "$control/proxies/$link" -d '{"enabled":false}'
      act api -X POST "$control/reset"
    done
  fi
}

deadline=$(( $(date +%s) + total ))
rotations=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  rotation
  rotations=$((rotations + 1))
  kill -0 "$up_pid" 2>/dev/null || { echo "soak: gauntlet up died during the run"; tail -20 "$out/up.log"; exit 1; }
done
chaos clear

# Growth over the last two thirds: the mean of the first tenth of that window against the mean
# of the last tenth of the run, per metric.
echo "soak: $rotations rotations; series in $out/soak.csv"
awk -F, -v max="$max_growth" '
  NR > 1 { n++; t[n] = $1; v[1, n] = $2; v[2, n] = $3; v[3, n] = $4 }
  END {
    if (n < 6) { print "soak: too few samples (" n ")"; exit 1 }
    from = int(n / 3) + 1; k = int((n - from + 1) / 10); if (k < 1) k = 1
    split("rss_kib fds threads", name, " ")
    printf "%-8s %12s %12s %12s %8s\n", "metric", "start", "window", "end", "growth"
    failed = 0
    for (m = 1; m <= 3; m++) {
      a = 0; b = 0
      for (i = from; i < from + k; i++) a += v[m, i]
      for (i = n - k + 1; i <= n; i++) b += v[m, i]
      a /= k; b /= k
      g = a > 0 ? (b - a) * 100 / a : 0
      printf "%-8s %12d %12.1f %12.1f %7.1f%%\n", name[m], v[m, 1], a, b, g
      if (g > max) failed = 1
    }
    if (failed) { print "soak: FAILED: growth above " max "% over the last two thirds"; exit 1 }
    print "soak: ok (growth at most " max "% over the last two thirds)"
  }' "$out/soak.csv"
