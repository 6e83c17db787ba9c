"""The schedule (b24app/schedule.py): slots spread evenly across the period, and ticks that ask for
each slot's resync exactly once, whichever worker ticks and however many tick at once (on SQLite and
PostgreSQL, with a simulated clock)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from b24app.schedule import CLOCK, Scheduler, due, offsets, tick
from b24app.store import PortalState, Settings

PERIOD = timedelta(minutes=15)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a whole quarter hour: slot i of n falls at T0 + i*P/n


def per_minute(count: int, minutes: int) -> list[int]:
    ids = list(range(1, count + 1))
    period = timedelta(minutes=minutes)
    return [
        len(due(ids, period, T0 + timedelta(minutes=m), T0 + timedelta(minutes=m + 1)))
        for m in range(minutes)
    ]


def test_1000_portals_every_15_minutes_stay_within_10_percent_of_the_mean_each_minute():
    counts = per_minute(1000, 15)
    mean = 1000 / 15
    assert sum(counts) == 1000  # each portal once in the period
    assert all(abs(c - mean) <= 0.1 * mean for c in counts), counts
    assert set(counts) == {66, 67}


def test_few_portals_are_evenly_spaced():
    slots = sorted(offsets([40, 3, 17, 9, 22, 5, 31], PERIOD).values())
    gaps = {b - a for a, b in zip(slots, [*slots[1:], slots[0] + PERIOD], strict=True)}
    assert slots[0] == timedelta(0)
    assert max(gaps) - min(gaps) <= timedelta(microseconds=1)  # P/7 each, to the microsecond
    assert len(per_minute(7, 15)) == 15 and max(per_minute(7, 15)) == 1  # never two in one minute


def test_a_window_of_more_than_a_period_holds_each_portal_once():
    ids = list(range(1, 51))
    assert sorted(due(ids, PERIOD, T0 - 10 * PERIOD, T0 + timedelta(seconds=7))) == ids
    assert due(ids, PERIOD, T0, T0) == [] and due(ids, PERIOD, T0, T0 - PERIOD) == []


# -- ticks on a real store ---------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path, database_url):
    return Settings(instance=tmp_path, database_url=database_url, templates=tmp_path, schedule_minutes=15)


def add_portals(store, count: int, start: int = 0, template: str | None = "standard") -> list[int]:
    ids = []
    for i in range(start, start + count):
        portal = store.portals.upsert(
            f"member{i:04d}",
            domain=f"p{i}.example.com",
            client_endpoint=f"https://p{i}.example.com/rest/",
            registration_id=None,
            state=PortalState.INSTALLED,
        )
        store.portals.assign_template(portal.id, template)
        ids.append(portal.id)
    return ids


def run_ticks(store, settings, start: datetime, end: datetime, step: timedelta) -> list[int]:
    """Ticks from ``start`` to ``end``; every portal id each tick asked for."""
    asked, now = [], start
    while now <= end:
        asked += tick(store, settings, now)
        now += step
    return asked


def test_the_first_tick_starts_the_clock_and_asks_for_nothing(store, settings):
    add_portals(store, 5)
    assert tick(store, settings, T0 + timedelta(minutes=7)) == []
    assert store.clocks.get(CLOCK) == T0 + timedelta(minutes=7)
    assert store.resyncs.total_requests() == 0


def test_consecutive_ticks_ask_for_each_portal_once_a_period(store, settings):
    ids = add_portals(store, 20)
    tick(store, settings, T0)
    asked = run_ticks(
        store,
        settings,
        T0 + timedelta(seconds=7),
        T0 + 2 * PERIOD + timedelta(seconds=7),
        timedelta(seconds=7),
    )
    assert Counter(asked) == dict.fromkeys(ids, 2)  # two periods: twice each, never on two ticks at once
    assert store.resyncs.total_requests() == 40
    assert {r.reasons[0] for r in store.resyncs.waiting()} == {"schedule"}


def test_only_installed_portals_with_a_template_are_planned(store, settings):
    planned = add_portals(store, 3)
    add_portals(store, 2, start=10, template=None)
    gone = add_portals(store, 1, start=20)
    store.portals.set_state(gone[0], PortalState.UNINSTALLED)
    tick(store, settings, T0)
    assert sorted(tick(store, settings, T0 + PERIOD)) == planned


def test_a_portal_added_later_gets_a_slot(store, settings):
    first = add_portals(store, 3)
    tick(store, settings, T0)
    asked = run_ticks(
        store, settings, T0 + timedelta(seconds=10), T0 + timedelta(minutes=4), timedelta(seconds=10)
    )
    later = add_portals(store, 1, start=3)
    asked += run_ticks(
        store, settings, T0 + timedelta(minutes=4, seconds=10), T0 + 2 * PERIOD, timedelta(seconds=10)
    )
    assert later[0] in asked
    assert all(asked.count(pid) in (1, 2) for pid in first + later)


def test_after_an_outage_the_schedule_catches_up_at_most_one_period(store, settings):
    ids = add_portals(store, 30)
    tick(store, settings, T0)
    assert sorted(tick(store, settings, T0 + 10 * PERIOD + timedelta(seconds=3))) == ids
    assert store.resyncs.total_requests() == 30 and store.clocks.get(CLOCK) == T0 + 10 * PERIOD + timedelta(
        seconds=3
    )
    assert tick(store, settings, T0 + 10 * PERIOD + timedelta(seconds=4)) == []


def test_a_clock_behind_the_last_tick_asks_for_nothing(store, settings):
    add_portals(store, 10)
    tick(store, settings, T0 + PERIOD)
    assert tick(store, settings, T0) == []
    assert store.clocks.get(CLOCK) == T0 + PERIOD and store.resyncs.total_requests() == 0


def test_the_schedule_off_does_nothing(store, settings, tmp_path, database_url):
    add_portals(store, 3)
    off = Settings(instance=tmp_path, database_url=database_url, templates=tmp_path, schedule_minutes=0)
    assert tick(store, off, T0) is None and tick(store, off, T0 + PERIOD) is None
    assert store.clocks.get(CLOCK) is None
    assert Scheduler(store, off, interval=0.01).start().running is False


@pytest.mark.parametrize("wait", [0.0, 30.0])  # the loser skips its turn / waits and then finds nothing
def test_concurrent_tickers_on_many_stores_ask_for_each_slot_once(store, open_store, keys, settings, wait):
    ids = add_portals(store, 40)
    tick(store, settings, T0)
    tickers = [open_store(keys) for _ in range(4)]  # four workers, each with its own connections
    barrier = threading.Barrier(len(tickers))
    results: list = [None] * len(tickers)

    def work(index: int) -> None:
        barrier.wait()
        results[index] = tick(tickers[index], settings, T0 + PERIOD, wait=wait)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tickers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    asked = [pid for result in results if result for pid in result]
    assert sorted(asked) == ids
    assert store.resyncs.total_requests() == 40
    assert all(r.requests == 1 for r in store.resyncs.waiting())


def test_the_scheduler_ticks_in_its_thread_until_stopped(store, settings):
    add_portals(store, 2)
    scheduler = Scheduler(store, settings, interval=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while store.clocks.get(CLOCK) is None:
            assert time.monotonic() < deadline, "the scheduler did not tick within 10 s"
            time.sleep(0.02)
        assert scheduler.running
    finally:
        scheduler.stop()
    assert not scheduler.running
    stopped_at = store.clocks.get(CLOCK)
    time.sleep(0.2)
    assert store.clocks.get(CLOCK) == stopped_at


def test_a_tick_wakes_a_worker_for_each_new_request_only(store, settings):
    ids = add_portals(store, 6)
    tick(store, settings, T0)
    woken: list[int] = []
    tick(store, settings, T0 + PERIOD, wake=woken.append)
    assert sorted(woken) == ids
    woken.clear()
    tick(store, settings, T0 + 2 * PERIOD, wake=woken.append)  # nothing ran: merged, already woken
    assert woken == [] and store.resyncs.total_requests() == 12
