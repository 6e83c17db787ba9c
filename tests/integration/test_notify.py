"""Drift and failed applies told to the portal's admin (b24app.notify), against a sandbox portal where
b24app is installed with real OAuth tokens (tests/access/kit.py), on SQLite and PostgreSQL.

Every run here is a real plan or apply of a small template, journaled as the worker journals it
(b24app.runs); the notifications are read back from the sandbox portal.
"""

from __future__ import annotations

import dataclasses

import pytest
import requests

from b24app import notify, runs, sync
from b24app.bitrix.ratelimit import LeakyBucket
from b24app.core.template import load_template
from b24app.portal_access import connect_installed
from b24app.store import Run, RunKind, RunOutcome
from tests.access import kit

# The installed-portal fixtures of tests/access/kit.py: two sandbox portals, the store, the settings.
sandbox, b24_env, settings, app_store = kit.sandbox, kit.b24_env, kit.settings, kit.app_store

# A fresh portal has no TELEGRAM source: the plan creates it (prune: false keeps the others alone).
TEMPLATE = load_template(
    "version: 1\nsources:\n  - {id: TELEGRAM, name: Телеграм, sort: 90}\n", source="t.yaml"
)
SCOPES = ("crm", "im", "user")


@pytest.fixture
def installed(sandbox, app_store):
    found = kit.install(sandbox, app_store, scopes=SCOPES)
    app_store.portals.set_admin(found.portal.id, 1)
    return found


@pytest.fixture
def client(app_store, settings, installed):
    return connect_installed(app_store, settings, installed.portal.id, bucket=LeakyBucket(rate=50, burst=200))


def plan_run(store, client) -> Run:
    """Plan the template on the portal and journal it as the worker does."""
    plan, read = sync.make_plan(client, TEMPLATE)
    portal = store.portals.find(client.domain)
    return store.runs.record(portal.id, RunKind.PLAN, RunOutcome.PLANNED, **runs.planned(plan, 0, read.state))


def apply_run(store, client, expected_checksum: str | None = None) -> Run:
    portal = store.portals.find(client.domain)
    try:
        result = sync.apply(client, TEMPLATE, expected_checksum=expected_checksum)
    except (sync.PlanChanged, sync.UnsafePlan) as error:
        return store.runs.record(portal.id, RunKind.APPLY, RunOutcome.REFUSED, **runs.refused(error, 0))
    outcome, details = runs.applied(result, None)
    return store.runs.record(portal.id, RunKind.APPLY, outcome, **details)


def tell(store, settings, client, run: Run) -> bool:
    return notify.after_resync(store, settings, client, store.portals.by_id(run.portal_id), run)


def admin_notices(sandbox, index: int = 0) -> list[dict]:
    return sandbox.notifications(index, user_id=1)


def notify_events(store, portal_id: int) -> list[str]:
    return [e.outcome for e in reversed(store.events.list(portal_id)) if e.event == notify.EVENT]


def delete_source(sandbox, status_id: str) -> None:
    """Someone deletes a source by hand (through the admin's webhook)."""
    hook = sandbox.portals[0].webhook_url
    rows = requests.post(hook + "crm.status.list", json={"filter": {"ENTITY_ID": "SOURCE"}}, timeout=5).json()
    row = next(r for r in rows["result"] if r["STATUS_ID"] == status_id)
    requests.post(hook + "crm.status.delete", json={"id": row["ID"]}, timeout=5).raise_for_status()


def test_drift_is_told_once_with_a_link_to_the_app_page(sandbox, app_store, settings, installed, client):
    first = plan_run(app_store, client)
    assert first.summary["create"] == 1
    assert tell(app_store, settings, client, first) is True
    [notice] = admin_notices(sandbox)
    handle = sandbox.portals[0]
    link = f"http://{handle.domain}/marketplace/app/{installed.client_id}/"
    assert f"[URL={link}]" in notice["message"] and "[/URL]" in notice["message"]
    assert link in notice["message_out"] and "[URL" not in notice["message_out"]
    assert "создать: 1" in notice["message"]  # a Russian portal, told in Russian, with the counts
    assert notice["tag"] == f"b24app|drift|{installed.portal.id}"
    assert notice["app"] == installed.client_id
    assert app_store.portals.by_id(installed.portal.id).drift_checksum == first.checksum
    # the same drift, found again by the next scheduled plans: not told again
    for _ in range(2):
        assert tell(app_store, settings, client, plan_run(app_store, client)) is False
    assert sandbox.notifications_sent(0) == 1
    assert notify_events(app_store, installed.portal.id) == ["sent"]


