"""Installed portals for tests: a sandbox portal whose tokens came through the real OAuth flow, a
store (SQLite or PostgreSQL) holding them, and the settings and environment a b24app process needs.

Imported by tests/access/conftest.py and tests/jobs/conftest.py (with the store fixtures
of the tests/dbfixtures.py plugin), so both folders share one set of fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests

from b24app.bitrix.addresses import AddressPolicy
from b24app.bitrix.oauthflow import authorize_url, exchange_code, new_state, parse_authorization_reply
from b24app.sandbox.server import Sandbox
from b24app.store import Portal, PortalState, Settings, Store, TokenPair, new_key

DEV = AddressPolicy(allow_loopback=True)


@dataclass
class Installed:
    portal: Portal
    client_id: str
    client_secret: str
    index: int  # the sandbox portal's position


@pytest.fixture
def sandbox():
    box = Sandbox(host="127.0.0.1", port=0, portals=2, lang="ru").start()
    yield box
    box.stop()


@pytest.fixture
def b24_env(database_url, tmp_path, sandbox) -> dict[str, str]:
    """The environment of a b24app process using the test's database and the sandbox's OAuth server."""
    return {
        "B24APP_INSTANCE": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "B24APP_SECRET_KEY": new_key(),
        "B24APP_OAUTH_URL": sandbox.oauth_url,
        "B24APP_ALLOW_LOOPBACK": "1",
    }


@pytest.fixture
def settings(b24_env, tmp_path) -> Settings:
    return Settings.from_env(b24_env, cwd=tmp_path)


@pytest.fixture
def app_store(settings):
    opened = Store.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def cli_env(b24_env, monkeypatch):
    """The b24app environment for in-process CLI runs."""
    for name, value in b24_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("B24APP_PORTAL", raising=False)
    return b24_env


def authorise(sandbox: Sandbox, index: int, client_id: str, client_secret: str):
    """A fresh token pair through the portal's OAuth authorization-code flow (the admin's browser)."""
    handle = sandbox.portals[index]
    state = new_state()
    url = authorize_url(handle.base_url + "rest/", client_id, state, DEV)
    redirect = requests.get(url, allow_redirects=False, timeout=5)
    assert redirect.status_code == 302
    reply = parse_authorization_reply(urlsplit(redirect.headers["Location"]).query)
    return exchange_code(
        reply,
        expected_state=state,
        client_id=client_id,
        client_secret=client_secret,
        expected_member_id=handle.member_id,
        expected_domain=handle.domain,
        oauth_url=sandbox.oauth_url,
        policy=DEV,
    )


def install(
    sandbox: Sandbox, store: Store, index: int = 0, scopes: tuple[str, ...] = ("crm", "user")
) -> Installed:
    """Register b24app on a sandbox portal, authorise it, and store the portal and its tokens."""
    app = sandbox.register_app(index, handler_url="http://127.0.0.1:9/b24/app/", scopes=list(scopes))
    tokens = authorise(sandbox, index, app["client_id"], app["client_secret"])
    registration = store.registrations.add(app["client_id"], app["client_secret"], name=f"portal {index}")
    portal = store.portals.upsert(
        tokens.member_id,
        domain=sandbox.portals[index].domain,
        client_endpoint=tokens.client_endpoint,
        registration_id=registration.id,
        state=PortalState.INSTALLED,
        language="ru",
    )
    store.tokens.save(portal.id, pair_of(tokens))
    return Installed(portal, app["client_id"], app["client_secret"], index)


def pair_of(tokens) -> TokenPair:
    expires = datetime.fromtimestamp(tokens.expires, UTC) if tokens.expires else None
    return TokenPair(tokens.access_token, tokens.refresh_token, expires, tokens.scope)


def refresh_directly(sandbox: Sandbox, installed: Installed, refresh_token: str) -> requests.Response:
    """Spend a refresh token at the sandbox's OAuth server, as another program would."""
    return requests.get(
        f"{sandbox.oauth_url}oauth/token/",
        params={
            "grant_type": "refresh_token",
            "client_id": installed.client_id,
            "client_secret": installed.client_secret,
            "refresh_token": refresh_token,
        },
        timeout=5,
    )


def b24app_process(env: dict[str, str], *argv: str, **options) -> subprocess.Popen:
    """``b24app ARGV`` in a process of its own, with the test's b24app environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "b24app.cli", *argv],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def subprocess_python(env: dict[str, str], script: str, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, processes=(), timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail at once if one of ``processes`` ended meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"a process ended early ({process.returncode}): {out} {err}")
        if time.monotonic() > deadline:
            pytest.fail("the condition did not hold in time")
        time.sleep(0.02)


def add_source(sandbox: Sandbox, status_id: str, index: int = 0) -> None:
    """Someone edits the portal by hand (through a webhook): a new source."""
    requests.post(
        f"{sandbox.portals[index].webhook_url}crm.status.add",
        json={"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": status_id, "NAME": status_id}},
        timeout=5,
    ).raise_for_status()


@pytest.fixture
def kit():
    """The helpers of this module (install, authorise, b24app_process, ...)."""
    return sys.modules[__name__]
