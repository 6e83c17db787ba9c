"""The client side of a portal's request budget: a leaky bucket like the portal's own.

Bitrix24 counts requests per portal in a leaky bucket (each request adds one, the counter drains
``rate`` per second, a request above ``burst`` is refused with 503 ``QUERY_LIMIT_EXCEEDED``).
Keeping the same bucket here means we wait instead of being refused.

The client depends only on :class:`RateLimiter`, one object per portal. :class:`LeakyBucket` is the
in-process implementation, and :func:`bucket_for` hands every client of one portal in this process
the same one. Processes that share a portal (a web app's workers) need a limiter kept where they
all see it (Redis, the database), given to :func:`~b24app.bitrix.portals.connect` as its
``limiter_for``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    """One portal's request budget, as the client sees it."""

    def acquire(self) -> float:
        """Take a slot for one HTTP request, waiting until there is one; returns the seconds waited."""
        ...

    def penalize(self) -> None:
        """The portal refused a request for the rate (503 ``QUERY_LIMIT_EXCEEDED``): slow down."""
        ...


class LeakyBucket:
    """Thread-safe leaky bucket; :meth:`acquire` before each HTTP request."""

    def __init__(
        self,
        rate: float = 2.0,
        burst: int = 50,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a leaky bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._level = 0.0
        self._updated = clock()

    def acquire(self) -> float:
        """Take one slot, waiting until the bucket has room; returns the seconds waited.

        The slot is reserved under the lock and the wait happens outside it, so concurrent
        callers queue up one drain interval apart instead of all waking at once.
        """
        with self._lock:
            self._drain()
            wait = max(0.0, (self._level + 1 - self.burst) / self.rate)
            self._level += 1
        if wait:
            self._sleep(wait)
        return wait

    def penalize(self) -> None:
        """The portal refused a request for the rate (503): treat the bucket as full."""
        with self._lock:
            self._drain()
            self._level = max(self._level, float(self.burst))

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._updated) * self.rate)
        self._updated = now


_buckets: dict[str, LeakyBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(domain: str) -> LeakyBucket:
    """The process-wide bucket of one portal (created with the default plan's limits).

    The in-process ``limiter_for`` of :func:`~b24app.bitrix.portals.connect`."""
    key = domain.lower()
    with _buckets_lock:
        if key not in _buckets:
            _buckets[key] = LeakyBucket()
        return _buckets[key]
