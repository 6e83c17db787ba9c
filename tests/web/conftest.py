"""The web app against sandbox portals over real HTTP, on SQLite and PostgreSQL.

The server runs on a loopback port (the sandbox POSTs install, frame and event callbacks to it);
the Flask test client sends what a forger would. The database fixtures (``database_url``, ``store``,
``keys``: SQLite and PostgreSQL) come from the tests/dbfixtures.py plugin.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import pytest
from werkzeug.serving import make_server

from b24app.sandbox.server import Sandbox
from b24app.store import Cipher, Registration, Settings, Store
from b24app.store.db import make_engine
from handlers import create_app


@dataclass
class Server:
    """b24app on a loopback port, with the sandbox as Bitrix24 (portals and OAuth server)."""

    app: object
    store: Store
    settings: Settings
    sandbox: Sandbox
    url: str

    @property
    def client(self):
        return self.app.test_client()

    def register(self, portal: int = 0) -> tuple[Registration, dict]:
        """b24app app add + the portal's local-app form: (our registration, the sandbox's app record)."""
        from b24app.manifest import load_manifest

        # The local-app form shows client_id and secret once saved; `b24app app add` then prints the
        # registration's URLs, which the admin enters in the form (here: set on the sandbox's records).
        created = self.sandbox.register_app(
            portal,
            handler_url=f"{self.url}/pending/",
            install_url=f"{self.url}/pending/",
            scopes=["crm", "im"],
        )
        registration = self.store.registrations.add(created["client_id"], created["client_secret"])
        urls = load_manifest().urls(self.url, registration.slug)
        app = self.sandbox.oauth.apps[created["client_id"]]
        app.handler_url, app.install_url = urls.handler, urls.install
        with self.sandbox.portals[portal].portal.lock:
            record = self.sandbox.portals[portal].portal.apps[created["client_id"]]
            record["handler"], record["install_path"] = urls.handler, urls.install
        return registration, created

    def with_settings(self, **changes) -> object:
        """A second app on the same store with other settings (e.g. without allow_loopback)."""
        return create_app(replace(self.settings, **changes), store=self.store)


@pytest.fixture
def sandbox():
    box = Sandbox(host="127.0.0.1", port=0, portals=2, lang="ru").start()
    yield box
    box.stop()


@pytest.fixture
def web_store(database_url, keys):
    opened = Store(make_engine(database_url), Cipher(keys))
    yield opened
    opened.close()


@pytest.fixture
def server(sandbox, web_store, tmp_path, database_url):
    holder: dict = {}
    http = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{http.server_port}"
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "standard.yaml").write_text("version: 1\n", encoding="utf-8")
    (templates / "retail.yaml").write_text("version: 1\n", encoding="utf-8")
    settings = Settings(
        instance=tmp_path,
        database_url=database_url,
        templates=templates,
        oauth_url=sandbox.oauth_url.rstrip("/"),
        public_url=url,
        allow_loopback=True,
    )
    app = create_app(settings, store=web_store)
    app.testing = True
    holder["app"] = app
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield Server(app, web_store, settings, sandbox, url)
    http.shutdown()
    thread.join(5)
