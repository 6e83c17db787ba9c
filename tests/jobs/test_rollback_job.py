"""The rollback job (``Jobs.submit_rollback``) refuses what the page should never send: a run of
another portal, or one without a recorded state; it fails saying why, and writes nothing."""

from __future__ import annotations

import time

import pytest

from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.jobs import Jobs
from b24app.store import RunKind, RunOutcome
from tests.dbfixtures import add_portal


@pytest.fixture
def queue(app_store, settings):
    made = Jobs(app_store, settings)
    yield made
    made.stop_consumer()


def finished(queue: Jobs, run_id: int):
    deadline = time.monotonic() + 60
    while (status := queue.status(run_id)).state in ("queued", "running"):
        assert time.monotonic() < deadline, f"run {run_id} did not finish: {status}"
        time.sleep(0.05)
    return status


def test_a_rollback_job_of_a_foreign_or_stateless_run_fails_and_writes_nothing(
    queue, app_store, sandbox, kit
):
    portal = kit.install(sandbox, app_store).portal
    other = add_portal(app_store, "another-member", "another.bitrix24.ru")
    state = {"managed": {"lists": ["sources"]}, "state": {}}
    foreign = app_store.runs.record(other.id, RunKind.APPLY, RunOutcome.APPLIED, state_before=state)
    bare = app_store.runs.record(portal.id, RunKind.PLAN, RunOutcome.PLANNED)
    lists = Client(WebhookAuth(sandbox.portals[0].webhook_url))
    before = lists.call("crm.status.list", {"order": {"ID": "ASC"}}).result
    queue.start_consumer()
    for run, reason in ((foreign, "is not a run of this portal"), (bare, "has no recorded portal state")):
        run_id = queue.submit_rollback(portal.id, run.id, "0" * 64, 1)
        status = finished(queue, run_id)
        assert status.state == "failed" and reason in (status.error or ""), status
        journaled = app_store.runs.get(run_id)
        assert (journaled.kind, journaled.rollback_of, journaled.user_id) == (RunKind.ROLLBACK, run.id, 1)
    assert lists.call("crm.status.list", {"order": {"ID": "ASC"}}).result == before
