"""The job queue (Huey on SQLite in the instance folder) against sandbox portals over real HTTP,
with the store on SQLite and on PostgreSQL: runs recorded as they go, one portal at a time across
processes, the reviewed plan's checksum enforced, and a worker killed mid-job."""

from __future__ import annotations

import os
import signal
import time

import pytest

from b24app import sync
from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.bitrix.ratelimit import LeakyBucket
from b24app.core.template import load_template
from b24app.jobs import WORKER_DIED, Jobs
from b24app.portal_access import PortalUnavailable, connect_installed
from b24app.rollback import plan_rollback
from b24app.store import PortalState, RunOutcome, Store

ADMIN = {"id": 1, "name": "Admin Adminov"}


def wait_finished(jobs: Jobs, run_id: int, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while (status := jobs.status(run_id)).state in ("queued", "running"):
        assert time.monotonic() < deadline, f"run {run_id} did not finish: {status}"
        time.sleep(0.05)
    return status


@pytest.fixture
def jobs(app_store, settings):
    queue = Jobs(app_store, settings)
    yield queue
    queue.stop_consumer()


@pytest.fixture
def workers(b24_env, kit):
    """Start `b24app worker` processes; all killed at the end."""
    started = []

    def start(count: int = 1, threads: int = 1):
        for _ in range(count):
            started.append(kit.b24app_process(b24_env, "worker", "--workers", str(threads)))
        return started[-count:]

    yield start
    for process in started:
        process.kill()
        process.communicate()


def portal_lists(sandbox) -> list:
    client = Client(WebhookAuth(sandbox.portals[0].webhook_url), bucket=LeakyBucket())
    return [
        client.call("crm.status.list", {"order": {"ID": "ASC"}}).result,
        client.call("crm.category.list", {"entityTypeId": 2}).result,
    ]


def test_an_apply_job_converges_and_its_run_survives_a_restart(
    jobs, app_store, settings, sandbox, kit, example_path
):
    portal = kit.install(sandbox, app_store).portal
    text = example_path.read_text(encoding="utf-8")

    plan_id = jobs.submit_plan(portal.id, "crm", text, ADMIN)
    assert jobs.status(plan_id).state == "queued"  # the run row exists before any worker runs
    jobs.start_consumer()
    planned = wait_finished(jobs, plan_id)
    assert planned.state == "done" and planned.outcome_json["summary"]["create"] > 0

    run_id = jobs.submit_apply(portal.id, "crm", text, planned.outcome_json["checksum"], ADMIN)
    status = wait_finished(jobs, run_id)

    assert status.state == "done" and status.error is None
    assert status.outcome_json["outcome"] == "applied_verified"
    assert status.outcome_json["requests"] <= 6  # the same request economy as the command line
    assert status.progress[0].startswith("reading") and "verifying" in status.progress
    assert any(line.startswith("applying") for line in status.progress)

    restarted = Store.open(settings)  # another process, after a restart: everything is in the database
    try:
        assert Jobs(restarted, settings).status(run_id) == status
    finally:
        restarted.close()
    run = app_store.runs.get(run_id)
    assert (run.outcome, run.user_id, run.user_name) == (RunOutcome.APPLIED, 1, "Admin Adminov")
    assert run.checksum == planned.outcome_json["checksum"] and run.summary == planned.outcome_json["summary"]
    assert run.requests_used == status.outcome_json["requests"] and run.template_name == "crm"
    assert "lead_stages:" in run.state_before["template"] and run.finished_at >= run.started_at
    # The journal keeps what a rollback needs of a job's runs too: the state and what the template managed.
    assert run.state_before["managed"]["deal_pipelines"] and "sources" in run.state_before["managed"]["lists"]
    assert app_store.runs.get(plan_id).state_before["state"]["version"] == 1
    rollback, _ = plan_rollback(app_store, settings, run_id, force=True)
    assert any(c.action == "delete" and c.key == "Монтаж" for c in rollback.changes)
    client = connect_installed(app_store, settings, portal.id)
    again, _ = sync.make_plan(client, load_template(text, source="crm"))
    assert not again.has_changes


def test_an_apply_whose_plan_changed_is_refused_with_nothing_written(
    jobs, app_store, sandbox, kit, example_path
):
    portal = kit.install(sandbox, app_store).portal
    text = example_path.read_text(encoding="utf-8")
    jobs.start_consumer()
    reviewed = wait_finished(jobs, jobs.submit_plan(portal.id, "crm", text, ADMIN)).outcome_json
    hook = Client(WebhookAuth(sandbox.portals[0].webhook_url), bucket=LeakyBucket())
    hook.call("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "SNEAKY", "NAME": "x"}})
    before = portal_lists(sandbox)

    status = wait_finished(jobs, jobs.submit_apply(portal.id, "crm", text, reviewed["checksum"], ADMIN))

    assert status.state == "done" and "changed since the plan was made" in status.error
    refusal = status.outcome_json
    assert refusal["refused"] == "plan_changed" and refusal["expected_checksum"] == reviewed["checksum"]
    assert refusal["plan"]["checksum"] == refusal["checksum"] != reviewed["checksum"]
    run = app_store.runs.get(status.run_id)
    assert run.outcome == RunOutcome.REFUSED and run.plan == refusal["plan"]
    assert portal_lists(sandbox) == before  # nothing was written


def test_a_job_on_an_uninstalled_portal_is_refused_at_once(jobs, app_store, sandbox, kit, example_path):
    portal = kit.install(sandbox, app_store).portal
    app_store.portals.set_state(portal.id, PortalState.UNINSTALLED)
    with pytest.raises(PortalUnavailable, match="was uninstalled"):
        jobs.submit_plan(portal.id, "crm", example_path.read_text(encoding="utf-8"), ADMIN)
    assert app_store.runs.list(portal.id) == []


def test_jobs_of_one_portal_never_overlap_across_worker_processes(
    jobs, workers, app_store, sandbox, kit, example_path
):
    portal = kit.install(sandbox, app_store).portal
    text = example_path.read_text(encoding="utf-8")
    sandbox.set_faults(0, latency=0.25)  # every request slower: a wide window for an overlap
    workers(count=2, threads=2)

    run_ids = [jobs.submit_plan(portal.id, "crm", text, ADMIN) for _ in range(4)]
    statuses = [wait_finished(jobs, run_id) for run_id in run_ids]

    assert [s.state for s in statuses] == ["done"] * 4, [s.error for s in statuses]
    runs = sorted((app_store.runs.get(run_id) for run_id in run_ids), key=lambda r: r.started_at)
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.finished_at <= later.started_at, f"runs {earlier.id} and {later.id} overlapped"


def test_a_worker_killed_mid_job_leaves_a_run_marked_failed_with_the_reason(
    jobs, workers, app_store, settings, sandbox, kit, example_path
):
    portal = kit.install(sandbox, app_store).portal
    text = example_path.read_text(encoding="utf-8")
    client = connect_installed(app_store, settings, portal.id)
    reviewed, _ = sync.make_plan(client, load_template(text, source="crm"))
    sandbox.set_faults(0, latency=1.0)  # the apply takes seconds: it is still running when killed
    (worker,) = workers()

    run_id = jobs.submit_apply(portal.id, "crm", text, reviewed.checksum, ADMIN)
    kit.wait_for(lambda: jobs.status(run_id).state == "running" and jobs.status(run_id).progress, [worker])
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    assert Jobs(app_store, settings).recover() == [run_id]  # what a consumer does when it starts
    status = jobs.status(run_id)
    assert status.state == "failed" and status.error == WORKER_DIED and status.progress
    assert app_store.runs.get(run_id).finished_at is not None
