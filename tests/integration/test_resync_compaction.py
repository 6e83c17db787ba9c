"""A portal resynced every 15 minutes while nobody touches it keeps one journal row, not 96 a day:
b24app.resync confirms the previous resync plan (``checked``, ``last_checked_at``) instead of journaling
the same finding again. Against an installed sandbox portal over real HTTP, on SQLite and PostgreSQL;
anything that differs (the portal's state, the template, drift, another run) journals a full run.
"""

from __future__ import annotations

import json

import pytest
import requests

from b24app import resync
from b24app.cli import main
from b24app.store import RunKind, RunOutcome
from tests.access import kit

sandbox, b24_env, settings, app_store, cli_env = (
    kit.sandbox,
    kit.b24_env,
    kit.settings,
    kit.app_store,
    kit.cli_env,
)
TEMPLATE = "version: 1\nsources:\n  - {id: TELEGRAM, name: Телеграм, sort: 90}\n"
WORKER = "test-host:1"


@pytest.fixture
def portal(sandbox, app_store, settings):
    """Portal 0 installed with the library's template ``t`` (report policy), brought in sync by one
    resync with the apply policy: its journal holds that plan and apply."""
    settings.templates.mkdir(parents=True, exist_ok=True)
    (settings.templates / "t.yaml").write_text(TEMPLATE, encoding="utf-8")
    installed = kit.install(sandbox, app_store, scopes=("crm", "im", "user")).portal
    app_store.portals.assign_template(installed.id, "t")
    app_store.portals.set_policy(installed.id, "apply")
    assert again(app_store, settings, installed.id).kind == RunKind.APPLY
    app_store.portals.set_policy(installed.id, "report")
    return app_store.portals.by_id(installed.id)


def again(store, settings, portal_id: int, reason: str = "schedule"):
    """One resync, as a worker does it; the run it ended with."""
    claimed: list[int] = []
    done = resync.resync(store, settings, portal_id, [reason], worker=WORKER, on_run=claimed.append)
    assert claimed and done.run is not None
    return done.run


def journal(store, portal_id: int):
    return sorted(store.runs.list(portal_id, limit=500), key=lambda run: run.id)


def hook(sandbox, method: str, payload: dict) -> dict:
    answer = requests.post(sandbox.portals[0].webhook_url + method, json=payload, timeout=5)
    answer.raise_for_status()
    return answer.json()


def source_row(sandbox, status_id: str) -> dict:
    rows = hook(sandbox, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})["result"]
    return next(row for row in rows if row["STATUS_ID"] == status_id)


def test_five_resyncs_of_a_portal_in_sync_keep_one_run_checked_five_times(
    capsys, cli_env, sandbox, app_store, settings, portal
):
    before = journal(app_store, portal.id)
    app_store.portals.set_drift(portal.id, "sha256:an-old-drift")  # told once; being in sync clears it
    ends = [
        again(app_store, settings, portal.id, reason) for reason in ("schedule", "webhook", *["schedule"] * 3)
    ]
    runs = journal(app_store, portal.id)
    assert len(runs) == len(before) + 1
    kept = runs[-1]
    assert [end.id for end in ends] == [kept.id] * 5  # the worker and notify are handed the kept run
    assert (
        kept.kind == RunKind.PLAN
        and kept.outcome == RunOutcome.PLANNED
        and kept.user_name == "resync: schedule"
    )
    assert kept.checked == 5 and kept.last_checked_at >= kept.finished_at
    assert kept.state_before["managed"]  # what a rollback plans from is kept
    assert len(kept.result["state_digest"]) == 64
    assert app_store.portals.by_id(portal.id).drift_checksum is None

    assert main(["journal", portal.domain, "--json"]) == 0
    [shown] = [row for row in json.loads(capsys.readouterr().out)["runs"] if row["id"] == kept.id]
    assert shown["checked"] == 5 and shown["last_checked_at"] == kept.last_checked_at.isoformat()
    assert main(["journal", portal.domain]) == 0
    assert "checked 5 times, last" in capsys.readouterr().out
    assert main(["portal", "list"]) == 0
    assert "plan planned" in (listed := capsys.readouterr().out) and "checked 5 times, last" in listed


def test_a_change_by_hand_that_leaves_the_portal_in_sync_journals_a_new_run(
    sandbox, app_store, settings, portal
):
    first = again(app_store, settings, portal.id)
    # a list the template does not manage: the plan (and its checksum) is the same, the state is not
    hook(
        sandbox,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "INDUSTRY", "STATUS_ID": "DRONES", "NAME": "Дроны"}},
    )
    changed = again(app_store, settings, portal.id)
    assert changed.id != first.id and (changed.summary, changed.checksum) == (first.summary, first.checksum)
    assert changed.result["state_digest"] != first.result["state_digest"]
    assert "DRONES" in json.dumps(changed.state_before["state"])  # the state a rollback would plan from
    assert again(app_store, settings, portal.id).id == changed.id  # the new state's chain goes on
    assert app_store.runs.get(first.id).checked == 1 and app_store.runs.get(changed.id).checked == 2
    kit.add_source(sandbox, "WHATSAPP")  # an entry of the managed list, left alone (no prune): in sync
    assert again(app_store, settings, portal.id).id not in (first.id, changed.id)


def test_a_changed_template_journals_a_new_run(sandbox, app_store, settings, portal):
    first = again(app_store, settings, portal.id)
    (settings.templates / "t.yaml").write_text("# reviewed\n" + TEMPLATE, encoding="utf-8")  # same lists
    second = again(app_store, settings, portal.id)
    assert second.id != first.id and second.template_hash != first.template_hash
    assert second.result["state_digest"] == first.result["state_digest"]


def test_drift_in_between_breaks_the_chain_even_when_the_portal_returns_to_the_same_state(
    sandbox, app_store, settings, portal
):
    first = again(app_store, settings, portal.id)
    row = source_row(sandbox, "TELEGRAM")
    hook(sandbox, "crm.status.update", {"id": row["ID"], "fields": {"NAME": "Telegram"}})
    drift = again(app_store, settings, portal.id)
    assert drift.summary["update"] == 1
    hook(sandbox, "crm.status.update", {"id": row["ID"], "fields": {"NAME": row["NAME"]}})  # put back by hand
    back = again(app_store, settings, portal.id)
    assert back.result["state_digest"] == first.result["state_digest"]  # the very same state as before
    assert back.id not in (first.id, drift.id)
    assert [r.id for r in journal(app_store, portal.id)][-3:] == [first.id, drift.id, back.id]


def test_a_run_by_someone_else_in_between_breaks_the_chain(sandbox, app_store, settings, portal):
    first = again(app_store, settings, portal.id)
    app_store.runs.record(
        portal.id, RunKind.PLAN, RunOutcome.PLANNED, user_name="Анна", summary=first.summary
    )
    after = again(app_store, settings, portal.id)
    assert after.id != first.id and after.checked == 1
