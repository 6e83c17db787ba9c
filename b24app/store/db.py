"""Engines: PostgreSQL through psycopg 3, or SQLite with real transactions (BEGIN IMMEDIATE on request)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's write transaction
# PostgreSQL connections kept open per process: the server's request threads, the events' writer,
# and a worker's jobs (each holds one for its portal's advisory lock) must not open and close a
# connection per request, which costs more than the request itself.
PG_POOL_SIZE = 20
PG_MAX_OVERFLOW = 40
# A pooled connection idle longer than this is pinged before use (a restarted server, a dropped
# connection); one in use a moment ago is not: under load a ping per checkout is a round trip per
# request for nothing. A connection that died meanwhile fails its statement, and SQLAlchemy then
# replaces every connection of the pool.
PING_AFTER_IDLE = 2.0
_CHECKED_IN = "b24app_checked_in"
# A machine that vanishes (power, network) must not hold its portals' advisory locks for the hours
# TCP takes by default to notice: the server probes an idle client after 30 s, every 10 s, and drops
# it after 3 unanswered probes (its session ends, its locks with it); the client probes the server
# alike. Unix sockets ignore both.
SERVER_KEEPALIVES = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(
            url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, connect_args=_pg_connect_args(parsed)
        )
        _ping_idle_connections(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _pg_connect_args(url) -> dict:
    """Keepalives on both sides, unless DATABASE_URL sets its own (its ``options`` or ``keepalives``)."""
    given = set(url.query)
    args = {key: value for key, value in CLIENT_KEEPALIVES.items() if key not in given}
    if "options" not in given:
        args["options"] = SERVER_KEEPALIVES
    return args


def _ping_idle_connections(engine: Engine) -> None:
    """pool_pre_ping, for connections idle longer than ``PING_AFTER_IDLE`` only."""

    def ping(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get(_CHECKED_IN, 0.0) < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:  # the pool connects anew
            raise exc.DisconnectionError(f"a pooled connection is dead: {type(error).__name__}") from error

    def checked_in(_dbapi_connection, record, *_) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    event.listen(engine, "connect", checked_in)  # a new connection needs no ping
    event.listen(engine, "checkout", ping)
    event.listen(engine, "checkin", checked_in)


def read_only(engine: Engine) -> Engine:
    """The engine for single reads: on PostgreSQL without BEGIN and ROLLBACK (two round trips of a
    statement's own; autocommit is a client-side switch of psycopg); SQLite's cost nothing."""
    return engine.execution_options(isolation_level="AUTOCOMMIT") if is_postgresql(engine) else engine


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we say BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_postgresql(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its start on SQLite (no upgrade deadlocks)."""
    with engine.connect() as connection:
        connection.execution_options(sqlite_immediate=True)
        with connection.begin():
            yield connection
