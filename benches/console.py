#!/usr/bin/env python3
"""Does watching disturb what is watched? Gateway throughput with and without both consoles open.

Starts `gauntlet up` on benches/peer/stack with valueverse's intentions (mesh on, so both
consoles exist) and runs interleaved wrk rounds (closed model, `load-test` consumer, full gateway
pipeline) against the gateway:

  closed   nothing watches
  open     both consoles' polling, exactly what their scripts fetch every 500 ms: the catalog's
           /v1/internal/ui/topology, and the control API's /, /breakers, /traffic, /proxies, /clock
           (--browser: two headless chromium tabs with the real pages instead)

Prints the median requests/s of each, the drop open vs closed (target <= 2%), and the up
process's RSS after each round (flat = no growth while the consoles are open).

  benches/console.py --gauntlet target/release/gauntlet --rounds 6 --duration 10

--memory SECONDS instead keeps both pages open in headless chromium for that long while
`gauntlet load` sends a steady --rate of requests through the gateway, samples the up process's
RSS (and its threads and open FDs) every --interval seconds, and fails (exit 1) when one grew by
more than 10% over the last two thirds of the run (the first third is warm-up, as in
benches/soak.sh):

  benches/console.py --memory 600 --rate 100 --interval 30
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches", "peer"))
import bench  # noqa: E402  (start-up, wrk and its parsing are shared with the peer benchmark)

PATH = "/api/v1/value-models"


def poll(urls, stop):
    """Fetches every URL every 500 ms until `stop` is set, as the consoles' scripts do."""
    while not stop.is_set():
        for url in urls:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    r.read()
            except Exception as e:  # the benchmark must not hide a broken console
                sys.exit(f"{url}: {e}")
        stop.wait(0.5)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def polling_cost(pid, urls, seconds):
    """CPU the up process spends serving the consoles' polling, as a share of one core: less
    noisy than throughput on a shared machine, and a bound on the throughput a CPU-bound gateway
    can lose to it."""
    idle0 = cpu_seconds(pid)
    time.sleep(seconds)
    idle = cpu_seconds(pid) - idle0
    stop = threading.Event()
    t = threading.Thread(target=poll, args=(urls, stop), daemon=True)
    busy0 = cpu_seconds(pid)
    t.start()
    time.sleep(seconds)
    busy = cpu_seconds(pid) - busy0
    stop.set()
    t.join()
    return max(0.0, busy - idle) / seconds


