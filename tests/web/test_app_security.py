"""Forged and hostile callbacks: each refused with nothing stored, no token in logs or in the database."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import responses
from sqlalchemy.engine import make_url

from b24app.store import PortalState

FORGED = "forged0token0forged0token"


def nothing_stored(server) -> None:
    assert server.store.portals.list() == []
    assert server.store.events.list() == []


def install_payload(server, portal: int, client_id: str, **auth) -> dict:
    """An ONAPPINSTALL as the portal would send it, with a real token pair issued by the sandbox."""
    handle = server.sandbox.portals[portal]
    app = server.sandbox.oauth.apps[client_id]
    pair = server.sandbox.oauth.issue(app, 1)
    fields = {
        "access_token": pair["access_token"],
        "refresh_token": pair["refresh_token"],
        "expires": str(pair["expires"]),
        "member_id": handle.member_id,
        "domain": handle.domain,
        "client_endpoint": handle.base_url + "rest/",
        "application_token": app.application_token,
        **auth,
    }
    return {"event": "ONAPPINSTALL", "data[VERSION]": "1", **{f"auth[{k}]": v for k, v in fields.items()}}


def installed(server):
    registration, created = server.register()
    assert server.sandbox.install_app(0, created["client_id"])["status"] == 200
    return registration, created, server.store.portals.get(server.sandbox.portals[0].member_id)


# -- install ---------------------------------------------------------------------------------------


def test_an_install_token_never_issued_is_refused(server):
    registration, created = server.register()
    payload = install_payload(server, 0, created["client_id"], access_token=FORGED)
    answer = server.client.post(f"/b24/{registration.slug}/install/", data=payload)
    assert answer.status_code == 403
    nothing_stored(server)


def test_a_frame_auth_id_never_issued_is_refused(server):
    _, created = server.register()
    launch = server.sandbox.portals[0].launch(created["client_id"], 1)
    path = urlsplit(launch.action)
    answer = server.client.post(f"{path.path}?{path.query}", data={**launch.fields, "AUTH_ID": FORGED})
    assert answer.status_code == 403
    nothing_stored(server)


def test_a_token_of_another_portal_is_refused(server):
    _, created1 = server.register(0)
    registration2, created2 = server.register(1)
    # portal 2's genuine token, sent as portal 1's installation
    payload = install_payload(server, 1, created2["client_id"])
    handle1 = server.sandbox.portals[0]
    payload.update({"auth[member_id]": handle1.member_id, "auth[domain]": handle1.domain})
    payload["auth[client_endpoint]"] = handle1.base_url + "rest/"
    answer = server.client.post(f"/b24/{registration2.slug}/install/", data=payload)
    assert answer.status_code == 403
    nothing_stored(server)


def test_a_token_of_another_app_is_refused(server):
    registration1, _ = server.register(0)
    _, created2 = server.register(1)
    payload = install_payload(server, 1, created2["client_id"])  # app 2's token at app 1's address
    answer = server.client.post(f"/b24/{registration1.slug}/install/", data=payload)
    assert answer.status_code == 403
    nothing_stored(server)


def test_a_frame_of_a_non_admin_installs_nothing(server):
    _, created = server.register()
    handle = server.sandbox.portals[0]
    with handle.portal.lock:
        user = next(u for u in handle.portal.users.values() if not u.admin)
        user.admin = True  # the portal lets a non-admin open the installer only if admin; then demote
    launch = handle.launch(created["client_id"], user.id)
    with handle.portal.lock:
        user.admin = False
    path = urlsplit(launch.action)
    answer = server.client.post(f"{path.path}?{path.query}", data=launch.fields)
    assert answer.status_code == 403
    nothing_stored(server)


def test_a_loopback_portal_is_refused_without_allow_loopback(server):
    registration, created = server.register()
    strict = server.with_settings(allow_loopback=False).test_client()
    answer = strict.post(
        f"/b24/{registration.slug}/install/", data=install_payload(server, 0, created["client_id"])
    )
    assert answer.status_code == 403
    assert "loopback" in answer.get_json()["message"]
    nothing_stored(server)


@pytest.mark.parametrize(
    "claim",
    [
        {"client_endpoint": "http://169.254.169.254/rest/"},
        {"client_endpoint": "http://10.0.0.5/rest/"},
        {"domain": "10.0.0.5"},
        {"client_endpoint": "http://127.0.0.1:9/rest/", "domain": "127.0.0.1:9"},
    ],
)
def test_an_install_claiming_another_address_is_refused(server, claim):
    registration, created = server.register()
    payload = install_payload(server, 0, created["client_id"], **claim)
    answer = server.client.post(f"/b24/{registration.slug}/install/", data=payload)
    assert answer.status_code == 403
    nothing_stored(server)


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.5", "127.0.0.1"])
def test_bitrix24_naming_a_private_address_is_refused(server, address):
    """Even Bitrix24's own answer must name a public portal (the SSRF guard)."""
    registration, created = server.register()
    oauth = "https://oauth.example.test"
    strict = server.with_settings(oauth_url=oauth, allow_loopback=False).test_client()
    payload = install_payload(
        server, 0, created["client_id"], domain=address, client_endpoint=f"https://{address}/rest/"
    )
    info = {
        "result": {
            "client_id": created["client_id"],
            "scope": "crm,im",
            "user_id": 1,
            "install": {
                "installed": True,
                "domain": address,
                "client_endpoint": f"https://{address}/rest/",
                "member_id": server.sandbox.portals[0].member_id,
            },
        }
    }
    with responses.RequestsMock() as mocked:  # no request may go anywhere else (to the address itself)
        mocked.get(f"{oauth}/rest/app.info", json=info)
        answer = strict.post(f"/b24/{registration.slug}/install/", data=payload)
    assert answer.status_code == 403
    nothing_stored(server)


