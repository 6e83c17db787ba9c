"""The schedule: every installed portal with a template is planned every N minutes.

Bitrix24 sends no event when a reference list is edited by hand, so drift is found by polling; a
plan also keeps the portal's refresh token alive (it dies after 180 days unused).

The load is spread evenly across the period instead of all at minute 0: the portals, sorted by id,
get the slots ``i * period / n`` (``n`` portals, ``i`` the rank), repeated every period from the
Unix epoch. A new or removed portal moves the others by at most one gap (``period / n``).

Any number of worker processes, on any number of machines, call :func:`tick` every few seconds.
One of them at a time does the work, under the store's lock ``schedule`` (the others skip their
turn); it asks for a resync (reason ``schedule``) of every portal whose slot fell since the last tick,
whose time is kept in the store's clock ``schedule``. So each slot is asked for once, whichever
worker ticks. The first tick ever only starts the clock (no storm at the first start), and after an
outage the schedule catches up at most one period: each portal once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from b24app.store import LockTimeout, Settings, Store
from b24app.store.resyncs import Ask

CLOCK = LOCK = REASON = "schedule"
TICK_SECONDS = 10.0  # how often a worker looks at the schedule
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
logger = logging.getLogger("b24app.schedule")


def offsets(portal_ids: Sequence[int], period: timedelta) -> dict[int, timedelta]:
    """Each portal's slot in the period: evenly spaced by rank of id (whole microseconds, so exact)."""
    ordered = sorted(set(portal_ids))
    whole = period // _MICROSECOND
    return {pid: timedelta(microseconds=rank * whole // len(ordered)) for rank, pid in enumerate(ordered)}


def due(portal_ids: Sequence[int], period: timedelta, after: datetime, until: datetime) -> list[int]:
    """The portals with a slot in ``(after, until]``. Only each portal's latest slot is looked at, so
    a window longer than a period (an outage) still asks for each portal once, not once per period.

    Integer microseconds throughout: a slot on the boundary of two ticks belongs to exactly one of them.
    """
    whole = period // _MICROSECOND
    end = (until - _EPOCH) // _MICROSECOND
    start = (after - _EPOCH) // _MICROSECOND
    if end <= start:
        return []
    found = []
    for pid, offset in offsets(portal_ids, period).items():
        shift = offset // _MICROSECOND
        latest = (end - shift) // whole * whole + shift  # the portal's last slot at or before `until`
        if latest > start:
            found.append(pid)
    return found


def tick(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    wait: float = 0.0,
    wake: Callable[[int], None] | None = None,
) -> list[int] | None:
    """Ask for a resync of every portal whose slot fell since the last tick; returns their ids, or
    None when the schedule is off or another process is ticking (it does the work). ``wake`` is
    called with each portal whose request is new (not merged), once the tick is committed.

    The requests are made before the clock moves: should this process die between the two, the
    next tick asks again, and the requests merge into those waiting (nothing is lost).
    """
    if settings.schedule_minutes <= 0:
        return None
    try:
        with store.lock(LOCK, timeout=wait):
            last = store.clocks.get(CLOCK)
            if last is None:  # the first tick ever: the schedule starts now
                store.clocks.set(CLOCK, now)
                return []
            if now <= last:  # this machine's clock is behind the last tick's: nothing fell
                return []
            period = timedelta(minutes=settings.schedule_minutes)
            portals = due(store.portals.scheduled_ids(), period, last, now)
            new = store.resyncs.request_many([Ask(portal_id, REASON) for portal_id in portals])  # one commit
            store.clocks.set(CLOCK, now)
    except LockTimeout:
        return None
    for portal_id, added in zip(portals, new, strict=True):
        if added and wake is not None:
            wake(portal_id)
    return portals


class Scheduler:
    """Ticks the schedule in a daemon thread every ``interval`` seconds (one per worker process)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        interval: float = TICK_SECONDS,
        wake: Callable[[int], None] | None = None,
    ) -> None:
        """``wake``: e.g. ``Jobs.wake``, to send a worker each new request at once."""
        self._store, self._settings, self._interval, self._wake = store, settings, interval, wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Scheduler:
        if self._thread is None and self._settings.schedule_minutes > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="b24app schedule", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick_once()
            self._stop.wait(self._interval)

    def tick_once(self) -> list[int] | None:
        """One tick now; a failure (the database away) is logged and the next tick tries again."""
        try:
            portals = tick(self._store, self._settings, self._store.now(), wake=self._wake)
        except Exception as error:  # noqa: BLE001 - the schedule must outlive a database hiccup
            logger.warning("the schedule could not tick: %s", type(error).__name__)
            return None
        if portals:
            logger.info("the schedule asked for %d resync(s)", len(portals))
        return portals
