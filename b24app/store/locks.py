"""Cross-process locks by name: PostgreSQL advisory locks, or a lock row with a lease on SQLite.

A lock is held for the duration of a ``with`` block, by one process at a time across every
process that shares the database. On SQLite the lock row carries an expiry that its holder keeps
extending while the block runs, so a long holder keeps its lock, and a process that died holding
it cannot block the others for longer than the lease.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from b24app.store.db import is_postgresql, write_transaction
from b24app.store.errors import LockTimeout
from b24app.store.models import LockRow

POLL = 0.02  # seconds between two tries
DEFAULT_LEASE = 120.0  # seconds a SQLite lock row stays valid once its holder stops renewing it
RENEW_EVERY = 1 / 6  # of the lease: how often a live holder extends it
logger = logging.getLogger("b24app.store")
_NAMESPACE = 0x62323461  # 'b24a': the first half of b24app's advisory lock keys


@contextmanager
def named_lock(store, name: str, timeout: float = 60.0, lease: float = DEFAULT_LEASE) -> Iterator[None]:
    if is_postgresql(store.engine):
        with _advisory_lock(store.engine, name, timeout):
            yield
    else:
        with _lock_row(store, name, timeout, lease):
            yield


@contextmanager
def _advisory_lock(engine: Engine, name: str, timeout: float) -> Iterator[None]:
    """``pg_advisory_xact_lock``'s non-blocking twin in a transaction kept open while we hold it."""
    key = zlib.crc32(name.encode("utf-8")) - 2**31  # a signed 32-bit key; the namespace is the other half
    deadline = time.monotonic() + timeout
    with engine.connect() as connection, connection.begin():
        while not connection.scalar(
            text("SELECT pg_try_advisory_xact_lock(:space, :key)"), {"space": _NAMESPACE, "key": key}
        ):
            _wait_or_give_up(deadline, name)
        yield  # the lock goes with the transaction's end, even if this process dies


@contextmanager
def _lock_row(store, name: str, timeout: float, lease: float) -> Iterator[None]:
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    while not _take_row(store, name, holder, lease):
        _wait_or_give_up(deadline, name)
    stop = threading.Event()
    keeper = threading.Thread(
        target=_keep_lease, args=(store, name, holder, lease, stop), name=f"lease of {name}", daemon=True
    )
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
        with write_transaction(store.engine) as connection:
            connection.execute(delete(LockRow).where(LockRow.name == name, LockRow.holder == holder))


def _keep_lease(store, name: str, holder: str, lease: float, stop: threading.Event) -> None:
    """Extend a held lock's lease while its holder lives: a job may hold a lock for longer than one
    lease, and only a holder that died (and so stopped renewing) loses it when the lease ends."""
    while not stop.wait(lease * RENEW_EVERY):
        try:
            with write_transaction(store.engine) as connection:
                connection.execute(
                    update(LockRow)
                    .where(LockRow.name == name, LockRow.holder == holder)
                    .values(expires_at=store.now() + timedelta(seconds=lease))
                )
        except SQLAlchemyError as error:  # the next round tries again, well within the lease
            logger.warning("could not extend the lease of lock %s: %s", name, type(error).__name__)


def _take_row(store, name: str, holder: str, lease: float) -> bool:
    now = store.now()
    with write_transaction(store.engine) as connection:  # BEGIN IMMEDIATE: one taker at a time
        expires = connection.scalar(select(LockRow.expires_at).where(LockRow.name == name))
        if expires is not None and expires > now:
            return False
        values = {"holder": holder, "expires_at": now + timedelta(seconds=lease)}
        connection.execute(
            sqlite_insert(LockRow)
            .values(name=name, **values)
            .on_conflict_do_update(index_elements=[LockRow.name], set_=values)
        )
        return True


def _wait_or_give_up(deadline: float, name: str) -> None:
    if time.monotonic() >= deadline:
        raise LockTimeout(
            f"{name} is held by another b24app process for too long; try again in a minute "
            "(a process that died releases it when its lease ends)"
        )
    time.sleep(POLL)
