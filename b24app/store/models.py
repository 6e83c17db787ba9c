"""The tables. Secrets are stored only as Fernet tokens (columns ending in ``_encrypted``);
the repositories encrypt and decrypt them, so no plaintext secret ever reaches the database.

Portable types: JSON (JSONB on PostgreSQL) and timezone-aware datetimes stored as UTC.
States, kinds and outcomes are plain strings checked in Python, so later kinds need no migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC; naive datetimes are refused (they are ambiguous)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give b24app's store timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: Json}


class RegistrationRow(Base):
    """A local app registered in one portal: its client_id and (encrypted) client_secret."""

    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)  # in this registration's callback URLs
    client_id: Mapped[str] = mapped_column(String(255), unique=True)
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime]


class PortalRow(Base):
    __tablename__ = "portals"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), unique=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    client_endpoint: Mapped[str] = mapped_column(String(512))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    template: Mapped[str | None] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(16), default="report")
    application_token_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    admin_user_id: Mapped[int | None]  # the installing admin: who is told of drift (im.notify)
    drift_checksum: Mapped[str | None] = mapped_column(String(128))  # the drift last told of


class TokenRow(Base):
    """A portal's OAuth pair. ``generation`` grows with every save (and delete): compare-and-swap."""

    __tablename__ = "tokens"
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), primary_key=True)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    scope: Mapped[str | None] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class RunRow(Base):
    """One plan or apply on a portal: who, when, what, and the portal's state before it."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None]
    user_name: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    template_name: Mapped[str | None] = mapped_column(String(255))
    template_hash: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[dict[str, Any] | None]
    checksum: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[dict[str, Any] | None]
    outcome: Mapped[str] = mapped_column(String(32))
    requests_used: Mapped[int | None]
    state_before: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[list[Any] | None] = mapped_column(Json)  # the engine's progress lines, as they happen
    result: Mapped[dict[str, Any] | None]  # what the job came to (ApplyResult.to_json(), a plan, a refusal)
    worker: Mapped[str | None] = mapped_column(String(128))  # host:pid of the process running the job
    # Every file of the template: [{"name", "sha256"}], the template first, then the bases it extends
    template_sources: Mapped[list[Any] | None] = mapped_column(Json)
    rollback_of: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))


class EventRow(Base):
    """An event or callback received (never its payload: that carries tokens)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int | None] = mapped_column(ForeignKey("portals.id", ondelete="SET NULL"), index=True)
    member_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class LockRow(Base):
    """A named lock with a lease (SQLite's cross-process lock; PostgreSQL uses advisory locks)."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class ResyncRow(Base):
    """A resync of one portal asked for: at most one ``waiting`` and one ``running`` per portal.

    A second request while one waits is merged into it (``requests`` counts them, ``reasons`` keeps
    the latest few); the queue's message only says "look at the waiting resyncs", so a message lost
    with a killed worker loses no request.
    """

    __tablename__ = "resyncs"
    __table_args__ = (UniqueConstraint("portal_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # waiting | running
    reasons: Mapped[list[Any]] = mapped_column(Json)
    requests: Mapped[int] = mapped_column(Integer, default=1)
    requested_at: Mapped[datetime]
    not_before: Mapped[datetime]  # a retry waits for its backoff
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    run_id: Mapped[int | None]


class TemplateHashRow(Base):
    """The content hash of a library template (with its bases) as last seen by a trigger."""

    __tablename__ = "template_hashes"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class DeliveryRow(Base):
    """A signed webhook delivery already accepted (its digest): a replay is refused."""

    __tablename__ = "webhook_deliveries"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class LibraryRevisionRow(Base):
    """The git commit of the template library that the last sync hashed (one row, ``name`` "library"):
    every machine brings its own library folder to it before a resync reads a template."""

    __tablename__ = "library_revision"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class ClockRow(Base):
    """When a periodic duty (the schedule) last ran, shared by every worker."""

    __tablename__ = "clocks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]
