"""Clicking through an app installation in a sandbox portal, in a real browser.

The portal page frames the app with a POST (platform.md §2.3); the app's installer calls
BX24.installFinish(); the portal then opens the app's handler path instead.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from b24app.sandbox.server import Sandbox

INSTALLER = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="{bx24}"></script></head><body>
<h1>Installer</h1><button id="finish" onclick="BX24.init(function () {{ BX24.installFinish(); }})">Finish</button>
</body></html>"""
MAIN = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="{bx24}"></script></head><body><h1>App</h1><p id="who"></p>
<script>BX24.init(function () {{
  BX24.callMethod("profile", {{}}, function (r) {{ document.getElementById("who").textContent = r.data().NAME; }});
}});</script></body></html>"""


class App:
    """A tiny app on loopback that records the POSTs the portal sends it."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        self.bx24 = ""
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = self.path.split("?")[0]
                app.posts.append((path, form))
                page = (INSTALLER if path == "/install" else MAIN).format(bx24=app.bx24).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    server = App()
    yield server
    server.close()


def test_admin_clicks_through_the_installation(page, app):
    with Sandbox(port=0, portals=1) as box:
        portal = box.portals[0]
        app.bx24 = f"{portal.base_url}bitrix/js/rest/bx24.js"
        registered = box.register_app(0, handler_url=f"{app.url}/app", install_url=f"{app.url}/install")
        client_id = registered["client_id"]
        frame_url = box.open_app(0, client_id, post=False)["frame_url"]

        page.goto(frame_url)
        frame = page.frame_locator("#app_frame")
        frame.locator("h1").filter(has_text="Installer").wait_for()
        path, form = app.posts[0]
        assert path == "/install"
        assert form["PLACEMENT"] == "DEFAULT" and form["member_id"] == portal.member_id
        assert form["AUTH_ID"] and form["REFRESH_ID"] and form["APPLICATION_TOKEN"]
        assert portal.portal.apps[client_id]["installed"] is False

        frame.locator("#finish").click()
        frame.locator("h1").filter(has_text="App").wait_for()
        assert app.posts[-1][0] == "/app"
        assert portal.portal.apps[client_id]["installed"] is True
        # the frame's token works for REST calls made through BX24.callMethod
        frame.locator("#who").filter(has_text="Админ").wait_for(timeout=5000)  # user 1 of a Russian portal
