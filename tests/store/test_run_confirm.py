"""``Runs.confirm`` on SQLite and PostgreSQL: an earlier run noted as found again and the later run
removed in one transaction, and only while the earlier run is still the portal's latest, keeps the
same state digest, and the later run is still running in its worker."""

from __future__ import annotations

import pytest

from b24app.store import RunKind, RunOutcome
from tests.dbfixtures import add_portal

WORKER = "host:1"
DIGEST = "d" * 64


@pytest.fixture
def portal(store):
    return add_portal(store, "m1", "acme.bitrix24.ru")


def earlier_run(store, portal_id: int, digest: str = DIGEST):
    return store.runs.record(
        portal_id,
        RunKind.PLAN,
        RunOutcome.PLANNED,
        user_name="resync: schedule",
        result={"state_digest": digest},
    )


def started(store, portal_id: int, worker: str = WORKER):
    return store.runs.start(portal_id, RunKind.PLAN, worker=worker, user_name="resync: schedule")


def test_confirming_counts_and_removes_the_later_run(store, portal):
    first = earlier_run(store, portal.id)
    assert (first.checked, first.last_checked_at) == (1, None)
    for times in (2, 3):
        later = started(store, portal.id)
        assert store.runs.previous(later.id).id == first.id
        confirmed = store.runs.confirm(first.id, instead_of=later.id, worker=WORKER, state_digest=DIGEST)
        assert confirmed.id == first.id and confirmed.checked == times
        assert confirmed.last_checked_at is not None and confirmed.last_checked_at >= first.finished_at
        assert confirmed.finished_at == first.finished_at  # its own plan's time is kept
        assert confirmed.result["state_digest"] == DIGEST
    assert [r.id for r in store.runs.list(portal.id)] == [first.id]


@pytest.mark.parametrize("why", ["other digest", "run in between", "failed by a sweep", "other worker"])
def test_nothing_changes_unless_all_still_holds(store, portal, why):
    first = earlier_run(store, portal.id, digest="e" * 64 if why == "other digest" else DIGEST)
    later = started(store, portal.id, worker="host:2" if why == "other worker" else WORKER)
    if why == "run in between":
        store.runs.record(portal.id, RunKind.APPLY, RunOutcome.APPLIED, user_name="Анна")
    if why == "failed by a sweep":
        assert store.runs.fail_if_running(later.id, WORKER, "its worker died")
    assert store.runs.confirm(first.id, instead_of=later.id, worker=WORKER, state_digest=DIGEST) is None
    assert store.runs.get(first.id).checked == 1 and store.runs.get(first.id).result == first.result
    assert store.runs.get(later.id).id == later.id  # kept, to be journaled in full


def test_a_run_of_another_portal_is_never_removed(store, portal):
    other = add_portal(store, "m2", "b.bitrix24.ru")
    first = earlier_run(store, portal.id)
    foreign = started(store, other.id)
    assert store.runs.previous(foreign.id) is None
    assert store.runs.confirm(first.id, instead_of=foreign.id, worker=WORKER, state_digest=DIGEST) is None
    assert store.runs.get(foreign.id).outcome == RunOutcome.RUNNING


def test_a_damaged_count_reads_as_one(store, portal):
    run = store.runs.record(
        portal.id, RunKind.PLAN, RunOutcome.PLANNED, result={"checked": "9", "last_checked_at": 5}
    )
    assert (run.checked, run.last_checked_at) == (1, None)
