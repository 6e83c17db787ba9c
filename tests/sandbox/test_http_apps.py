"""What a portal sends to an app: install callback, frame POST and installer flow, events, uninstall."""

from __future__ import annotations

import queue

import pytest
import requests

TIMEOUT = 5


def control(sandbox, path: str, body: dict | None = None) -> dict:
    r = requests.post(
        sandbox.control_url + "control/portals/portal1/" + path, json=body or {}, timeout=TIMEOUT
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


def rest(sandbox, method: str, token: str, **params: object) -> requests.Response:
    return requests.post(
        sandbox.portals[0].base_url + f"rest/{method}.json", json={**params, "auth": token}, timeout=TIMEOUT
    )


def add_deal(sandbox) -> None:
    r = requests.post(
        sandbox.portals[0].webhook_url + "crm.deal.add", json={"fields": {"TITLE": "x"}}, timeout=TIMEOUT
    )
    assert r.status_code == 200


def test_api_only_app_gets_onappinstall_and_then_events(sandbox, app_receiver):
    app = control(
        sandbox,
        "apps",
        {
            "handler_url": app_receiver.url + "app",
            "scopes": ["crm"],
            "install_url": app_receiver.url + "install",
        },
    )
    answer = control(sandbox, f"apps/{app['client_id']}/install")
    assert answer["status"] == 200
    post = app_receiver.next()
    assert post.path == "/install"
    form = post.form
    assert form["event"] == "ONAPPINSTALL" and "event_handler_id" not in form
    assert form["data[VERSION]"] == "1" and form["data[LANGUAGE_ID]"] == "ru" and form["ts"].isdigit()
    portal = sandbox.portals[0]
    assert form["auth[domain]"] == portal.domain and form["auth[member_id]"] == portal.member_id
    assert form["auth[client_endpoint]"] == portal.base_url + "rest/"
    assert form["auth[server_endpoint]"] == sandbox.oauth_url + "rest/"
    assert form["auth[user_id]"] == "1" and form["auth[scope]"] == "crm" and form["auth[status]"] == "L"
    assert (
        form["auth[refresh_token]"] and form["auth[expires]"].isdigit() and form["auth[expires_in]"] == "3600"
    )
    token = form["auth[access_token]"]
    assert rest(sandbox, "app.info", token).json()["result"]["INSTALLED"] is True

    bound = rest(sandbox, "event.bind", token, event="ONCRMDEALADD", handler=app_receiver.url + "events")
    assert bound.json()["result"] is True
    add_deal(sandbox)
    event = app_receiver.next()
    assert event.path == "/events"
    assert event.form["event"] == "ONCRMDEALADD" and event.form["event_handler_id"]
    assert event.form["data[FIELDS][ID]"].isdigit()
    assert event.form["auth[application_token]"] == form["auth[application_token]"]
    assert event.form["auth[user_id]"] == "1" and event.form["auth[access_token]"]
    assert "auth[refresh_token]" not in event.form
    assert rest(sandbox, "profile", event.form["auth[access_token]"]).status_code == 200


def test_ui_app_installer_frame_then_install_finish(sandbox, app_receiver):
    app = sandbox.register_app(
        0, handler_url=app_receiver.url + "app", install_url=app_receiver.url + "install"
    )
    client_id = app["client_id"]
    opened = control(sandbox, f"apps/{client_id}/open")
    assert opened["status"] == 200 and opened["target"] == app_receiver.url + "install"
    post = app_receiver.next()
    assert post.path == "/install"
    portal = sandbox.portals[0]
    assert post.query == {
        "DOMAIN": portal.domain,
        "PROTOCOL": "0",
        "LANG": "ru",
        "APP_SID": opened["app_sid"],
    }
    assert set(post.form) == {
        "AUTH_ID",
        "AUTH_EXPIRES",
        "REFRESH_ID",
        "SERVER_ENDPOINT",
        "APPLICATION_TOKEN",
        "APPLICATION_SCOPE",
        "member_id",
        "status",
        "PLACEMENT",
        "PLACEMENT_OPTIONS",
    }
    assert post.form["PLACEMENT"] == "DEFAULT" and post.form["AUTH_EXPIRES"] == "3600"
    assert post.form["APPLICATION_SCOPE"] == "crm" and post.form["member_id"] == portal.member_id
    token = post.form["AUTH_ID"]
    assert rest(sandbox, "app.info", token).json()["result"]["INSTALLED"] is False

    # the installer binds events; none are sent before BX24.installFinish()
    rest(sandbox, "event.bind", token, event="ONCRMDEALADD", handler=app_receiver.url + "events")
    add_deal(sandbox)
    assert sandbox.wait_deliveries(TIMEOUT)
    with pytest.raises(queue.Empty):
        app_receiver.next(timeout=0.2)
    # a non-admin cannot open an app that is not fully installed
    assert "not fully installed" in sandbox.open_app(0, client_id, user_id=2)["error"]

    r = requests.post(
        portal.base_url + "bx24/install-finish", data={"APP_SID": opened["app_sid"]}, timeout=TIMEOUT
    )
    assert r.status_code == 200 and r.json()["result"] is True
    assert rest(sandbox, "app.info", token).json()["result"]["INSTALLED"] is True
    again = sandbox.open_app(0, client_id)
    assert again["target"] == app_receiver.url + "app" and again["status"] == 200
    assert app_receiver.next().path == "/app"
    add_deal(sandbox)
    assert app_receiver.next().form["event"] == "ONCRMDEALADD"


def test_frame_page_and_bx24_script(sandbox, app_receiver):
    app = sandbox.register_app(
        0, handler_url=app_receiver.url + "app", install_url=app_receiver.url + "install"
    )
    portal = sandbox.portals[0]
    r = requests.get(portal.base_url + f"marketplace/app/{app['client_id']}/", timeout=TIMEOUT)
    assert r.status_code == 200
    page = r.text
    assert '<iframe name="app_frame_' in page and 'method="POST" target="app_frame_' in page
    assert f'action="{app_receiver.url}install?DOMAIN=' in page and 'name="AUTH_ID"' in page
    assert "installFinish" in page
    script = requests.get(portal.base_url + "bitrix/js/rest/bx24.js", timeout=TIMEOUT)
    assert script.status_code == 200 and "window.BX24" in script.text
    assert requests.get(sandbox.control_url + "api/v1/", timeout=TIMEOUT).text == script.text
    missing = requests.get(portal.base_url + "marketplace/app/local.none.1/", timeout=TIMEOUT)
    assert missing.status_code == 404


def test_uninstall_notifies_without_tokens_and_revokes_everything(sandbox, app_receiver):
    app = sandbox.register_app(
        0, handler_url=app_receiver.url + "app", install_url=app_receiver.url + "install"
    )
    sandbox.install_app(0, app["client_id"])
    token = app_receiver.next().form["auth[access_token]"]
    rest(sandbox, "event.bind", token, event="ONAPPUNINSTALL", handler=app_receiver.url + "bye")
    rest(sandbox, "event.bind", token, event="ONCRMDEALADD", handler=app_receiver.url + "events")
    answer = control(sandbox, f"apps/{app['client_id']}/uninstall", {"clean": True})
    assert [n["status"] for n in answer["notified"]] == [200]
    bye = app_receiver.next()
    assert bye.path == "/bye" and bye.form["event"] == "ONAPPUNINSTALL"
    assert bye.form["data[CLEAN]"] == "1" and bye.form["data[LANGUAGE_ID]"] == "ru"
    assert "auth[access_token]" not in bye.form and bye.form["auth[application_token]"]
    r = rest(sandbox, "profile", token)
    assert (r.status_code, r.json()["error"]) == (401, "APPLICATION_NOT_FOUND")
    assert sandbox.portals[0].portal.event_bindings == [] and sandbox.portals[0].portal.apps == {}
    add_deal(sandbox)
    assert sandbox.wait_deliveries(TIMEOUT)
    with pytest.raises(queue.Empty):
        app_receiver.next(timeout=0.2)
    r = requests.get(
        sandbox.portals[0].base_url + "oauth/authorize/",
        params={"client_id": app["client_id"]},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert r.status_code == 200 and "Location" not in r.headers


def test_control_fires_arbitrary_events_token_less_without_user(sandbox, app_receiver):
    app = sandbox.register_app(0, handler_url=app_receiver.url + "app")
    grant = sandbox.open_app(0, app["client_id"])
    token = app_receiver.next().form["AUTH_ID"]
    assert grant["status"] == 200
    rest(sandbox, "event.bind", token, event="ONAPPTEST", handler=app_receiver.url + "test")
    queued = control(sandbox, "events", {"event": "onapptest", "data": {"QUERY": {"a": "b"}}})
    assert queued == {"queued": 1}
    post = app_receiver.next()
    assert post.form["event"] == "ONAPPTEST" and post.form["data[QUERY][a]"] == "b"
    assert "auth[access_token]" not in post.form and post.form["auth[member_id]"]


def test_failed_delivery_is_logged_once_and_not_retried(sandbox, app_receiver):
    app = sandbox.register_app(0, handler_url=app_receiver.url + "app")
    sandbox.open_app(0, app["client_id"])
    token = app_receiver.next().form["AUTH_ID"]
    rest(sandbox, "event.bind", token, event="ONCRMDEALADD", handler="http://127.0.0.1:9/closed")
    add_deal(sandbox)
    assert sandbox.wait_deliveries(TIMEOUT)
    r = requests.get(sandbox.control_url + "control/portals/portal1/deliveries", timeout=TIMEOUT)
    failed = [d for d in r.json()["deliveries"] if d["event"] == "ONCRMDEALADD"]
    assert len(failed) == 1 and failed[0]["error"] and failed[0]["url"] == "http://127.0.0.1:9/closed"
