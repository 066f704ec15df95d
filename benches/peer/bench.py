#!/usr/bin/env python3
"""Gauntlet's gateway against HAProxy doing the same policy work, in one run on this machine.

Starts `gauntlet up` on benches/peer/stack (mesh off, then on), HAProxy with
benches/peer/haproxy/haproxy.cfg in front of the same upstream, and runs interleaved wrk rounds
(closed model) against three targets:

  direct    wrk ─► the upstream itself                 (mesh on: the service's plain port)
  haproxy   wrk ─► HAProxy (jwt, acl, rate limit) ─► the upstream (mesh on: mTLS to its sidecar)
  gauntlet  wrk ─► Gauntlet's gateway (full pipeline)  ─► the upstream (mesh on: mTLS to its sidecar)

Per target: the median over rounds of requests/s, p50 and p99. The overhead per request is
1e6/rps(target) - 1e6/rps(direct) µs (what the proxy adds to the time the machine spends per
request); the ratio is Gauntlet's overhead over HAProxy's. Target: ratio <= 1.0.

Run through benches/peer/run.sh, which installs HAProxy and wrk and builds the release binary.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "benches", "peer")
PATH = "/api/v1/value-models"
CONSUMER = "load-test"
HAPROXY_PORT = 18080


def start_up(gauntlet, stack_dir, certs_dir):
    """`gauntlet up --json`; returns (process, summary)."""
    proc = subprocess.Popen(
        [gauntlet, "up", "--stack", stack_dir, "--json", "--seed", "1", "--certs-dir", certs_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        sys.exit(f"gauntlet up exited ({proc.returncode}) before printing its summary")
    return proc, json.loads(line)


def haproxy_config(upstream, tls):
    with open(os.path.join(PEER, "haproxy", "haproxy.cfg")) as f:
        text = f.read()
    return (
        text.replace('"${HAPROXY_PORT}"', str(HAPROXY_PORT))
        .replace("${MAPS}", os.path.join(PEER, "haproxy"))
        .replace('"${UPSTREAM}"', upstream)
        .replace("${UPSTREAM_TLS}", tls)
    )


def get(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def wait_ok(url, token):
    for _ in range(100):
        try:
            if get(url, token) == 200:
                return
        except Exception:  # not listening yet
            pass
        time.sleep(0.05)
    sys.exit(f"{url} never answered 200")


def wrk(url, token, args):
    out = subprocess.run(
        [
            "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
            "--latency", "-H", f"Authorization: Bearer {token}", url,
        ],
        capture_output=True, text=True, check=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if non_2xx or errors:
        sys.exit(f"wrk against {url} saw failures:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 1, "ms": 1e3, "s": 1e6}[unit]

    return {"rps": rps, "p50_us": percentile(50), "p99_us": percentile(99)}


def measure(mode, gauntlet, args):
    work = tempfile.mkdtemp(prefix=f"gauntlet-peer-{mode}-")
    stack = os.path.join(work, "stack")
    os.makedirs(stack)
    for name in ("kong.yml", "stack.yml"):
        shutil.copy(os.path.join(PEER, "stack", name), stack)
    if mode == "mesh":
        shutil.copy(os.path.join(ROOT, "scenarios", "valueverse", "intentions.hcl"), stack)
    up, summary = start_up(gauntlet, stack, os.path.join(work, "certs"))
    haproxy = None
    try:
        token = summary["tokens"][CONSUMER]
        if mode == "mesh":
            sidecar = summary["mesh"]["sidecars"]["value-architect"]
            upstream, direct = sidecar["public"], "http://" + sidecar["service"]
            certs = os.path.join(work, "certs")
            pem = os.path.join(work, "api-gateway-with-key.pem")
            with open(pem, "w") as out:
                for part in ("api-gateway.pem", "api-gateway-key.pem"):
                    with open(os.path.join(certs, part)) as f:
                        out.write(f.read())
            tls = f"ssl crt {pem} ca-file {os.path.join(certs, 'ca.pem')} verify required alpn http/1.1"
        else:
            direct = summary["services"]["value-architect"]
            upstream, tls = direct.removeprefix("http://"), ""
        config = os.path.join(work, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(haproxy_config(upstream, tls))
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL)
        targets = {
            "direct": direct + PATH,
            "haproxy": f"http://127.0.0.1:{HAPROXY_PORT}{PATH}",
            "gauntlet": summary["gateway"]["proxy"] + PATH,
        }
        for url in targets.values():
            wait_ok(url, token)
        results = {name: [] for name in targets}
        order = list(targets)
        for round_ in range(args.rounds):
            for name in order:
                results[name].append(wrk(targets[name], token, args))
            order = order[1:] + order[:1]  # interleave: each target leads one round
        return summarize(mode, results)
    finally:
        for proc in (haproxy, up):
            if proc is not None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def summarize(mode, results):
    med = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_us", "p99_us")}
        for name, runs in results.items()
    }
    per_request = {name: 1e6 / m["rps"] for name, m in med.items()}
    overhead = {name: per_request[name] - per_request["direct"] for name in ("haproxy", "gauntlet")}
    ratio = overhead["gauntlet"] / overhead["haproxy"] if overhead["haproxy"] > 0 else float("inf")
    print(f"\nmesh {'on' if mode == 'mesh' else 'off'}:")
    print(f"  {'target':<9} {'req/s':>9} {'p50':>9} {'p99':>9} {'per req':>9} {'overhead':>9}   rounds (req/s)")
    for name, m in med.items():
        extra = f"{overhead[name]:8.1f}µs" if name in overhead else f"{'-':>9}"
        rounds = " ".join(f"{r['rps']:.0f}" for r in results[name])
        print(
            f"  {name:<9} {m['rps']:9.0f} {m['p50_us']:7.0f}µs {m['p99_us']:7.0f}µs "
            f"{per_request[name]:7.1f}µs {extra}   {rounds}"
        )
    print(f"  ratio Gauntlet/HAProxy overhead per request: {ratio:.2f} (target <= 1.0)")
    return {"mode": mode, "median": med, "overhead_us": overhead, "ratio": ratio, "rounds": results}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gauntlet", default=os.path.join(ROOT, "target", "release", "gauntlet"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", choices=["plain", "mesh", "both"], default="both")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} interleaved "
        f"rounds, GET {PATH} as {CONSUMER}"
    )
    modes = ["plain", "mesh"] if args.mode == "both" else [args.mode]
    figures = [measure(mode, args.gauntlet, args) for mode in modes]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
