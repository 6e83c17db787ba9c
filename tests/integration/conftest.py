"""Integration tests talk to sandbox portals over real HTTP on loopback."""

from __future__ import annotations

import pytest

from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.bitrix.ratelimit import LeakyBucket
from b24app.core.template import load_template
from b24app.sandbox.server import Sandbox


@pytest.fixture
def sandbox():
    """A sandbox with one fresh Russian portal, on ephemeral loopback ports."""
    box = Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru").start()
    yield box
    box.stop()


@pytest.fixture
def webhook(sandbox) -> str:
    return sandbox.portals[0].webhook_url


def make_client(webhook_url: str, **kw) -> Client:
    # A private bucket per client, so that tests never wait on each other's request budget.
    kw.setdefault("bucket", LeakyBucket(rate=2.0, burst=50))
    return Client(WebhookAuth(webhook_url), **kw)


@pytest.fixture
def client(webhook) -> Client:
    return make_client(webhook)


@pytest.fixture
def example(example_path):
    return load_template(example_path.read_text(encoding="utf-8"), source=str(example_path))
