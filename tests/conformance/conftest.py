"""Black-box conformance check of the sandbox against shared/bitrix24/*.md.

Written from the documents only; everything talks HTTP to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = Path("/work/shared/bitrix24/fresh-portal-defaults.json")


def free_port(span: int = 8) -> int:
    """A port P such that P..P+span look free."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + span > 65000:
            continue
        ok = True
        for p in range(port + 1, port + span):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no free port range")


class Sandbox:
    def __init__(
        self,
        portals: int = 3,
        lang: str | None = None,
        extra: list[str] | tuple[str, ...] = (),
        port: int | None = None,
    ):
        # Port 0: the sandbox binds ephemeral ports itself and prints them (no race for a free port).
        self.port = port or 0
        cmd = [
            sys.executable,
            "-m",
            "b24app.cli",
            "sandbox",
            "--port",
            str(self.port),
            "--portals",
            str(portals),
        ]
        if lang:
            cmd += ["--lang", lang]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.webhooks: list[str] = []
        deadline = time.monotonic() + 20
        while len(self.webhooks) < portals:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("sandbox exited: " + self.proc.stderr.read())
            m = re.match(r"webhook: (\S+)", line)
            if m:
                self.webhooks.append(m.group(1))
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not start")
        oauth = None
        while oauth is None:  # the sandbox names its OAuth server (and so its port) on stderr
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("sandbox exited without naming its OAuth server")
            m = re.match(r"OAuth server: (http://127\.0\.0\.1:(\d+))", line)
            if m:
                oauth, self.port = m.group(1), int(m.group(2))
        self.oauth = oauth
        self.control = f"{oauth}/control/portals"
        for _ in range(100):
            try:
                r = requests.get(self.control, timeout=2)
                if r.ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        self.portals = r.json()["portals"]
        # the leaky bucket (platform.md §5) would throttle a test suite; test_limits shrinks it again
        for info in self.portals:
            requests.post(
                f"{self.control}/{info['name']}/limits",
                json={"capacity": 100000, "drain": 1000, "reset": True},
                timeout=5,
            ).raise_for_status()
        # drain stdout so the child never blocks on a full pipe
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def portal(self, i: int) -> Portal:
        return Portal(self, self.portals[i])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                f.close()


class Portal:
    def __init__(self, sb: Sandbox, info: dict):
        self.sb = sb
        self.info = info
        self.name = info["name"]
        self.base = info["base_url"]
        self.webhook = info["webhook_url"]
        self.ctl = f"{sb.control}/{self.name}"

    def hook_for(self, user_id: int, scopes=("crm", "user")) -> str:
        r = requests.post(
            f"{self.ctl}/webhooks", json={"user_id": user_id, "scopes": list(scopes)}, timeout=5
        )
        assert r.status_code < 300, r.text
        return r.json()["url"]

    def limits(self, **kw) -> None:
        r = requests.post(f"{self.ctl}/limits", json=kw, timeout=5)
        assert r.status_code < 300, r.text


