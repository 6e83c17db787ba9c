"""Install, frame and event callbacks from sandbox portals, verified with the sandbox's OAuth server.

The sandbox portals live on 127.0.0.1, so verification runs with the development setting that
admits loopback portals; without it, those portals are refused (the SSRF guard, over real HTTP).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from b24app.bitrix.addresses import PUBLIC_ONLY, AddressPolicy
from b24app.bitrix.auth import OAuthAuth
from b24app.bitrix.callbacks import parse_event, parse_frame
from b24app.bitrix.client import Client
from b24app.bitrix.errors import AuthError
from b24app.bitrix.eventbind import bind_events
from b24app.bitrix.oauthflow import (
    ReconnectRefused,
    authorize_url,
    exchange_code,
    new_state,
    parse_authorization_reply,
)
from b24app.bitrix.ratelimit import LeakyBucket
from b24app.bitrix.verify import (
    VerificationRefused,
    portal_client,
    verified_tokens,
    verify_event,
    verify_frame,
    verify_token,
)
from b24app.manifest import load_manifest
from b24app.sandbox.server import Sandbox

from .receiver import Receiver

DEV = AddressPolicy(allow_loopback=True)
MANIFEST = load_manifest()


@pytest.fixture
def box():
    sandbox = Sandbox(host="127.0.0.1", port=0, portals=2, lang="en").start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def app_server():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def register(box, app_server, portal=0, registration="reg1", install=True):
    urls = MANIFEST.urls(app_server.base_url, registration)
    app = box.register_app(
        portal, handler_url=urls.handler, install_url=urls.install if install else "", scopes=["crm", "im"]
    )
    return app, urls


def installed(box, app_server, portal=0, registration="reg1"):
    """An API-only install: the ONAPPINSTALL POST the portal sent, parsed."""
    app, urls = register(box, app_server, portal, registration)
    box.install_app(portal, app["client_id"])
    return app, urls, parse_event(app_server.last(urlsplit(urls.install).path).body)


def options(box, app, policy=DEV):
    return {"client_id": app["client_id"], "oauth_url": box.oauth_url, "policy": policy}


def test_an_install_is_verified_with_bitrix24_and_its_events_bound_once(box, app_server, caplog):
    caplog.set_level(logging.DEBUG)
    app, urls, event = installed(box, app_server)
    portal = box.portals[0]
    assert event.event == "ONAPPINSTALL" and event.auth.refresh_token

    verified = verify_event(event, **options(box, app))
    assert (verified.member_id, verified.client_endpoint) == (portal.member_id, portal.base_url + "rest/")
    assert verified.client_id == app["client_id"] and verified.installed and "crm" in verified.scopes

    tokens = verified_tokens(
        verified, event.auth.access_token, event.auth.refresh_token, oauth_url=box.oauth_url
    )
    assert tokens.server_endpoint == box.oauth_url + "rest/"
    client = portal_client(verified, event.auth.access_token, DEV, bucket=LeakyBucket())
    first = bind_events(client, MANIFEST.events, urls.events)
    assert first.ok and set(first.bound) == set(MANIFEST.events) and client.requests_sent == 2
    bound = client.call("event.get").result
    assert sorted(row["event"] for row in bound) == sorted(MANIFEST.events)
    assert {row["handler"] for row in bound} == {urls.events}

    again = bind_events(client, [*MANIFEST.events, "ONCRMTYPEADD"], urls.events)  # a reinstall
    assert again.bound == () and set(again.already) == set(MANIFEST.events)
    assert len(client.call("event.get").result) == len(MANIFEST.events)
    assert client.requests_sent == 5  # the reinstall asked event.get once and bound nothing

    for secret in (event.auth.access_token, event.auth.refresh_token, event.auth.application_token):
        assert secret not in caplog.text


def test_bound_events_reach_the_events_path(box, app_server):
    app, urls, event = installed(box, app_server)
    verified = verify_event(event, **options(box, app))
    bind_events(portal_client(verified, event.auth.access_token, DEV), MANIFEST.events, urls.events)
    box.send_event(0, "ONCRMTYPEADD", {"FIELDS": {"ID": "7"}}, user_id=1)
    assert box.wait_deliveries(5.0)
    crm_event = parse_event(app_server.last(urlsplit(urls.events).path).body)
    assert crm_event.event == "ONCRMTYPEADD" and crm_event.data["FIELDS"]["ID"] == "7"
    assert crm_event.auth.application_token == event.auth.application_token
    assert verify_event(crm_event, **options(box, app)).member_id == verified.member_id

    box.uninstall_app(0, app["client_id"])
    goodbye = parse_event(app_server.last(urlsplit(urls.events).path).body)
    assert goodbye.event == "ONAPPUNINSTALL" and goodbye.auth.access_token is None
    assert goodbye.auth.application_token == event.auth.application_token
    with pytest.raises(VerificationRefused, match="no access token"):
        verify_event(goodbye, **options(box, app))


def test_sandbox_portals_are_refused_without_the_development_setting(box, app_server):
    app, _, event = installed(box, app_server)
    with pytest.raises(VerificationRefused, match="loopback"):
        verify_event(event, **options(box, app, policy=PUBLIC_ONLY))


def test_a_token_never_issued_is_refused(box, app_server, caplog):
    caplog.set_level(logging.DEBUG)
    app, _, event = installed(box, app_server)
    forged = "f" * 70
    with pytest.raises(VerificationRefused, match="does not know it") as refused:
        verify_token(forged, claimed_member_id=event.auth.member_id, **options(box, app))
    assert forged not in str(refused.value) and forged not in caplog.text


def test_a_token_of_another_portal_is_refused(box, app_server):
    app1, _, event1 = installed(box, app_server, portal=0, registration="one")
    app2, _, event2 = installed(box, app_server, portal=1, registration="two")
    # portal 2's install POST claiming to be portal 1 (same registration's client_id would not match
    # either, so check both ways round)
    claimed = replace(event2, auth=replace(event2.auth, member_id=event1.auth.member_id))
    with pytest.raises(VerificationRefused, match="another portal"):
        verify_event(claimed, **options(box, app2))
    with pytest.raises(VerificationRefused, match="another app"):
        verify_event(claimed, **options(box, app1))


def test_a_token_of_another_app_is_refused(box, app_server):
    ours, _, _ = installed(box, app_server, registration="ours")
    _, _, theirs = installed(box, app_server, registration="theirs")  # another local app, same portal
    with pytest.raises(VerificationRefused, match="another app"):
        verify_event(theirs, **options(box, ours))


def frame_open(box, app_server, app, urls, user_id=1):
    box.open_app(0, app["client_id"], user_id=user_id)
    received = app_server.last(urlsplit(urls.handler).path)
    return received, parse_frame(received.query, received.body)


def test_a_frame_open_is_verified_and_the_admin_flag_asked_of_the_portal(box, app_server):
    app, urls, _ = installed(box, app_server)
    _, frame = frame_open(box, app_server, app, urls, user_id=1)
    admin = verify_frame(frame, **options(box, app))
    assert admin.admin is True and admin.user_id == 1 and admin.member_id == frame.member_id
    _, frame = frame_open(box, app_server, app, urls, user_id=2)
    manager = verify_frame(frame, **options(box, app))
    assert manager.admin is False and manager.user_id == 2


def test_the_installer_frame_of_an_app_with_ui_is_verified_before_install_finish(box, app_server):
    app, urls = register(box, app_server)
    box.open_app(0, app["client_id"], user_id=1)
    received = app_server.last(urlsplit(urls.install).path)
    verified = verify_frame(parse_frame(received.query, received.body), **options(box, app))
    assert verified.installed is False and verified.admin is True


def test_a_posted_domain_loses_to_the_verified_one(box, app_server):
    app, urls, _ = installed(box, app_server)
    received, _ = frame_open(box, app_server, app, urls)
    forged = parse_frame(urlencode({"DOMAIN": "evil.example", "LANG": "en"}), received.body)
    verified = verify_frame(forged, **options(box, app))
    assert forged.domain == "evil.example"
    assert (
        verified.domain == box.portals[0].domain
        and verified.client_endpoint == box.portals[0].base_url + "rest/"
    )


def test_reconnect_with_the_authorization_code_flow(box, app_server, caplog):
    caplog.set_level(logging.DEBUG)
    app, urls, event = installed(box, app_server)
    portal = box.portals[0]
    state = new_state()
    url = authorize_url(portal.base_url + "rest/", app["client_id"], state, DEV)
    redirect = requests.get(url, allow_redirects=False, timeout=5)  # the admin's browser
    assert redirect.status_code == 302
    back = urlsplit(redirect.headers["Location"])
    assert back.path == urlsplit(urls.handler).path
    reply = parse_authorization_reply(back.query)
    expected = {
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "expected_member_id": portal.member_id,
        "expected_domain": portal.domain,
        "oauth_url": box.oauth_url,
        "policy": DEV,
    }
    with pytest.raises(ReconnectRefused, match="state"):
        exchange_code(reply, expected_state=new_state(), **expected)
    tokens = exchange_code(reply, expected_state=state, **expected)  # the refusal did not spend the code
    assert tokens.member_id == portal.member_id and tokens.client_endpoint == portal.base_url + "rest/"

    client = Client(
        OAuthAuth(tokens, app["client_id"], app["client_secret"], oauth_url=box.oauth_url),
        bucket=LeakyBucket(),
    )
    assert client.call("user.admin").result is True
    with pytest.raises(AuthError) as spent:
        exchange_code(reply, expected_state=state, **expected)  # a code works once
    assert spent.value.code == "invalid_grant"
    for secret in (app["client_secret"], reply.code, tokens.access_token, tokens.refresh_token):
        assert secret not in caplog.text and secret not in str(spent.value)


def test_reconnect_refuses_a_reply_from_another_portal(box, app_server):
    app, _, _ = installed(box, app_server, portal=1, registration="two")
    other = box.portals[1]
    url = authorize_url(other.base_url + "rest/", app["client_id"], "s" * 20, DEV)
    reply = parse_authorization_reply(
        urlsplit(requests.get(url, allow_redirects=False, timeout=5).headers["Location"]).query
    )
    with pytest.raises(ReconnectRefused, match="another installation"):
        exchange_code(
            reply,
            expected_state="s" * 20,
            client_id=app["client_id"],
            client_secret=app["client_secret"],
            expected_member_id=box.portals[0].member_id,
            expected_domain=box.portals[0].domain,
            oauth_url=box.oauth_url,
            policy=DEV,
        )
