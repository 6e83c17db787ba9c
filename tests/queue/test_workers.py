"""Resyncs run by `b24app worker` processes on Redis + PostgreSQL (as on many machines) against
sandbox portals over real HTTP: one job per portal at a time, a worker killed mid-apply replaced
without losing a request, merged requests run once, temporary errors retried with backoff and
given up after the last attempt, permanent ones at once."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from b24app import notify
from b24app.jobs import RESYNC_WORKER_DIED
from b24app.store import PortalState, RunKind, RunOutcome
from tests.queue.workerkit import (
    ADMIN,
    FAST_BACKOFF_MIN,
    converged,
    queue_env,
    resync_events,
    runs_of,
    settled,
)


@pytest.fixture
def b24_env(b24_env, redis_url, tmp_path, example_path):
    return queue_env(b24_env, redis_url, tmp_path, example_path)


def test_two_worker_processes_never_run_one_portal_at_once(
    jobs, workers, portal, app_store, settings, sandbox, kit, example_path
):
    second = kit.install(sandbox, app_store, 1).portal
    app_store.portals.assign_template(second.id, "crm")
    for index in (0, 1):
        sandbox.set_faults(index, latency=0.05)  # every request slower: wide windows for an overlap
    processes = [workers(), workers()]

    for round_ in range(3):  # resyncs asked while others run, and page jobs of the same portal
        for portal_id in (portal.id, second.id):
            jobs.request_resync(portal_id, f"webhook {round_}")
        jobs.submit_plan(portal.id, "crm", example_path.read_text(encoding="utf-8"), ADMIN)
        time.sleep(0.4)
    kit.wait_for(lambda: settled(app_store), processes, timeout=40)

    for portal_id in (portal.id, second.id):
        runs = runs_of(app_store, portal_id)
        assert all(run.outcome != RunOutcome.FAILED for run in runs), [run.error for run in runs]
        assert any((run.user_name or "").startswith("resync: webhook") for run in runs)
        ordered = sorted(runs, key=lambda run: run.started_at)
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            assert earlier.finished_at <= later.started_at, f"runs {earlier.id} and {later.id} overlapped"
    assert any(
        run.kind == RunKind.APPLY and run.outcome == RunOutcome.APPLIED
        for run in runs_of(app_store, portal.id)
    )
    sandbox.clear_faults(0)
    assert converged(app_store, settings, portal.id, example_path)


def test_a_worker_killed_mid_apply_is_replaced_and_no_request_is_lost(
    jobs, workers, portal, app_store, settings, sandbox, kit, example_path
):
    sandbox.set_faults(0, latency=0.3)  # the apply takes seconds: it is still running when killed
    assert jobs.request_resync(portal.id, "webhook") is True
    assert jobs.request_resync(portal.id, "event") is False
    assert jobs.request_resync(portal.id, "schedule") is False
    doomed = workers(threads=1)

    def applying():
        return any(
            run.kind == RunKind.APPLY and run.outcome == RunOutcome.RUNNING and run.progress
            for run in app_store.runs.list(portal.id)
        )

    kit.wait_for(applying, [doomed], timeout=30)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert app_store.resyncs.total_requests() == 3  # nothing lost with the worker
    sandbox.set_faults(0, latency=0.02)
    survivor = workers(threads=1)
    kit.wait_for(lambda: settled(app_store), [survivor], timeout=30)

    runs = runs_of(app_store, portal.id)
    seen = [(run.id, run.kind, run.outcome, run.worker, run.error) for run in runs]
    dead = [run for run in runs if run.worker == f"{socket.gethostname()}:{doomed.pid}"]
    assert [run.outcome for run in dead] == [RunOutcome.PLANNED, RunOutcome.FAILED], seen
    assert dead[-1].error == RESYNC_WORKER_DIED, seen
    rerun = [run for run in runs if run.id > dead[-1].id]
    assert [run.outcome for run in rerun] == [RunOutcome.PLANNED, RunOutcome.APPLIED], seen
    assert rerun[0].user_name == "resync: webhook, event, schedule, worker died"
    assert rerun[0].worker == f"{socket.gethostname()}:{survivor.pid}"
    (done,) = resync_events(app_store, portal.id)
    assert done.outcome == "done" and done.detail.startswith("3 request(s)")
    sandbox.clear_faults(0)
    assert converged(app_store, settings, portal.id, example_path)


def test_requests_merged_while_one_waits_run_once_even_when_the_wake_up_is_lost(
    jobs, workers, portal, app_store
):
    app_store.portals.set_policy(portal.id, "report")
    answers = [jobs.request_resync(portal.id, f"webhook {n}") for n in range(10)]
    assert answers == [True] + [False] * 9 and app_store.resyncs.total_requests() == 10
    assert len(jobs.queue) == 1  # one wake-up message for the ten requests
    jobs.queue.flush()  # ... and it is lost: the workers' sweep wakes the request

    process = workers(B24APP_JOB_RENUDGE="60")  # an idle queue: woken at the next sweep, not in a minute
    kit_wait = time.monotonic() + 20
    while not settled(app_store) or not app_store.runs.list(portal.id):
        assert process.poll() is None and time.monotonic() < kit_wait
        time.sleep(0.05)
    time.sleep(1.5)  # a sweep or a second message would run it again now: none may

    (run,) = app_store.runs.list(portal.id)
    assert (run.kind, run.outcome) == (RunKind.PLAN, RunOutcome.PLANNED)  # policy "report": planned only
    assert run.summary["create"] > 0 and run.user_name.startswith("resync: ")
    (event,) = resync_events(app_store, portal.id)
    assert event.detail.startswith("10 request(s)")
    # the drift found went to b24app.notify (no admin on record here: it says so in the event log)
    (told,) = [event for event in app_store.events.list(portal.id) if event.event == notify.EVENT]
    assert told.outcome == "no_admin" and f"drift, run {run.id}" in told.detail


def test_temporary_errors_are_retried_with_backoff_until_the_resync_succeeds(
    jobs, workers, portal, app_store, settings, sandbox, kit, example_path
):
    sandbox.set_faults(0, error500=1, rate_storm=1)  # a server fault, then the request budget exhausted
    process = workers()
    jobs.request_resync(portal.id, "webhook")
    kit.wait_for(lambda: settled(app_store) and resync_events(app_store, portal.id), [process], timeout=30)

    runs = runs_of(app_store, portal.id)
    assert [run.outcome for run in runs] == [
        RunOutcome.FAILED,
        RunOutcome.FAILED,
        RunOutcome.PLANNED,
        RunOutcome.APPLIED,
    ]
    assert "HTTP 500" in runs[0].error and "QUERY_LIMIT_EXCEEDED" in runs[1].error
    assert runs[1].started_at - runs[0].finished_at >= FAST_BACKOFF_MIN
    assert runs[2].user_name == "resync: webhook, retry after a temporary error"
    assert converged(app_store, settings, portal.id, example_path)


def test_a_resync_fails_for_good_after_the_last_attempt_and_at_once_on_a_permanent_error(
    jobs, workers, portal, app_store, sandbox, kit
):
    second = kit.install(sandbox, app_store, 1).portal
    app_store.portals.assign_template(second.id, "broken")  # an invalid template: no retry can help
    sandbox.set_faults(0, error500=1.0)  # the portal is down for longer than the attempts last
    process = workers(B24APP_JOB_ATTEMPTS="3")
    jobs.request_resync(portal.id, "webhook")
    jobs.request_resync(second.id, "webhook")
    kit.wait_for(
        lambda: (
            settled(app_store) and resync_events(app_store, portal.id) and resync_events(app_store, second.id)
        ),
        [process],
        timeout=30,
    )

    runs = runs_of(app_store, portal.id)
    assert [run.outcome for run in runs] == [RunOutcome.FAILED] * 3
    assert runs[-1].error.startswith("gave up after 3 attempts: ") and "HTTP 500" in runs[-1].error
    (event,) = resync_events(app_store, portal.id)
    assert event.outcome == "failed" and "gave up after 3 attempts" in event.detail
    (broken,) = runs_of(app_store, second.id)
    assert broken.outcome == RunOutcome.FAILED and broken.error.startswith("the template is not valid")
    assert app_store.resyncs.total_requests() == 0


def test_an_uninstalled_portal_is_skipped_with_a_note(jobs, workers, portal, app_store):
    app_store.portals.set_state(portal.id, PortalState.UNINSTALLED)
    process = workers()
    jobs.request_resync(portal.id, "schedule")
    kit_deadline = time.monotonic() + 20
    while not resync_events(app_store, portal.id):
        assert process.poll() is None and time.monotonic() < kit_deadline
        time.sleep(0.05)
    (event,) = resync_events(app_store, portal.id)
    assert (event.event, event.outcome) == ("resync", "skipped") and "is uninstalled" in event.detail
    assert app_store.runs.list(portal.id) == [] and app_store.resyncs.total_requests() == 0


def test_a_resync_longer_than_its_lease_keeps_its_claim(jobs, workers, portal, app_store, sandbox, kit):
    lease = 1.0
    sandbox.set_faults(0, latency=0.4)  # the resync takes several leases
    processes = [workers(threads=1, B24APP_JOB_LEASE=str(lease)) for _ in range(2)]
    jobs.request_resync(portal.id, "webhook")
    kit.wait_for(lambda: settled(app_store) and resync_events(app_store, portal.id), processes, timeout=40)

    plan, apply = runs_of(app_store, portal.id)
    assert (plan.outcome, apply.outcome) == (
        RunOutcome.PLANNED,
        RunOutcome.APPLIED,
    )  # nothing failed or rerun
    assert (apply.finished_at - plan.started_at).total_seconds() > 2 * lease  # renewed, not taken back


def test_resyncs_of_a_portal_left_alone_keep_one_run_that_counts_them(jobs, workers, portal, app_store, kit):
    process = workers(threads=1)
    for round_ in range(6):  # the first plans and applies; the five after it find the portal in sync
        jobs.request_resync(portal.id, f"schedule {round_}")
        kit.wait_for(
            lambda n=round_: len(resync_events(app_store, portal.id)) == n + 1 and settled(app_store),
            [process],
        )
    runs = runs_of(app_store, portal.id)
    assert [(run.kind, run.outcome) for run in runs] == [
        (RunKind.PLAN, RunOutcome.PLANNED),
        (RunKind.APPLY, RunOutcome.APPLIED),
        (RunKind.PLAN, RunOutcome.PLANNED),
    ]
    kept = runs[-1]
    assert kept.checked == 5 and kept.user_name == "resync: schedule 1"
    done = [event.detail for event in reversed(resync_events(app_store, portal.id))][1:]
    assert all(detail.endswith(f"run {kept.id}: planned") for detail in done)  # the kept run, each time