def proc_status(pid):
    """RSS KiB, threads and open FDs of a process."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "Threads"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("Threads", 0), len(os.listdir(f"/proc/{pid}/fd"))


def open_pages(pages, work):
    """Each page in its own headless chromium, loopback only; the processes."""
    tabs = []
    for page in pages:
        profile = tempfile.mkdtemp(dir=work)
        tabs.append(subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", page],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return tabs


def memory(args, proc, summary, token, url, work):
    """Both pages open under steady load for args.memory seconds; the RSS series and its growth
    over the last two thirds."""
    pages = [summary["consoles"]["topology"], summary["consoles"]["chaos"]]
    tabs = open_pages(pages, work)
    load = subprocess.Popen(
        [args.gauntlet, "load", url, "--rate", str(args.rate), "--duration", f"{args.memory}s",
         "--connections", "8", "--timeout", "60s", "-H", f"Authorization: Bearer {token}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.monotonic()
    series = []
    try:
        while True:
            elapsed = time.monotonic() - started
            rss, threads, fds = proc_status(proc.pid)
            series.append((round(elapsed), rss, threads, fds))
            print(f"{elapsed:6.0f} s  rss {rss / 1024:6.1f} MB  threads {threads:3}  fds {fds:4}", flush=True)
            for tab in tabs:
                if tab.poll() is not None:
                    sys.exit("a chromium tab exited")
            if elapsed >= args.memory:
                break
            time.sleep(min(args.interval, max(0.0, args.memory - elapsed)))
    finally:
        for tab in tabs:
            tab.terminate()
            tab.wait()
        out, _ = load.communicate(timeout=120)
    print(out.strip().splitlines()[-1] if out.strip() else "(no load summary)")
    window = series[len(series) // 3:]
    k = max(1, len(window) // 10)
    growth = {}
    for i, name in ((1, "rss_kib"), (2, "threads"), (3, "fds")):
        first = statistics.mean(v[i] for v in window[:k])
        last = statistics.mean(v[i] for v in window[-k:])
        growth[name] = round((last - first) * 100 / first, 1) if first else 0.0
    print(json.dumps({"seconds": args.memory, "rate": args.rate, "series": series,
                      "growth_percent_last_two_thirds": growth}))
    return 0 if all(g <= 10.0 for g in growth.values()) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gauntlet", default=os.path.join(ROOT, "target", "release", "gauntlet"))
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--port-offset", type=int, default=0)
    p.add_argument("--browser", action="store_true", help="open the pages in headless chromium")
    p.add_argument("--memory", type=int, default=0, metavar="SECONDS",
                   help="instead: both pages open in chromium under steady load for SECONDS, RSS series")
    p.add_argument("--rate", type=int, default=100, help="requests/s of the --memory load")
    p.add_argument("--interval", type=int, default=30, help="seconds between --memory samples")
    args = p.parse_args()

    work = tempfile.mkdtemp(prefix="gauntlet-console-bench-")
    stack = os.path.join(work, "stack")
    os.makedirs(stack)
    for name in ("kong.yml", "stack.yml"):
        shutil.copy(os.path.join(ROOT, "benches", "peer", "stack", name), stack)
    shutil.copy(os.path.join(ROOT, "scenarios", "valueverse", "intentions.hcl"), stack)
    proc = subprocess.Popen(
        [args.gauntlet, "up", "--stack", stack, "--json", "--seed", "1",
         "--certs-dir", os.path.join(work, "certs"), "--port-offset", str(args.port_offset)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        summary = json.loads(proc.stdout.readline())
        token = summary["tokens"][bench.CONSUMER]
        url = summary["gateway"]["proxy"] + PATH
        bench.wait_ok(url, token)
        if args.memory:
            return memory(args, proc, summary, token, url, work)
        catalog, control = summary["mesh"]["catalog"], summary["control"]
        polled = [catalog + "/v1/internal/ui/topology"] + [
            control + p for p in ("/", "/breakers", "/traffic", "/proxies", "/clock")]
        pages = [summary["consoles"]["topology"], summary["consoles"]["chaos"]]
        cost = polling_cost(proc.pid, polled, 20)
        print(f"serving both consoles' polling costs {cost * 100:.2f}% of one core", flush=True)
        results = {"closed": [], "open": []}
        rss = []
        for i in range(args.rounds * 2):
            mode = ("closed", "open")[(i + i // 2) % 2]  # closed, open, open, closed, ...
            stop, watchers = threading.Event(), []
            if mode == "open" and args.browser:
                watchers = open_pages(pages, work)
                time.sleep(2)
            elif mode == "open":
                t = threading.Thread(target=poll, args=(polled, stop), daemon=True)
                t.start()
            result = bench.wrk(url, token, args)
            stop.set()
            for w in watchers:
                w.terminate()
                w.wait()
            results[mode].append(result["rps"])
            rss.append((mode, rss_kb(proc.pid)))
            print(f"round {i + 1}: {mode:6} {result['rps']:10.0f} req/s  rss {rss[-1][1] / 1024:.1f} MB", flush=True)
        closed, opened = statistics.median(results["closed"]), statistics.median(results["open"])
        drop = (closed - opened) / closed * 100
        print(json.dumps({
            "closed_rps_median": closed, "open_rps_median": opened, "drop_percent": round(drop, 2),
            "rss_mb": [round(kb / 1024, 1) for _, kb in rss],
            "watch": "chromium" if args.browser else "poller",
            "polling_cpu_share_of_one_core": round(cost, 4),
        }))
        return 0 if drop <= 2.0 else 1
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
