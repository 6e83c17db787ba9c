"""Clocks: when a periodic duty (the schedule) last ran, one row per duty, shared by every worker.

Read and written only under the duty's store lock, so a plain read then write is enough.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from b24app.store.db import is_postgresql, write_transaction
from b24app.store.models import ClockRow


class Clocks:
    def __init__(self, store) -> None:
        self._store = store

    def get(self, name: str) -> datetime | None:
        """When the duty last ran; None if never."""
        with self._store.engine.connect() as connection:
            return connection.scalar(select(ClockRow.at).where(ClockRow.name == name))

    def set(self, name: str, at: datetime) -> None:
        insert = pg_insert if is_postgresql(self._store.engine) else sqlite_insert
        with write_transaction(self._store.engine) as connection:
            connection.execute(
                insert(ClockRow)
                .values(name=name, at=at)
                .on_conflict_do_update(index_elements=[ClockRow.name], set_={"at": at})
            )
