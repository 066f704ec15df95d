#!/usr/bin/env python3
"""Instructions per request of Gauntlet's gateway, counted by valgrind's callgrind: repeatable on a
shared machine where wall-clock ratios (bench.py) are noisy.

Starts `gauntlet up` on benches/peer/stack under `valgrind --tool=callgrind` with instrumentation
off, warms each target up, then for each target switches instrumentation on, sends N sequential
keep-alive requests (GET /api/v1/value-models as the load-test consumer), switches it off and
reads the instruction count. Everything of the stack runs in that one process, so:

  direct    the service's public port (its inbound stage and the mock)
  gateway   the gateway's proxy port (the full pipeline, then the same inbound stage and mock)

and the gateway's own cost per request is `gateway - direct`. Mesh on (`--mode mesh`): the
gateway calls the service over mTLS, and `direct` is the plain service port behind the sidecar.

  benches/peer/instructions.py [--requests 2000] [--mode plain|mesh] [--callgrind-out DIR]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "benches", "peer")
PATH = "/api/v1/value-models"
CONSUMER = "load-test"


def send(url, token, n):
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(n):
        conn.request("GET", PATH, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"{url}{PATH} answered {response.status}")
    conn.close()


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def total_ir(out_dir):
    """Sum of the `summary:`/`totals:` lines of every dump written so far, per file."""
    totals = {}
    for name in os.listdir(out_dir):
        if not name.startswith("callgrind.out"):
            continue
        with open(os.path.join(out_dir, name)) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    totals[name] = int(line.split()[1])
    return totals


def measure(pid, out_dir, label, url, token, n):
    send(url, token, 200)  # warm: connections, pools, caches
    before = total_ir(out_dir)
    control(pid, "-z")
    control(pid, "-i", "on")
    send(url, token, n)
    control(pid, "-i", "off")
    control(pid, "-d", label)
    time.sleep(0.5)
    after = total_ir(out_dir)
    new = {k: v for k, v in after.items() if k not in before}
    return sum(new.values()) / n


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gauntlet", default=os.path.join(ROOT, "target", "release", "gauntlet"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--mode", choices=["plain", "mesh"], default="plain")
    parser.add_argument("--callgrind-out", help="keep the callgrind dumps here (for callgrind_annotate)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="gauntlet-instr-")
    stack = os.path.join(work, "stack")
    os.makedirs(stack)
    for name in ("kong.yml", "stack.yml"):
        shutil.copy(os.path.join(PEER, "stack", name), stack)
    if args.mode == "mesh":
        shutil.copy(os.path.join(ROOT, "scenarios", "valueverse", "intentions.hcl"), stack)
    out_dir = args.callgrind_out or os.path.join(work, "callgrind")
    os.makedirs(out_dir, exist_ok=True)
    proc = subprocess.Popen(
        [
            "valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out_dir}/callgrind.out.%p",
            args.gauntlet, "up", "--stack", stack, "--json", "--seed", "1",
            "--certs-dir", os.path.join(work, "certs"),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            sys.exit("gauntlet up exited before printing its summary")
        summary = json.loads(line)
        token = summary["tokens"][CONSUMER]
        if args.mode == "mesh":
            direct = "http://" + summary["mesh"]["sidecars"]["value-architect"]["service"]
        else:
            direct = summary["services"]["value-architect"]
        gateway = summary["gateway"]["proxy"]
        figures = {
            "direct": measure(proc.pid, out_dir, "direct", direct, token, args.requests),
            "gateway": measure(proc.pid, out_dir, "gateway", gateway, token, args.requests),
        }
        figures["gateway_own"] = figures["gateway"] - figures["direct"]
        print(f"mesh {'on' if args.mode == 'mesh' else 'off'}, {args.requests} requests per target "
              f"(instructions per request, callgrind)")
        for name, value in figures.items():
            print(f"  {name:<12} {value:10.0f}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not args.callgrind_out:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
