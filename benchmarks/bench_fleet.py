"""Fleet apply: one command converges 200 fresh sandbox portals, side by side with one portal at a time.

Run: python benchmarks/bench_fleet.py [--portals 200] [--concurrency 8] [--singles 200]
(target: the fleet command converges 200 portals in < 60 s on a 2-core machine, with zero 503s and
no portal over its own limit)

Each measurement gets fresh portals from a sandbox in a process of its own (so the sandbox and the
command do not share one GIL); the commands run as the user runs them (`python -m b24app.cli`):
1. the fleet command: `b24app apply crm.yaml --portal URL1 … --portal URL200 --yes --json`;
2. the same fleet command with --concurrency 1 (one portal at a time, one process);
3. one `b24app apply crm.yaml --portal URL --yes` per portal, one after the other (a shell loop).
The sandbox counts, per portal, the requests it refused for the rate (503 QUERY_LIMIT_EXCEEDED)
and the highest its leaky bucket went (limit: burst 50, 2 requests/s).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

from b24app.sandbox.server import Sandbox

EXAMPLE = Path(__file__).resolve().parents[1] / "b24app" / "examples" / "crm.yaml"
CLI = [sys.executable, "-m", "b24app.cli"]


def serve(portals: int, urls: mp.Queue, stop: mp.Event, stats: mp.Queue) -> None:
    """The sandbox process: serve fresh portals until told to stop, then report their buckets."""
    with Sandbox(port=0, portals=portals) as box:
        urls.put([h.webhook_url for h in box.portals])
        stop.wait()
        stats.put([(h.bucket.refused, h.bucket.peak, h.limits.capacity) for h in box.portals])


def measure(portals: int, run) -> tuple[float, object, list]:
    """Start a sandbox of fresh portals in a child process, time ``run(urls)``, read its buckets."""
    ctx = mp.get_context("spawn")
    urls_q, stats_q, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve, args=(portals, urls_q, stop, stats_q))
    child.start()
    urls = urls_q.get(timeout=120)
    started = time.perf_counter()
    outcome = run(urls)
    seconds = time.perf_counter() - started
    stop.set()
    stats = stats_q.get(timeout=60)
    child.join()
    return seconds, outcome, stats


def fleet_command(concurrency: int):
    def run(urls: list[str]) -> dict:
        args = [a for url in urls for a in ("--portal", url)]
        done = subprocess.run(
            [*CLI, "apply", str(EXAMPLE), *args, "--yes", "--json", "--concurrency", str(concurrency)],
            capture_output=True,
            text=True,
        )
        result = json.loads(done.stdout)
        return {"exit": done.returncode, "outcomes": result["outcomes"], "requests": _requests(result)}

    return run


def _requests(result: dict) -> int:
    planned = sum(p["requests"] for p in result["plan"]["portals"])
    return planned + sum(p["requests"] for p in result["portals"])


def singles(count: int):
    def run(urls: list[str]) -> dict:
        codes = [
            subprocess.run(
                [*CLI, "apply", str(EXAMPLE), "--portal", url, "--yes", "--quiet"], capture_output=True
            ).returncode
            for url in urls[:count]
        ]
        return {"exit": max(codes), "converged": codes.count(0), "of": len(codes)}

    return run


def report(name: str, portals: int, seconds: float, outcome: dict, stats: list) -> None:
    refused = sum(s[0] for s in stats)
    peak = max(s[1] for s in stats)
    capacity = stats[0][2]
    print(
        f"{name}: {portals} portals in {seconds:.1f} s ({portals / seconds:.1f} portals/s); {outcome}; "
        f"503s: {refused}; highest bucket level of any portal: {peak:.1f} of {capacity}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--portals", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--singles", type=int, default=200, help="portals for the one-command-each loop")
    args = parser.parse_args()

    seconds, outcome, stats = measure(args.portals, fleet_command(args.concurrency))
    report(f"fleet command, --concurrency {args.concurrency}", args.portals, seconds, outcome, stats)
    target = "met" if seconds < 60 and not sum(s[0] for s in stats) and outcome["exit"] == 0 else "MISSED"
    print(f"  target (< 60 s, zero 503s, every portal converged): {target}")

    seconds, outcome, stats = measure(args.portals, fleet_command(1))
    report("fleet command, --concurrency 1 (one portal at a time)", args.portals, seconds, outcome, stats)

    if args.singles:
        seconds, outcome, stats = measure(args.singles, singles(args.singles))
        report(
            "one `b24app apply --portal` command per portal, in turn", args.singles, seconds, outcome, stats
        )


if __name__ == "__main__":
    main()
