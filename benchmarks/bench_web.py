"""The web app's callbacks and its idle footprint.

Run: python benchmarks/bench_web.py    (targets: install and event endpoints < 100 ms server time;
                                         idle `b24app serve` with its job worker < 150 MB resident;
                                         exit 1 when a target is missed)

- Server time: the Flask app handles the callbacks in-process (no HTTP between the caller and
  b24app); the portal and the OAuth server are a sandbox over real HTTP on loopback, so the install
  time includes its three Bitrix24 requests (app.info, event.get, batch of event.bind) as a real
  one does, against a portal that answers in about a millisecond. SQLite in a temporary folder.
  Reported: median and 95th percentile of N callbacks.
- Idle RSS: `b24app serve --port 0` in its own process (waitress, migrations, the in-process Huey
  consumer), a few /healthz requests, 2 s idle, then VmRSS from /proc.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from b24app.manifest import load_manifest
from b24app.sandbox.server import Sandbox
from b24app.store import Settings, Store
from handlers import create_app

INSTALLS, EVENTS = 30, 300
TARGET_MS, TARGET_MB = 100.0, 150.0


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def callbacks(folder: Path) -> tuple[list[float], list[float]]:
    with Sandbox(host="127.0.0.1", port=0, portals=1) as sandbox:
        settings = Settings(
            instance=folder,
            database_url=f"sqlite+pysqlite:///{folder / 'b24app.sqlite'}",
            templates=folder / "templates",
            oauth_url=sandbox.oauth_url.rstrip("/"),
            public_url="http://127.0.0.1:9",
            allow_loopback=True,
        )
        store = Store.open(settings)
        app = create_app(settings, store=store)
        client = app.test_client()
        created = sandbox.register_app(0, handler_url="http://127.0.0.1:9/app/", scopes=["crm", "im"])
        registration = store.registrations.add(created["client_id"], created["client_secret"])
        urls = load_manifest().urls(settings.public_url, registration.slug)
        handle, local_app = sandbox.portals[0], sandbox.oauth.apps[created["client_id"]]

        def install_fields() -> dict:
            pair = sandbox.oauth.issue(local_app, 1)
            auth = {
                "access_token": pair["access_token"],
                "refresh_token": pair["refresh_token"],
                "expires": str(pair["expires"]),
                "member_id": handle.member_id,
                "domain": handle.domain,
                "application_token": local_app.application_token,
            }
            return {"event": "ONAPPINSTALL", **{f"auth[{k}]": v for k, v in auth.items()}}

        installs = []
        for _ in range(INSTALLS):
            fields = install_fields()
            started = time.perf_counter()
            answer = client.post(urls.install.removeprefix(settings.public_url), data=fields)
            installs.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        event = {
            "event": "ONCRMTYPEUPDATE",
            "data[FIELDS][ID]": "3",
            "auth[member_id]": handle.member_id,
            "auth[application_token]": local_app.application_token,
        }
        events = []
        for _ in range(EVENTS):
            started = time.perf_counter()
            answer = client.post(urls.events.removeprefix(settings.public_url), data=event)
            events.append(time.perf_counter() - started)
            assert answer.status_code == 200
        store.close()
    return installs, events


def idle_rss(folder: Path) -> float:
    env = {**os.environ, "B24APP_INSTANCE": str(folder / "serve"), "B24APP_PUBLIC_URL": "http://127.0.0.1:9"}
    env.pop("DATABASE_URL", None)
    with subprocess.Popen(
        [sys.executable, "-m", "b24app.cli", "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as server:
        try:
            line = ""
            while "serves on" not in line:
                line = server.stderr.readline()
                if not line:
                    raise SystemExit("b24app serve did not start")
            url = line.split("serves on ")[1].split()[0]
            for _ in range(20):
                urllib.request.urlopen(url + "healthz", timeout=5).read()
            time.sleep(2)
            status = Path(f"/proc/{server.pid}/status").read_text()
            return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) / 1024
        finally:
            server.terminate()
            server.wait(20)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        installs, events = callbacks(Path(tmp))
        rss = idle_rss(Path(tmp))
    rows = [
        (f"install (ONAPPINSTALL, {INSTALLS}x)", *percentiles(installs)),
        (f"event (ONCRMTYPEUPDATE, {EVENTS}x)", *percentiles(events)),
    ]
    ok = True
    for name, median, p95 in rows:
        ok &= p95 < TARGET_MS
        print(f"{name:34} median {median:6.1f} ms   p95 {p95:6.1f} ms   (target < {TARGET_MS:.0f} ms)")
    ok &= rss < TARGET_MB
    print(
        f"{'idle b24app serve + job worker':34} RSS {rss:6.1f} MB                  (target < {TARGET_MB:.0f} MB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
