"""platform.md §1 OAuth, §8.1-8.5, §2.2/2.4 install and uninstall payloads, §3 events."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from .conftest import EVENT_AUTH_FIELDS, INSTALL_AUTH_FIELDS, TOKEN_FIELDS, call, ok


@pytest.fixture(scope="module")
def portal(sb_mod):
    return sb_mod.portal(1)


def register(portal, **extra):
    body = {"handler_url": "http://127.0.0.1:9/app/", **extra}
    r = requests.post(f"{portal.ctl}/apps", json=body, timeout=5)
    assert r.status_code < 300, r.text
    return r.json()


def authorize(portal, client_id, state="st8"):
    return requests.get(
        portal.base + "oauth/authorize/",
        params={"client_id": client_id, "state": state},
        allow_redirects=False,
        timeout=5,
    )


def token(portal, **params):
    return requests.get(portal.sb.oauth + "/oauth/token/", params=params, timeout=5)


def get_code(portal, app):
    r = authorize(portal, app["client_id"])
    assert r.status_code == 302
    return parse_qs(urlparse(r.headers["Location"]).query)["code"][0]


@pytest.fixture(scope="module")
def app(portal):
    return register(portal, scopes=["crm", "user"])


@pytest.fixture(scope="module")
def tokens(portal, app):
    code = get_code(portal, app)
    r = token(
        portal,
        grant_type="authorization_code",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        code=code,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_client_id_shape(app):
    assert app["client_id"].startswith("local.")


def test_authorize_redirect(portal, app):
    r = authorize(portal, app["client_id"], state="a b&c")
    assert r.status_code == 302
    loc = urlparse(r.headers["Location"])
    assert loc.netloc == "127.0.0.1:9" and loc.path == "/app/"
    q = parse_qs(loc.query)
    assert set(q) >= {"code", "state", "domain", "member_id", "scope", "server_domain"}
    assert q["state"] == ["a b&c"]
    assert q["domain"] == [portal.info["domain"]]
    assert q["member_id"] == [portal.info["member_id"]]
    assert q["server_domain"] == [urlparse(portal.sb.oauth).netloc]
    assert set(q["scope"][0].split(",")) == {"crm", "user"}


def test_authorize_unknown_app(portal):
    r = authorize(portal, "local.nope.1")
    assert r.status_code != 302 and "Location" not in r.headers
    assert "text/html" in r.headers["Content-Type"]


def test_token_exchange(portal, tokens):
    t = tokens
    for k in TOKEN_FIELDS:
        assert k in t, k
    assert t["expires_in"] == 3600
    assert abs(t["expires"] - (time.time() + 3600)) < 120
    assert t["client_endpoint"] == portal.base + "rest/"
    assert t["server_endpoint"] == portal.sb.oauth + "/rest/"
    assert t["domain"] == urlparse(portal.sb.oauth).netloc  # the OAuth host, not the portal
    assert t["member_id"] == portal.info["member_id"]
    assert t["status"] == "L" and str(t["user_id"]) == "1"
    assert set(t["scope"].split(",")) == {"crm", "user"}


def test_token_post_form(portal, app):
    code = get_code(portal, app)
    r = requests.post(
        portal.sb.oauth + "/oauth/token/",
        data={
            "grant_type": "authorization_code",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": code,
        },
        timeout=5,
    )
    assert r.status_code == 200 and "access_token" in r.json()


def test_token_errors(portal, app):
    code = get_code(portal, app)
    base = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    r = token(portal, **{**base, "client_secret": "wrong"}, code=code)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    r = token(portal, **{**base, "client_id": "local.unknown.1"}, code=code)
    assert r.status_code == 200 and r.json()["error"] == "wrong_client"
    r = token(portal, **base)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = token(
        portal, grant_type="refresh_token", client_id=app["client_id"], client_secret=app["client_secret"]
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert token(portal, **base, code=code).status_code == 200
    r = token(portal, **base, code=code)  # single use
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = token(portal, **base, code="deadbeef")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_refresh_rotation(portal, app):
    code = get_code(portal, app)
    t = token(
        portal,
        grant_type="authorization_code",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        code=code,
    ).json()
    r = token(
        portal,
        grant_type="refresh_token",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        refresh_token=t["refresh_token"],
    )
    assert r.status_code == 200
    n = r.json()
    assert n["refresh_token"] != t["refresh_token"] and n["access_token"] != t["access_token"]
    for k in ("expires", "expires_in", "user_id", "member_id", "client_endpoint", "server_endpoint", "scope"):
        assert k in n
    r = token(
        portal,
        grant_type="refresh_token",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        refresh_token=t["refresh_token"],
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert ok(portal.base + "rest/", "profile", auth=n["access_token"])["ID"] == "1"


@pytest.mark.parametrize("how", ["json", "form", "get"])
def test_oauth_call_forms(portal, tokens, how):
    res = ok(
        portal.base + "rest/",
        "crm.status.entity.items",
        {"entityId": "SOURCE"},
        how=how,
        auth=tokens["access_token"],
    )
    assert res[0]["STATUS_ID"] == "CALL"
    res = ok(portal.base + "rest/", "crm.status.fields.json", how=how, auth=tokens["access_token"])
    assert "NAME" in res


def test_oauth_scope_enforced(portal):
    a = register(portal, scopes=["user"])
    t = token(
        portal,
        grant_type="authorization_code",
        client_id=a["client_id"],
        client_secret=a["client_secret"],
        code=get_code(portal, a),
    ).json()
    r = call(portal.base + "rest/", "crm.status.fields", auth=t["access_token"])
    assert r.status_code in (401, 403) and r.json()["error"] == "insufficient_scope"


def test_app_info(portal, app, tokens):
    info = ok(portal.base + "rest/", "app.info", auth=tokens["access_token"])
    for k in (
        "ID",
        "CODE",
        "VERSION",
        "STATUS",
        "INSTALLED",
        "PAYMENT_EXPIRED",
        "DAYS",
        "LANGUAGE_ID",
        "LICENSE",
    ):
        assert k in info, k
    assert info["STATUS"] == "L" and isinstance(info["INSTALLED"], bool)
    r = requests.get(portal.sb.oauth + "/rest/app.info/", params={"auth": tokens["access_token"]}, timeout=5)
    res = r.json()["result"]
    assert res["client_id"] == app["client_id"]
    assert str(res["user_id"]) == "1"
    inst = res["install"]
    assert inst["member_id"] == portal.info["member_id"] and inst["domain"] == portal.info["domain"]
    assert inst["client_endpoint"] == portal.base + "rest/"
    assert isinstance(inst["installed"], bool) and inst["status"] == "L"
    assert isinstance(inst["uri"], str) and inst["scope"] and "version" in inst and "member_type" in inst
    assert set(res["scope"].split(",")) == {"crm", "user"}


def test_oauth_app_info_time(portal, tokens):
    r = requests.get(portal.sb.oauth + "/rest/app.info/", params={"auth": tokens["access_token"]}, timeout=5)
    assert "time" in r.json()


# ---- §3 events ---------------------------------------------------------------------------------
def test_event_bind_and_delivery(portal, tokens, receiver):
    api = portal.base + "rest/"
    at = tokens["access_token"]
    handler = receiver.url + "/evt"
    assert ok(api, "event.bind", {"event": "ONCRMDEALADD", "handler": handler}, auth=at) is True
    r = call(api, "event.bind", {"event": "ONCRMDEALADD", "handler": handler}, auth=at)
    assert "error" in r.json()  # re-binding the same handler
    r = call(api, "event.bind", {"event": "ONNOSUCHEVENT", "handler": handler}, auth=at)
    assert r.status_code == 400 and r.json()["error"] == "ERROR_EVENT_NOT_FOUND"
    bound = ok(api, "event.get", auth=at)
    mine = [b for b in bound if b["handler"] == handler]
    assert mine and mine[0]["event"] == "ONCRMDEALADD"
    assert mine[0]["auth_type"] == "0" and int(mine[0]["offline"]) == 0
    deal_id = ok(api, "crm.deal.add", {"fields": {"TITLE": "evt"}}, auth=at)
    hits = receiver.wait(lambda g: g["path"] == "/evt")
    assert hits, "no event POST received"
    g = hits[0]
    assert g["ctype"].startswith("application/x-www-form-urlencoded")
    f = g["form"]
    assert f["event"] == "ONCRMDEALADD"
    assert f["data[FIELDS][ID]"] == str(deal_id)
    assert f["ts"].isdigit() and f["event_handler_id"]
    for k in EVENT_AUTH_FIELDS:
        assert f"auth[{k}]" in f, k
    assert f["auth[domain]"] == portal.info["domain"] and f["auth[member_id]"] == portal.info["member_id"]
    assert f["auth[client_endpoint]"] == api
    assert ok(api, "event.unbind", {"event": "ONCRMDEALADD", "handler": handler}, auth=at) == {"count": 1}
    assert not [b for b in ok(api, "event.get", auth=at) if b["handler"] == handler]


def test_event_from_webhook_action(portal, tokens, receiver):
    # an action done through the admin's webhook still fires the app's handler
    api = portal.base + "rest/"
    at = tokens["access_token"]
    ok(api, "event.bind", {"event": "ONCRMDEALADD", "handler": receiver.url + "/u"}, auth=at)
    did = ok(portal.webhook, "crm.deal.add", {"fields": {"TITLE": "w"}})
    hits = receiver.wait(lambda g: g["path"] == "/u")
    assert hits and hits[0]["form"]["data[FIELDS][ID]"] == str(did)
    assert hits[0]["form"]["auth[user_id]"] == "1"
    ok(api, "event.unbind", {"event": "ONCRMDEALADD", "handler": receiver.url + "/u"}, auth=at)


# ---- §2.2 / §2.4 install and uninstall ---------------------------------------------------------
def test_install_and_uninstall_payloads(portal, receiver):
    a = register(portal, scopes=["crm"], install_url=receiver.url + "/install/")
    r = requests.post(f"{portal.ctl}/apps/{a['client_id']}/install", json={}, timeout=5)
    assert r.status_code < 300, r.text
    hits = receiver.wait(lambda g: g["path"] == "/install/")
    assert hits
    g = hits[0]
    assert g["ctype"].startswith("application/x-www-form-urlencoded")
    f = g["form"]
    assert f["event"] == "ONAPPINSTALL" and "event_handler_id" not in f
    for k in ("VERSION", "ACTIVE", "INSTALLED", "LANGUAGE_ID"):
        assert f"data[{k}]" in f
    for k in INSTALL_AUTH_FIELDS:
        assert f"auth[{k}]" in f, k
    assert "," in f["auth[scope]"] or f["auth[scope]"] == "crm"
    app_token = f["auth[application_token]"]
    at = f["auth[access_token]"]
    api = portal.base + "rest/"
    assert (
        ok(api, "event.bind", {"event": "ONAPPUNINSTALL", "handler": receiver.url + "/bye"}, auth=at) is True
    )
    r = requests.post(f"{portal.ctl}/apps/{a['client_id']}/uninstall", json={"clean": True}, timeout=5)
    assert r.status_code < 300, r.text
    hits = receiver.wait(lambda g: g["path"] == "/bye")
    assert hits
    f = hits[0]["form"]
    assert f["event"] == "ONAPPUNINSTALL"
    assert f["data[CLEAN]"] == "1" and "data[LANGUAGE_ID]" in f
    assert f["auth[application_token]"] == app_token
    assert "auth[access_token]" not in f and "auth[refresh_token]" not in f
    for k in ("domain", "server_endpoint", "client_endpoint", "member_id"):
        assert f"auth[{k}]" in f
    # saved tokens stop working
    r = call(api, "profile", auth=at)
    assert r.status_code == 401
