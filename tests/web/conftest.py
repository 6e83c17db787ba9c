"""Fixtures of the web tests: a store on SQLite and on PostgreSQL (the store tests' fixtures)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "b24app_store_fixtures", Path(__file__).resolve().parents[1] / "store" / "conftest.py"
)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

backend = _fixtures.backend
database_url = _fixtures.database_url
keys = _fixtures.keys
pg_database = _fixtures.pg_database
sqlite_migrated = _fixtures.sqlite_migrated
store = _fixtures.store
