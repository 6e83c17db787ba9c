"""Resync requests: one waiting request per portal, into which later requests are merged.

The database, not the queue, holds what is asked for: a queue message only wakes a worker, so a
message lost with a killed worker, or sent twice, changes nothing. A request merged into one that
waits is still counted (``requests``), so nothing accepted is lost, and every worker on every
machine sees the same requests.

A worker *claims* the waiting request of a portal (``waiting`` -> ``running``, with its name and a
lease it keeps renewing), so a request arriving meanwhile makes a new waiting row. When it is done
the row is deleted; on a temporary failure it goes back to waiting (``retry_later``), merged into a
request that arrived meanwhile; a running row whose lease ended (its worker died, on any machine)
goes back to waiting the same way (``recover``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
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
        same moment (PostgreSQL; SQLite writes one at a time), the insert fails, the transaction is
        rolled back and the batch is done again, merging into that request.
        """
        now = self._store.now()
        for _ in range(3):  # the whole transaction again, not a savepoint: two round trips less a batch
            try:
                with write_transaction(self._store.engine) as connection:
                    return _ask_all(connection, asks, now)
            except IntegrityError:
                continue
        raise RuntimeError("resync requests could be neither added nor merged (is every portal stored?)")

    def claim(self, portal_id: int, worker: str, lease: float) -> Resync | None:
        """Take the portal's due waiting request for ``worker`` (host:pid) for ``lease`` seconds.

        None when nothing is due, or another worker runs one of this portal (at most one running
        row per portal: the table's unique constraint decides between two claimants).
        """
        now = self._store.now()
        try:
            with write_transaction(self._store.engine) as connection:
                row = connection.execute(
                    select(ResyncRow.id).where(
                        ResyncRow.portal_id == portal_id,
                        ResyncRow.state == WAITING,
                        ResyncRow.not_before <= now,
                    )
                ).first()
                if row is None:
                    return None
                done = connection.execute(
                    update(ResyncRow)
                    .where(ResyncRow.id == row.id, ResyncRow.state == WAITING)
                    .values(
                        state=RUNNING,
                        claimed_by=worker[:128],
                        lease_until=now + timedelta(seconds=lease),
                        run_id=None,
                    )
                )
                if done.rowcount != 1:
                    return None
        except IntegrityError:  # a running row of this portal exists
            return None
        return self.get(row.id)

    def renew(self, resync_id: int, worker: str, lease: float) -> bool:
        """Extend a claimed request's lease; False when it is no longer ``worker``'s (taken back)."""
        return self._update_running(
            resync_id, worker, lease_until=self._store.now() + timedelta(seconds=lease)
        )

    def set_run(self, resync_id: int, worker: str, run_id: int) -> bool:
        """The journal run the claimed request is doing now (failed with a reason if its worker dies)."""
        return self._update_running(resync_id, worker, run_id=run_id)

    def finish(self, resync_id: int, worker: str) -> bool:
        """The claimed request is done (or failed for good): remove it. False if it was not ``worker``'s."""
        with write_transaction(self._store.engine) as connection:
            done = connection.execute(
                delete(ResyncRow).where(
                    ResyncRow.id == resync_id, ResyncRow.state == RUNNING, ResyncRow.claimed_by == worker
                )
            )
        return done.rowcount == 1

    def retry_later(self, resync_id: int, worker: str, not_before: datetime, reason: str) -> Resync | None:
        """Put the claimed request back to waiting until ``not_before``, one attempt more, merged into
        a request that arrived meanwhile; the waiting row, or None if it was not ``worker``'s."""
        with write_transaction(self._store.engine) as connection:
            row = connection.execute(
                select(ResyncRow).where(
                    ResyncRow.id == resync_id, ResyncRow.state == RUNNING, ResyncRow.claimed_by == worker
                )
            ).first()
            if row is None:
                return None
            waiting_id = _requeue(connection, row, not_before, reason)
        return self.get(waiting_id)

    def recover(self) -> list[Resync]:
        """Put back to waiting (one attempt more, "worker died") the running requests whose lease
        ended: their worker stopped renewing it, on whatever machine. Returns them as they were
        (``claimed_by`` and ``run_id`` say which run to mark failed)."""
        now = self._store.now()
        recovered = []
        for stale in self._list((ResyncRow.state == RUNNING) & (ResyncRow.lease_until < now), 100):
            with write_transaction(self._store.engine) as connection:
                row = connection.execute(
                    select(ResyncRow).where(
                        ResyncRow.id == stale.id, ResyncRow.state == RUNNING, ResyncRow.lease_until < now
                    )
                ).first()
                if row is None:  # renewed, finished or recovered by another sweeper meanwhile
                    continue
                _requeue(connection, row, now, "worker died")
            recovered.append(stale)
        return recovered

    def overdue(self, grace: float, limit: int = 100) -> list[Resync]:
        """Waiting requests due for more than ``grace`` seconds (their wake-up message was lost, or
        came while the portal was busy); each is handed out once per ``grace`` (its ``not_before``
        moves to now), so that several sweepers do not wake it twice."""
        now = self._store.now()
        handed = []
        for row in self._list(
            (ResyncRow.state == WAITING) & (ResyncRow.not_before <= now - timedelta(seconds=grace)), limit
        ):
            with write_transaction(self._store.engine) as connection:
                done = connection.execute(
                    update(ResyncRow)
                    .where(
                        ResyncRow.id == row.id,
                        ResyncRow.state == WAITING,
                        ResyncRow.not_before == row.not_before,
                    )
                    .values(not_before=now)
                )
            if done.rowcount == 1:
                handed.append(row)
        return handed

    def due(self, portal_id: int) -> bool:
        """Whether a request of the portal waits and is due now."""
        with Session(self._store.engine) as session:
            found = session.scalar(
                select(ResyncRow.id).where(
                    ResyncRow.portal_id == portal_id,
                    ResyncRow.state == WAITING,
                    ResyncRow.not_before <= self._store.now(),
                )
            )
        return found is not None

    def _update_running(self, resync_id: int, worker: str, **values: Any) -> bool:
        with write_transaction(self._store.engine) as connection:
            done = connection.execute(
                update(ResyncRow)
                .where(ResyncRow.id == resync_id, ResyncRow.state == RUNNING, ResyncRow.claimed_by == worker)
                .values(**values)
            )
        return done.rowcount == 1

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


def _requeue(connection: Connection, row: Any, not_before: datetime, reason: str) -> int:
    """Running ``row`` back to waiting (one attempt more), or merged into the portal's waiting row."""
    reasons = _merged(row.reasons, reason[:REASON_LENGTH])
    waiting = connection.execute(
        select(ResyncRow).where(ResyncRow.portal_id == row.portal_id, ResyncRow.state == WAITING)
    ).first()
    if waiting is None:
        connection.execute(
            update(ResyncRow)
            .where(ResyncRow.id == row.id)
            .values(
                state=WAITING,
                reasons=reasons,
                not_before=not_before,
                attempts=row.attempts + 1,
                claimed_by=None,
                lease_until=None,
                run_id=None,
            )
        )
        return row.id
    for later in waiting.reasons or []:
        reasons = _merged(reasons, str(later))
    connection.execute(delete(ResyncRow).where(ResyncRow.id == row.id))
    connection.execute(
        update(ResyncRow)
        .where(ResyncRow.id == waiting.id)
        .values(
            requests=waiting.requests + row.requests,
            reasons=reasons,
            not_before=max(waiting.not_before, not_before),
            attempts=max(waiting.attempts, row.attempts + 1),
            requested_at=min(waiting.requested_at, row.requested_at),
        )
    )
    return waiting.id


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
