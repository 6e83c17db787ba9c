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

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update
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
