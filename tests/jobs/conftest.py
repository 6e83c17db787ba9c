"""Installed sandbox portals (tests/access/kit.py); the databases (SQLite, PostgreSQL) come from
tests/dbfixtures.py."""

from tests.access.kit import app_store, b24_env, cli_env, kit, sandbox, settings  # noqa: F401 (fixtures)
