"""Sandbox throughput: 200 portals in one process, simple REST requests over loopback.

Run: python benchmarks/bench_sandbox.py [--portals 200] [--requests 6000] [--threads 8]
(target: ≥ 300 requests a second on a 2-core machine)

The load comes from a second process (this script's client threads run in a child process, so
the GIL of the sandbox is not shared with the load generator). Requests are spread over the
portals so that no portal's leaky bucket (burst 50) is exceeded.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import threading
import time

import requests

from b24app.sandbox.server import Sandbox


def load(urls: list[str], total: int, threads: int, out: mp.Queue) -> None:
    per_thread = total // threads
    errors: list[int] = []

    def worker(n: int) -> None:
        session = requests.Session()
        for i in range(per_thread):
            url = urls[(n * per_thread + i) % len(urls)]
            answer = session.post(url + "server.time.json", json={}, timeout=10)
            if answer.status_code != 200:
                errors.append(answer.status_code)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((per_thread * threads, time.perf_counter() - start, errors))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--portals", type=int, default=200)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    with Sandbox(port=0, portals=args.portals) as box:
        boot = time.perf_counter() - started
        urls = [p.webhook_url for p in box.portals]
        queue: mp.Queue = mp.get_context("spawn").Queue()
        child = mp.get_context("spawn").Process(target=load, args=(urls, args.requests, args.threads, queue))
        child.start()
        sent, seconds, errors = queue.get(timeout=600)
        child.join()
    print(f"{args.portals} portals started in {boot:.2f} s")
    print(
        f"{sent} requests in {seconds:.2f} s = {sent / seconds:.0f} requests/s "
        f"({args.threads} keep-alive connections); non-200 answers: {len(errors)} (target ≥ 300/s)"
    )


if __name__ == "__main__":
    main()
