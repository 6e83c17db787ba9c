"""SQLite lock rows: a live holder keeps extending its lease, so a job longer than one lease keeps
its lock (only a holder that died loses it when the lease ends; see test_refresh_race.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from b24app.store import LockTimeout
from b24app.store.locks import named_lock
from b24app.store.models import LockRow

LEASE = 0.6  # seconds; renewed every LEASE / 6


def expires_at(store, name: str):
    with store.engine.connect() as connection:
        return connection.scalar(select(LockRow.expires_at).where(LockRow.name == name))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_holder_longer_than_its_lease_keeps_the_lock(store):
    with named_lock(store, "portal:1", timeout=1, lease=LEASE):
        first = expires_at(store, "portal:1")
        deadline = time.monotonic() + 60  # a guard against a hung test, never a measurement
        while expires_at(store, "portal:1") < first + timedelta(seconds=2 * LEASE):
            assert time.monotonic() < deadline, "the lease was never extended"
            time.sleep(0.02)
        # more than one lease has passed since the lock was taken, and it is still held
        with pytest.raises(LockTimeout), named_lock(store, "portal:1", timeout=0.05, lease=LEASE):
            pass
    with named_lock(store, "portal:1", timeout=1, lease=LEASE):
        pass  # released at the end of its block
