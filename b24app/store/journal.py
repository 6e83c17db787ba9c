"""Runs (every plan and apply, with the portal's state before it) and the event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from b24app.store.db import write_transaction
from b24app.store.errors import NotFound
from b24app.store.models import EventRow, RunRow
from b24app.store.records import Event, Run, RunKind, RunOutcome, times_checked

_RUN_FIELDS = (
    "user_id",
    "user_name",
    "template_name",
    "template_hash",
    "plan",
    "checksum",
    "summary",
    "requests_used",
    "state_before",
    "error",
    "progress",
    "result",
    "worker",
    "template_sources",
    "rollback_of",
)


class Runs:
    def __init__(self, store) -> None:
        self._store = store

    def record(
        self,
        portal_id: int,
        kind: RunKind,
        outcome: RunOutcome,
        *,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        **details: Any,
    ) -> Run:
        """Store a run; ``details`` are the optional fields of ``Run`` (who, template, plan, ...)."""
        _check_fields(details)
        now = self._store.now()
        finished = finished_at or (None if outcome in (RunOutcome.RUNNING, RunOutcome.QUEUED) else now)
        row = RunRow(
            portal_id=portal_id,
            kind=RunKind(kind).value,
            outcome=RunOutcome(outcome).value,
            started_at=started_at or now,
            finished_at=finished,
            **details,
        )
        with Session(self._store.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return _run(row)

    def start(self, portal_id: int, kind: RunKind, **details: Any) -> Run:
        return self.record(portal_id, kind, RunOutcome.RUNNING, **details)

    def finish(self, run_id: int, outcome: RunOutcome, **details: Any) -> Run:
        _check_fields(details)
        values = {"outcome": RunOutcome(outcome).value, "finished_at": self._store.now(), **details}
        with self._store.engine.begin() as connection:
            done = connection.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
        if done.rowcount != 1:
            raise NotFound(f"there is no run {run_id}")
        return self.get(run_id)

    def begin(self, run_id: int, worker: str) -> Run:
        """A queued run starts now, in ``worker`` (host:pid): ``started_at`` becomes the start of the work."""
        values = {"outcome": RunOutcome.RUNNING.value, "started_at": self._store.now(), "worker": worker}
        self._set(run_id, values)
        return self.get(run_id)

    def add_progress(self, run_id: int, line: str) -> None:
        """Append one progress line to the run (only its own job writes it, so read-then-write is safe)."""
        with write_transaction(self._store.engine) as connection:
            lines = connection.scalar(select(RunRow.progress).where(RunRow.id == run_id))
            connection.execute(
                update(RunRow).where(RunRow.id == run_id).values(progress=[*(lines or []), line])
            )

    def unfinished(self) -> list[Run]:
        """Runs queued or running, oldest first."""
        query = (
            select(RunRow)
            .where(RunRow.outcome.in_((RunOutcome.QUEUED.value, RunOutcome.RUNNING.value)))
            .order_by(RunRow.id)
        )
        with Session(self._store.engine) as session:
            return [_run(row) for row in session.scalars(query)]

    def fail_if_running(self, run_id: int, worker: str, error: str) -> bool:
        """Mark the run failed if it is still running in ``worker``; False if it moved on meanwhile."""
        values = {"outcome": RunOutcome.FAILED.value, "finished_at": self._store.now(), "error": error}
        with self._store.engine.begin() as connection:
            done = connection.execute(
                update(RunRow)
                .where(
                    RunRow.id == run_id, RunRow.outcome == RunOutcome.RUNNING.value, RunRow.worker == worker
                )
                .values(**values)
            )
        return done.rowcount == 1

    def previous(self, run_id: int) -> Run | None:
        """The run of the same portal journaled just before ``run_id`` (by id), None when it is the first."""
        with Session(self._store.engine) as session:
            portal_id = select(RunRow.portal_id).where(RunRow.id == run_id).scalar_subquery()
            query = (
                select(RunRow)
                .where(RunRow.portal_id == portal_id, RunRow.id < run_id)
                .order_by(RunRow.id.desc())
                .limit(1)
            )
            row = session.scalars(query).first()
            return None if row is None else _run(row)

    def confirm(self, run_id: int, *, instead_of: int, worker: str, state_digest: str) -> Run | None:
        """Note on ``run_id`` (an earlier plan) that a later one found the very same, and remove that later
        run ``instead_of``, still running in ``worker``, so the same finding is not journaled twice.

        One transaction, and only while it is all still true: ``run_id`` keeps ``state_digest`` in its
        result, no other run of the portal came after it, and ``instead_of`` is still running in
        ``worker`` (a sweep that marked it failed meanwhile wins). Returns the confirmed run, or None
        when nothing was changed (the caller then journals its run in full). ``result["checked"]``
        counts the plans that found it (the run's own first one included), ``result["last_checked_at"]``
        says when the last did. The run's ``started_at``/``finished_at`` stay those of its own plan: they
        say how long that work took and order the history, which a later check must not reshuffle.
        """
        now = self._store.now()
        with write_transaction(self._store.engine) as connection:
            earlier = connection.execute(
                select(RunRow.portal_id, RunRow.result).where(RunRow.id == run_id).with_for_update()
            ).one_or_none()
            result = earlier.result if earlier is not None else None
            if not isinstance(result, dict) or result.get("state_digest") != state_digest:
                return None
            later = select(RunRow.id).where(
                RunRow.portal_id == earlier.portal_id, RunRow.id > run_id, RunRow.id != instead_of
            )
            if connection.execute(later.limit(1)).first() is not None:
                return None
            removed = connection.execute(
                delete(RunRow).where(
                    RunRow.id == instead_of,
                    RunRow.portal_id == earlier.portal_id,
                    RunRow.outcome == RunOutcome.RUNNING.value,
                    RunRow.worker == worker,
                )
            )
            if removed.rowcount != 1:
                return None
            checked = {"checked": times_checked(result) + 1, "last_checked_at": now.isoformat()}
            connection.execute(update(RunRow).where(RunRow.id == run_id).values(result={**result, **checked}))
        return self.get(run_id)

    def _set(self, run_id: int, values: dict[str, Any]) -> None:
        with self._store.engine.begin() as connection:
            done = connection.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
        if done.rowcount != 1:
            raise NotFound(f"there is no run {run_id}")

    def get(self, run_id: int) -> Run:
        with Session(self._store.engine) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFound(f"there is no run {run_id}; see the portal's run history")
            return _run(row)

    def list(self, portal_id: int, limit: int = 50, kind: RunKind | None = None) -> list[Run]:
        """The portal's runs, newest first."""
        query = select(RunRow).where(RunRow.portal_id == portal_id)
        if kind is not None:
            query = query.where(RunRow.kind == RunKind(kind).value)
        query = query.order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit)
        with Session(self._store.engine) as session:
            return [_run(row) for row in session.scalars(query)]

    def last(self, portal_id: int, kind: RunKind | None = None) -> Run | None:
        runs = self.list(portal_id, limit=1, kind=kind)
        return runs[0] if runs else None


