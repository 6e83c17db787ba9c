"""OAuth over HTTP: authorize redirect on the portal, code exchange and refresh on the OAuth server."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

TIMEOUT = 5
HANDLER = "http://127.0.0.1:9/app/handler"  # never contacted by these tests


@pytest.fixture
def app(sandbox):
    return sandbox.register_app(0, handler_url=HANDLER, scopes=("crm", "user"))


def authorize(sandbox, client_id: str, state: str = "xyz") -> requests.Response:
    return requests.get(
        sandbox.portals[0].base_url + "oauth/authorize/",
        params={"client_id": client_id, "state": state},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def exchange(sandbox, app: dict, code: str) -> requests.Response:
    return requests.get(
        sandbox.oauth_url + "oauth/token/",
        params={
            "grant_type": "authorization_code",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": code,
        },
        timeout=TIMEOUT,
    )


def refresh(sandbox, app: dict, token: str) -> requests.Response:
    return requests.post(
        sandbox.oauth_url + "oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "refresh_token": token,
        },
        timeout=TIMEOUT,
    )


def tokens_for(sandbox, app: dict) -> dict:
    code = parse_qs(urlsplit(authorize(sandbox, app["client_id"]).headers["Location"]).query)["code"][0]
    return exchange(sandbox, app, code).json()


def test_client_id_looks_like_a_local_app(app):
    assert re.fullmatch(r"local\.[0-9a-f]{14}\.\d{8}", app["client_id"])
    assert app["client_secret"]


def test_authorize_redirects_to_the_handler_with_code_and_portal_data(sandbox, app):
    r = authorize(sandbox, app["client_id"])
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(HANDLER + "?")
    assert "scope=crm%2Cuser" in location
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    portal = sandbox.portals[0]
    assert query["state"] == "xyz"
    assert query["domain"] == portal.domain and query["member_id"] == portal.member_id
    assert query["server_domain"] == urlsplit(sandbox.oauth_url).netloc
    assert query["code"]


def test_authorize_unknown_app_shows_an_error_page_without_redirect(sandbox):
    r = authorize(sandbox, "local.00000000000000.00000000")
    assert r.status_code == 200 and "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html")


def test_code_exchange_returns_the_full_token_record_and_the_token_works(sandbox, app):
    body = tokens_for(sandbox, app)
    portal = sandbox.portals[0]
    assert body["expires_in"] == 3600 and body["status"] == "L" and body["user_id"] == 1
    assert body["scope"] == "crm,user"
    assert body["domain"] == urlsplit(sandbox.oauth_url).netloc
    assert body["server_endpoint"] == sandbox.oauth_url + "rest/"
    assert body["client_endpoint"] == portal.base_url + "rest/"
    assert body["member_id"] == portal.member_id
    assert body["expires"] > 0 and body["refresh_token"]
    r = requests.post(
        body["client_endpoint"] + "profile.json", json={"auth": body["access_token"]}, timeout=TIMEOUT
    )
    assert r.status_code == 200 and r.json()["result"]["ID"] == "1"
    r = requests.get(
        body["client_endpoint"] + "profile", params={"auth": body["access_token"]}, timeout=TIMEOUT
    )
    assert r.status_code == 200


def test_code_is_single_use_and_expires_after_30_seconds(sandbox, app):
    code = parse_qs(urlsplit(authorize(sandbox, app["client_id"]).headers["Location"]).query)["code"][0]
    assert exchange(sandbox, app, code).status_code == 200
    r = exchange(sandbox, app, code)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    code = parse_qs(urlsplit(authorize(sandbox, app["client_id"]).headers["Location"]).query)["code"][0]
    sandbox.advance_clock(31)
    assert exchange(sandbox, app, code).json()["error"] == "invalid_grant"


def test_refresh_rotates_and_the_old_refresh_token_is_dead(sandbox, app):
    first = tokens_for(sandbox, app)
    second = refresh(sandbox, app, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    again = refresh(sandbox, app, first["refresh_token"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_expired_access_token_then_refresh_recovers(sandbox, app):
    body = tokens_for(sandbox, app)
    endpoint = body["client_endpoint"] + "profile"
    sandbox.advance_clock(3601)
    r = requests.get(endpoint, params={"auth": body["access_token"]}, timeout=TIMEOUT)
    assert r.status_code == 401
    assert r.json() == {
        "error": "expired_token",
        "error_description": "The access token provided has expired.",
    }
    renewed = refresh(sandbox, app, body["refresh_token"]).json()
    assert (
        requests.get(endpoint, params={"auth": renewed["access_token"]}, timeout=TIMEOUT).status_code == 200
    )


def test_expire_tokens_fault(sandbox, app):
    body = tokens_for(sandbox, app)
    requests.post(
        sandbox.control_url + "control/portals/portal1/faults", json={"expire_tokens": True}, timeout=TIMEOUT
    )
    r = requests.get(
        body["client_endpoint"] + "profile", params={"auth": body["access_token"]}, timeout=TIMEOUT
    )
    assert r.json()["error"] == "expired_token"


def test_control_clock_advance_expires_tokens(sandbox, app):
    body = tokens_for(sandbox, app)
    r = requests.post(sandbox.control_url + "control/clock", json={"advance": 3700}, timeout=TIMEOUT)
    assert r.json()["offset"] == 3700
    r = requests.get(
        body["client_endpoint"] + "profile", params={"auth": body["access_token"]}, timeout=TIMEOUT
    )
    assert r.json()["error"] == "expired_token"


def test_token_endpoint_errors(sandbox, app):
    url = sandbox.oauth_url + "oauth/token/"
    base = {
        "grant_type": "refresh_token",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    r = requests.get(url, params=base, timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = requests.get(url, params={**base, "refresh_token": "x", "client_id": "local.1.2"}, timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (200, "wrong_client")
    r = requests.get(url, params={**base, "refresh_token": "x", "client_secret": "nope"}, timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_client")
    r = requests.get(url, params={**base, "refresh_token": "x"}, timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


def test_app_info_on_the_oauth_server(sandbox, app):
    body = tokens_for(sandbox, app)
    r = requests.get(
        sandbox.oauth_url + "rest/app.info/", params={"auth": body["access_token"]}, timeout=TIMEOUT
    )
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["client_id"] == app["client_id"] and result["user_id"] == 1
    install = result["install"]
    assert install["installed"] is True  # registered without an install path
    assert install["member_id"] == sandbox.portals[0].member_id
    assert install["client_endpoint"] == sandbox.portals[0].base_url + "rest/"
    r = requests.get(sandbox.oauth_url + "rest/app.info/", params={"auth": "nope"}, timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_client")


def test_token_of_one_portal_is_invalid_on_another(sandbox, app):
    body = tokens_for(sandbox, app)
    r = requests.get(
        sandbox.portals[1].base_url + "rest/profile", params={"auth": body["access_token"]}, timeout=TIMEOUT
    )
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


def test_app_urls_must_be_loopback(sandbox):
    with pytest.raises(ValueError, match="loopback"):
        sandbox.register_app(0, handler_url="https://example.com/app")
