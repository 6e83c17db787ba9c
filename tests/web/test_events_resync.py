"""Bitrix24 events and installs ask for resyncs (store.resyncs), over real HTTP on SQLite and PostgreSQL:
one request per event (or merged into the waiting one), nothing for a wrong token or an uninstalled
portal, the initial deploy only when the portal's policy says apply, and the installing admin kept."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from b24app.store import PortalState
from tests.web.test_app_security import FORGED, event, installed

RESYNC_EVENTS = ("ONAPPUPDATE", "ONCRMTYPEADD", "ONCRMTYPEUPDATE", "ONCRMTYPEDELETE")


def crm_event(portal, application_token: str | None, name: str = "ONCRMTYPEUPDATE") -> dict:
    payload = {**event(portal, application_token, name), "data[FIELDS][ID]": "7"}
    payload.pop("data[CLEAN]")
    return payload


@pytest.mark.parametrize("name", RESYNC_EVENTS)
def test_each_event_queues_exactly_one_resync_of_its_portal(server, name):
    registration, _, portal = installed(server)
    answer = server.client.post(
        f"/b24/{registration.slug}/events/", data=crm_event(portal, portal.application_token, name)
    )
    assert answer.status_code == 200 and answer.get_json()["result"] == "queued resync"
    [waiting] = server.store.resyncs.waiting()
    assert (waiting.portal_id, waiting.reasons, waiting.requests) == (portal.id, [name], 1)
    assert server.store.resyncs.total_requests() == 1
    logged = server.store.events.list(portal.id)[0]
    assert (logged.event, logged.outcome) == (name, "queued resync")


def test_a_second_event_merges_into_the_waiting_resync(server):
    registration, _, portal = installed(server)
    url = f"/b24/{registration.slug}/events/"
    server.client.post(url, data=crm_event(portal, portal.application_token, "ONCRMTYPEADD"))
    answer = server.client.post(url, data=crm_event(portal, portal.application_token, "ONCRMTYPEDELETE"))
    assert answer.get_json()["result"] == "merged"
    [waiting] = server.store.resyncs.waiting()
    assert (waiting.reasons, waiting.requests) == (["ONCRMTYPEADD", "ONCRMTYPEDELETE"], 2)
    assert [e.outcome for e in server.store.events.list(portal.id)[:2]] == ["merged", "queued resync"]


def test_an_event_sent_by_the_portal_queues_a_resync(server):
    _, created = server.register()
    server.sandbox.install_app(0, created["client_id"])
    assert server.sandbox.send_event(0, "ONCRMTYPEADD", {"FIELDS": {"ID": "7"}}, user_id=1) == 1
    assert server.sandbox.wait_deliveries(5)
    portal = server.store.portals.get(server.sandbox.portals[0].member_id)
    assert [(r.portal_id, r.reasons) for r in server.store.resyncs.waiting()] == [
        (portal.id, ["ONCRMTYPEADD"])
    ]


@pytest.mark.parametrize("name", RESYNC_EVENTS)
@pytest.mark.parametrize("token", [FORGED, None])
def test_an_event_with_a_wrong_token_queues_nothing(server, name, token):
    registration, _, portal = installed(server)
    answer = server.client.post(f"/b24/{registration.slug}/events/", data=crm_event(portal, token, name))
    assert answer.status_code in (400, 403)
    assert server.store.resyncs.total_requests() == 0


def test_an_uninstalled_portal_queues_nothing(server):
    registration, created, portal = installed(server)
    server.sandbox.uninstall_app(0, created["client_id"])
    for name in RESYNC_EVENTS:  # its old application_token: no longer stored, so refused
        answer = server.client.post(
            f"/b24/{registration.slug}/events/", data=crm_event(portal, portal.application_token, name)
        )
        assert answer.status_code == 403
    assert server.store.resyncs.total_requests() == 0


def test_an_event_storm_merges_into_one_waiting_resync_counting_every_event(server):
    registration, _, portal = installed(server)
    url = f"{server.url}/b24/{registration.slug}/events/"
    storm = 60

    def send(i: int) -> str:
        name = RESYNC_EVENTS[1 + i % 3]
        answer = requests.post(url, data=crm_event(portal, portal.application_token, name), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, range(storm)))
    assert sorted(results) == ["merged"] * (storm - 1) + ["queued resync"]
    [waiting] = server.store.resyncs.waiting()
    assert waiting.portal_id == portal.id and waiting.requests == storm
    assert set(waiting.reasons) == {"ONCRMTYPEADD", "ONCRMTYPEUPDATE", "ONCRMTYPEDELETE"}
    assert server.store.resyncs.total_requests() == storm


# -- install -----------------------------------------------------------------------------------------


def test_the_installing_admin_is_kept(server):
    _, created = server.register()
    handle = server.sandbox.portals[0]
    with handle.portal.lock:
        handle.portal.users[2].admin = True  # another admin than user 1 installs
    assert server.sandbox.install_app(0, created["client_id"], user_id=2)["status"] == 200
    assert server.store.portals.get(handle.member_id).admin_user_id == 2


def test_a_fresh_install_reports_only_and_queues_nothing(server):
    _, _, portal = installed(server)
    assert portal.policy == "report"
    assert server.store.resyncs.total_requests() == 0


def test_a_reinstall_with_policy_apply_and_a_template_queues_the_initial_deploy(server):
    _, created, portal = installed(server)
    server.store.portals.set_policy(portal.id, "apply")
    assert server.sandbox.install_app(0, created["client_id"])["status"] == 200
    assert server.store.resyncs.total_requests() == 0  # apply, but no template: nothing to deploy
    server.store.portals.assign_template(portal.id, "retail")
    assert server.sandbox.install_app(0, created["client_id"])["status"] == 200
    [waiting] = server.store.resyncs.waiting()
    assert (waiting.portal_id, waiting.reasons, waiting.requests) == (portal.id, ["ONAPPINSTALL"], 1)
    assert "initial deploy queued" in server.store.events.list(portal.id)[0].detail


def test_a_reinstall_with_policy_report_queues_nothing(server):
    _, created, portal = installed(server)
    server.store.portals.assign_template(portal.id, "retail")
    assert server.sandbox.install_app(0, created["client_id"])["status"] == 200
    assert server.store.resyncs.total_requests() == 0


@pytest.mark.parametrize(
    ("policy", "template", "queued"), [("apply", "retail", 1), ("apply", "", 0), ("report", "retail", 0)]
)
def test_the_installer_queues_the_initial_deploy_when_the_policy_says_apply(server, policy, template, queued):
    registration, created = server.register()
    handle = server.sandbox.portals[0]
    launch = handle.launch(created["client_id"], 1)
    path = urlsplit(launch.action)
    page = server.client.post(f"{path.path}?{path.query}", data=launch.fields).get_data(as_text=True)
    portal = server.store.portals.get(handle.member_id)
    assert portal.state == PortalState.INSTALLING and server.store.resyncs.total_requests() == 0
    server.store.portals.set_policy(portal.id, policy)  # e.g. set by the integrator before the admin finished
    token = re.search(r'name="install_token" value="([^"]+)"', page)[1]
    finished = server.client.post(
        f"/b24/{registration.slug}/install/", data={"install_token": token, "template": template}
    )
    assert finished.status_code == 200
    assert server.store.resyncs.total_requests() == queued
    assert [r.reasons for r in server.store.resyncs.waiting()] == [["ONAPPINSTALL"]] * queued


def test_a_new_request_wakes_a_worker_and_a_merged_one_does_not(server):
    registration, _, portal = installed(server)
    queue = server.app.extensions["b24app.jobs"].queue  # no consumer runs here: the messages stay
    before = queue.pending_count()
    url = f"/b24/{registration.slug}/events/"
    server.client.post(url, data=crm_event(portal, portal.application_token, "ONCRMTYPEADD"))
    assert queue.pending_count() == before + 1
    server.client.post(url, data=crm_event(portal, portal.application_token, "ONCRMTYPEUPDATE"))
    assert queue.pending_count() == before + 1
