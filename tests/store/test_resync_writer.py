"""The resync writer (store/resync_writer.py): requests of many threads committed together, none lost,
one failing request failing alone, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event

from b24app.store.resync_writer import ResyncWriter, WriterStopped
from b24app.store.resyncs import Ask, Logged
from tests.dbfixtures import add_portal, writes_held


def add_portals(store, count: int) -> list[int]:
    return [add_portal(store, f"m{i}", f"p{i}.example.com").id for i in range(count)]


def commits(store) -> list[int]:
    counted = [0]

    def count(_connection) -> None:
        counted[0] += 1

    event.listen(store.engine, "commit", count)
    return counted


def in_threads(count: int, work) -> list:
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return [threads, results]


def test_many_threads_lose_no_request_and_log_each(store):
    portals = add_portals(store, 3)
    writer = ResyncWriter(store.resyncs)
    threads, results = in_threads(
        60,
        lambda i: writer.request(
            Ask(portals[i % 3], "ONCRMTYPEUPDATE", log=Logged("ONCRMTYPEUPDATE", f"m{i % 3}"))
        ),
    )
    for thread in threads:
        thread.join(60)
    writer.close()
    assert results.count(True) == 3 and results.count(False) == 57  # one new request per portal, merged after
    assert store.resyncs.total_requests() == 60
    assert sorted(r.portal_id for r in store.resyncs.waiting()) == portals
    outcomes = [e.outcome for e in store.events.list(limit=100)]
    assert sorted(outcomes) == ["merged"] * 57 + ["queued resync"] * 3


def test_requests_waiting_together_are_committed_together(store):
    portals = add_portals(store, 5)
    writer = ResyncWriter(store.resyncs)
    counted = commits(store)
    with writes_held(store, "resyncs"):
        threads, results = in_threads(40, lambda i: writer.request(Ask(portals[i % 5], "schedule")))
        time.sleep(1.0)  # every thread has handed its request over; the first batch waits for the lock
    for thread in threads:
        thread.join(60)
    writer.close()
    assert store.resyncs.total_requests() == 40 and results.count(True) == 5
    assert counted[0] <= 3  # the first batch, then the 39 that waited meanwhile (not 40 commits)


def test_a_failing_request_fails_alone(store):
    portals = add_portals(store, 2)
    writer = ResyncWriter(store.resyncs)
    asks = [Ask(portals[0], "a"), Ask(999_999, "no such portal"), Ask(portals[1], "b")]
    with writes_held(store, "resyncs"):
        threads, results = in_threads(3, lambda i: writer.request(asks[i]))
        time.sleep(0.5)
    for thread in threads:
        thread.join(60)
    writer.close()
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError) and "neither added nor merged" in str(results[1])
    assert store.resyncs.total_requests() == 2


def test_a_closed_writer_refuses_requests(store):
    [portal] = add_portals(store, 1)
    writer = ResyncWriter(store.resyncs)
    assert writer.request(Ask(portal, "x")) is True
    writer.close()
    with pytest.raises(WriterStopped):
        writer.request(Ask(portal, "y"))
    assert store.resyncs.total_requests() == 1


def test_a_batch_merges_as_one_request_at_a_time_would(store):
    a, b, c = add_portals(store, 3)
    assert store.resyncs.request(a, "first") is True
    asks = [
        Ask(a, "x"),
        Ask(b, "y", log=Logged("ONCRMTYPEADD", "m1")),
        Ask(b, "x", log=Logged("ONCRMTYPEDELETE", "m1")),
        Ask(c, "z"),
        Ask(a, "x"),
    ]
    assert store.resyncs.request_many(asks) == [False, True, False, True, False]
    rows = {r.portal_id: (r.reasons, r.requests) for r in store.resyncs.waiting()}
    assert rows == {a: (["first", "x"], 3), b: (["y", "x"], 2), c: (["z"], 1)}
    logged = sorted((e.event, e.outcome, e.portal_id) for e in store.events.list())
    assert logged == [("ONCRMTYPEADD", "queued resync", b), ("ONCRMTYPEDELETE", "merged", b)]
