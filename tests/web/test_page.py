"""The in-portal page: the frame POST is authenticated with Bitrix24, the page's POSTs with its token.

A sandbox portal (real HTTP) is the portal and the OAuth server; the page is driven through
Flask's test client, its HTML parsed and its forms submitted as forms. Every test runs on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import logging
import re
import time

import pytest
import requests

from b24app.sandbox.server import Sandbox
from b24app.store import PortalState, RunKind, RunOutcome, Store
from handlers import create_app
from handlers.security import PageTokens, PageUser
from tests.web.page_fixtures import PUBLIC_URL, Form, frame_post, install, make_settings, submit

FORGED = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"


@pytest.fixture
def box():
    with Sandbox(port=0, portals=2, lang="ru") as sandbox:
        yield sandbox


@pytest.fixture
def env(box, store: Store, database_url, tmp_path):
    settings = make_settings(tmp_path, database_url, box)
    first = install(box, store, settings, 0, "crm")
    second = install(box, store, settings, 1, "crm")
    app = create_app(settings, store=store)
    return app.test_client(), first, second


def nothing_recorded(store: Store, portal_id: int) -> bool:
    return store.runs.list(portal_id) == []


# -- the frame POST ------------------------------------------------------------------------------


def test_an_admin_opening_the_page_sees_the_plan_and_an_apply_form(env):
    client, portal, _ = env
    answer = frame_post(client, portal)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    form = Form(page)
    assert "Вы администратор портала" in form.text
    assert 'class="plan"' in page and "План: создать" in page
    action, fields = form.forms["apply"]
    assert action == f"/b24/{portal.slug}/app/apply"
    assert fields["template_name"] == "crm"
    assert f'data-checksum="{fields["checksum"]}"' in page
    assert fields["page_token"] and fields["template_hash"] and fields["after_run"] == "0"


def test_a_user_who_is_not_an_admin_sees_the_plan_read_only(env):
    client, portal, _ = env
    page = frame_post(client, portal, user_id=2).get_data(as_text=True)
    form = Form(page)
    assert 'class="plan"' in page
    assert "apply" not in form.forms and "export-form" not in form.forms
    assert "Только просмотр" in form.text


def test_the_page_speaks_the_portal_language(env):
    client, portal, _ = env
    page = frame_post(client, portal, query={"LANG": "en"}).get_data(as_text=True)
    assert "You administer this portal" in page and "Plan: " in page
    assert "Вы администратор" not in page


def test_a_russian_plan_page_says_nothing_in_english(env, box):
    from tests.web.test_i18n import english_phrases

    client, portal, _ = env
    hook = box.add_webhook(0, 1, ["crm"])
    rows = requests.post(hook + "crm.status.list.json", data={"filter[ENTITY_ID]": "SOURCE"}, timeout=10)
    requests.post(
        hook + "crm.status.update.json",
        data={"id": rows.json()["result"][0]["ID"], "fields[SORT]": "7"},
        timeout=10,
    ).raise_for_status()  # an update line as well as creates
    text = Form(frame_post(client, portal).get_data(as_text=True)).text
    assert "Что изменится" in text and "сортировка 30 -> 40" in text and "воронка сделок" in text
    english = english_phrases()
    assert {"to create", "sort", "deal pipeline", "Template"} <= english  # the check reads the catalogue
    assert sorted(p for p in english if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text)) == []


def test_the_page_may_be_framed_only_by_its_portal(env):
    client, portal, _ = env
    answer = frame_post(client, portal)
    policy = answer.headers["Content-Security-Policy"]
    origin = portal.handle.base_url.rstrip("/")
    assert policy.endswith(f"frame-ancestors {origin}")  # that portal only: no scheme, no other site
    bx24 = portal.settings.oauth_url + "/api/v1/"
    assert "default-src 'self'" in policy and f"script-src 'self' {bx24};" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in answer.headers


@pytest.mark.parametrize(
    "forgery",
    [
        {"member_id": "unknownmember0123"},
        {"APPLICATION_TOKEN": FORGED},
        {"APPLICATION_TOKEN": None},
        {"AUTH_ID": FORGED},
    ],
    ids=["unknown member_id", "wrong APPLICATION_TOKEN", "no APPLICATION_TOKEN", "AUTH_ID never issued"],
)
def test_a_forged_frame_post_is_refused(env, forgery):
    client, portal, _ = env
    answer = frame_post(client, portal, fields=forgery)
    assert answer.status_code in (400, 403)
    page = answer.get_data(as_text=True)
    assert 'class="plan"' not in page and "page_token" not in page
    assert nothing_recorded(portal.store, portal.portal_id)


def test_a_refusal_for_an_unknown_portal_may_be_framed_by_any_https_site(env):
    client, portal, _ = env
    answer = frame_post(client, portal, fields={"member_id": "unknownmember0123"})
    policy = answer.headers["Content-Security-Policy"]
    ancestors = policy.split("frame-ancestors ", 1)[1]
    assert ancestors.split()[0] == "https:" and "'none'" not in ancestors  # the portal shows the reason
    assert "default-src 'self'" in policy and "form-action 'self'" in policy
    assert "<form" not in answer.get_data(as_text=True)  # no data, no action


def test_a_token_of_another_portal_is_refused(env):
    client, portal, other = env
    _, other_fields = other.launch()
    answer = frame_post(client, portal, fields={"AUTH_ID": other_fields["AUTH_ID"]})
    assert answer.status_code == 403
    assert "Битрикс24 не подтверждает" in answer.get_data(as_text=True)


def test_a_portal_opening_another_registrations_address_is_refused(env):
    client, portal, other = env
    answer = frame_post(client, other, slug=portal.slug)
    assert answer.status_code == 403
    assert "page_token" not in answer.get_data(as_text=True)


def test_an_uninstalled_portal_gets_no_page(env):
    client, portal, _ = env
    portal.store.portals.set_state(portal.portal_id, PortalState.UNINSTALLED)
    answer = frame_post(client, portal)
    assert answer.status_code == 403
    assert "не установлен" in answer.get_data(as_text=True)


def test_a_stage_named_with_html_is_shown_as_text(env, box):
    client, portal, _ = env
    hook = box.add_webhook(0, 1, ["crm"])
    rows = requests.post(hook + "crm.status.list.json", data={"filter[ENTITY_ID]": "STATUS"}, timeout=10)
    stage = rows.json()["result"][0]
    changed = requests.post(
        hook + "crm.status.update.json",
        data={"id": stage["ID"], "fields[NAME]": "<script>alert(1)</script>"},
        timeout=10,
    )
    assert changed.json()["result"] is True
    page = frame_post(client, portal).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_no_token_appears_in_logs_or_html(env, caplog):
    client, portal, _ = env
    caplog.set_level(logging.DEBUG)
    query, fields = portal.launch()
    page = frame_post(client, portal, query=query, fields=fields).get_data(as_text=True)
    refused = frame_post(client, portal, fields={"APPLICATION_TOKEN": FORGED})
    token = Form(page).forms["apply"][1]["page_token"]
    again = submit(client, page, "choose", template_text="")
    secrets = [fields["AUTH_ID"], fields["REFRESH_ID"], fields["APPLICATION_TOKEN"], token, FORGED]
    for secret in secrets:
        assert secret not in caplog.text
    for secret in secrets[:3]:
        assert secret not in page and secret not in again.get_data(as_text=True)
    assert refused.status_code == 403 and caplog.records


# -- the page token and the Origin ---------------------------------------------------------------


def opened(client, portal, user_id: int = 1) -> str:
    answer = frame_post(client, portal, user_id=user_id)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_a_page_post_without_a_token_is_refused(env):
    client, portal, _ = env
    page = opened(client, portal)
    answer = submit(client, page, "choose", page_token=None)
    assert answer.status_code == 403 and "page_token" not in answer.get_data(as_text=True)


def test_an_expired_page_token_is_refused(env):
    client, portal, _ = env
    page = opened(client, portal)
    old = PageTokens(portal.store.cipher.keys[0], clock=lambda: time.time() - 3600)
    token = old.issue(PageUser(portal.portal_id, portal.slug, 1, True, "ru"))
    answer = submit(client, page, "choose", page_token=token)
    assert answer.status_code == 403
    assert "Страница устарела" in answer.get_data(as_text=True)


def test_a_page_token_signed_with_another_key_is_refused(env):
    client, portal, _ = env
    page = opened(client, portal)
    token = PageTokens(b"another key of 32 bytes.........").issue(
        PageUser(portal.portal_id, portal.slug, 1, True, "ru")
    )
    assert submit(client, page, "choose", page_token=token).status_code == 403


def test_a_page_token_replayed_on_another_portal_is_refused(env):
    client, portal, other = env
    page = opened(client, portal)
    token = Form(page).forms["choose"][1]["page_token"]
    other_page = opened(client, other)
    answer = submit(client, other_page, "choose", page_token=token)
    assert answer.status_code == 403
    assert "Токен страницы здесь недействителен" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/page"}],
    ids=["Origin", "Origin null", "Referer"],
)
def test_a_cross_site_post_is_refused(env, headers):
    client, portal, _ = env
    page = opened(client, portal)
    action, fields = Form(page).forms["apply"]
    answer = client.post(action, data=fields, headers=headers)
    assert answer.status_code == 403
    assert "с другого сайта" in answer.get_data(as_text=True)
    assert nothing_recorded(portal.store, portal.portal_id)


def test_a_post_from_our_own_site_passes_the_origin_check(env):
    client, portal, _ = env
    page = opened(client, portal)
    answer = submit(client, page, "choose", origin=PUBLIC_URL + "/", template_text="")
    assert answer.status_code == 200
    assert "Выберите шаблон" in answer.get_data(as_text=True)


def test_apply_by_a_user_who_is_not_an_admin_is_refused(env):
    client, portal, _ = env
    admin_page = opened(client, portal)
    reader_page = opened(client, portal, user_id=2)
    reader_token = Form(reader_page).forms["choose"][1]["page_token"]
    answer = submit(client, admin_page, "apply", page_token=reader_token)
    assert answer.status_code == 403
    assert "только администратор" in answer.get_data(as_text=True)
    assert nothing_recorded(portal.store, portal.portal_id)


def test_apply_on_an_uninstalled_portal_is_refused(env):
    client, portal, _ = env
    page = opened(client, portal)
    portal.store.portals.set_state(portal.portal_id, PortalState.UNINSTALLED)
    answer = submit(client, page, "apply")
    assert answer.status_code == 403
    assert nothing_recorded(portal.store, portal.portal_id)


def test_export_names_are_checked(env, tmp_path):
    client, portal, _ = env
    page = opened(client, portal)
    for name in ("../evil", "a/b", "", "x" * 65, "name.yaml"):
        answer = submit(client, page, "export-form", name=name)
        assert answer.status_code == 200
        assert "Имя шаблона — от 1 до 64" in answer.get_data(as_text=True)
    assert sorted(p.name for p in portal.settings.templates.iterdir()) == ["crm.yaml"]
    assert not (tmp_path / "evil.yaml").exists()


def test_an_existing_template_is_not_overwritten_without_confirmation(env):
    client, portal, _ = env
    page = opened(client, portal)
    before = (portal.settings.templates / "crm.yaml").read_text()
    answer = submit(client, page, "export-form", name="crm")
    text = answer.get_data(as_text=True)
    assert "отметьте флажок" in text and 'name="overwrite"' in text
    assert (portal.settings.templates / "crm.yaml").read_text() == before


def test_the_page_script_and_style_are_served_from_our_site(env):
    client, portal, _ = env
    page = frame_post(client, portal).get_data(as_text=True)
    for asset, kind in (("page.js", "javascript"), ("page.css", "text/css")):
        path = f"/b24/{portal.slug}/app/static/{asset}"
        assert f'"{path}"' in page
        answer = client.get(path)
        assert answer.status_code == 200 and kind in answer.headers["Content-Type"]
        answer.close()


def test_a_run_of_another_portal_is_not_shown(env):
    client, portal, other = env
    run = portal.store.runs.record(
        portal.portal_id, RunKind.APPLY, RunOutcome.APPLIED, user_id=1, template_name="secret-template"
    )
    other_page = opened(client, other)
    token = Form(other_page).forms["choose"][1]["page_token"]
    for extra in ({}, {"format": "json"}):
        answer = client.post(
            f"/b24/{other.slug}/app/run",
            data={"page_token": token, "run": str(run.id), **extra},
            headers={"Origin": PUBLIC_URL},
        )
        assert answer.status_code == 404
        assert "secret-template" not in answer.get_data(as_text=True)


def test_a_user_without_crm_access_is_told_what_to_do(env):
    client, portal, _ = env
    answer = frame_post(client, portal, user_id=3)  # the sandbox's guest: no access to the CRM
    text = Form(answer.get_data(as_text=True)).text
    assert answer.status_code == 200
    assert "не удалось прочитать" not in text.lower()
    assert "нет доступа к настройкам CRM" in text and "администратор" in text
    assert 'class="plan"' not in answer.get_data(as_text=True)


def test_stored_tokens_of_an_account_without_crm_access_lead_to_reconnect(env, box):
    from datetime import UTC, datetime

    from b24app.store import TokenPair

    client, portal, _ = env
    app = box.oauth.live_app(portal.handle.name, portal.client_id)
    guest = box.oauth.issue(app, 3)  # b24app connected with the guest's account (no CRM access)
    expires = datetime.fromtimestamp(guest["expires"], UTC)
    portal.store.tokens.save(
        portal.portal_id, TokenPair(guest["access_token"], guest["refresh_token"], expires)
    )
    page = frame_post(client, portal).get_data(as_text=True)
    planned = submit(client, page, "choose", template_name="crm").get_data(as_text=True)
    text = Form(planned).text
    assert "больше нет доступа к настройкам CRM" in text and "reconnect" in Form(planned).forms
    assert "не удалось прочитать" not in text.lower()


def test_the_history_says_how_often_resyncs_found_a_run_again(env):
    client, portal, _ = env
    store = portal.store
    kept = store.runs.record(
        portal.portal_id,
        RunKind.PLAN,
        RunOutcome.PLANNED,
        user_name="resync: schedule",
        result={"state_digest": "d"},
    )
    later = store.runs.start(portal.portal_id, RunKind.PLAN, worker="host:1", user_name="resync: schedule")
    assert store.runs.confirm(kept.id, instead_of=later.id, worker="host:1", state_digest="d") is not None
    history = Form(frame_post(client, portal).get_data(as_text=True)).text
    when = store.runs.get(kept.id).last_checked_at.strftime("%Y-%m-%d %H:%M")
    assert f"в порядке; проверок: 2, последняя {when} UTC" in history