def test_an_unknown_registration_is_404(server):
    _, created = server.register()
    answer = server.client.post(
        "/b24/unknown-slug/install/", data=install_payload(server, 0, created["client_id"])
    )
    assert answer.status_code == 404
    nothing_stored(server)


def test_the_installer_form_must_be_signed_and_same_site(server):
    registration, created = server.register()
    launch = server.sandbox.portals[0].launch(created["client_id"], 1)
    path = urlsplit(launch.action)
    page = server.client.post(f"{path.path}?{path.query}", data=launch.fields).get_data(as_text=True)
    token = re.search(r'name="install_token" value="([^"]+)"', page)[1]
    url = f"/b24/{registration.slug}/install/"
    altered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert server.client.post(url, data={"install_token": altered, "template": "retail"}).status_code == 403
    cross_site = server.client.post(
        url, data={"install_token": token, "template": "retail"}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    unknown = server.client.post(url, data={"install_token": token, "template": "../secret"})
    assert unknown.status_code == 403
    portal = server.store.portals.get(server.sandbox.portals[0].member_id)
    assert (portal.state, portal.template) == (PortalState.INSTALLING, None)


def test_an_oversized_body_is_refused_briefly(server):
    registration, _ = server.register()
    answer = server.client.post(f"/b24/{registration.slug}/install/", data={"event": "x" * 300_000})
    assert answer.status_code == 413
    assert answer.get_json()["error"] == "Request Entity Too Large"
    nothing_stored(server)


# -- events ----------------------------------------------------------------------------------------


def event(portal, application_token: str | None, name: str = "ONAPPUNINSTALL") -> dict:
    payload = {
        "event": name,
        "data[CLEAN]": "0",
        "auth[member_id]": portal.member_id,
        "auth[domain]": portal.domain,
    }
    if application_token is not None:
        payload["auth[application_token]"] = application_token
    return payload


@pytest.mark.parametrize("token", [FORGED, None])
def test_an_event_without_the_right_application_token_changes_nothing(server, token):
    registration, _, portal = installed(server)
    before = server.store.events.list()
    answer = server.client.post(f"/b24/{registration.slug}/events/", data=event(portal, token))
    assert answer.status_code in (400, 403)
    assert server.store.events.list() == before
    assert server.store.portals.get(portal.member_id).state == PortalState.INSTALLED
    assert server.store.tokens.load(portal.id) is not None


def test_an_event_of_an_unknown_portal_is_401(server):
    registration, _, portal = installed(server)
    before = server.store.events.list()
    forged = {**event(portal, portal.application_token), "auth[member_id]": "a0b1c2d3e4f5"}
    assert server.client.post(f"/b24/{registration.slug}/events/", data=forged).status_code == 401
    assert server.store.events.list() == before


def test_an_event_at_another_registrations_address_is_401(server):
    _, _, portal = installed(server)
    other, _ = server.register(1)
    before = server.store.events.list()
    answer = server.client.post(f"/b24/{other.slug}/events/", data=event(portal, portal.application_token))
    assert answer.status_code == 401
    assert server.store.events.list() == before
    assert server.store.portals.get(portal.member_id).state == PortalState.INSTALLED


def test_events_of_an_uninstalled_portal_are_refused(server):
    registration, created, portal = installed(server)
    server.sandbox.uninstall_app(0, created["client_id"])
    before = server.store.events.list()
    answer = server.client.post(
        f"/b24/{registration.slug}/events/", data=event(portal, portal.application_token, "ONCRMTYPEADD")
    )
    assert answer.status_code == 403
    assert server.store.events.list() == before


# -- secrets ---------------------------------------------------------------------------------------


def test_no_token_in_the_logs(server, caplog):
    caplog.set_level(logging.DEBUG)
    registration, created = server.register()
    payload = install_payload(server, 0, created["client_id"])
    secrets = [
        payload["auth[access_token]"],
        payload["auth[refresh_token]"],
        payload["auth[application_token]"],
    ]
    query = f"?AUTH_ID={secrets[0]}&application_token={secrets[2]}"  # a client that puts tokens in the URL
    assert server.client.post(f"/b24/{registration.slug}/install/{query}", data=payload).status_code == 200
    launch = server.sandbox.portals[0].launch(created["client_id"], 1)
    path = urlsplit(launch.action)
    server.client.post(
        f"{path.path}?{path.query}&REFRESH_ID={launch.fields['REFRESH_ID']}", data=launch.fields
    )
    secrets += [launch.fields["AUTH_ID"], launch.fields["REFRESH_ID"]]
    server.client.post(
        f"/b24/{registration.slug}/events/?auth={secrets[0]}",
        data=event(server.store.portals.list()[0], FORGED),
    )
    assert "install" in caplog.text  # the request lines were logged
    for secret in [*secrets, FORGED]:
        assert secret not in caplog.text


@pytest.mark.parametrize("backend", ["sqlite"])  # the file: SQLite only
def test_the_sqlite_file_holds_no_plaintext_token(server, backend):
    registration, created, portal = installed(server)
    tokens = server.store.tokens.load(portal.id).pair
    server.store.engine.dispose()  # fold the write-ahead log into the file
    data = Path(make_url(server.settings.database_url).database).read_bytes()
    for secret in (
        tokens.access_token,
        tokens.refresh_token,
        portal.application_token,
        created["client_secret"],
    ):
        assert secret.encode() not in data
    assert portal.member_id.encode() in data  # the file is the one that holds the portal


def test_an_installer_form_works_only_at_its_own_registrations_address(server):
    _, created = server.register(0)
    other, _ = server.register(1)
    launch = server.sandbox.portals[0].launch(created["client_id"], 1)
    path = urlsplit(launch.action)
    page = server.client.post(f"{path.path}?{path.query}", data=launch.fields).get_data(as_text=True)
    token = re.search(r'name="install_token" value="([^"]+)"', page)[1]
    answer = server.client.post(
        f"/b24/{other.slug}/install/", data={"install_token": token, "template": "retail"}
    )
    assert answer.status_code == 403
    portal = server.store.portals.get(server.sandbox.portals[0].member_id)
    assert (portal.state, portal.template) == (PortalState.INSTALLING, None)


def test_an_update_cannot_revive_an_uninstalled_portal(server):
    registration, created, portal = installed(server)
    url = f"/b24/{registration.slug}/events/"
    assert server.client.post(url, data=event(portal, portal.application_token)).status_code == 200
    app = server.sandbox.oauth.apps[created["client_id"]]
    token, expires = server.sandbox.oauth.event_token(app, 1)  # still live: the portal kept the app
    update = {
        **event(portal, "fresh0application0token", "ONAPPUPDATE"),
        "auth[access_token]": token,
        "auth[expires]": str(expires),
    }
    assert server.client.post(url, data=update).status_code == 403
    portal = server.store.portals.get(portal.member_id)
    assert (portal.state, portal.application_token) == (PortalState.UNINSTALLED, None)
