"""Request limits of one portal (platform.md §5): the leaky bucket and the operating-time budget."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .clock import Clock
from .rest_common import RestError

OPERATING_WINDOW = 600.0  # ten one-minute baskets
BASKET = 60.0


@dataclass
class Limits:
    capacity: int = 50  # X: refuse when the counter would exceed it (enterprise plan: 250)
    drain: float = 2.0  # Y: requests drained per second (enterprise plan: 5)
    operating_limit: float | None = None  # seconds per method and app/webhook per 10 min; None = off

    def to_json(self) -> dict:
        return {"capacity": self.capacity, "drain": self.drain, "operating_limit": self.operating_limit}


class LeakyBucket:
    """+1 per request, drains `limits.drain` per second; a request that would overflow is refused."""

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self.limits = limits
        self._clock = clock
        self._level = 0.0
        self._stamp = clock.now()
        self._lock = threading.Lock()
        self.refused = 0  # requests refused for the rate (503 QUERY_LIMIT_EXCEEDED)
        self.peak = 0.0  # the highest the counter has been: never above limits.capacity

    def take(self) -> bool:
        with self._lock:
            now = self._clock.now()
            self._level = max(0.0, self._level - (now - self._stamp) * self.limits.drain)
            self._stamp = now
            if self._level + 1 > self.limits.capacity:
                self.refused += 1
                return False
            self._level += 1
            self.peak = max(self.peak, self._level)
            return True

    def reset(self) -> None:
        with self._lock:
            self._level = 0.0


class CallerMeter:
    """One caller's view of the budget (a webhook or an app), handed to the REST model."""

    def __init__(self, budget: OperatingBudget, caller: str) -> None:
        self._budget = budget
        self._caller = caller

    def check(self, method: str) -> None:
        if self._budget.blocked((method, self._caller)):
            raise RestError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")

    def record(self, method: str, seconds: float) -> tuple[float, int]:
        return self._budget.record((method, self._caller), seconds)


class OperatingBudget:
    """Processing seconds per (method, caller) in one-minute baskets over the last ten minutes."""

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self.limits = limits
        self._clock = clock
        self._baskets: dict[tuple[str, str], list[list[float]]] = {}  # key -> [[basket start, seconds]]
        self._lock = threading.Lock()

    def _live(self, key: tuple[str, str], now: float) -> list[list[float]]:
        baskets = [b for b in self._baskets.get(key, []) if b[0] + OPERATING_WINDOW > now]
        self._baskets[key] = baskets
        return baskets

    def blocked(self, key: tuple[str, str]) -> bool:
        """Checked before a call: the call that crossed the limit completed, the next one is refused."""
        limit = self.limits.operating_limit
        if limit is None:
            return False
        with self._lock:
            return sum(b[1] for b in self._live(key, self._clock.now())) > limit

    def record(self, key: tuple[str, str], seconds: float) -> tuple[float, int]:
        """Adds a call's processing time; returns (operating, operating_reset_at) for the envelope."""
        with self._lock:
            now = self._clock.now()
            baskets = self._live(key, now)
            if baskets and now < baskets[-1][0] + BASKET:
                baskets[-1][1] += seconds
            else:
                baskets.append([now, seconds])
            return sum(b[1] for b in baskets), int(baskets[0][0] + OPERATING_WINDOW)
