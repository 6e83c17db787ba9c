"""The shipped migrations: empty database to head on both backends, matching the models exactly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from b24app import cli
from b24app.store import upgrade
from b24app.store.db import make_engine
from b24app.store.migrate import current_revision, head_revision
from b24app.store.models import Base

TABLES = {
    "registrations",
    "portals",
    "tokens",
    "runs",
    "events",
    "locks",
    "alembic_version",
    "resyncs",
    "template_hashes",
    "webhook_deliveries",
    "clocks",
    "library_revision",
}


@pytest.fixture
def empty_database_url(backend, tmp_path, request) -> str:
    if backend == "sqlite":
        return f"sqlite+pysqlite:///{tmp_path / 'fresh' / 'b24app.sqlite'}"
    return request.getfixturevalue("fresh_pg_database")


def test_empty_database_to_head_matches_the_models(empty_database_url):
    assert upgrade(empty_database_url) == head_revision() == "0006"
    engine = make_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert upgrade(engine) == "0006"  # again: nothing to do
    finally:
        engine.dispose()


def test_cli_db_upgrade(empty_database_url, tmp_path, monkeypatch, capsys):
    if empty_database_url.startswith("sqlite"):
        monkeypatch.setenv("B24APP_INSTANCE", str(tmp_path / "fresh"))
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", empty_database_url)
    assert cli.main(["db", "upgrade"]) == 0
    assert "at revision 0006 (the latest)" in capsys.readouterr().out
    engine = make_engine(empty_database_url)
    with engine.connect() as connection:
        assert current_revision(connection) == "0006"
    engine.dispose()
