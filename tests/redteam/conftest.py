"""Red-team regression tests: real HTTP against an in-process sandbox, the CLI called as a user would."""

from __future__ import annotations

import pytest
import requests

from b24app.cli import main
from b24app.sandbox.server import Sandbox


@pytest.fixture
def box():
    sandbox = Sandbox(port=0, portals=2).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def hook(box) -> str:
    return box.portals[0].webhook_url


def rest(webhook: str, method: str, params: dict) -> object:
    """One REST call straight to the sandbox, as a portal user (or another integration) would make it."""
    reply = requests.post(f"{webhook}{method}.json", json=params, timeout=10).json()
    assert "error" not in reply, reply
    return reply["result"]


def stages(webhook: str, entity_id: str) -> dict[str, dict]:
    rows = rest(webhook, "crm.status.list", {"filter": {"ENTITY_ID": entity_id}})
    return {row["STATUS_ID"]: row for row in rows}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
