"""The template library's records: syncs asked for, webhook deliveries accepted, template hashes.

A webhook only *asks* for a library sync; a worker does it later (git is slow, the webhook must
answer at once). The request is durable, in the ``clocks`` table, so a sync asked for while no
worker ran is done when one starts:

- ``library:all`` (every template) or ``library:t:<name>`` (one template), ``at`` = when last asked;
- ``library:synced`` = when the last sync finished, ``library:failed`` = when the last one failed.

A sync takes the rows it saw and deletes exactly those (same name, same ``at``) when it is done: a
request that arrives while it runs has a later ``at``, so it stays and is synced next time.

The git commit the last sync hashed is kept in ``library_revision`` (one row): the library folder is
per machine, so a worker brings its own folder to that commit before it resyncs (b24app.library).

A delivery's signature digest is the primary key of ``webhook_deliveries``: the same signed request
sent twice is refused the second time, even when both arrive at once (one insert wins). It is written
in the same transaction as the sync request, so an accepted delivery always has its request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from b24app.store.db import is_postgresql, write_transaction
from b24app.store.errors import StoreError
from b24app.store.models import ClockRow, DeliveryRow, EventRow, LibraryRevisionRow, TemplateHashRow

ALL, NAMED, SYNCED, FAILED = "library:all", "library:t:", "library:synced", "library:failed"
REVISION = "library"  # the name of library_revision's one row
MAX_NAMED = 64 - len(NAMED)  # a longer name is asked for as "all" (the clock's name has 64 characters)
# How long an accepted delivery's digest is kept. A timestamped (Standard Webhooks) delivery older
# than its tolerance is refused anyway; one without a timestamp (GitHub) is refused while its digest
# is kept, and a replay after that only asks for a sync, which queues nothing when nothing changed.
KEEP_TIMESTAMPED = timedelta(minutes=15)
KEEP_UNTIMED = timedelta(days=90)
TIMESTAMPED, UNTIMED = "sw:", "gh:"  # the prefix of a delivery's digest


@dataclass(frozen=True)
class SyncAsk:
    """One webhook's request: the templates (None: all), its delivery's digest, its event line's detail."""

    names: tuple[str, ...] | None
    delivery: str | None = None
    detail: str = ""


def _clocks(names: tuple[str, ...] | None) -> list[str]:
    if names is None or any(len(n) > MAX_NAMED for n in names):
        return [ALL]
    return [NAMED + n for n in names]


class DeliveryReplayed(StoreError):
    """This signed delivery was accepted before: a replay."""


@dataclass(frozen=True)
class Pending:
    """The sync asked for: ``names`` None = every template; ``rows`` the clock rows seen."""

    names: tuple[str, ...] | None
    rows: tuple[tuple[str, datetime], ...]


_ADD_DELIVERY, _LOG = insert(DeliveryRow), insert(EventRow)  # built once: hundreds a second


