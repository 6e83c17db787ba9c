"""Reconnect: a portal whose OAuth tokens died is re-authorised by its admin (authorization-code flow).

The portal's consent page is the sandbox portal's own ``/oauth/authorize/`` (real HTTP): it
redirects the browser to the app's handler path with ``code`` and ``state``; that redirect is then
sent to b24app through Flask's test client, as the browser would. Every test runs on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from b24app.sandbox.server import Sandbox
from b24app.store import Store
from handlers import create_app
from handlers.reconnect import States
from tests.web.page_fixtures import Form, frame_post, install, make_settings, submit


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


def consent(page: str) -> str:
    """Press Reconnect's link: the portal's consent page redirects back; the redirect's path+query."""
    link = Form(page)
    assert "authorize" in page, link.text
    url = page.split('id="authorize" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code in (301, 302, 303), answer.text
    location = urlsplit(answer.headers["Location"])
    return f"{location.path}?{location.query}"


def start(client, portal) -> str:
    """Open the page of a portal without tokens and press Reconnect: the redirect back to b24app."""
    page = frame_post(client, portal).get_data(as_text=True)
    assert "reconnect" in Form(page).forms, Form(page).text
    answer = submit(client, page, "reconnect")
    assert answer.status_code == 200
    return consent(answer.get_data(as_text=True))


def with_query(redirect: str, **changes) -> str:
    path, query = redirect.split("?", 1)
    fields = {k: v[0] for k, v in parse_qs(query).items()}
    return f"{path}?{urlencode({**fields, **changes})}"


def test_a_portal_without_tokens_is_reconnected_by_its_admin(env):
    client, portal, _ = env
    portal.store.tokens.delete(portal.portal_id)
    page = frame_post(client, portal).get_data(as_text=True)
    assert "потерял доступ" in Form(page).text
    redirect = start(client, portal)
    assert f"/b24/{portal.slug}/app/" == redirect.split("?")[0]
    # server_domain of the redirect is ignored: the code is spent at the configured OAuth server only
    answer = client.get(with_query(redirect, server_domain="169.254.169.254"))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_data(as_text=True)
    assert "Подключено заново" in body and portal.handle.base_url in body
    stored = portal.store.tokens.load(portal.portal_id)
    assert stored is not None
    assert [e.outcome for e in portal.store.events.list(portal.portal_id) if e.event == "reconnect"][0] == (
        "reconnected"
    )
    # the stored pair works: the page plans with it
    page = frame_post(client, portal).get_data(as_text=True)
    assert "reconnect" not in Form(page).forms
    planned = submit(client, page, "choose", template_name="crm").get_data(as_text=True)
    assert 'class="plan"' in planned and "потерял доступ" not in planned


def test_a_dead_refresh_token_leads_to_reconnect(env, box):
    client, portal, _ = env
    stored = portal.store.tokens.load(portal.portal_id)
    spent = requests.get(
        portal.settings.oauth_url + "/oauth/token/",
        params={
            "grant_type": "refresh_token",
            "client_id": portal.client_id,
            "client_secret": f"secret-{portal.number}-xyz",
            "refresh_token": stored.pair.refresh_token,
        },
        timeout=10,
    )
    assert spent.json()["refresh_token"]  # the stored refresh token is now dead
    box.set_faults(portal.number, expire_tokens=True)
    page = frame_post(client, portal).get_data(as_text=True)
    answer = submit(client, page, "choose", template_name="crm").get_data(as_text=True)
    assert "потерял доступ" in Form(answer).text and "reconnect" in Form(answer).forms
    assert portal.store.tokens.load(portal.portal_id) is None
    done = client.get(consent(submit(client, answer, "reconnect").get_data(as_text=True)))
    assert done.status_code == 200 and portal.store.tokens.load(portal.portal_id) is not None


def test_a_user_who_is_not_an_admin_cannot_reconnect(env):
    client, portal, _ = env
    portal.store.tokens.delete(portal.portal_id)
    page = frame_post(client, portal, user_id=2).get_data(as_text=True)
    assert "reconnect" not in Form(page).forms and "Попросите администратора" in Form(page).text
    admin_page = frame_post(client, portal).get_data(as_text=True)
    token = Form(page).forms["choose"][1]["page_token"]
    answer = submit(client, admin_page, "reconnect", page_token=token)
    assert answer.status_code == 403 and "authorize" not in answer.get_data(as_text=True)


def test_a_replayed_state_is_refused(env):
    client, portal, _ = env
    portal.store.tokens.delete(portal.portal_id)
    redirect = start(client, portal)
    assert client.get(redirect).status_code == 200
    generation = portal.store.tokens.load(portal.portal_id).generation
    again = client.get(redirect)
    assert again.status_code == 403 and "уже использована" in again.get_data(as_text=True)
    assert portal.store.tokens.load(portal.portal_id).generation == generation


def test_a_forged_or_expired_state_is_refused_and_nothing_stored(env):
    client, portal, _ = env
    portal.store.tokens.delete(portal.portal_id)
    redirect = start(client, portal)
    state = parse_qs(redirect.split("?", 1)[1])["state"][0]
    forged = client.get(with_query(redirect, state=state[:-4] + "AAAA"))
    assert forged.status_code == 403 and "недействительна" in forged.get_data(as_text=True)
    missing = client.get(with_query(redirect, state=""))
    assert missing.status_code == 403
    old = States(portal.store.cipher.keys[0], clock=lambda: time.time() - 3600)
    expired = client.get(
        with_query(redirect, state=old.issue(portal.store.portals.by_id(portal.portal_id), 1))
    )
    assert expired.status_code == 403 and "истёк" in expired.get_data(as_text=True)
    assert portal.store.tokens.load(portal.portal_id) is None
    assert client.get(redirect).status_code == 200  # the real state still works once


def test_a_state_of_another_portal_is_refused(env):
    client, portal, other = env
    portal.store.tokens.delete(portal.portal_id)
    other.store.tokens.delete(other.portal_id)
    ours, theirs = start(client, portal), start(client, other)
    their_state = parse_qs(theirs.split("?", 1)[1])["state"][0]
    answer = client.get(with_query(ours, state=their_state))  # at our registration's address
    assert answer.status_code == 403 and "недействительна" in answer.get_data(as_text=True)
    assert portal.store.tokens.load(portal.portal_id) is None
    assert other.store.tokens.load(other.portal_id) is None


def test_a_code_of_another_portal_is_refused(env):
    client, portal, other = env
    portal.store.tokens.delete(portal.portal_id)
    other.store.tokens.delete(other.portal_id)
    ours, theirs = start(client, portal), start(client, other)
    their = {k: v[0] for k, v in parse_qs(theirs.split("?", 1)[1]).items()}
    # the other portal's redirect, with our state: its member_id names another portal
    named = client.get(
        with_query(ours, code=their["code"], member_id=their["member_id"], domain=their["domain"])
    )
    assert named.status_code == 403 and "другого портала" in named.get_data(as_text=True)
    # the other portal's code passed off as ours: the OAuth server refuses it for our client_id
    ours_again = start(client, portal)
    passed_off = client.get(with_query(ours_again, code=their["code"]))
    assert passed_off.status_code == 403 and "отклонил код" in passed_off.get_data(as_text=True)
    assert portal.store.tokens.load(portal.portal_id) is None
    assert other.store.tokens.load(other.portal_id) is None
    assert client.get(start(client, other)).status_code == 200  # the other portal reconnects itself
