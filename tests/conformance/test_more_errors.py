"""Second suite: the system error table where it can be triggered over HTTP.

platform.md §6.1 (HTTP status + error code per row), §4.3 (error envelope), §7.1 (app.info outside
app context), reference-lists.md §5/§7 (crm.type.list / crm.category writes need CRM admin).
"""

from __future__ import annotations

import pytest
import requests

from .conftest import app_tokens, call


@pytest.fixture(scope="module")
def portal(sb_mod):
    return sb_mod.portal(2)


@pytest.fixture(scope="module")
def token(portal):
    return app_tokens(portal, scopes=["crm", "user"])[1]["access_token"]


def is_json_error(r, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers["Content-Type"]
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body.get("error_description"), str), body
    assert "result" not in body
    return body


# ---- 401 NO_AUTH_FOUND ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["json", "form", "get"])
@pytest.mark.parametrize("method", ["crm.status.fields", "profile.json", "batch"])
def test_no_auth_found(portal, how, method):
    """§6.1: no auth → 401 NO_AUTH_FOUND (any request form, any method)."""
    r = call(portal.base + "rest/", method, {"cmd": {"a": "profile"}} if method == "batch" else {}, how=how)
    is_json_error(r, 401, "NO_AUTH_FOUND")


def test_empty_auth_param(portal):
    """§6.1: missing/empty `auth` → 401 NO_AUTH_FOUND."""
    r = requests.post(portal.base + "rest/profile", json={"auth": ""}, timeout=5)
    is_json_error(r, 401, "NO_AUTH_FOUND")


# ---- 404 ERROR_METHOD_NOT_FOUND ------------------------------------------------------------------
@pytest.mark.parametrize("how", ["json", "form", "get"])
def test_method_not_found_oauth(portal, token, how):
    """§6.1: unknown method → 404 ERROR_METHOD_NOT_FOUND, also with OAuth auth and every request form."""
    r = call(portal.base + "rest/", "crm.nothing.here", how=how, auth=token)
    is_json_error(r, 404, "ERROR_METHOD_NOT_FOUND")


def test_method_not_found_json_suffix(portal):
    """§6.1 + §4.1 (`.json` suffix optional): unknown method with suffix → 404 ERROR_METHOD_NOT_FOUND."""
    r = call(portal.webhook, "crm.nothing.here.json")
    is_json_error(r, 404, "ERROR_METHOD_NOT_FOUND")


# ---- 401 invalid / expired tokens ------------------------------------------------------------------
def test_invalid_token_any_form(portal):
    """§6.1: unknown/garbage OAuth token → 401 invalid_token (query-string auth too)."""
    r = requests.get(portal.base + "rest/profile", params={"auth": "nope" * 10}, timeout=5)
    is_json_error(r, 401, "invalid_token")


# ---- 403/400 ACCESS_DENIED ---------------------------------------------------------------------------
def test_app_info_outside_app_context(portal):
    """§7.1 + §6.1: portal `app.info` via webhook → HTTP 400 ACCESS_DENIED
    "Access denied! Application context required"."""
    r = call(portal.webhook, "app.info")
    body = is_json_error(r, 400, "ACCESS_DENIED")
    assert "Application context required" in body["error_description"]


def test_crm_admin_methods_non_admin(portal):
    """reference-lists.md §5/§7: crm.type.list and crm.category writes need CRM admin →
    `ACCESS_DENIED` "Access denied" (§6.1 table: ACCESS_DENIED for rights, HTTP 403)."""
    h2 = portal.hook_for(2)
    for method, params in (
        ("crm.type.list", {}),
        ("crm.category.add", {"entityTypeId": 2, "fields": {"name": "x"}}),
    ):
        r = call(h2, method, params)
        assert r.status_code in (400, 403), (method, r.status_code, r.text)  # method-level: 400 common
        assert r.json()["error"] == "ACCESS_DENIED"


# ---- 401/403 insufficient_scope with OAuth -----------------------------------------------------------
def test_insufficient_scope_batch_outer_ok(portal):
    """§6.1 insufficient_scope is per method: `batch`/`profile` (scope basic) still work for an app
    without `crm`, the crm call fails with insufficient_scope."""
    _, t = app_tokens(portal, scopes=["user"])
    at = t["access_token"]
    r = call(portal.base + "rest/", "profile", auth=at)
    assert r.status_code == 200, r.text
    r = call(portal.base + "rest/", "crm.deal.list", auth=at)
    assert r.status_code in (401, 403) and r.json()["error"] == "insufficient_scope", r.text
