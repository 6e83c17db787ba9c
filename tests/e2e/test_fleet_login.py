"""In a real browser: sign in to the fleet view, see the portals, request a resync, sign out.

Chromium keeps the SameSite=Strict session cookie and sends the form's CSRF token and Origin, as a
user's browser would; b24app runs on loopback with a SQLite store.
"""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from b24app.store import PortalState, Settings, Store
from b24app.store.settings import sqlite_url
from handlers import create_app

PASSWORD = "a long fleet passphrase"


@pytest.fixture
def served(tmp_path):
    holder: dict = {}
    http = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{http.server_port}"
    settings = Settings(
        instance=tmp_path,
        database_url=sqlite_url(tmp_path / "b24app.sqlite"),
        templates=tmp_path / "templates",
        public_url=url,
        fleet_password=PASSWORD,
    )
    store = Store.open(settings)
    for number, domain in enumerate(("alpha.bitrix24.ru", "<b>beta</b>.bitrix24.ru")):
        store.portals.upsert(
            f"member-{number}",
            domain=domain,
            client_endpoint="https://alpha.bitrix24.ru/rest/",
            registration_id=None,
            state=PortalState.INSTALLED,
        )
    holder["app"] = create_app(settings, store=store)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield url, store
    http.shutdown()
    thread.join(5)
    store.close()


def test_sign_in_see_the_portals_resync_and_sign_out(page, served):
    url, store = served
    page.goto(f"{url}/fleet/")
    assert page.url == f"{url}/fleet/login"
    page.fill("input[name=password]", "wrong")
    page.click("#login button")
    assert page.locator("#error").inner_text() == "Wrong user name or password."
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button")
    assert page.url == f"{url}/fleet/"
    assert page.locator("h2").first.inner_text() == "Portals (2)"
    assert page.get_by_role("link", name="<b>beta</b>.bitrix24.ru").count() == 1  # shown as text
    alpha = store.portals.find("alpha.bitrix24.ru")
    page.click(f"#resync-{alpha.id} button")
    assert "alpha.bitrix24.ru: resync requested." in page.locator(".notice").inner_text()
    assert store.resyncs.of_portal(alpha.id)[0].reasons == ["fleet view: admin"]
    page.click("#logout button")
    assert page.url == f"{url}/fleet/login"
    page.goto(f"{url}/fleet/")
    assert page.url == f"{url}/fleet/login"
