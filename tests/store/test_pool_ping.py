"""PostgreSQL pool (store/db.py): a connection idle for a while is pinged before use and replaced if
it died; one just used is not pinged (no round trip per request under load)."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

from b24app.store import Cipher, Store, new_key
from b24app.store.db import PING_AFTER_IDLE, make_engine
from tests.dbfixtures import PG_ADMIN_URL


@pytest.fixture
def pg_store(pg_database):
    store = Store(make_engine(pg_database), Cipher([new_key().encode()]))
    yield store
    store.close()


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT pg_backend_pid()"))


def kill(pid: int) -> None:
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def pings(engine) -> list[int]:
    counted = [0]
    ping = engine.dialect.do_ping

    def counting(dbapi_connection) -> bool:
        counted[0] += 1
        return ping(dbapi_connection)

    engine.dialect.do_ping = counting  # the driver's ping, counted (SQLAlchemy's, not ours)
    return counted


def test_a_connection_killed_while_idle_is_replaced_before_use(pg_store):
    for engine in (pg_store.engine, pg_store.reads):
        pid = backend_pid(engine)
        kill(pid)
        time.sleep(PING_AFTER_IDLE + 0.2)
        assert backend_pid(engine) != pid  # no error: the dead connection was found and replaced


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_store):
    backend_pid(pg_store.engine)
    counted = pings(pg_store.engine)
    for _ in range(5):
        backend_pid(pg_store.engine)
    assert counted[0] == 0
    time.sleep(PING_AFTER_IDLE + 0.2)
    backend_pid(pg_store.engine)
    assert counted[0] == 1


def test_reads_open_no_transaction_and_leave_the_pool_as_it_was(pg_store):
    with pg_store.reads.connect() as connection:
        connection.scalar(text("SELECT 1"))
        status = connection.connection.dbapi_connection.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.IDLE  # autocommit: no BEGIN sent, so no ROLLBACK to send
    with pg_store.engine.connect() as connection:  # the same pooled connection, transactional again
        connection.scalar(text("SELECT 1"))
        status = connection.connection.dbapi_connection.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.INTRANS


def test_sessions_have_keepalives_so_a_vanished_machine_frees_its_locks_within_a_minute(pg_store):
    """The server drops a client that stopped answering after 30 + 3 × 10 s, ending its advisory locks."""
    with pg_store.engine.connect() as connection:
        shown = {
            name: connection.scalar(text(f"SHOW {name}"))
            for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
        }
    assert shown == {
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
    }


def test_a_database_url_with_its_own_options_keeps_them(pg_database):
    engine = make_engine(pg_database + "?options=-c%20tcp_keepalives_idle%3D45")
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW tcp_keepalives_idle")) == "45"
    finally:
        engine.dispose()