class Library:
    def __init__(self, store) -> None:
        self._store = store

    def request(self, names: list[str] | None, *, delivery: str | None = None, detail: str = "") -> None:
        """Ask for a sync of ``names`` (None: all), storing ``delivery`` (a digest) and an event line
        in the same transaction. Raises :class:`DeliveryReplayed` when the digest is already stored."""
        self.request_many([SyncAsk(None if names is None else tuple(names), delivery, detail)])

    def request_many(self, asks: Sequence[SyncAsk]) -> list[None]:
        """Several requests in one transaction (the webhook's writer, ``store.sync_writer``): their
        deliveries, event lines and the clocks they ask for (each clock once). Raises
        :class:`DeliveryReplayed`, storing nothing, when any digest is stored already or twice in ``asks``."""
        now = self._store.now()
        clocks = sorted({clock for ask in asks for clock in _clocks(ask.names)})
        deliveries = [{"digest": a.delivery, "received_at": now} for a in asks if a.delivery is not None]
        events = [
            {
                "event": "hooks.resync",
                "outcome": "accepted",
                "detail": a.detail[:500] or None,
                "received_at": now,
            }
            for a in asks
        ]
        try:
            with write_transaction(self._store.engine) as connection:
                if deliveries:
                    connection.execute(_ADD_DELIVERY, deliveries)
                connection.execute(_LOG, events)
                for name in clocks:  # last: the shared row is locked until commit
                    connection.execute(self._upsert_clock(name, now))
        except IntegrityError:
            if not deliveries:
                raise
            raise DeliveryReplayed("this signed delivery was accepted before") from None
        return [None] * len(asks)

    def pending(self) -> Pending | None:
        """The sync asked for and not yet done, or None."""
        with Session(self._store.engine) as session:
            rows = session.execute(
                select(ClockRow.name, ClockRow.at).where(
                    or_(ClockRow.name == ALL, ClockRow.name.like(NAMED + "%"))
                )
            ).all()
        if not rows:
            return None
        seen = tuple((row.name, row.at) for row in rows)
        if any(name == ALL for name, _ in seen):
            return Pending(None, seen)
        return Pending(tuple(sorted(name.removeprefix(NAMED) for name, _ in seen)), seen)

    def done(self, pending: Pending) -> None:
        """The sync of ``pending`` is done: delete the rows it saw (a later request stays)."""
        with write_transaction(self._store.engine) as connection:
            connection.execute(delete(ClockRow).where(tuple_(ClockRow.name, ClockRow.at).in_(pending.rows)))
            connection.execute(self._upsert_clock(SYNCED, self._store.now()))

    def failed(self) -> None:
        with write_transaction(self._store.engine) as connection:
            connection.execute(self._upsert_clock(FAILED, self._store.now()))

    def revision(self) -> str | None:
        """The git commit the last sync hashed (and queued resyncs for); None: none recorded (the
        library is a plain folder, or was never synced)."""
        with Session(self._store.engine) as session:
            return session.scalar(
                select(LibraryRevisionRow.revision).where(LibraryRevisionRow.name == REVISION)
            )

    def record_revision(self, revision: str | None) -> None:
        """Record the commit a sync hashed, before it queues resyncs; None (a plain folder) forgets it."""
        with write_transaction(self._store.engine) as connection:
            if revision is None:
                connection.execute(delete(LibraryRevisionRow).where(LibraryRevisionRow.name == REVISION))
                return
            now = self._store.now()
            dialect_insert = pg_insert if is_postgresql(self._store.engine) else sqlite_insert
            statement = dialect_insert(LibraryRevisionRow).values(
                name=REVISION, revision=revision, recorded_at=now
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[LibraryRevisionRow.name], set_={"revision": revision, "recorded_at": now}
                )
            )

    def clock(self, name: str) -> datetime | None:
        with Session(self._store.engine) as session:
            return session.scalar(select(ClockRow.at).where(ClockRow.name == name))

    def delivered(self) -> int:
        """How many deliveries are kept (accepted and not yet pruned)."""
        with Session(self._store.engine) as session:
            return session.scalar(select(func.count()).select_from(DeliveryRow)) or 0

    def prune_deliveries(self) -> int:
        """Forget the digests too old to matter (see KEEP_*); returns how many were deleted."""
        now = self._store.now()
        with write_transaction(self._store.engine) as connection:
            result = connection.execute(
                delete(DeliveryRow).where(
                    or_(
                        and_(
                            DeliveryRow.digest.like(TIMESTAMPED + "%"),
                            DeliveryRow.received_at < now - KEEP_TIMESTAMPED,
                        ),
                        DeliveryRow.received_at < now - KEEP_UNTIMED,
                    )
                )
            )
            return result.rowcount or 0

    def _upsert_clock(self, name: str, at: datetime):
        dialect_insert = pg_insert if is_postgresql(self._store.engine) else sqlite_insert
        statement = dialect_insert(ClockRow).values(name=name, at=at)
        return statement.on_conflict_do_update(
            index_elements=[ClockRow.name], set_={"at": statement.excluded.at}
        )


class TemplateHashes:
    """The content hash of each library template (with its bases) as the last sync saw it."""

    def __init__(self, store) -> None:
        self._store = store

    def all(self) -> dict[str, str]:
        with Session(self._store.engine) as session:
            rows = session.execute(select(TemplateHashRow.name, TemplateHashRow.sha256))
            return {name: sha256 for name, sha256 in rows}

    def record(self, hashes: dict[str, str]) -> None:
        if not hashes:
            return
        now = self._store.now()
        dialect_insert = pg_insert if is_postgresql(self._store.engine) else sqlite_insert
        with write_transaction(self._store.engine) as connection:
            for name, sha256 in sorted(hashes.items()):
                statement = dialect_insert(TemplateHashRow).values(name=name, sha256=sha256, updated_at=now)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[TemplateHashRow.name],
                        set_={"sha256": statement.excluded.sha256, "updated_at": now},
                    )
                )
