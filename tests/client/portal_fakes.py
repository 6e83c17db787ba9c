"""Helpers for the REST client tests: the fake portal's answers and a clock that never really waits."""

from __future__ import annotations

import json
from typing import Any

PORTAL = "portal.bitrix24.ru"
CODE = "s3cr3tc0de"
WEBHOOK = f"https://{PORTAL}/rest/1/{CODE}/"


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    """A successful Bitrix24 answer."""
    time_block = {"start": 1700000000.1, "finish": 1700000000.2, "duration": 0.1, "processing": 0.05}
    return {"result": result, "time": time_block, **extra}


def error(code: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"error": code, "error_description": description, **extra}


def sent_json(call: Any) -> dict[str, Any]:
    """The JSON body of a recorded request."""
    return json.loads(call.request.body)
