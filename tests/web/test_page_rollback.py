"""The page's "Roll back to before this run": the rollback plan shown like a plan, one Apply that
runs as a job (journaled as a rollback of that run), refused when the portal changed since, and
offered to admins only. Sandbox portals over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import requests

from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.sandbox.server import Sandbox
from b24app.store import RunKind, RunOutcome, Store
from handlers import create_app
from tests.integration.portal_view import portal_view
from tests.web.page_fixtures import Form, frame_post, install, make_settings, submit
from tests.web.test_page_apply import finished_run_page

SMALL = """version: 1
prune: false
sources:
  - {id: CALL, name: Входящий звонок}
  - {id: EXHIBITION, name: Выставка в Крокус Экспо}
  - {id: FLEET_TEST, name: Источник из шаблона}
"""


@pytest.fixture
def box():
    with Sandbox(port=0, portals=1, lang="ru") as sandbox:
        yield sandbox


@pytest.fixture
def env(box, store: Store, database_url, tmp_path):
    settings = make_settings(tmp_path, database_url, box)
    (settings.templates / "small.yaml").write_text(SMALL, encoding="utf-8")
    portal = install(box, store, settings, 0, "small")
    app = create_app(settings, store=store, start_jobs=True)
    yield app.test_client(), portal
    app.extensions["b24app.jobs"].stop_consumer()


def view(box) -> dict:
    return portal_view(Client(WebhookAuth(box.add_webhook(0, 1, ["crm"]))))


def applied_page(client, portal) -> tuple[str, int]:
    """Apply the portal's template through the page; (the page opened again, the apply's run id)."""
    page = frame_post(client, portal).get_data(as_text=True)
    done = finished_run_page(client, submit(client, page, "apply").get_data(as_text=True))
    assert 'class="outcome-applied"' in done, Form(done).text
    run = portal.store.runs.last(portal.portal_id)
    return frame_post(client, portal).get_data(as_text=True), run.id


def test_a_rollback_from_the_page_restores_the_state_before_the_apply(env, box):
    client, portal = env
    before = view(box)
    page, applied = applied_page(client, portal)
    assert view(box) != before
    assert f"rollback-{applied}" in Form(page).forms
    shown = submit(client, page, f"rollback-{applied}").get_data(as_text=True)
    text = Form(shown).text
    assert f"Откат к состоянию до запуска #{applied}" in text, text
    assert "План: создать 0, изменить 1, удалить 2, заблокировано 0." in text and "FLEET_TEST" in text
    form = Form(shown).forms["apply-rollback"][1]
    assert form["run"] == str(applied)
    done = finished_run_page(client, submit(client, shown, "apply-rollback").get_data(as_text=True))
    assert 'class="outcome-applied"' in done, Form(done).text
    assert view(box) == before
    last = portal.store.runs.last(portal.portal_id)
    assert (last.kind, last.outcome, last.rollback_of, last.user_id) == (
        RunKind.ROLLBACK,
        RunOutcome.APPLIED,
        applied,
        1,
    )


def test_a_rollback_after_the_portal_changed_is_refused_with_the_new_rollback_plan(env, box):
    client, portal = env
    page, applied = applied_page(client, portal)
    shown = submit(client, page, f"rollback-{applied}").get_data(as_text=True)
    hook = box.add_webhook(0, 1, ["crm"])
    rows = requests.post(hook + "crm.status.list.json", data={"filter[ENTITY_ID]": "SOURCE"}, timeout=10)
    row = next(r for r in rows.json()["result"] if r["STATUS_ID"] == "FLEET_TEST")
    requests.post(
        hook + "crm.status.update.json",
        data={"id": row["ID"], "fields[NAME]": "Renamed behind the page"},
        timeout=10,
    ).raise_for_status()
    changed = view(box)
    done = finished_run_page(client, submit(client, shown, "apply-rollback").get_data(as_text=True))
    assert 'class="outcome-refused"' in done, Form(done).text
    assert view(box) == changed  # nothing was written
    last = portal.store.runs.last(portal.portal_id)
    assert (last.kind, last.outcome, last.rollback_of) == (RunKind.ROLLBACK, RunOutcome.REFUSED, applied)
    again = Form(done).forms["apply-rollback"][1]  # the rollback planned again, with its own checksum
    assert again["run"] == str(applied)
    assert again["checksum"] != Form(shown).forms["apply-rollback"][1]["checksum"]
    assert "Renamed behind the page" in done


def test_a_reader_sees_no_rollback_button_and_a_forged_one_is_refused(env, box):
    client, portal = env
    page, applied = applied_page(client, portal)
    reader = frame_post(client, portal, user_id=2).get_data(as_text=True)
    assert "Только просмотр" in reader
    assert not [f for f in Form(reader).forms if f.startswith("rollback-")]
    reader_token = Form(reader).forms["choose"][1]["page_token"]
    answer = submit(client, page, f"rollback-{applied}", page_token=reader_token)
    assert answer.status_code == 403
    assert "Это может сделать только администратор портала." in answer.get_data(as_text=True)
    shown = submit(client, page, f"rollback-{applied}").get_data(as_text=True)
    changed = view(box)
    forged = submit(client, shown, "apply-rollback", page_token=reader_token)
    assert forged.status_code == 403
    no_token = submit(client, shown, "apply-rollback", page_token=None)
    assert no_token.status_code == 403
    cross_site = submit(client, shown, "apply-rollback", origin="https://evil.example")
    assert cross_site.status_code == 403
    assert [r.kind for r in portal.store.runs.list(portal.portal_id)] == [RunKind.APPLY]  # nothing queued
    assert view(box) == changed


def test_a_run_without_a_recorded_state_or_of_another_portal_cannot_be_rolled_back(env):
    client, portal = env
    bare = portal.store.runs.record(portal.portal_id, RunKind.PLAN, RunOutcome.PLANNED, user_id=1)
    page = frame_post(client, portal).get_data(as_text=True)
    assert f"rollback-{bare.id}" not in Form(page).forms and "Откатить" not in page
    token = Form(page).forms["choose"][1]
    answer = client.post(
        Form(page).forms["choose"][0].replace("/plan", "/rollback"),
        data={"page_token": token["page_token"], "lang": "ru", "run": str(bare.id)},
        headers={"Origin": portal.settings.public_url},
    )
    assert answer.status_code == 409
    assert "Журнал не сохранил состояние портала до этого запуска" in answer.get_data(as_text=True)
    other = portal.store.portals.upsert(
        "other-member",
        domain="other.example",
        client_endpoint="https://other.example/rest/",
        registration_id=None,
        state="installed",
    )
    state = {"managed": {"lists": ["sources"]}, "state": {}}
    foreign = portal.store.runs.record(other.id, RunKind.APPLY, RunOutcome.APPLIED, state_before=state)
    for run in (str(foreign.id), "999999", "x"):
        answer = client.post(
            Form(page).forms["choose"][0].replace("/plan", "/rollback"),
            data={"page_token": token["page_token"], "lang": "ru", "run": run},
            headers={"Origin": portal.settings.public_url},
        )
        assert answer.status_code == 404
