"""Installed sandbox portals (kit.py); the databases (SQLite, PostgreSQL) come from tests/dbfixtures.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_kit = _load("b24app_test_access_kit", TESTS / "access" / "kit.py")

sandbox = _kit.sandbox
b24_env = _kit.b24_env
settings = _kit.settings
app_store = _kit.app_store
cli_env = _kit.cli_env


@pytest.fixture
def kit():
    """The helpers of tests/access/kit.py (install, authorise, b24app_process, ...)."""
    return _kit
