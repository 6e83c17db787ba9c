"""Second suite: OAuth lifetimes with the control clock, OAuth-server app.info, authorize redirect.

platform.md §1.2 (authorize redirect, code lifetime), §1.4 (refresh, lifetimes, rotation),
§1.5 (OAuth errors), §1.6 (app.info on the OAuth server), §6.1 (expired_token), §8 items 1-5.
This module owns a private sandbox (sb_mod) because it moves the sandbox clock.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from .conftest import (
    TOKEN_FIELDS,
    app_tokens,
    authorize,
    call,
    clock,
    code_for,
    exchange,
    ok,
    refresh,
    register_app,
)

DAY = 86400


@pytest.fixture(scope="module")
def portal(sb_mod):
    return sb_mod.portal(0)


def api(portal) -> str:
    return portal.base + "rest/"


# ---- §1.4 access token lifetime ----------------------------------------------------------------
def test_access_token_valid_until_one_hour(portal):
    """§1.4: access token lives 1 hour (expires_in 3600); still valid shortly before that."""
    _, t = app_tokens(portal, scopes=["crm", "user"])
    assert t["expires_in"] == 3600
    now = clock(portal.sb)
    assert abs(t["expires"] - (now + 3600)) < 5  # `expires` is unix time on the portal's clock
    clock(portal.sb, 3590)
    assert ok(api(portal), "profile", auth=t["access_token"])["ID"] == "1"


def test_access_token_expired_after_one_hour(portal):
    """§1.4 + §6.1: after 3601 s a portal call answers 401 `expired_token`; §1.4 recommended
    logic: refresh once, then the same call works with the new token."""
    app, t = app_tokens(portal, scopes=["crm", "user"])
    assert ok(api(portal), "crm.status.fields", auth=t["access_token"])
    clock(portal.sb, 3601)
    for how in ("json", "form", "get"):
        r = call(api(portal), "crm.status.fields", how=how, auth=t["access_token"])
        assert r.status_code == 401, (how, r.status_code, r.text)
        assert r.json()["error"] == "expired_token", r.text
        assert "error_description" in r.json()
    r = refresh(portal, app, t["refresh_token"])
    assert r.status_code == 200, r.text
    n = r.json()
    assert n["expires_in"] == 3600
    assert abs(n["expires"] - (clock(portal.sb) + 3600)) < 5
    assert ok(api(portal), "crm.status.fields", auth=n["access_token"])
    assert ok(api(portal), "profile", auth=n["access_token"])["ID"] == "1"


def test_expired_token_in_batch_is_outer_error(portal):
    """§4.5 sub-requests inherit the outer auth; an expired outer token is an auth failure of the
    whole request (§6.1 401 expired_token), not a per-command error."""
    _, t = app_tokens(portal, scopes=["crm"])
    clock(portal.sb, 3601)
    r = call(api(portal), "batch", {"cmd": {"a": "crm.status.fields"}}, auth=t["access_token"])
    assert r.status_code == 401 and r.json()["error"] == "expired_token", r.text


# ---- §1.2 code lifetime ------------------------------------------------------------------------
def test_code_valid_within_30s(portal):
    """§1.2: `code` lives 30 seconds."""
    app = register_app(portal, scopes=["crm"])
    code = code_for(portal, app)
    clock(portal.sb, 29)
    r = exchange(portal, app, code)
    assert r.status_code == 200, r.text


def test_code_expires_after_30s(portal):
    """§1.2 code lives 30 s; §1.5/§8.2: expired code → 400 invalid_grant."""
    app = register_app(portal, scopes=["crm"])
    code = code_for(portal, app)
    clock(portal.sb, 31)
    r = exchange(portal, app, code)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"


# ---- §1.4 refresh rotation and refresh-token lifetime ------------------------------------------
def test_refresh_rotation_chain(portal):
    """§1.4 + §8.3: every refresh returns a new refresh token; the used one → 400 invalid_grant;
    the newest one keeps working (store the new pair after each renewal)."""
    app, t = app_tokens(portal, scopes=["crm", "user"])
    seen = {t["refresh_token"]}
    cur = t
    for _ in range(3):
        r = refresh(portal, app, cur["refresh_token"])
        assert r.status_code == 200, r.text
        new = r.json()
        assert new["refresh_token"] not in seen
        seen.add(new["refresh_token"])
        old = refresh(portal, app, cur["refresh_token"])
        assert old.status_code == 400 and old.json()["error"] == "invalid_grant", old.text
        cur = new
    assert ok(api(portal), "profile", auth=cur["access_token"])["ID"] == "1"


def test_refresh_response_fields(portal):
    """§1.4: refresh response fields incl. `expires`, `user_id` (int), domain = OAuth host,
    scope comma list, status."""
    app, t = app_tokens(portal, scopes=["crm", "user"])
    n = refresh(portal, app, t["refresh_token"]).json()
    for k in TOKEN_FIELDS:
        assert k in n, k
    assert n["user_id"] == 1 and isinstance(n["user_id"], int)
    assert n["domain"] == urlparse(portal.sb.oauth).netloc
    assert n["client_endpoint"] == api(portal)
    assert n["server_endpoint"] == portal.sb.oauth + "/rest/"
    assert set(n["scope"].split(",")) == {"crm", "user"}
    assert n["status"] == "L" and n["member_id"] == portal.info["member_id"]


def test_refresh_token_lifetime_180_days(portal):
    """§1.4 + §8.3: refresh tokens expire after 180 days → invalid_grant."""
    app, t = app_tokens(portal, scopes=["crm"])
    clock(portal.sb, 181 * DAY)
    r = refresh(portal, app, t["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_refresh_keeps_grant_alive(portal):
    """§1.4: 'one refresh per 180 days keeps the grant alive' – each rotation starts a new 180 days."""
    app, t = app_tokens(portal, scopes=["crm"])
    clock(portal.sb, 179 * DAY)
    r = refresh(portal, app, t["refresh_token"])
    assert r.status_code == 200, r.text
    clock(portal.sb, 179 * DAY)
    r = refresh(portal, app, r.json()["refresh_token"])
    assert r.status_code == 200, r.text


# ---- §1.6 app.info on the OAuth server ---------------------------------------------------------
def test_oauth_app_info_shape(portal):
    """§1.6: `{result: {client_id, scope "a,b", expires ISO-8601 str, user_id, install: {installed,
    version, status L|F|D|T|P|S, scope, domain, uri, client_endpoint, member_id, member_type}}, time}`."""
    app, t = app_tokens(portal, scopes=["crm", "user"])
    r = requests.get(portal.sb.oauth + "/rest/app.info/", params={"auth": t["access_token"]}, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["time"], dict)
    res = body["result"]
    assert res["client_id"] == app["client_id"]
    assert set(res["scope"].split(",")) == {"crm", "user"}
    assert isinstance(res["expires"], str)
    exp = datetime.fromisoformat(res["expires"])  # ISO-8601
    assert abs(exp.timestamp() - t["expires"]) < 5, (res["expires"], t["expires"])
    assert str(res["user_id"]) == "1"
    inst = res["install"]
    assert set(inst) >= {
        "installed",
        "version",
        "status",
        "scope",
        "domain",
        "uri",
        "client_endpoint",
        "member_id",
        "member_type",
    }
    assert isinstance(inst["installed"], bool)
    assert isinstance(inst["version"], int | str)
    assert inst["status"] in set("LFDTPS") and inst["status"] == "L"
    assert set(inst["scope"].split(",")) == {"crm", "user"}
    assert inst["domain"] == portal.info["domain"]
    assert inst["uri"].rstrip("/") == portal.base.rstrip("/")  # "https://{portal}"
    assert inst["client_endpoint"] == api(portal)
    assert inst["member_id"] == portal.info["member_id"]
    assert isinstance(inst["member_type"], str)


def test_oauth_app_info_also_without_trailing_slash(portal):
    """§1.6: `{server_endpoint}app.info?auth=...` (docs form, no trailing slash) and SDK form `/rest/app.info/`."""
    _, t = app_tokens(portal, scopes=["crm"])
    r = requests.get(portal.sb.oauth + "/rest/app.info", params={"auth": t["access_token"]}, timeout=5)
    assert r.status_code == 200 and "install" in r.json()["result"], r.text


def test_oauth_app_info_bad_token(portal):
    """§1.5: `/rest/app.info/` answers `invalid_client` (400, SDK live test) for a token-shaped but
    invalid token."""
    _, t = app_tokens(portal, scopes=["crm"])
    fake = "".join("0" if c != "0" else "1" for c in t["access_token"])
    r = requests.get(portal.sb.oauth + "/rest/app.info/", params={"auth": fake}, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client", r.text


# ---- §1.2 authorize redirect -------------------------------------------------------------------
def test_authorize_redirect_query_exact(portal):
    """§1.2 + §8.5: 302 to the app's redirect URI with exactly code, state, domain (portal host),
    member_id, scope (comma list, URL-encoded %2C) and server_domain (OAuth host)."""
    app = register_app(portal, scopes=["crm", "user", "placement"])
    r = authorize(portal, app["client_id"], state="xyz 1")
    assert r.status_code == 302, r.text
    loc = r.headers["Location"]
    query = urlparse(loc).query
    q = parse_qs(query, keep_blank_values=True)
    assert set(q) == {"code", "state", "domain", "member_id", "scope", "server_domain"}, loc
    assert all(len(v) == 1 for v in q.values())
    assert q["state"] == ["xyz 1"]
    assert q["domain"] == [portal.info["domain"]]
    assert q["member_id"] == [portal.info["member_id"]]
    assert q["server_domain"] == [urlparse(portal.sb.oauth).netloc]
    assert set(q["scope"][0].split(",")) == {"crm", "user", "placement"}
    raw_scope = re.search(r"(?:^|&)scope=([^&]*)", query).group(1)
    assert "%2C" in raw_scope.upper() and "," not in raw_scope, raw_scope


def test_authorize_redirect_without_state(portal):
    """§1.2: `state` is optional; the redirect still carries code, domain, member_id, scope, server_domain."""
    app = register_app(portal, scopes=["crm"])
    r = authorize(portal, app["client_id"])
    assert r.status_code == 302, r.text
    q = parse_qs(urlparse(r.headers["Location"]).query)
    assert set(q) >= {"code", "domain", "member_id", "scope", "server_domain"}
    assert exchange(portal, app, q["code"][0]).status_code == 200


def test_authorize_redirect_ignores_redirect_uri_param(portal):
    """§1.2: `redirect_uri` is NOT a request parameter – the portal takes it from the app's settings."""
    app = register_app(portal, scopes=["crm"])
    r = authorize(portal, app["client_id"], state="s", redirect_uri="http://127.0.0.1:1/evil")
    if r.status_code == 302:
        loc = urlparse(r.headers["Location"])
        assert loc.netloc == "127.0.0.1:9" and loc.path == "/app/", r.headers["Location"]
    else:  # refusing the foreign redirect is also safe: no redirect at all
        assert "Location" not in r.headers
