"""The events endpoint under load: Bitrix24 events POSTed at concurrency to `b24app serve` (waitress).

Run: python benchmarks/bench_events.py [--events N] [--portals P] [--concurrency C] [--database-url URL]
                                       [--no-worker] [--processes N]
     (targets: >= 500 requests/s on loopback, 0 lost: every accepted event is a resync request,
      checked by count; exit 1 when a target is missed)

The store (SQLite in a temporary folder, or --database-url) gets one registration and P installed
portals, inserted directly (each with its own application_token); `b24app serve --port 0` runs in its
own process (waitress, its default 8 threads, the in-process job worker), and this process sends N
ONCRMTYPEUPDATE events with the right application_token, spread over the portals, from C threads on
keep-alive connections. Reported: requests/s, answers by status, and accepted events against
``store.resyncs.total_requests()`` (merged requests counted) plus those the server's own worker took
meanwhile (woken by each new request), and against the event log.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, select

from b24app.store import PortalState, Settings, Store
from b24app.store.models import EventRow

TARGET_RPS = 500.0


def prepare(settings: Settings, portals: int) -> tuple[str, list[bytes]]:
    """A registration and its installed portals; returns its slug and one event body per portal."""
    store = Store.open(settings)
    try:
        registration = store.registrations.add("local.bench.1", secrets.token_urlsafe(24))
        bodies = []
        for i in range(portals):
            token = secrets.token_hex(16)
            member_id = f"{i:032x}"
            store.portals.upsert(
                member_id,
                domain=f"portal{i}.bitrix24.example",
                client_endpoint=f"https://portal{i}.bitrix24.example/rest/",
                registration_id=registration.id,
                state=PortalState.INSTALLED,
                application_token=token,
            )
            fields = {
                "event": "ONCRMTYPEUPDATE",
                "data[FIELDS][ID]": "3",
                "ts": "1733130000",
                "auth[member_id]": member_id,
                "auth[domain]": f"portal{i}.bitrix24.example",
                "auth[application_token]": token,
            }
            bodies.append(urlencode(fields).encode())
        return registration.slug, bodies
    finally:
        store.close()


def serve(env: dict, threads: int, worker: bool = True, processes: int = 1) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "b24app.cli", "serve", "--port", "0", "--threads", str(threads)]
    command += ["--processes", str(processes)]
    server = subprocess.Popen(
        command + ([] if worker else ["--no-worker"]),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    line = ""
    while "serves on" not in line:
        line = server.stderr.readline()
        if not line:
            raise SystemExit("b24app serve did not start")
    threading.Thread(target=server.stderr.read, daemon=True).start()  # drain the request log
    return server, line.split("serves on ")[1].split()[0]


def fire(url: str, path: str, bodies: list[bytes], events: int, concurrency: int) -> tuple[Counter, float]:
    """``events`` POSTs from ``concurrency`` threads, each on its keep-alive connection."""
    parts = urlsplit(url)
    statuses: Counter = Counter()
    lock = threading.Lock()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    def work(index: int) -> None:
        mine: Counter = Counter()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        for n in range(index, events, concurrency):
            try:
                connection.request("POST", path, body=bodies[n % len(bodies)], headers=headers)
                answer = connection.getresponse()
                answer.read()
                mine[answer.status] += 1
            except (OSError, http.client.HTTPException) as error:
                mine[type(error).__name__] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.close()
        with lock:
            statuses.update(mine)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its running children so far (Linux /proc; the
    servers of ``--processes N``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = " ".join(task.read_text() for task in Path(f"/proc/{pid}/task").glob("*/children")).split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def count(settings: Settings) -> tuple[int, int, int]:
    """(resync requests stored, requests the server's own worker took meanwhile, resync event lines).

    Stored: ``store.resyncs.total_requests()`` (waiting and running rows, merged requests counted).
    ``b24app serve`` runs a worker, woken by each new request: it takes some of them (these portals
    have no template, so it skips them) and deletes their row, logging ``resync`` with "N request(s)".
    Counted after the server stopped, so that no request moves meanwhile.
    """
    store = Store.open(settings, migrate=False)
    try:
        with store.engine.connect() as connection:
            logged = connection.scalar(
                select(func.count()).where(EventRow.outcome.in_(("queued resync", "merged")))
            )
            handled = connection.scalars(select(EventRow.detail).where(EventRow.event == "resync")).all()
        taken = sum(int(detail.split()[0]) for detail in handled if detail and detail.split()[0].isdigit())
        return store.resyncs.total_requests(), taken, logged
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--portals", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--threads", type=int, default=8, help="b24app serve's request threads (its default 8)"
    )
    parser.add_argument("--database-url", help="PostgreSQL instead of SQLite (an empty database)")
    parser.add_argument("--processes", type=int, default=1, help="serve --processes N (default 1)")
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="serve --no-worker: the endpoint alone (workers run elsewhere)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "B24APP_INSTANCE": tmp, "B24APP_PUBLIC_URL": "http://127.0.0.1:9"}
        env.pop("DATABASE_URL", None)
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        env["B24APP_SCHEDULE_MINUTES"] = "0"  # only the events ask for resyncs here
        settings = Settings.from_env(env)
        slug, bodies = prepare(settings, args.portals)
        server, url = serve(env, args.threads, worker=not args.no_worker, processes=args.processes)
        try:
            warm = fire(url, f"/b24/{slug}/events/", bodies[:1], 50, 4)[0].get(200, 0)  # imports, connections
            cpu_before = cpu_seconds(server.pid)
            statuses, elapsed = fire(url, f"/b24/{slug}/events/", bodies, args.events, args.concurrency)
            cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            server.terminate()
            server.wait(20)
        stored, taken, logged = count(settings)
    accepted = statuses.get(200, 0)
    sent = sum(statuses.values())
    lost = warm + accepted - stored - taken
    rps = sent / elapsed
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{sent} ONCRMTYPEUPDATE events over {args.portals} portals, {args.concurrency} connections, "
        f"{backend}: {elapsed:.2f} s, {rps:.0f} requests/s (target >= {TARGET_RPS:.0f})"
    )
    print(f"answers: {dict(statuses)}; server CPU {cpu / sent * 1000:.2f} ms per event")
    print(
        f"accepted {warm} + {accepted}: resync requests stored {stored} + taken by the server's worker {taken}, "
        f"resync event lines {logged}; lost {lost}"
    )
    ok = rps >= TARGET_RPS and accepted == sent and lost == 0 and logged == stored + taken
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
