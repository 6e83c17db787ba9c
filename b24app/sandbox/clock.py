"""The sandbox's notion of "now": wall time plus an offset that tests can advance."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

MOSCOW = timezone(timedelta(hours=3))


class Clock:
    """Wall-clock time shifted by an adjustable offset (token expiry, bucket drain, envelope times)."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += float(seconds)
        return self.now()


def iso_time(timestamp: float, lang: str = "ru") -> str:
    """ISO-8601 with the portal's offset (ru: Moscow, others: UTC), e.g. `2024-05-01T12:00:00+03:00`."""
    return datetime.fromtimestamp(timestamp, MOSCOW if lang == "ru" else UTC).isoformat(timespec="seconds")


def time_block(
    started: float,
    processing: float,
    lang: str = "ru",
    *,
    operating: float | None = None,
    operating_reset_at: int | None = None,
) -> dict:
    """The `time` object of a REST answer (platform.md §4.3)."""
    finished = started + processing
    block: dict = {
        "start": round(started, 4),
        "finish": round(finished, 4),
        "duration": round(processing, 6),
        "processing": round(processing, 6),
        "date_start": iso_time(started, lang),
        "date_finish": iso_time(finished, lang),
    }
    if operating is not None:
        block["operating_reset_at"] = operating_reset_at
        block["operating"] = round(operating, 6)
    return block
