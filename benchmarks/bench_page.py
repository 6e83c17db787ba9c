"""Opening the in-portal page of a portal whose plan has 100 entries: requests and server time.

Run: python benchmarks/bench_page.py        (targets: ≤ 2 portal requests, < 300 ms server time
                                             besides the portal's answers)

A sandbox portal has b24app installed (store rows as an installation leaves them); the portal's
frame POST is sent through Flask's test client 20 times. Every HTTP request b24app makes is timed
at ``requests.Session.send`` and counted by host: the OAuth server (app.info: is the token live
and of this portal?) and the portal itself (one batch: the lists and user.admin). Server time is
the frame POST's wall time less the time spent waiting for those answers.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests

from b24app.sandbox.server import Sandbox
from b24app.store import PortalState, Settings, Store, TokenPair
from b24app.store.settings import sqlite_url
from handlers import create_app

OPENS = 20
ENTRIES = 100


def template_text() -> str:
    lines = ["version: 1", "prune: false", "sources:"]
    lines += [f'  - {{id: "SRC{n:03d}", name: "Source {n}"}}' for n in range(1, ENTRIES + 1)]
    return "\n".join(lines) + "\n"


class Timed:
    """Wraps requests.Session.send: how many requests went to which host, and how long they took."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self._send = requests.Session.send

    def __enter__(self):
        timed = self

        def send(session, request, **kwargs):
            start = time.perf_counter()
            try:
                return timed._send(session, request, **kwargs)
            finally:
                timed.calls.append((urlsplit(request.url).netloc, time.perf_counter() - start))

        requests.Session.send = send
        return self

    def __exit__(self, *exc) -> None:
        requests.Session.send = self._send


def install(box: Sandbox, store: Store, settings: Settings):
    registration = store.registrations.add("local.bench0000000001.00000001", "bench-secret")
    handle = box.portals[0]
    box.register_app(
        0,
        handler_url=f"{settings.public_url}/b24/{registration.slug}/app/",
        client_id=registration.client_id,
        client_secret=registration.client_secret,
    )
    app = box.oauth.live_app(handle.name, registration.client_id)
    portal = store.portals.upsert(
        handle.member_id,
        domain=handle.domain,
        client_endpoint=handle.base_url + "rest/",
        registration_id=registration.id,
        state=PortalState.INSTALLED,
        application_token=app.application_token,
    )
    pair = box.oauth.issue(app, 1)
    expires = datetime.fromtimestamp(pair["expires"], UTC)
    store.tokens.save(portal.id, TokenPair(pair["access_token"], pair["refresh_token"], expires, app.scope))
    store.portals.assign_template(portal.id, "hundred")
    return registration


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, Sandbox(port=0, portals=1, lang="ru") as box:
        instance = Path(folder)
        (instance / "templates").mkdir()
        (instance / "templates" / "hundred.yaml").write_text(template_text(), "utf-8")
        settings = Settings(
            instance=instance,
            database_url=sqlite_url(instance / "b24app.sqlite"),
            templates=instance / "templates",
            oauth_url=box.oauth_url.rstrip("/"),
            public_url="http://127.0.0.1:8000",
            allow_loopback=True,
        )
        store = Store.open(settings)
        registration = install(box, store, settings)
        client = create_app(settings, store=store).test_client()
        handle = box.portals[0]
        server_ms, walls, portal_requests, oauth_requests = [], [], [], []
        for _ in range(OPENS + 1):  # the first open warms up (imports, Jinja compiles the templates)
            launch = handle.launch(registration.client_id, 1)
            with Timed() as timed:
                start = time.perf_counter()
                answer = client.post(
                    f"/b24/{registration.slug}/app/?{urlencode(launch.query)}", data=launch.fields
                )
                wall = time.perf_counter() - start
            page = answer.get_data(as_text=True)
            assert answer.status_code == 200 and 'id="apply"' in page, answer.status_code
            waiting = sum(seconds for _, seconds in timed.calls)
            server_ms.append((wall - waiting) * 1000)
            walls.append(wall * 1000)
            portal_requests.append(sum(host == handle.domain for host, _ in timed.calls))
            oauth_requests.append(sum(host != handle.domain for host, _ in timed.calls))
        store.close()
    shown = page.count('<tr class="create">')
    server_ms, walls = server_ms[1:], walls[1:]
    print(f"plan shown: {shown} entries to create ({ENTRIES}-entry template), {OPENS} page opens")
    print(
        f"requests per open: portal {max(portal_requests)} (target ≤ 2), "
        f"OAuth server (app.info) {max(oauth_requests)}"
    )
    print(
        f"server time besides the portal's answers: median {statistics.median(server_ms):.0f} ms, "
        f"max {max(server_ms):.0f} ms (target < 300 ms); wall time median {statistics.median(walls):.0f} ms"
    )


if __name__ == "__main__":
    main()
