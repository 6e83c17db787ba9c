"""The resync webhook under load: N signed deliveries at concurrency C against ``b24app serve``.

Run: python benchmarks/bench_hooks.py [--requests 3000] [--concurrency 16] [--database-url URL]
                                      [--no-worker] [--processes N]
     (target: 500 requests/s on loopback with 0 lost; exit 1 when missed)

``b24app serve`` (waitress, its in-process job worker) runs in its own process on a loopback port,
with SQLite in a temporary instance folder (or ``--database-url``, e.g. a PostgreSQL database).
Every delivery has its own body (``{"templates": "all", "n": i}``), half signed as GitHub does
(``X-Hub-Signature-256``), half as GitLab's signing token does (``webhook-signature``). The client
threads keep their connection open (as a proxy in front of b24app would). Afterwards the store is
read: every delivery answered 202 must have left its durable record (its digest in
``webhook_deliveries`` and its ``accepted`` event line), and the library sync it asked for must be
pending.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_events import serve  # one way to start `b24app serve` for the endpoint benchmarks

TARGET_RPS = 500.0


def sign(body: bytes, secret: str, n: int) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if n % 2 == 0:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {**headers, "X-Hub-Signature-256": f"sha256={digest}"}
    key = base64.b64decode(secret.removeprefix("whsec_"))
    hook_id, timestamp = f"msg_{n}", str(int(time.time()))
    mac = hmac.new(key, f"{hook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        **headers,
        "webhook-id": hook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


THREADS = 8  # b24app serve's default


def start_server(
    folder: Path, secret: str, database_url: str | None, no_worker: bool = False, processes: int = 1
) -> tuple[subprocess.Popen, str, str]:
    env = {
        **os.environ,
        "B24APP_INSTANCE": str(folder),
        "B24APP_PUBLIC_URL": "http://127.0.0.1:9",
        "B24APP_WEBHOOK_SECRET": secret,
    }
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    server, url = serve(env, THREADS, worker=not no_worker, processes=processes)
    host_port = url.split("//")[1].rstrip("/")
    return server, host_port, env.get("DATABASE_URL") or ""


def load(host_port: str, secret: str, requests: int, concurrency: int) -> tuple[float, dict[int, int]]:
    host, port = host_port.rsplit(":", 1)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: dict[int, int] = {}
        for n in counter:  # shared iterator: each n goes to one thread
            body = json.dumps({"templates": "all", "n": n}).encode()
            try:
                connection.request("POST", "/hooks/resync", body=body, headers=sign(body, secret, n))
                answer = connection.getresponse()
                answer.read()
                mine[answer.status] = mine.get(answer.status, 0) + 1
            except (OSError, http.client.HTTPException):
                mine[0] = mine.get(0, 0) + 1
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.close()
        with lock:
            for status, count in mine.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def recorded(folder: Path, database_url: str) -> tuple[int, int, bool]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from b24app.store import Settings, Store
    from b24app.store.models import EventRow

    env = {"B24APP_INSTANCE": str(folder), **({"DATABASE_URL": database_url} if database_url else {})}
    store = Store.open(Settings.from_env(env))
    try:
        with Session(store.engine) as session:
            events = session.scalar(
                select(func.count()).where(EventRow.event == "hooks.resync", EventRow.outcome == "accepted")
            )
        return store.library.delivered(), events or 0, store.library.pending() is not None
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--database-url", help="an empty database for b24app (default: SQLite in a temp folder)"
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="serve --no-worker: the endpoint alone (workers run elsewhere)",
    )
    parser.add_argument("--processes", type=int, default=1, help="serve --processes N (default 1)")
    args = parser.parse_args()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server, host_port, database_url = start_server(
            folder, secret, args.database_url, args.no_worker, args.processes
        )
        try:
            seconds, statuses = load(host_port, secret, args.requests, args.concurrency)
        finally:
            server.terminate()
            server.wait(20)
        deliveries, events, pending = recorded(folder, database_url)
    accepted = statuses.get(202, 0)
    rps = args.requests / seconds
    lost = accepted - min(deliveries, events)
    print(
        f"{args.requests} signed deliveries, concurrency {args.concurrency}: {seconds:.2f} s, {rps:.0f} requests/s "
        f"(target >= {TARGET_RPS:.0f})"
    )
    print(f"answers: {dict(sorted(statuses.items()))}")
    print(
        f"accepted {accepted}; stored: {deliveries} deliveries, {events} 'accepted' event lines; "
        f"library sync pending: {pending}; lost: {lost}"
    )
    ok = (
        rps >= TARGET_RPS
        and accepted == args.requests
        and lost == 0
        and deliveries == events == accepted
        and pending
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
