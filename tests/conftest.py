"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.dbfixtures"]  # SQLite and PostgreSQL databases for every folder's tests

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "b24app" / "examples" / "crm.yaml"


@pytest.fixture(scope="session")
def example_path() -> Path:
    return EXAMPLE


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path_factory, monkeypatch):
    """apply's per-portal lock files go to a temporary folder, not the user's runtime folder."""
    monkeypatch.setenv("B24APP_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
