"""What the processes of tests/store/test_refresh_race.py run (importable by a spawned process).

A miniature OAuth server stands for Bitrix24's: a refresh token can be used once (Bitrix24 rotates
it), so a process that refreshes with a token another process already used gets "dead token".
Using a token = creating its marker file exclusively, which is atomic across processes.
"""

from __future__ import annotations

import os
from pathlib import Path

from b24app.store import Cipher, LockTimeout, Store, TokenPair
from b24app.store.db import make_engine


class DeadToken(Exception):
    pass


def oauth_refresh(server: Path, refresh_token: str, who: str) -> TokenPair:
    try:
        os.close(os.open(server / refresh_token, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        raise DeadToken(f"{who}: {refresh_token} was already used") from None
    number = len(list(server.iterdir()))
    return TokenPair(f"access-{number}-{who}", f"refresh-{number}-{who}")


def open_store(url: str, keys: list[bytes]) -> Store:
    return Store(make_engine(url), Cipher(keys))


def compare_and_swap(url, keys, portal_id, who, barrier, results) -> None:
    """Load, wait for the other process, then both try to save their own pair over the same generation."""
    store = open_store(url, keys)
    try:
        loaded = store.tokens.load(portal_id)
        mine = TokenPair(f"access-{who}", f"refresh-{who}")
        barrier.wait()
        won = store.tokens.save_if_current(portal_id, loaded.generation, mine)
        seen = store.tokens.load(portal_id)
        results.put((who, won, seen.pair.refresh_token, seen.generation))
    finally:
        store.close()


def refresh_rounds(url, keys, portal_id, who, barrier, results, server, rounds, row_lock) -> None:
    """Each round: both processes find the pair expired at once and renew it as a client would."""
    store = open_store(url, keys)
    try:
        for _ in range(rounds):
            stale = store.tokens.load(portal_id)
            barrier.wait()
            renew = renew_with_row_lock if row_lock else renew_with_refresh_lock
            pair = renew(store, portal_id, stale.generation, Path(server), who)
            results.put((who, pair.refresh_token))
            barrier.wait()
    except Exception as error:  # reported to the test, which fails on it
        results.put((who, f"! {type(error).__name__}: {error}"))
        barrier.abort()
    finally:
        store.close()


def renew_with_refresh_lock(store: Store, portal_id: int, stale_generation: int, server: Path, who: str):
    with store.tokens.refresh_lock(portal_id):
        current = store.tokens.load(portal_id)
        if current.generation != stale_generation:
            return current.pair  # renewed by another process meanwhile: use its pair
        pair = oauth_refresh(server, current.pair.refresh_token, who)
        if not store.tokens.save_if_current(portal_id, current.generation, pair):
            raise AssertionError("saved under the lock, yet someone else saved first")
        return pair


def renew_with_row_lock(store: Store, portal_id: int, stale_generation: int, server: Path, who: str):
    with store.tokens.locked(portal_id) as locked:
        if locked.current.generation != stale_generation:
            return locked.current.pair
        pair = oauth_refresh(server, locked.current.pair.refresh_token, who)
        locked.save(pair)
        return pair


def hold_lock(url, keys, portal_id, taken, release) -> None:
    """Take the portal's refresh lock and keep it until told to let go."""
    store = open_store(url, keys)
    try:
        with store.tokens.refresh_lock(portal_id):
            taken.set()
            release.wait(60)
    finally:
        store.close()


def try_lock(url, keys, portal_id, timeout, results) -> None:
    store = open_store(url, keys)
    try:
        with store.tokens.refresh_lock(portal_id, timeout=timeout):
            results.put("acquired")
    except LockTimeout as error:
        results.put(f"timeout: {error}")
    finally:
        store.close()


def die_holding_lock(url, keys, portal_id, taken) -> None:
    """Take the lock and die without releasing it (as a killed worker would)."""
    store = open_store(url, keys)
    lock = store.tokens.refresh_lock(portal_id)
    lock.__enter__()
    taken.set()
    os._exit(0)
