"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "b24app" / "examples" / "crm.yaml"


@pytest.fixture(scope="session")
def example_path() -> Path:
    return EXAMPLE
