"""Dispatch, scopes, basic methods, app.info, event.*."""

from __future__ import annotations

import pytest

from b24app.sandbox.portal import new_portal
from b24app.sandbox.rest import CallContext, RestError, call

HOOK = CallContext(1, "webhook", frozenset({"crm", "user", "basic"}))
APP = CallContext(1, "oauth", frozenset({"crm", "basic"}), client_id="local.app1", access_token="t")
APP_USER2 = CallContext(2, "oauth", frozenset({"crm"}), client_id="local.app1")


@pytest.fixture
def portal():
    p = new_portal("basic", "en")
    p.apps["local.app1"] = {
        "client_id": "local.app1",
        "code": "local.app1",
        "version": 3,
        "status": "L",
        "installed": True,
        "scopes": ["crm"],
        "application_token": "tok",
    }
    return p


def error_of(portal, method, params, ctx):
    with pytest.raises(RestError) as info:
        call(portal, method, params, ctx)
    return info.value


def test_method_names_and_unknown_methods(portal):
    assert call(portal, "PROFILE.json", {}, HOOK).result["ID"] == "1"
    err = error_of(portal, "crm.nothing", {}, HOOK)
    assert (err.status, err.error, err.description) == (404, "ERROR_METHOD_NOT_FOUND", "Method not found!")


def test_scope_checks(portal):
    err = error_of(portal, "user.current", {}, APP)
    assert (err.status, err.error) == (401, "insufficient_scope")
    no_crm = CallContext(1, "webhook", frozenset({"user"}))
    assert error_of(portal, "crm.status.list", {}, no_crm).error == "insufficient_scope"
    assert call(portal, "user.admin", {}, no_crm).result is True
    assert call(portal, "scope", {}, APP).result == ["basic", "crm"]
    assert "telephony" in call(portal, "scope", {"full": "true"}, APP).result


def test_profile_and_server_time(portal):
    profile = call(portal, "profile", {}, APP_USER2).result
    assert profile == {
        "ID": "2",
        "ADMIN": False,
        "NAME": "Manager",
        "LAST_NAME": "",
        "PERSONAL_GENDER": "",
        "TIME_ZONE": "",
    }
    assert call(portal, "server.time", {}, HOOK).result.endswith("+00:00")


def test_app_info(portal):
    info = call(portal, "app.info", {}, APP).result
    assert info["CODE"] == "local.app1" and info["VERSION"] == 3 and info["INSTALLED"] is True
    assert info["PAYMENT_EXPIRED"] == "N" and info["DAYS"] is None and info["LANGUAGE_ID"] == "en"
    err = error_of(portal, "app.info", {}, HOOK)
    assert (err.status, err.error, err.description) == (
        400,
        "ACCESS_DENIED",
        "Access denied! Application context required",
    )


def test_methods_and_method_get(portal):
    assert "crm.status.list" in call(portal, "methods", {}, HOOK).result
    assert call(portal, "method.get", {"name": "crm.status.list"}, HOOK).result == {
        "isExisting": True,
        "isAvailable": True,
    }
    no_crm = CallContext(1, "webhook", frozenset())
    assert call(portal, "method.get", {"name": "crm.status.list"}, no_crm).result["isAvailable"] is False


def test_event_bind_get_unbind(portal):
    err = error_of(portal, "event.bind", {"event": "ONCRMDEALADD", "handler": "https://a/h"}, HOOK)
    assert (err.status, err.error) == (403, "WRONG_AUTH_TYPE")
    assert call(portal, "event.bind", {"EVENT": "onCrmDealAdd", "HANDLER": "https://a/h"}, APP).result is True
    dup = error_of(portal, "event.bind", {"event": "ONCRMDEALADD", "handler": "https://a/h"}, APP)
    assert dup.status == 400 and dup.description.startswith("Unable to set event handler")
    assert (
        error_of(portal, "event.bind", {"event": "", "handler": "https://a/h"}, APP).error
        == "ERROR_EVENT_NOT_FOUND"
    )
    assert call(portal, "event.get", {}, APP).result == [
        {"event": "ONCRMDEALADD", "handler": "https://a/h", "auth_type": "0", "offline": 0}
    ]
    assert portal.event_bindings[0]["client_id"] == "local.app1"
    offline = error_of(portal, "event.bind", {"event": "ONCRMDEALADD", "event_type": "offline"}, APP_USER2)
    assert (offline.status, offline.error) == (403, "ACCESS_DENIED")
    assert call(portal, "event.unbind", {"event": "ONCRMDEALADD", "handler": "https://a/h"}, APP).result == {
        "count": 1
    }
    assert call(portal, "event.get", {}, APP).result == []
