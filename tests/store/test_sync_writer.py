"""The webhook's writer (``store.sync_writer``, store/batch_writer.py): deliveries of many threads
committed together, none lost, a replayed one refused alone, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

from b24app.store.library import DeliveryReplayed, SyncAsk
from tests.dbfixtures import writes_held


def submitted(store, asks: list[SyncAsk]) -> list:
    """Each ask submitted from its own thread while writes are held (so they make one batch)."""
    results: list = [None] * len(asks)

    def run(index: int) -> None:
        try:
            results[index] = store.sync_writer.submit(asks[index])
        except Exception as error:  # noqa: BLE001 - the test looks at it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(asks))]
    with writes_held(store, "webhook_deliveries"):
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every thread has handed its delivery over; the first batch waits for the lock
    for thread in threads:
        thread.join(60)
    return results


def accepted_lines(store) -> int:
    return sum(
        1 for e in store.events.list(limit=1000) if e.event == "hooks.resync" and e.outcome == "accepted"
    )


def test_many_deliveries_at_once_are_all_stored_with_their_lines(store):
    asks = [SyncAsk(None if i % 2 else ("a", "b"), f"gh:{i:044x}", f"GitHub: {i}") for i in range(40)]
    results = submitted(store, asks)
    assert results == [None] * 40
    assert store.library.delivered() == 40 and accepted_lines(store) == 40
    assert store.library.pending().names is None  # "all" asked by half of them


def test_a_replayed_delivery_in_a_batch_is_refused_alone(store):
    store.library.request(None, delivery="gh:" + "1" * 44, detail="first")
    asks = [
        SyncAsk(("a",), "gh:" + "2" * 44),
        SyncAsk(None, "gh:" + "1" * 44),
        SyncAsk(("b",), "gh:" + "3" * 44),
    ]
    results = submitted(store, asks)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], DeliveryReplayed)
    assert store.library.delivered() == 3 and accepted_lines(store) == 3


def test_copies_of_one_delivery_in_a_batch_are_accepted_once(store):
    results = submitted(store, [SyncAsk(("a",), "sw:" + "4" * 44)] * 3)
    assert results.count(None) == 1
    assert sum(isinstance(r, DeliveryReplayed) for r in results) == 2
    assert store.library.delivered() == 1 and accepted_lines(store) == 1
    assert store.library.pending().names == ("a",)
