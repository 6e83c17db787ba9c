"""Database fixtures (a pytest plugin, listed in tests/conftest.py): tests that take ``database_url``
(or ``store``) run on SQLite and on PostgreSQL — the store's, the web app's, the jobs' and access's.

PostgreSQL: the local server (B24APP_TEST_PG_URL, default postgres@127.0.0.1:5432 with trust auth);
each test run creates a throwaway database with a random name and drops it at the end. If the
server cannot be reached the PostgreSQL tests fail; B24APP_TEST_PG=0 skips them on request.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from b24app.store import Cipher, Portal, PortalState, Store, new_key, upgrade
from b24app.store.db import is_postgresql, make_engine
from b24app.store.models import Base

PG_ADMIN_URL = os.environ.get("B24APP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


def pg_wanted() -> bool:
    return os.environ.get("B24APP_TEST_PG", "1") != "0"


def create_pg_database() -> str:
    """A new empty database on the local server; returns its URL."""
    name = f"b24app_test_{secrets.token_hex(6)}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))  # faster tests
    except Exception as error:  # noqa: BLE001 - any failure to reach the server fails the PG tests
        pytest.fail(
            f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string()} is unreachable ({type(error).__name__}); "
            "start it (.ci/run does) or set B24APP_TEST_PG=0 to skip the PostgreSQL tests",
            pytrace=False,
        )
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_database():
    """One throwaway PostgreSQL database for the run, migrated to head."""
    if not pg_wanted():
        pytest.skip("PostgreSQL tests skipped on request (B24APP_TEST_PG=0)")
    url = create_pg_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_pg_database(url)


@pytest.fixture
def fresh_pg_database():
    """An empty PostgreSQL database of its own (for migration tests)."""
    if not pg_wanted():
        pytest.skip("PostgreSQL tests skipped on request (B24APP_TEST_PG=0)")
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:  # DELETE: much faster than TRUNCATE on tiny tables
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory) -> Path:
    """A SQLite database migrated to head once, copied for every test."""
    path = tmp_path_factory.mktemp("sqlite") / "b24app.sqlite"
    engine = make_engine(f"sqlite+pysqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection's close folds the write-ahead log into the file
    return path


@pytest.fixture
def database_url(backend, tmp_path, request) -> str:
    """A migrated, empty database on ``backend``."""
    if backend == "sqlite":
        path = tmp_path / "db" / "b24app.sqlite"
        path.parent.mkdir()
        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), path)
        return f"sqlite+pysqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    empty_tables(engine)
    engine.dispose()
    return url


@pytest.fixture
def keys() -> list[bytes]:
    return [new_key().encode()]


@pytest.fixture
def store(database_url, keys):
    opened = Store(make_engine(database_url), Cipher(keys))
    yield opened
    opened.close()


@pytest.fixture
def open_store(database_url):
    """Open more stores on the test's database (with other keys); all closed at the end."""
    opened: list[Store] = []

    def open_with(keys: list[bytes]) -> Store:
        opened.append(Store(make_engine(database_url), Cipher(keys)))
        return opened[-1]

    yield open_with
    for each in opened:
        each.close()


def add_portal(store: Store, member_id: str, domain: str) -> Portal:
    """An installed portal row, with no registration and no tokens: enough for the store's own tests."""
    return store.portals.upsert(
        member_id,
        domain=domain,
        client_endpoint=f"https://{domain}/rest/",
        registration_id=None,
        state=PortalState.INSTALLED,
    )


@contextmanager
def writes_held(store: Store, table: str) -> Iterator[None]:
    """Another connection holds off every write to ``table`` until the block ends."""
    with store.engine.connect() as connection:
        if is_postgresql(store.engine):
            transaction = connection.begin()
            connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
        else:
            connection.execution_options(sqlite_immediate=True)
            transaction = connection.begin()  # BEGIN IMMEDIATE: the database's write lock
        try:
            yield
        finally:
            transaction.rollback()
