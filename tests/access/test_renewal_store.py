"""Renewing an installed portal's pair at the client level (`responses`), on SQLite and PostgreSQL:
the pair is saved with compare-and-swap, a lost swap adopts the winner's pair, and the
client_secret goes to the configured OAuth server only."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from b24app.portal_access import installed_auth
from b24app.store import PortalState, TokenPair

OAUTH = "https://oauth.example"
TOKEN_URL = f"{OAUTH}/oauth/token/"


@pytest.fixture
def portal(app_store):
    registration = app_store.registrations.add("local.1", "the-client-secret")
    portal = app_store.portals.upsert(
        "m1",
        domain="portal.example",
        client_endpoint="https://portal.example/rest/",
        registration_id=registration.id,
        state=PortalState.INSTALLED,
    )
    app_store.tokens.save(portal.id, TokenPair("access-1", "refresh-1"))
    return portal


@pytest.fixture
def oauth_settings(settings):
    return replace(settings, oauth_url=OAUTH)


def answer(access: str, refresh: str, **extra) -> dict:
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": 3600,
        "client_endpoint": "https://portal.example/rest/",
        "server_endpoint": f"{OAUTH}/rest/",
        "member_id": "m1",
        **extra,
    }


@responses.activate
def test_the_renewed_pair_is_saved_and_another_server_endpoint_never_gets_the_secret(
    app_store, oauth_settings, portal
):
    responses.get(
        TOKEN_URL, json=answer("access-2", "refresh-2", server_endpoint="https://evil.example/rest/")
    )
    responses.get(TOKEN_URL, json=answer("access-3", "refresh-3"))
    auth = installed_auth(app_store, oauth_settings, portal)

    auth.refresh(requests.Session())
    assert app_store.tokens.load(portal.id).pair.refresh_token == "refresh-2"
    auth.refresh(requests.Session())  # the first answer named evil.example: ignored

    stored = app_store.tokens.load(portal.id)
    assert (stored.pair.access_token, stored.pair.refresh_token) == ("access-3", "refresh-3")
    assert stored.pair.expires_at is not None
    sent = [urlsplit(call.request.url) for call in responses.calls]
    assert {(u.scheme, u.netloc, u.path) for u in sent} == {("https", "oauth.example", "/oauth/token/")}
    assert [parse_qs(u.query)["refresh_token"] for u in sent] == [["refresh-1"], ["refresh-2"]]
    assert parse_qs(sent[0].query)["client_secret"] == ["the-client-secret"]


@responses.activate
def test_a_lost_compare_and_swap_adopts_the_pair_saved_meanwhile(app_store, oauth_settings, portal):
    auth = installed_auth(app_store, oauth_settings, portal)

    def reinstall_lands_during_the_renewal(request):
        app_store.tokens.save(portal.id, TokenPair("access-winner", "refresh-winner"))
        return 200, {}, json.dumps(answer("access-2", "refresh-2"))

    responses.add_callback(responses.GET, TOKEN_URL, callback=reinstall_lands_during_the_renewal)

    auth.refresh(requests.Session())

    assert auth.params() == {"auth": "access-winner"}
    stored = app_store.tokens.load(portal.id).pair
    assert (stored.access_token, stored.refresh_token) == ("access-winner", "refresh-winner")


@responses.activate
def test_a_pair_renewed_by_another_process_is_used_without_renewing(app_store, oauth_settings, portal):
    auth = installed_auth(app_store, oauth_settings, portal)
    app_store.tokens.save(portal.id, TokenPair("access-other", "refresh-other"))  # renewed elsewhere

    auth.refresh(requests.Session())

    assert auth.params() == {"auth": "access-other"} and len(responses.calls) == 0
