"""Resync requests: one waiting request per portal, into which later requests are merged.

The database, not the queue, holds what is asked for: a queue message only wakes a worker, so a
message lost with a killed worker, or sent twice, changes nothing. A request merged into one that
waits is still counted (``requests``), so nothing accepted is lost, and every worker on every
machine sees the same requests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from b24app.store.db import write_transaction
from b24app.store.errors import NotFound
from b24app.store.models import ResyncRow
from b24app.store.records import Resync

WAITING, RUNNING = "waiting", "running"
KEPT_REASONS = 10  # the latest reasons of a merged request (the count keeps the rest)
REASON_LENGTH = 200


class Resyncs:
    def __init__(self, store) -> None:
        self._store = store

    def request(self, portal_id: int, reason: str, not_before: datetime | None = None) -> bool:
        """Ask for a resync of the portal; True when a new request waits now, False when merged."""
        reason = reason[:REASON_LENGTH]
        now = self._store.now()
        for _ in range(3):  # a concurrent first request of the same portal: merge into it
            with write_transaction(self._store.engine) as connection:
                row = connection.execute(
                    select(ResyncRow.id, ResyncRow.reasons).where(
                        ResyncRow.portal_id == portal_id, ResyncRow.state == WAITING
                    )
                ).first()
                if row is not None:
                    connection.execute(
                        update(ResyncRow)
                        .where(ResyncRow.id == row.id)
                        .values(requests=ResyncRow.requests + 1, reasons=_merged(row.reasons, reason))
                    )
                    return False
            try:
                with Session(self._store.engine) as session, session.begin():
                    session.add(
                        ResyncRow(
                            portal_id=portal_id,
                            state=WAITING,
                            reasons=[reason],
                            requests=1,
                            requested_at=now,
                            not_before=not_before or now,
                            attempts=0,
                        )
                    )
                return True
            except IntegrityError:
                continue
        raise RuntimeError(f"portal {portal_id}: a resync request could be neither added nor merged")

    def waiting(self, limit: int = 1000) -> list[Resync]:
        """The waiting requests, oldest first."""
        return self._list(ResyncRow.state == WAITING, limit)

    def running(self, limit: int = 1000) -> list[Resync]:
        return self._list(ResyncRow.state == RUNNING, limit)

    def of_portal(self, portal_id: int) -> list[Resync]:
        return self._list(ResyncRow.portal_id == portal_id, 10)

    def total_requests(self) -> int:
        """Every request accepted and not yet done (merged ones counted)."""
        with Session(self._store.engine) as session:
            return sum(session.scalars(select(ResyncRow.requests)))

    def get(self, resync_id: int) -> Resync:
        with Session(self._store.engine) as session:
            row = session.get(ResyncRow, resync_id)
            if row is None:
                raise NotFound(f"no resync {resync_id}")
            return _record(row)

    def _list(self, condition: Any, limit: int) -> list[Resync]:
        with Session(self._store.engine) as session:
            rows = session.scalars(select(ResyncRow).where(condition).order_by(ResyncRow.id).limit(limit))
            return [_record(row) for row in rows]


def _merged(reasons: list[Any] | None, reason: str) -> list[str]:
    kept = [str(r) for r in reasons or [] if r != reason]
    return (kept + [reason])[-KEPT_REASONS:]


def _record(row: ResyncRow) -> Resync:
    return Resync(
        id=row.id,
        portal_id=row.portal_id,
        state=row.state,
        reasons=list(row.reasons or []),
        requests=row.requests,
        requested_at=row.requested_at,
        not_before=row.not_before,
        attempts=row.attempts,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        run_id=row.run_id,
    )
