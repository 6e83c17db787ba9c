"""Alembic migrations shipped in the package: ``upgrade(engine_or_url)`` brings a database to head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from b24app.store.db import is_postgresql, make_engine, write_transaction

MIGRATIONS = Path(__file__).with_name("migrations")
_UPGRADE_LOCK = 0x62323461  # 'b24a': one upgrade at a time when a server and a worker start together


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> str | None:
    """Migrate the database to ``revision``; returns the revision it is at afterwards."""
    if isinstance(engine_or_url, str):
        engine = make_engine(engine_or_url)
        try:
            return upgrade(engine, revision)
        finally:
            engine.dispose()
    with write_transaction(engine_or_url) as connection:
        if is_postgresql(connection):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        command.upgrade(alembic_config(connection), revision)
        return current_revision(connection)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