class Events:
    def __init__(self, store) -> None:
        self._store = store

    def record(
        self,
        event: str,
        outcome: str,
        *,
        portal_id: int | None = None,
        member_id: str | None = None,
        detail: str | None = None,
    ) -> Event:
        """Log an event or callback (its name and what we did with it; never its payload)."""
        row = EventRow(
            event=event[:64],
            outcome=outcome[:32],
            portal_id=portal_id,
            member_id=None if member_id is None else member_id[:64],
            detail=detail,
            received_at=self._store.now(),
        )
        with Session(self._store.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return _event(row)

    def list(self, portal_id: int | None = None, limit: int = 100) -> list[Event]:
        """Events, newest first; those of one portal when ``portal_id`` is given."""
        query = select(EventRow)
        if portal_id is not None:
            query = query.where(EventRow.portal_id == portal_id)
        query = query.order_by(EventRow.received_at.desc(), EventRow.id.desc()).limit(limit)
        with Session(self._store.engine) as session:
            return [_event(row) for row in session.scalars(query)]


def _check_fields(details: dict[str, Any]) -> None:
    unknown = set(details) - set(_RUN_FIELDS)
    if unknown:
        raise TypeError(f"unknown run field(s): {', '.join(sorted(unknown))}")


def _run(row: RunRow) -> Run:
    return Run(
        id=row.id,
        portal_id=row.portal_id,
        kind=RunKind(row.kind),
        outcome=RunOutcome(row.outcome),
        started_at=row.started_at,
        finished_at=row.finished_at,
        **{name: getattr(row, name) for name in _RUN_FIELDS},
    )


def _event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        portal_id=row.portal_id,
        member_id=row.member_id,
        event=row.event,
        received_at=row.received_at,
        outcome=row.outcome,
        detail=row.detail,
    )
