#!/usr/bin/env python3
"""Does watching disturb what is watched? Gateway throughput with and without both consoles open.

Starts `gauntlet up` on benches/peer/stack with valueverse's intentions (mesh on, so both
consoles exist) and runs interleaved wrk rounds (closed model, `load-test` consumer, full gateway
pipeline, the same wrk settings every round) against the gateway, in the order
closed, open, open, closed, closed, open, ... so that neither mode always comes first:

  closed   nothing watches
  open     both consoles open and updating: the topology page and the chaos page, each in its
           own headless chromium on loopback, started --warmup s (10) before the round (a browser's
           start costs a core for seconds; its steady state is what is measured) (--poller: a script
           fetching what the pages fetch every 500 ms instead, no browser)

Prints each round (requests/s, the CPU the up process and the browsers used per second), then
the medians, the drop open vs closed (target <= 2%; exit 1 above it), and the spread: each open
round against the mean of the closed rounds beside it (median, min, max of those drops) and the
closed rounds' own coefficient of variation, the noise floor a drop must exceed to mean anything.
On a release build, on an idle machine (one command: benches/console.sh builds and installs
what is missing):

  benches/console.sh --rounds 8 --duration 10

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


def proc_status(pid):
    """RSS KiB, threads and open FDs of a process."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "Threads"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("Threads", 0), len(os.listdir(f"/proc/{pid}/fd"))


CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def open_pages(pages, work):
    """Each page in its own headless chromium (its own session, to count its processes' CPU),
    loopback only; the processes."""
    tabs = []
    for page in pages:
        profile = tempfile.mkdtemp(dir=work)
        tabs.append(subprocess.Popen(
            CHROMIUM + [f"--user-data-dir={profile}", "--remote-debugging-port=0", page],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    return tabs


def session_cpu_seconds(sessions):
    """CPU time so far of every process in the given sessions (a browser and its children)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sessions:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def check_pages_live(pages, work):
    """Both pages load and draw live data in chromium (the benchmark must not measure a broken
    page)."""
    for page in pages:
        profile = tempfile.mkdtemp(dir=work)
        dom = subprocess.run(
            CHROMIUM + [f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", page],
            capture_output=True, text=True, timeout=60).stdout
        if 'id="status" class="ok"' not in dom:
            sys.exit(f"{page} did not show live data in chromium:\n{dom[:2000]}")


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


def summarize(rounds):
    """Medians, the drop open vs closed, and its spread: each open round against the mean of
    the closed rounds beside it, and the closed rounds' own variation (the noise floor)."""
    closed = [r["rps"] for r in rounds if r["mode"] == "closed"]
    opened = [r["rps"] for r in rounds if r["mode"] == "open"]
    pair_drops = []
    for i, r in enumerate(rounds):
        if r["mode"] != "open":
            continue
        near = [rounds[j]["rps"] for j in (i - 1, i + 1, i - 2, i + 2)
                if 0 <= j < len(rounds) and rounds[j]["mode"] == "closed"][:2]
        if near:
            base = statistics.mean(near)
            pair_drops.append((base - r["rps"]) / base * 100)
    closed_median, open_median = statistics.median(closed), statistics.median(opened)
    cpu = lambda mode, key: statistics.median(r[key] for r in rounds if r["mode"] == mode)
    return {
        "closed_rps_median": closed_median,
        "open_rps_median": open_median,
        "ratio_open_to_closed": round(open_median / closed_median, 4),
        "drop_percent": round((closed_median - open_median) / closed_median * 100, 2),
        "drop_percent_per_open_round": {
            "median": round(statistics.median(pair_drops), 2),
            "min": round(min(pair_drops), 2),
            "max": round(max(pair_drops), 2),
        },
        "closed_rounds_cv_percent": round(statistics.pstdev(closed) / statistics.mean(closed) * 100, 2),
        "up_cpu_share": {"closed": round(cpu("closed", "up_cpu"), 3), "open": round(cpu("open", "up_cpu"), 3)},
        "browser_cpu_share_open": round(cpu("open", "browser_cpu"), 3),
        "rss_mb": [round(r["rss_kib"] / 1024, 1) for r in rounds],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gauntlet", default=os.path.join(ROOT, "target", "release", "gauntlet"))
    p.add_argument("--rounds", type=int, default=8, help="rounds of each mode")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--port-offset", type=int, default=0)
    p.add_argument("--warmup", type=float, default=10.0,
                   help="seconds between opening the pages and starting wrk")
    p.add_argument("--poller", action="store_true",
                   help="watch with a script fetching what the pages fetch, not chromium")
    p.add_argument("--memory", type=int, default=0, metavar="SECONDS",
                   help="instead: both pages open in chromium under steady load for SECONDS, RSS series")
    p.add_argument("--rate", type=int, default=100, help="requests/s of the --memory load")
    p.add_argument("--interval", type=int, default=30, help="seconds between --memory samples")
    args = p.parse_args()
    if not os.path.exists(args.gauntlet):
        sys.exit(f"no {args.gauntlet}: build it (cargo build --release) or run benches/console.sh")

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
            control + p for p in ("/", "/breakers", "/traffic", "/proxies", "/clock", "/traces?limit=15")]
        pages = [summary["consoles"]["topology"], summary["consoles"]["chaos"]]
        if not args.poller:
            check_pages_live(pages, work)
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s against {url}; "
              f"{args.rounds} rounds each, watched by {'a poller' if args.poller else 'chromium'}", flush=True)
        rounds = []
        for i in range(args.rounds * 2):
            mode = ("closed", "open")[(i + i // 2) % 2]  # closed, open, open, closed, ...
            stop, watchers = threading.Event(), []
            if mode == "open" and not args.poller:
                watchers = open_pages(pages, work)
                time.sleep(args.warmup)  # the browsers start and the pages begin polling
            elif mode == "open":
                t = threading.Thread(target=poll, args=(polled, stop), daemon=True)
                t.start()
            sessions = {w.pid for w in watchers}
            up0, browsers0, t0 = cpu_seconds(proc.pid), session_cpu_seconds(sessions), time.monotonic()
            result = bench.wrk(url, token, args)
            seconds = time.monotonic() - t0
            up_cpu = (cpu_seconds(proc.pid) - up0) / seconds
            browser_cpu = (session_cpu_seconds(sessions) - browsers0) / seconds if sessions else 0.0
            stop.set()
            for w in watchers:
                w.terminate()
                w.wait()
            if mode == "open" and not args.poller and browser_cpu == 0.0:
                sys.exit("the browsers used no CPU during an open round: the pages are not updating")
            rounds.append({"mode": mode, "rps": result["rps"], "up_cpu": up_cpu,
                           "browser_cpu": browser_cpu, "rss_kib": rss_kb(proc.pid)})
            print(f"round {i + 1:2}: {mode:6} {result['rps']:10.0f} req/s  up {up_cpu * 100:5.1f}% CPU  "
                  f"browsers {browser_cpu * 100:5.1f}% CPU  rss {rounds[-1]['rss_kib'] / 1024:.1f} MB", flush=True)
        summary = summarize(rounds)
        summary["watch"] = "poller" if args.poller else "chromium"
        summary["wrk"] = {"threads": args.threads, "connections": args.connections, "duration_s": args.duration}
        print(json.dumps(summary))
        return 0 if summary["drop_percent"] <= 2.0 else 1
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