def test_a_new_drift_is_told_again_and_replaces_the_old_notice(
    sandbox, app_store, settings, installed, client
):
    assert tell(app_store, settings, client, plan_run(app_store, client)) is True
    kit.add_source(sandbox, "TELEGRAM")  # made by hand, named differently: now an update, not a create
    second = plan_run(app_store, client)
    assert (second.summary["create"], second.summary["update"]) == (0, 1)
    assert tell(app_store, settings, client, second) is True
    assert sandbox.notifications_sent(0) == 2
    [kept] = admin_notices(sandbox)  # the same TAG: the new notice replaced the old one
    assert "изменить: 1" in kept["message"]
    assert app_store.portals.by_id(installed.portal.id).drift_checksum == second.checksum


def test_back_in_sync_clears_the_drift_so_its_return_is_told(sandbox, app_store, settings, installed, client):
    drift = plan_run(app_store, client)
    assert tell(app_store, settings, client, drift) is True
    applied = apply_run(app_store, client)
    assert applied.outcome == RunOutcome.APPLIED
    assert tell(app_store, settings, client, applied) is False
    assert app_store.portals.by_id(installed.portal.id).drift_checksum is None
    in_sync = plan_run(app_store, client)
    assert in_sync.summary["create"] == 0 and tell(app_store, settings, client, in_sync) is False
    delete_source(sandbox, "TELEGRAM")  # the portal is as it was: the very same drift again
    again = plan_run(app_store, client)
    assert again.checksum == drift.checksum
    assert tell(app_store, settings, client, again) is True
    assert sandbox.notifications_sent(0) == 2
    assert notify_events(app_store, installed.portal.id) == ["sent", "drift_cleared", "sent"]


def test_an_in_sync_plan_clears_a_remembered_drift(sandbox, app_store, settings, installed, client):
    assert tell(app_store, settings, client, plan_run(app_store, client)) is True
    sync.apply(client, TEMPLATE)  # applied elsewhere (by hand, say): the next plan finds no drift
    assert tell(app_store, settings, client, plan_run(app_store, client)) is False
    assert app_store.portals.by_id(installed.portal.id).drift_checksum is None


def test_drift_of_an_apply_portal_is_not_told(sandbox, app_store, settings, installed, client):
    """Policy apply: the worker applies what it finds; a plan of such a portal tells nobody."""
    app_store.portals.set_policy(installed.portal.id, "apply")
    assert tell(app_store, settings, client, plan_run(app_store, client)) is False
    assert sandbox.notifications_sent(0) == 0


def test_a_refused_apply_is_told_every_time(sandbox, app_store, settings, installed, client):
    app_store.portals.set_policy(installed.portal.id, "apply")
    for _ in range(2):
        refused = apply_run(app_store, client, expected_checksum="0" * 16)  # the plan shown has changed
        assert refused.outcome == RunOutcome.REFUSED
        assert tell(app_store, settings, client, refused) is True
    assert sandbox.notifications_sent(0) == 2
    [kept] = admin_notices(sandbox)
    assert kept["tag"] == f"b24app|apply|{installed.portal.id}"
    assert "отклонено" in kept["message"] and "создать: 1" in kept["message"]
    assert f"/marketplace/app/{installed.client_id}/" in kept["message"]


def test_failed_and_unconverged_applies_are_told(sandbox, app_store, settings, installed, client):
    portal_id = installed.portal.id
    failed = app_store.runs.record(
        portal_id, RunKind.APPLY, RunOutcome.FAILED, error="the portal did not answer"
    )
    assert tell(app_store, settings, client, failed) is True
    assert "не удалось применить шаблон" in admin_notices(sandbox)[0]["message"]
    unconverged = app_store.runs.record(
        portal_id,
        RunKind.APPLY,
        RunOutcome.NOT_CONVERGED,
        summary={"create": 3, "update": 0, "delete": 0, "blocked": 0},
        result={"outcome": "not_converged", "counts": {"failed": 2, "remaining": 1}, "requests": 9},
    )
    assert tell(app_store, settings, client, unconverged) is True
    [kept] = admin_notices(sandbox)
    assert "изменений с ошибкой: 2, осталось различий: 1" in kept["message"]
    assert sandbox.notifications_sent(0) == 2


