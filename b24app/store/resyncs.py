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

from sqlalchemy import Connection, bindparam, insert, select, update
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
        """Several requests in one transaction (one commit): for each, True when new, False when merged
        (into a request that waited, or into one of the same portal earlier in ``asks``).

        A handful of statements for the whole batch, whatever its size (the events endpoint's writer
        and the schedule send hundreds). Should another process add a portal's first request at the
        same moment (PostgreSQL; SQLite writes one at a time), the insert fails and the batch is done
        again, merging into that request.
        """
        now = self._store.now()
        with write_transaction(self._store.engine) as connection:
            for _ in range(3):
                try:
                    with connection.begin_nested():
                        return _ask_all(connection, asks, now)
                except IntegrityError:
                    continue
        raise RuntimeError("resync requests could be neither added nor merged (is every portal stored?)")

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


@dataclass
class _Waiting:
    """A portal's waiting request as a batch leaves it: its row (None: added by the batch)."""

    row_id: int | None
    reasons: list[str]
    added: int = 0
    not_before: datetime | None = None


# Built once: the events endpoint runs these hundreds of times a second (Core on the tables, with
# bound parameters: no statement to build, no ORM work per request).
_RESYNCS, _EVENTS = ResyncRow.__table__, EventRow.__table__
_FIND = (
    select(_RESYNCS.c.id, _RESYNCS.c.portal_id, _RESYNCS.c.reasons)
    .where(_RESYNCS.c.portal_id.in_(bindparam("b_portals", expanding=True)), _RESYNCS.c.state == WAITING)
    .with_for_update()  # PostgreSQL: a worker claiming one of them waits for this merge's commit
)
_MERGE = (
    update(_RESYNCS)
    .where(_RESYNCS.c.id == bindparam("b_id"))
    .values(
        requests=_RESYNCS.c.requests + bindparam("b_added"),
        reasons=bindparam("b_reasons", type_=_RESYNCS.c.reasons.type),
    )
)
_ADD, _LOG = insert(_RESYNCS), insert(_EVENTS)


def _ask_all(connection: Connection, asks: Sequence[Ask], now: datetime) -> list[bool]:
    """The batch: one read of the waiting rows (locked until commit), then one statement for the
    merges, one for the new requests and one for the event-log lines."""
    found = connection.execute(_FIND, {"b_portals": sorted({ask.portal_id for ask in asks})})
    waiting = {row.portal_id: _Waiting(row.id, [str(r) for r in row.reasons or []]) for row in found}
    queued, logs = [], []
    for ask in asks:
        reason, known = ask.reason[:REASON_LENGTH], waiting.get(ask.portal_id)
        if known is None:
            waiting[ask.portal_id] = _Waiting(None, [reason], 1, ask.not_before or now)
        else:
            known.reasons, known.added = _merged(known.reasons, reason), known.added + 1
        queued.append(known is None)
        if ask.log is not None:
            logs.append(_log_values(ask.portal_id, ask.log, queued[-1], now))
    merges = [
        {"b_id": w.row_id, "b_added": w.added, "b_reasons": w.reasons}
        for w in waiting.values()
        if w.row_id is not None and w.added
    ]
    added = [
        {
            "portal_id": portal_id,
            "state": WAITING,
            "reasons": w.reasons,
            "requests": w.added,
            "requested_at": now,
            "not_before": w.not_before,
            "attempts": 0,
        }
        for portal_id, w in waiting.items()
        if w.row_id is None
    ]
    for statement, rows in ((_MERGE, merges), (_ADD, added), (_LOG, logs)):
        if rows:
            connection.execute(statement, rows)
    return queued


def _log_values(portal_id: int, log: Logged, queued: bool, now: datetime) -> dict[str, Any]:
    return {
        "event": log.event[:64],
        "outcome": QUEUED if queued else MERGED,
        "portal_id": portal_id,
        "member_id": None if log.member_id is None else log.member_id[:64],
        "detail": log.detail,
        "received_at": now,
    }


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
