"""Fixtures for the REST client tests: a fake portal over HTTP (``responses``), no real waiting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses
from portal_fakes import WEBHOOK, FakeClock

from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.bitrix.ratelimit import LeakyBucket


@pytest.fixture
def portal():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def bucket_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def delays() -> list[float]:
    """What the client slept between attempts."""
    return []


@pytest.fixture
def make_client(bucket_clock: FakeClock, delays: list[float]) -> Callable[..., Client]:
    def make(auth: Any = None, **options: Any) -> Client:
        options.setdefault("bucket", LeakyBucket(clock=bucket_clock, sleep=bucket_clock.sleep))
        options.setdefault("sleep", delays.append)
        return Client(auth or WebhookAuth(WEBHOOK), **options)

    return make


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()