def call(
    base: str, method: str, params=None, how: str = "json", auth: str | None = None
) -> requests.Response:
    """POST JSON by default; how='form' (PHP brackets) or 'get' (query)."""
    params = dict(params or {})
    if auth is not None:
        params["auth"] = auth
    url = base + method
    if how == "json":
        return requests.post(url, json=params, timeout=10)
    if how == "form":
        return requests.post(
            url,
            data=php_encode(params),
            timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    if how == "get":
        return requests.get(url, params=php_encode(params), timeout=10)
    raise ValueError(how)


def php_encode(params: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]", v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif value is True:
            out.append((prefix, "1"))
        elif value is False or value is None:
            out.append((prefix, ""))
        else:
            out.append((prefix, str(value)))

    for k, v in params.items():
        walk(k, v)
    return out


def ok(base: str, method: str, params=None, **kw):
    r = call(base, method, params, **kw)
    assert r.status_code == 200, (method, params, r.status_code, r.text)
    body = r.json()
    assert "error" not in body, body
    return body["result"]


def err(base: str, method: str, params=None, **kw) -> tuple[int, dict]:
    r = call(base, method, params, **kw)
    assert r.status_code >= 400 or "error" in r.json(), (method, params, r.status_code, r.text)
    return r.status_code, r.json()


def legacy_error(base: str, method: str, params, message: str) -> dict:
    """Legacy crm.status/dealcategory proxy error: HTTP 400, error "" (reference-lists.md §2.1)."""
    status, body = err(base, method, params)
    assert status == 400, (status, body)
    assert body["error"] == "", body
    assert message in body["error_description"], body
    return body


class Receiver:
    """Tiny local HTTP receiver for event / install POSTs."""

    def __init__(self, status: dict[str, int] | None = None):
        """status: path prefix -> HTTP status to answer with (default 200)."""
        self.got: list[dict] = []
        self.status = dict(status or {})
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(n).decode()
                outer.got.append(
                    {
                        "path": self.path,
                        "ctype": self.headers.get("Content-Type", ""),
                        "raw": raw,
                        "form": dict(parse_qsl(raw, keep_blank_values=True)),
                    }
                )
                code = next((c for p, c in outer.status.items() if self.path.startswith(p)), 200)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, pred, timeout: float = 5.0) -> list[dict]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = [g for g in self.got if pred(g)]
            if hits:
                return hits
            time.sleep(0.05)
        return []

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture(scope="session")
def sb_ru():
    sb = Sandbox(portals=3)
    yield sb
    sb.stop()


@pytest.fixture(scope="session")
def sb_en():
    sb = Sandbox(portals=3, lang="en")
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def sb_mod():
    """A private sandbox for modules that mutate a lot."""
    sb = Sandbox(portals=3)
    yield sb
    sb.stop()


@pytest.fixture(scope="session")
def fresh(sb_ru) -> Portal:
    """portal index 0 of the ru sandbox: read-only tests only."""
    return sb_ru.portal(0)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# ---- helpers for the second suite (test_more_*.py) ---------------------------------------------
def clock(sb: Sandbox, advance: float = 0) -> float:
    """Move the sandbox clock forward (control API); returns the sandbox's 'now'."""
    r = requests.post(f"{sb.oauth}/control/clock", json={"advance": advance}, timeout=5)
    assert r.status_code < 300, r.text
    return r.json()["now"]


def register_app(portal: Portal, **extra) -> dict:
    body = {"handler_url": "http://127.0.0.1:9/app/", **extra}
    r = requests.post(f"{portal.ctl}/apps", json=body, timeout=5)
    assert r.status_code < 300, r.text
    return r.json()


def authorize(portal: Portal, client_id: str, **params) -> requests.Response:
    return requests.get(
        portal.base + "oauth/authorize/",
        params={"client_id": client_id, **params},
        allow_redirects=False,
        timeout=5,
    )


def code_for(portal: Portal, app: dict) -> str:
    r = authorize(portal, app["client_id"], state="s")
    assert r.status_code == 302, r.text
    return dict(parse_qsl(r.headers["Location"].split("?", 1)[1]))["code"]


def oauth_token(sb: Sandbox, **params) -> requests.Response:
    return requests.get(sb.oauth + "/oauth/token/", params=params, timeout=5)


def exchange(portal: Portal, app: dict, code: str | None = None) -> requests.Response:
    return oauth_token(
        portal.sb,
        grant_type="authorization_code",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        code=code or code_for(portal, app),
    )


def refresh(portal: Portal, app: dict, refresh_token: str) -> requests.Response:
    return oauth_token(
        portal.sb,
        grant_type="refresh_token",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        refresh_token=refresh_token,
    )


def app_tokens(portal: Portal, **extra) -> tuple[dict, dict]:
    """A registered app and a fresh token pair of user 1 for it."""
    app = register_app(portal, **extra)
    r = exchange(portal, app)
    assert r.status_code == 200, r.text
    return app, r.json()


# Fields the documents list (platform.md §1.3–§1.4 token answers, §3.2 event auth, §2.2 ONAPPINSTALL auth).
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "expires",
    "expires_in",
    "client_endpoint",
    "server_endpoint",
    "domain",
    "member_id",
    "scope",
    "status",
    "user_id",
)
EVENT_AUTH_FIELDS = (
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "application_token",
    "user_id",
)
INSTALL_AUTH_FIELDS = ("refresh_token", *EVENT_AUTH_FIELDS)