def test_a_converged_apply_tells_nobody(sandbox, app_store, settings, installed, client):
    applied = apply_run(app_store, client)
    assert applied.outcome == RunOutcome.APPLIED and applied.summary["create"] == 1
    assert tell(app_store, settings, client, applied) is False
    assert sandbox.notifications_sent(0) == 0


def test_no_admin_means_nothing_sent_and_no_crash(sandbox, app_store, settings, installed, client):
    app_store.portals.set_admin(installed.portal.id, None)
    run = plan_run(app_store, client)
    assert tell(app_store, settings, client, run) is False
    assert sandbox.notifications_sent(0) == 0
    assert notify_events(app_store, installed.portal.id) == ["no_admin"]


def test_an_unknown_admin_is_logged(sandbox, app_store, settings, installed, client):
    """The portal answers false (no notification created) for a user it does not have."""
    app_store.portals.set_admin(installed.portal.id, 4242)
    assert tell(app_store, settings, client, plan_run(app_store, client)) is False
    assert notify_events(app_store, installed.portal.id) == ["not_created"]
    assert sandbox.notifications_sent(0) == 0


def test_a_portal_without_the_im_scope_refuses_and_the_drift_is_not_retried(sandbox, app_store, settings):
    found = kit.install(
        sandbox, app_store, scopes=("crm", "user")
    )  # an app registered before im was asked for
    app_store.portals.set_admin(found.portal.id, 1)
    client = connect_installed(app_store, settings, found.portal.id, bucket=LeakyBucket(rate=50, burst=200))
    for _ in range(2):  # the second plan finds the same drift: no second attempt, no second log line
        assert tell(app_store, settings, client, plan_run(app_store, client)) is False
    assert sandbox.notifications_sent(0) == 0
    events = [e for e in app_store.events.list(found.portal.id) if e.event == notify.EVENT]
    assert [e.outcome for e in events] == ["refused"]
    assert "insufficient_scope" in events[0].detail


def test_the_message_holds_no_token_or_secret(sandbox, app_store, settings, installed, client):
    app_store.portals.set_application_token(installed.portal.id, "app0token0of0the0portal0")
    assert tell(app_store, settings, client, plan_run(app_store, client)) is True
    [notice] = admin_notices(sandbox)
    stored = app_store.tokens.load(installed.portal.id).pair
    secrets = (
        stored.access_token,
        stored.refresh_token,
        installed.client_secret,
        "app0token0of0the0portal0",
        app_store.portals.by_id(installed.portal.id).member_id,
    )
    text = notice["message"] + notice["message_out"]
    assert not [s for s in secrets if s in text]
    assert notice["attach"] is None


def test_a_hostile_domain_never_reaches_a_message(sandbox, app_store, settings, installed, client):
    """The domain is the portal's own word: one that is no plain host name gives no link, and no notice."""
    hostile = "evil.example]Click[/URL][URL=https://phish.example/"
    run = plan_run(app_store, client)
    app_store.portals.upsert(
        installed.portal.member_id,
        domain=hostile,
        client_endpoint=installed.portal.client_endpoint,
        registration_id=installed.portal.registration_id,
        state=installed.portal.state,
        language="ru",
    )
    assert tell(app_store, settings, client, run) is False
    assert sandbox.notifications_sent(0) == 0
    assert notify_events(app_store, installed.portal.id) == ["no_link"]


def test_a_broken_store_record_never_raises_into_the_worker(sandbox, app_store, settings, installed, client):
    """Whatever goes wrong (here: a run of a portal that does not exist) is logged, not raised."""
    run = plan_run(app_store, client)
    ghost = dataclasses.replace(app_store.portals.by_id(installed.portal.id), id=987654)  # a portal gone
    assert notify.after_resync(app_store, settings, client, ghost, run) is False
    assert sandbox.notifications_sent(0) == 0
