"""The resync rows a worker claims, renews, finishes, retries and recovers (store.resyncs), on SQLite
and PostgreSQL, with a clock the test moves: what keeps requests from being lost or run twice; and
a page job's run left by a worker of another machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from huey import MemoryHuey

from b24app.jobs import WORKER_DIED, Jobs, Tuning
from b24app.store import Cipher, RunKind, RunOutcome, Settings, Store
from b24app.store.db import make_engine
from tests.dbfixtures import add_portal

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
A, B = "host-a:1", "host-b:2"


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rows(database_url, keys, clock):
    store = Store(make_engine(database_url), Cipher(keys), clock=clock)
    yield store
    store.close()


@pytest.fixture
def portal_id(rows) -> int:
    portal = add_portal(rows, "member-1", "one.bitrix24.ru")
    return portal.id


def test_a_claimed_request_runs_once_and_a_new_request_waits_beside_it(rows, portal_id):
    assert rows.resyncs.request(portal_id, "webhook") is True
    claimed = rows.resyncs.claim(portal_id, A, lease=30)
    assert claimed is not None and (claimed.state, claimed.claimed_by) == ("running", A)
    assert claimed.lease_until == T0 + timedelta(seconds=30)
    assert rows.resyncs.claim(portal_id, B, lease=30) is None  # nothing else waits

    assert (
        rows.resyncs.request(portal_id, "event") is True
    )  # a new waiting row, not merged into the running one
    assert rows.resyncs.claim(portal_id, B, lease=30) is None  # one running row per portal
    assert rows.resyncs.finish(claimed.id, B) is False  # only its claimant finishes it
    assert rows.resyncs.finish(claimed.id, A) is True
    (left,) = rows.resyncs.of_portal(portal_id)
    assert (left.state, left.reasons, left.requests) == ("waiting", ["event"], 1)


def test_a_request_is_not_claimed_before_its_backoff_ends(rows, portal_id, clock):
    rows.resyncs.request(portal_id, "schedule", not_before=T0 + timedelta(seconds=10))
    assert not rows.resyncs.due(portal_id)
    assert rows.resyncs.claim(portal_id, A, lease=30) is None
    clock.advance(10)
    assert rows.resyncs.due(portal_id) and rows.resyncs.claim(portal_id, A, lease=30) is not None


def test_retry_later_counts_the_attempt_and_merges_into_a_request_that_came_meanwhile(rows, portal_id):
    rows.resyncs.request(portal_id, "webhook")
    rows.resyncs.request(portal_id, "webhook again")
    claimed = rows.resyncs.claim(portal_id, A, lease=30)
    assert rows.resyncs.retry_later(claimed.id, B, T0, "retry") is None  # not B's
    rows.resyncs.request(portal_id, "event")

    waiting = rows.resyncs.retry_later(claimed.id, A, T0 + timedelta(seconds=60), "retry")

    assert (waiting.state, waiting.requests, waiting.attempts) == ("waiting", 3, 1)
    assert waiting.reasons == ["webhook", "webhook again", "retry", "event"]
    assert waiting.not_before == T0 + timedelta(seconds=60) and waiting.claimed_by is None
    assert rows.resyncs.of_portal(portal_id) == [waiting] and rows.resyncs.total_requests() == 3


def test_a_running_request_whose_lease_ended_waits_again_and_a_renewed_one_does_not(rows, portal_id, clock):
    rows.resyncs.request(portal_id, "webhook")
    claimed = rows.resyncs.claim(portal_id, A, lease=30)
    assert rows.resyncs.set_run(claimed.id, A, 77) and not rows.resyncs.set_run(claimed.id, B, 78)
    clock.advance(20)
    assert rows.resyncs.renew(claimed.id, A, lease=30)  # alive: until T0+50
    clock.advance(25)
    assert rows.resyncs.recover() == []

    clock.advance(10)  # no renewal for 35 s: the worker is gone
    (stale,) = rows.resyncs.recover()

    assert (stale.claimed_by, stale.run_id) == (A, 77)
    (waiting,) = rows.resyncs.of_portal(portal_id)
    assert (waiting.state, waiting.attempts, waiting.reasons) == ("waiting", 1, ["webhook", "worker died"])
    assert waiting.not_before == clock.at and waiting.requests == 1
    assert rows.resyncs.renew(claimed.id, A, lease=30) is False  # the dead claim cannot come back
    assert rows.resyncs.finish(claimed.id, A) is False
    assert rows.resyncs.recover() == []


def test_an_overdue_request_is_handed_out_once_per_grace(rows, portal_id, clock):
    rows.resyncs.request(portal_id, "webhook")
    assert rows.resyncs.overdue(grace=30) == []
    clock.advance(31)
    (overdue,) = rows.resyncs.overdue(grace=30)
    assert overdue.portal_id == portal_id
    assert rows.resyncs.overdue(grace=30) == []  # another sweeper does not wake it again
    clock.advance(31)
    assert len(rows.resyncs.overdue(grace=30)) == 1


def test_a_page_job_of_another_machine_is_failed_only_once_its_portal_lock_is_free(rows, portal_id, tmp_path):
    settings = Settings.from_env({"B24APP_INSTANCE": str(tmp_path / "instance")}, cwd=tmp_path)
    jobs = Jobs(rows, settings, queue=MemoryHuey("test"), tuning=Tuning())
    run = rows.runs.record(portal_id, RunKind.APPLY, RunOutcome.RUNNING, worker="elsewhere:4242")

    with rows.lock(f"portal:{portal_id}"):  # its worker lives: it holds the portal's lock
        assert jobs.recover() == []
    assert jobs.recover() == [run.id]  # the lock is free: its worker died (PostgreSQL: with its session)

    failed = rows.runs.get(run.id)
    assert (failed.outcome, failed.error) == (RunOutcome.FAILED, WORKER_DIED)
