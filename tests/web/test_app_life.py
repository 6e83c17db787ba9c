"""The whole life of the app in a portal, over real HTTP: register -> install (both flavours) ->
reinstall -> update -> uninstall. The sandbox is the portal and the OAuth server."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import requests

from b24app.store import PortalState, RunKind, RunOutcome
from handlers.install import bx24_script_url

MANAGED_EVENTS = {"ONAPPUNINSTALL", "ONAPPUPDATE", "ONCRMTYPEADD", "ONCRMTYPEUPDATE", "ONCRMTYPEDELETE"}


def bindings(server, portal: int, client_id: str) -> set[str]:
    handle = server.sandbox.portals[portal]
    with handle.portal.lock:
        return {b["event"].upper() for b in handle.portal.event_bindings if b.get("client_id") == client_id}


def test_api_only_install_stores_the_portal_and_binds_the_events(server):
    registration, created = server.register()
    delivered = server.sandbox.install_app(0, created["client_id"])
    assert delivered["status"] == 200
    handle = server.sandbox.portals[0]
    portal = server.store.portals.get(handle.member_id)
    assert portal.state == PortalState.INSTALLED
    assert portal.domain == handle.domain
    assert portal.registration_id == registration.id
    assert portal.application_token == server.sandbox.oauth.apps[created["client_id"]].application_token
    tokens = server.store.tokens.load(portal.id)
    assert tokens is not None and tokens.pair.refresh_token
    assert bindings(server, 0, created["client_id"]) == MANAGED_EVENTS
    assert [e.event for e in server.store.events.list(portal.id)] == ["ONAPPINSTALL"]


def test_reinstall_updates_the_row_and_binds_nothing_twice(server):
    _, created = server.register()
    server.sandbox.install_app(0, created["client_id"])
    first = server.store.portals.get(server.sandbox.portals[0].member_id)
    first_tokens = server.store.tokens.load(first.id)
    assert server.sandbox.install_app(0, created["client_id"])["status"] == 200
    assert len(server.store.portals.list()) == 1
    again = server.store.tokens.load(first.id)
    assert again.generation == first_tokens.generation + 1
    assert again.pair.refresh_token != first_tokens.pair.refresh_token
    handle = server.sandbox.portals[0]
    with handle.portal.lock:
        mine = [b for b in handle.portal.event_bindings if b.get("client_id") == created["client_id"]]
    assert len(mine) == len(MANAGED_EVENTS)


def test_installer_in_the_frame_shows_the_plan_of_install_and_finishes(server):
    registration, created = server.register()
    handle = server.sandbox.portals[0]
    launch = handle.launch(created["client_id"], 1)
    path = urlsplit(launch.action)
    answer = server.client.post(f"{path.path}?{path.query}", data=launch.fields)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    page = answer.get_data(as_text=True)
    for event in MANAGED_EVENTS:
        assert f"<li>{event}</li>" in page
    assert '<option value="retail">' in page and '<option value="standard">' in page
    assert answer.headers["Content-Security-Policy"].endswith(f"frame-ancestors http://{handle.domain}")
    portal = server.store.portals.get(handle.member_id)
    assert portal.state == PortalState.INSTALLING
    assert bindings(server, 0, created["client_id"]) == MANAGED_EVENTS

    token = re.search(r'name="install_token" value="([^"]+)"', page)[1]
    finished = server.client.post(
        f"/b24/{registration.slug}/install/", data={"install_token": token, "template": "retail"}
    )
    assert finished.status_code == 200
    assert "BX24.installFinish()" in finished.get_data(as_text=True)
    portal = server.store.portals.get(handle.member_id)
    assert (portal.state, portal.template) == (PortalState.INSTALLED, "retail")
    assert server.sandbox.finish_install(0, launch.app_sid)  # what BX24.installFinish() does


def test_installer_loads_bx24_from_the_oauth_servers_host(server):
    _, created = server.register()
    launch = server.sandbox.portals[0].launch(created["client_id"], 1)
    path = urlsplit(launch.action)
    page = server.client.post(f"{path.path}?{path.query}", data=launch.fields).get_data(as_text=True)
    token = re.search(r'name="install_token" value="([^"]+)"', page)[1]
    finished = server.client.post(path.path, data={"install_token": token, "template": ""})
    assert f'<script src="{server.sandbox.oauth_url}api/v1/" nonce=' in finished.get_data(as_text=True)


def test_bx24_comes_from_bitrix24_in_production():
    assert bx24_script_url("https://oauth.bitrix.info") == "https://api.bitrix24.com/api/v1/"


def test_the_portal_opens_the_installer_over_http(server):
    _, created = server.register()
    opened = server.sandbox.open_app(0, created["client_id"])
    assert opened["status"] == 200
    assert server.store.portals.get(server.sandbox.portals[0].member_id).state == PortalState.INSTALLING


def test_crm_type_events_are_logged_with_their_resync(server):
    _, created = server.register()
    server.sandbox.install_app(0, created["client_id"])
    assert server.sandbox.send_event(0, "ONCRMTYPEADD", {"FIELDS": {"ID": "7"}}, user_id=1) == 1
    assert server.sandbox.wait_deliveries(5)
    portal = server.store.portals.get(server.sandbox.portals[0].member_id)
    logged = server.store.events.list(portal.id)[0]
    assert (logged.event, logged.outcome, logged.detail) == (
        "ONCRMTYPEADD",
        "queued resync",
        "smart process 7",
    )


def test_update_renews_the_application_token_only_when_bitrix24_vouches(server):
    registration, created = server.register()
    server.sandbox.install_app(0, created["client_id"])
    handle = server.sandbox.portals[0]
    app = server.sandbox.oauth.apps[created["client_id"]]
    token, expires = server.sandbox.oauth.event_token(app, 1)
    update = {
        "event": "ONAPPUPDATE",
        "data[VERSION]": "2",
        "data[PREVIOUS_VERSION]": "1",
        "auth[member_id]": handle.member_id,
        "auth[domain]": handle.domain,
        "auth[access_token]": token,
        "auth[expires]": str(expires),
        "auth[application_token]": "fresh0application0token",
    }
    answer = server.client.post(f"/b24/{registration.slug}/events/", data=update)
    assert answer.status_code == 200
    portal = server.store.portals.get(handle.member_id)
    assert portal.application_token == "fresh0application0token"

    forged = {
        **update,
        "auth[access_token]": "never0issued0token0abc",
        "auth[application_token]": "forged0token0xyz",
    }
    assert server.client.post(f"/b24/{registration.slug}/events/", data=forged).status_code == 403
    assert server.store.portals.get(handle.member_id).application_token == "fresh0application0token"

    app.application_token = "fresh0application0token"  # the portal now signs with the new token
    server.sandbox.send_event(0, "ONCRMTYPEUPDATE", {"FIELDS": {"ID": "3"}}, user_id=1)
    assert server.sandbox.wait_deliveries(5)
    assert server.store.events.list(portal.id)[0].event == "ONCRMTYPEUPDATE"


def test_uninstall_deletes_the_tokens_and_keeps_the_history(server):
    _, created = server.register()
    server.sandbox.install_app(0, created["client_id"])
    portal = server.store.portals.get(server.sandbox.portals[0].member_id)
    run = server.store.runs.record(portal.id, RunKind.PLAN, RunOutcome.PLANNED, template_name="standard")
    result = server.sandbox.uninstall_app(0, created["client_id"])
    assert [n["status"] for n in result["notified"]] == [200]
    portal = server.store.portals.get(portal.member_id)
    assert portal.state == PortalState.UNINSTALLED
    assert portal.application_token is None
    assert server.store.tokens.load(portal.id) is None
    assert [r.id for r in server.store.runs.list(portal.id)] == [run.id]
    assert server.store.events.list(portal.id)[0].event == "ONAPPUNINSTALL"


def test_health_check_reports_the_database(server):
    answer = server.client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json()["status"] == "ok"


def test_the_whole_life_of_the_app_in_one_go(server, example_path):
    """register -> install with UI -> open -> plan -> Apply -> reinstall -> ONAPPUPDATE -> uninstall."""
    from tests.web.page_fixtures import Form, submit

    (server.settings.templates / "crm.yaml").write_text(example_path.read_text("utf-8"), "utf-8")
    registration, created = server.register()
    client_id, handle = created["client_id"], server.sandbox.portals[0]
    portal_origin = handle.base_url.rstrip("/")

    def open_page(fields=None):
        launch = handle.launch(client_id, 1)
        target = urlsplit(launch.action)
        return server.client.post(
            f"{target.path}?{target.query}", data=fields or launch.fields, headers={"Origin": portal_origin}
        ), launch

    installer, launch = open_page()  # not installed yet: the portal opens the installer
    token = re.search(r'name="install_token" value="([^"]+)"', installer.get_data(as_text=True))[1]
    finished = server.client.post(
        f"/b24/{registration.slug}/install/", data={"install_token": token, "template": "crm"}
    )
    assert finished.status_code == 200 and server.sandbox.finish_install(0, launch.app_sid)

    answer, launch = open_page()
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'class="plan"' in page, Form(page).text
    jobs = server.app.extensions["b24app.jobs"]
    jobs.start_consumer()  # as `b24app serve` does
    try:
        run_page = submit(server.client, page, "apply", origin=server.url).get_data(as_text=True)
        deadline = time.monotonic() + 60
        while not submit(server.client, run_page, "refresh", origin=server.url, format="json").get_json()[
            "done"
        ]:
            assert time.monotonic() < deadline, "the run did not finish within 60 s"
            time.sleep(0.2)  # the run goes on in the job queue; the page's script polls the same way
    finally:
        jobs.stop_consumer()
    done = submit(server.client, run_page, "refresh", origin=server.url).get_data(as_text=True)
    assert 'class="outcome-applied"' in done, Form(done).text
    hook = server.sandbox.add_webhook(0, 1, ["crm"])
    rows = requests.post(
        hook + "crm.status.list.json", data={"filter[ENTITY_ID]": "SOURCE"}, timeout=10
    ).json()
    names = {row["STATUS_ID"]: row["NAME"] for row in rows["result"]}
    assert names["CALL"] == "Входящий звонок" and names["RECOMMENDATION"] == "По рекомендации"
    again, _ = open_page()
    assert "Различий нет" in again.get_data(as_text=True)

    portal = server.store.portals.get(handle.member_id)
    assert server.sandbox.install_app(0, client_id)["status"] == 200  # reinstall: the same row
    assert [p.id for p in server.store.portals.list()] == [portal.id]

    app = server.sandbox.oauth.apps[client_id]
    app.application_token = "renewed0application0token"  # what the portal's update hands out
    assert (
        server.sandbox.send_event(0, "ONAPPUPDATE", {"VERSION": "2", "PREVIOUS_VERSION": "1"}, user_id=1) == 1
    )
    assert server.sandbox.wait_deliveries(5)
    assert server.store.portals.get(handle.member_id).application_token == "renewed0application0token"
    reopened, last_launch = open_page()
    assert reopened.status_code == 200 and 'class="plan"' in reopened.get_data(as_text=True)

    assert [n["status"] for n in server.sandbox.uninstall_app(0, client_id)["notified"]] == [200]
    refused = server.client.post(
        urlsplit(last_launch.action).path, data=last_launch.fields, headers={"Origin": portal_origin}
    )
    assert refused.status_code == 403 and 'class="plan"' not in refused.get_data(as_text=True)
    after = submit(server.client, reopened.get_data(as_text=True), "choose", origin=server.url)
    assert after.status_code == 403
    runs = server.store.runs.list(portal.id)
    assert [(r.kind, r.outcome) for r in runs] == [(RunKind.APPLY, RunOutcome.APPLIED)]
