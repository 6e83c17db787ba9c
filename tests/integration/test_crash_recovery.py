"""A first apply that stops at any request, then a clean rerun: the same end state as a clean run.

The fault hits the Nth request of the first apply: read (0), create pipelines (1), the write
batches (2, 3; the last one carries the verifying re-read). `html` answers with a proxy's error page
before the portal does anything; `drop` lets the portal do the work and then loses the answer."""

from __future__ import annotations

import contextlib

import pytest

from b24app import sync
from b24app.bitrix.errors import BitrixError
from b24app.sandbox.server import Sandbox

from .conftest import make_client
from .portal_view import portal_view

FIRST_APPLY_REQUESTS = 4  # read, create, two write batches (checked below)


@pytest.fixture(scope="module")
def clean_view(example_path):
    from b24app.core.template import load_template

    example = load_template(example_path.read_text(encoding="utf-8"), source=str(example_path))
    with Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru") as box:
        client = make_client(box.portals[0].webhook_url)
        result = sync.apply(client, example)
        assert result.converged and result.requests == FIRST_APPLY_REQUESTS
        return portal_view(client)


@pytest.mark.parametrize("fault", ["html", "drop"])
@pytest.mark.parametrize("step", range(FIRST_APPLY_REQUESTS))
def test_a_rerun_after_a_crash_ends_as_a_clean_run(sandbox, webhook, example, clean_view, fault, step):
    sandbox.set_faults(0, after=step, **{fault: 1})
    crashed = make_client(webhook, max_attempts=1)
    with contextlib.suppress(BitrixError):
        sync.apply(crashed, example)
    assert sandbox.portals[0].faults.to_json()["counts"] == {}  # the fault did hit the first apply
    sandbox.clear_faults(0)
    rerun = sync.apply(make_client(webhook), example)
    assert rerun.converged
    assert rerun.verify.summary["blocked"] == 0
    assert portal_view(make_client(webhook)) == clean_view
