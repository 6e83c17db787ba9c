"""Resync requests: one waiting request per portal, into which later requests are merged.

The database, not the queue, holds what is asked for: a queue message only wakes a worker, so a
message lost with a killed worker, or sent twice, changes nothing. A request merged into one that
waits is still counted (``requests``), so nothing accepted is lost, and every worker on every
machine sees the same requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from b24app.store.db import write_transaction
from b24app.store.errors import NotFound
from b24app.store.models import EventRow, ResyncRow
from b24app.store.records import Resync

WAITING, RUNNING = "waiting", "running"
QUEUED, MERGED = "queued resync", "merged"  # the event log's outcome of an event that asked for a resync
KEPT_REASONS = 10  # the latest reasons of a merged request (the count keeps the rest)
REASON_LENGTH = 200


@dataclass(frozen=True)
class Logged:
    """The event-log line of an event that asks for a resync (never its payload)."""

    event: str
    member_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Ask:
    """One resync request: the portal, why, not before when, and the event-log line to write with it."""

    portal_id: int
    reason: str
    not_before: datetime | None = None
    log: Logged | None = None


class Resyncs:
    def __init__(self, store) -> None:
        self._store = store

    def request(
        self, portal_id: int, reason: str, not_before: datetime | None = None, *, log: Logged | None = None
    ) -> bool:
        """Ask for a resync of the portal; True when a new request waits now, False when merged.

        ``log``: a line of the event log written in the same transaction, its outcome ``queued
        resync`` or ``merged`` (an event is answered after a single commit).
        """
        return self.request_many([Ask(portal_id, reason, not_before, log)])[0]

    def request_many(self, asks: Sequence[Ask]) -> list[bool]:
        """Several requests in one transaction (one commit): for each, True when new, False when merged."""
        now = self._store.now()
        with write_transaction(self._store.engine) as connection:
            return [_ask(connection, ask, now) for ask in asks]

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


def _ask(connection: Connection, ask: Ask, now: datetime) -> bool:
    queued = _merge_or_add(connection, ask.portal_id, ask.reason[:REASON_LENGTH], ask.not_before or now, now)
    if ask.log is not None:
        connection.execute(
            insert(EventRow).values(
                event=ask.log.event[:64],
                outcome=QUEUED if queued else MERGED,
                portal_id=ask.portal_id,
                member_id=None if ask.log.member_id is None else ask.log.member_id[:64],
                detail=ask.log.detail,
                received_at=now,
            )
        )
    return queued


def _merge_or_add(
    connection: Connection, portal_id: int, reason: str, not_before: datetime, now: datetime
) -> bool:
    """Merge into the waiting request, or add one (True). A concurrent first request of the same
    portal (PostgreSQL; SQLite writes one at a time) makes the insert fail: then merge into it."""
    for _ in range(3):
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
            with connection.begin_nested():
                connection.execute(
                    insert(ResyncRow).values(
                        portal_id=portal_id,
                        state=WAITING,
                        reasons=[reason],
                        requests=1,
                        requested_at=now,
                        not_before=not_before,
                        attempts=0,
                    )
                )
            return True
        except IntegrityError:
            continue
    raise RuntimeError(f"portal {portal_id}: a resync request could be neither added nor merged")


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
