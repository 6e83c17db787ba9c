"""Two real processes renewing one portal's tokens at once never lose a refresh token.

Bitrix24 rotates the refresh token on every refresh: the loser of a race holds a dead token.
The processes come from a fork server that has the store's modules loaded already (fast starts).
"""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest
from store_workers import compare_and_swap, die_holding_lock, hold_lock, refresh_rounds, try_lock

from b24app.store import Cipher, LockTimeout, Store, TokenPair
from b24app.store.db import make_engine
from b24app.store.locks import DEFAULT_LEASE
from tests.dbfixtures import add_portal

JOIN = 120  # seconds: only a guard against a hung test, never a measurement


@pytest.fixture(scope="module")
def processes():
    context = multiprocessing.get_context("forkserver")
    # the fork server imports these once; every process forked from it starts with them loaded
    context.set_forkserver_preload(["b24app.store", "psycopg", "sqlalchemy.dialects.postgresql.psycopg"])
    return context


@pytest.fixture
def portal_id(store) -> int:
    portal = add_portal(store, "a1b2c3", "acme.bitrix24.ru")
    store.tokens.save(portal.id, TokenPair("access-0", "refresh-0"))
    return portal.id


def run_all(processes, target, args_for) -> None:
    workers = [processes.Process(target=target, args=args_for(who)) for who in ("A", "B")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN)
        assert worker.exitcode == 0


def drain(results, count: int) -> list:
    """``count`` results, or fewer when a process reported an error (marked "!")."""
    found: list = []
    while len(found) < count and not any(str(item[-1]).startswith("!") for item in found):
        found.append(results.get(timeout=JOIN))
    return found


def test_compare_and_swap_exactly_one_wins(processes, store, database_url, keys, portal_id):
    before = store.tokens.load(portal_id).generation
    barrier, results = processes.Barrier(2), processes.Queue()
    run_all(processes, compare_and_swap, lambda who: (database_url, keys, portal_id, who, barrier, results))
    outcomes = {who: (won, seen, generation) for who, won, seen, generation in drain(results, 2)}
    winners = [who for who, (won, _, _) in outcomes.items() if won]
    assert len(winners) == 1
    expected = (f"refresh-{winners[0]}", before + 1)
    assert {who: (seen, generation) for who, (_, seen, generation) in outcomes.items()} == {
        "A": expected,
        "B": expected,
    }  # the loser sees the winner's pair
    stored = store.tokens.load(portal_id)
    assert (stored.pair.refresh_token, stored.generation) == expected


@pytest.mark.parametrize("row_lock", [False, True], ids=["refresh_lock", "row_lock"])
def test_concurrent_renewals_use_each_refresh_token_once(
    processes, store, database_url, keys, portal_id, tmp_path, row_lock
):
    server, rounds = tmp_path / "oauth", 5
    server.mkdir()
    barrier, results = processes.Barrier(2), processes.Queue()
    run_all(
        processes,
        refresh_rounds,
        lambda who: (database_url, keys, portal_id, who, barrier, results, str(server), rounds, row_lock),
    )
    got = drain(results, 2 * rounds)
    assert not [r for r in got if r[1].startswith("!")], got
    assert len(got) == 2 * rounds
    used = sorted(p.name for p in server.iterdir())
    assert len(used) == rounds  # one real refresh per round: the other process took the winner's pair
    stored = store.tokens.load(portal_id)
    assert stored.pair.refresh_token not in used  # the stored token is live
    assert stored.generation == 1 + rounds


def test_refresh_lock_is_held_across_processes(processes, store, database_url, keys, portal_id):
    taken, release, results = processes.Event(), processes.Event(), processes.Queue()
    holder = processes.Process(target=hold_lock, args=(database_url, keys, portal_id, taken, release))
    holder.start()
    try:
        assert taken.wait(JOIN)
        with (
            pytest.raises(LockTimeout, match="held by another b24app process"),
            store.tokens.refresh_lock(portal_id, timeout=0.2),
        ):
            pass
        waiter = processes.Process(target=try_lock, args=(database_url, keys, portal_id, 0.2, results))
        waiter.start()
        waiter.join(JOIN)
        assert results.get(timeout=JOIN).startswith("timeout:")
    finally:
        release.set()
        holder.join(JOIN)
    with store.tokens.refresh_lock(portal_id, timeout=JOIN):
        pass
    other = add_portal(store, "d4e5f6", "b.bitrix24.ru")
    with store.tokens.refresh_lock(portal_id, timeout=1), store.tokens.refresh_lock(other.id, timeout=1):
        pass  # one lock per portal: holding one does not block another


def test_a_dead_holder_does_not_block_forever(processes, store, database_url, keys, portal_id, backend):
    taken = processes.Event()
    dying = processes.Process(target=die_holding_lock, args=(database_url, keys, portal_id, taken))
    dying.start()
    dying.join(JOIN)
    assert taken.is_set()
    if backend == "sqlite":  # the lock row stays until its lease ends
        with pytest.raises(LockTimeout), store.tokens.refresh_lock(portal_id, timeout=0.2):
            pass
        later = Store(
            make_engine(database_url),
            Cipher(keys),
            clock=lambda: store.now() + timedelta(seconds=DEFAULT_LEASE + 1),
        )
        try:
            with later.tokens.refresh_lock(portal_id, timeout=0.2):
                pass
        finally:
            later.close()
    else:  # PostgreSQL ends the advisory lock with the dead process's session
        with store.tokens.refresh_lock(portal_id, timeout=JOIN):
            pass
