"""In a real browser: install b24app from a sandbox portal's page, then plan and apply in one click.

b24app runs as a server on loopback (its job worker in-process, as under ``b24app serve``); the
sandbox portal opens it in its frame with the POSTs of platform.md §2.3. The test clicks what an
admin clicks, then checks the sandbox portal's lists over REST.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from b24app import sync
from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.core.template import load_template
from b24app.sandbox.server import Sandbox
from b24app.store import PortalState, Settings, Store
from b24app.store.settings import sqlite_url
from handlers import create_app

EXAMPLE = Path(__file__).resolve().parents[2] / "b24app" / "examples" / "crm.yaml"


class Server:
    """b24app's WSGI app on a loopback port (the port is known before the app is made)."""

    def __init__(self) -> None:
        self.app = None
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def served(tmp_path):
    server = Server()
    with Sandbox(port=0, portals=1, lang="en") as box:
        templates = tmp_path / "templates"
        templates.mkdir()
        (templates / "crm.yaml").write_text(EXAMPLE.read_text("utf-8"), "utf-8")
        settings = Settings(
            instance=tmp_path,
            database_url=sqlite_url(tmp_path / "b24app.sqlite"),
            templates=templates,
            oauth_url=box.oauth_url.rstrip("/"),
            public_url=server.url,
            allow_loopback=True,
        )
        store = Store.open(settings)
        app = create_app(settings, store=store, start_jobs=True)
        server.app = app
        try:
            yield box, store, server
        finally:
            app.extensions["b24app.jobs"].stop_consumer()
            server.close()
            store.close()


def test_admin_installs_b24app_and_applies_the_template_in_one_click(page, served):
    box, store, server = served
    registration = store.registrations.add("local.e2e0000000001.12345678", "e2e-client-secret")
    base = f"{server.url}/b24/{registration.slug}"
    box.register_app(
        0,
        handler_url=f"{base}/app/",
        install_url=f"{base}/install/",
        client_id=registration.client_id,
        client_secret=registration.client_secret,
    )
    frame_url = box.open_app(0, registration.client_id, post=False)["frame_url"]

    page.goto(frame_url)
    frame = page.frame_locator("#app_frame")
    frame.locator("#template").select_option("crm")
    frame.locator("#install button[type=submit]").click()

    # BX24.installFinish() reloads the portal page, which now opens the app's page: the plan
    frame.locator("#apply button[type=submit]").wait_for(timeout=20000)
    assert store.portals.get(box.portals[0].member_id).state == PortalState.INSTALLED
    assert "to create" in frame.locator(".plan .summary").inner_text()
    frame.locator("#apply button[type=submit]").click()

    # the run's progress is polled by the page's script, which shows the result when it is done
    frame.locator("#run-outcome.outcome-applied").wait_for(timeout=60000)
    assert frame.locator("#progress li").count() > 0

    hook = box.add_webhook(0, 1, ["crm"])
    plan, _ = sync.make_plan(Client(WebhookAuth(hook)), load_template(EXAMPLE.read_text("utf-8")))
    assert not plan.has_changes, plan.summary
