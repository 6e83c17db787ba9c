"""Verifying a POSTed token with the OAuth server's app.info, and the code exchange, at the HTTP level."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from b24app.bitrix.addresses import AddressPolicy
from b24app.bitrix.errors import AuthError, TransientError
from b24app.bitrix.oauthflow import AuthorizationReply, ReconnectRefused, authorize_url, exchange_code
from b24app.bitrix.verify import VerificationRefused, verified_tokens, verify_token

OAUTH = "https://oauth.example/"
CLIENT_ID = "local.6537665f598492.98090704"
SECRET = "s3cr3t-client-secret-value-000000000000000000000000"
TOKEN = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4"
MEMBER = "a223c6b3710f85df22e9377d6c4f7553"
PUBLIC_NAMES = {"some.bitrix24.ru": ["93.184.216.34"], "other.bitrix24.ru": ["93.184.216.35"]}
POLICY = AddressPolicy(resolve=lambda host, port: PUBLIC_NAMES[host])


def app_info(client_endpoint="https://some.bitrix24.ru/rest/", domain="some.bitrix24.ru", **result):
    record = {
        "client_id": CLIENT_ID,
        "scope": "crm,im",
        "expires": "2026-12-01T12:00:00+00:00",
        "user_id": 1,
        "install": {
            "installed": True,
            "version": 1,
            "status": "L",
            "scope": "crm,im",
            "domain": domain,
            "uri": "https://" + domain,
            "client_endpoint": client_endpoint,
            "member_id": MEMBER,
            "member_type": "PORTAL",
        },
    }
    record.update(result)
    return {"result": record}


@pytest.fixture
def oauth():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def verify(**kw):
    kw.setdefault("client_id", CLIENT_ID)
    kw.setdefault("oauth_url", OAUTH)
    kw.setdefault("policy", POLICY)
    return verify_token(TOKEN, **kw)


def test_the_portal_comes_from_bitrix24s_answer(oauth):
    oauth.get(OAUTH + "rest/app.info", json=app_info())
    verified = verify(claimed_member_id=MEMBER)
    assert (verified.member_id, verified.domain, verified.client_endpoint) == (
        MEMBER,
        "some.bitrix24.ru",
        "https://some.bitrix24.ru/rest/",
    )
    assert verified.client_id == CLIENT_ID and verified.scopes == ("crm", "im") and verified.user_id == 1
    assert verified.installed is True
    sent = urlsplit(oauth.calls[0].request.url)
    assert sent.netloc == "oauth.example" and parse_qs(sent.query) == {"auth": [TOKEN]}


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("https://127.0.0.1/rest/", "loopback"),
        ("https://169.254.169.254/rest/", "link-local"),
        ("https://10.0.0.5/rest/", "private"),
        ("http://some.bitrix24.ru/rest/", "https"),
    ],
)
def test_a_portal_address_the_guard_refuses_is_refused_even_from_bitrix24(oauth, endpoint, reason):
    domain = urlsplit(endpoint).hostname
    oauth.get(OAUTH + "rest/app.info", json=app_info(client_endpoint=endpoint, domain=domain))
    with pytest.raises(VerificationRefused, match=reason):
        verify()


def test_a_token_of_another_app_is_refused(oauth):
    oauth.get(OAUTH + "rest/app.info", json=app_info(client_id="local.0000000000000.11111111"))
    with pytest.raises(VerificationRefused, match="another app"):
        verify()


def test_a_token_of_another_portal_is_refused(oauth):
    oauth.get(OAUTH + "rest/app.info", json=app_info())
    with pytest.raises(VerificationRefused, match="another portal"):
        verify(claimed_member_id="f" * 32)


def test_an_answer_naming_two_portals_is_refused(oauth):
    oauth.get(OAUTH + "rest/app.info", json=app_info(domain="other.bitrix24.ru"))
    with pytest.raises(VerificationRefused, match="two portals"):
        verify()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_client", "error_description": "Invalid client"}),
        (401, {"error": "expired_token", "error_description": "The access token provided has expired."}),
        (401, {"error": "invalid_token", "error_description": "Unable to get application by token"}),
        (200, {"result": {"client_id": CLIENT_ID}}),
    ],
)
def test_tokens_bitrix24_does_not_vouch_for_are_refused_without_leaking(oauth, caplog, status, body):
    caplog.set_level(logging.DEBUG)
    oauth.get(OAUTH + "rest/app.info", json=body, status=status)
    with pytest.raises(VerificationRefused) as refused:
        verify()
    assert TOKEN not in str(refused.value)
    assert TOKEN not in caplog.text


def test_an_oauth_server_fault_is_temporary_not_a_refusal(oauth):
    oauth.get(OAUTH + "rest/app.info", body="<html>bad gateway</html>", status=502)
    with pytest.raises(TransientError):
        verify()


def test_stored_tokens_renew_only_at_the_configured_oauth_server(oauth):
    oauth.get(OAUTH + "rest/app.info", json=app_info())
    tokens = verified_tokens(verify(), TOKEN, "r" * 40, oauth_url=OAUTH)
    assert tokens.server_endpoint == "https://oauth.example/rest/"
    assert tokens.client_endpoint == "https://some.bitrix24.ru/rest/" and tokens.member_id == MEMBER


# -- the authorization-code flow ------------------------------------------------------------------

STATE = "st-0123456789abcdef0123456789abcdef"


def reply(**kw):
    values = {
        "code": "c0de" * 10,
        "state": STATE,
        "domain": "some.bitrix24.ru",
        "member_id": MEMBER,
        "server_domain": "evil.example",
    }
    values.update(kw)
    return AuthorizationReply(**values)


def exchange(the_reply, **kw):
    kw.setdefault("expected_state", STATE)
    return exchange_code(
        the_reply,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        expected_member_id=MEMBER,
        expected_domain="some.bitrix24.ru",
        oauth_url=OAUTH,
        policy=POLICY,
        **kw,
    )


def token_answer(**kw):
    answer = {
        "access_token": "n" * 40,
        "refresh_token": "m" * 40,
        "expires": 1900000000,
        "expires_in": 3600,
        "client_endpoint": "https://some.bitrix24.ru/rest/",
        "server_endpoint": "https://evil.example/rest/",
        "domain": "oauth.example",
        "member_id": MEMBER,
        "scope": "crm,im",
        "status": "L",
        "user_id": 1,
    }
    answer.update(kw)
    return answer


def test_authorize_url_names_the_portal_the_app_and_the_state():
    url = authorize_url("https://some.bitrix24.ru/rest/", CLIENT_ID, STATE, POLICY)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "some.bitrix24.ru", "/oauth/authorize/")
    assert parse_qs(parts.query)["client_id"] == [CLIENT_ID] and parse_qs(parts.query)["state"] == [STATE]


def test_authorize_url_refuses_a_private_portal():
    with pytest.raises(ValueError, match="private"):
        authorize_url("https://10.0.0.5/rest/", CLIENT_ID, STATE, POLICY)


def test_the_code_and_secret_go_only_to_the_configured_oauth_server(oauth):
    oauth.get(OAUTH + "oauth/token/", json=token_answer())
    tokens = exchange(reply())
    assert [urlsplit(call.request.url).netloc for call in oauth.calls] == ["oauth.example"]
    sent = parse_qs(urlsplit(oauth.calls[0].request.url).query)
    assert sent["grant_type"] == ["authorization_code"] and sent["client_secret"] == [SECRET]
    assert sent["code"] == ["c0de" * 10] and sent["client_id"] == [CLIENT_ID]
    assert tokens.server_endpoint == "https://oauth.example/rest/"  # not the answer's evil.example
    assert tokens.access_token == "n" * 40 and tokens.member_id == MEMBER


@pytest.mark.parametrize(
    ("the_reply", "reason"),
    [
        (reply(state="forged"), "state does not match"),
        (reply(state=None), "state does not match"),
        (reply(member_id="f" * 32), "another installation"),
        (reply(domain="evil.example"), "another installation"),
    ],
)
def test_a_reply_that_does_not_fit_is_refused_before_the_code_is_spent(oauth, the_reply, reason):
    with pytest.raises(ReconnectRefused, match=reason):
        exchange(the_reply)
    assert len(oauth.calls) == 0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (token_answer(member_id="f" * 32), "another portal"),
        (token_answer(client_endpoint="https://other.bitrix24.ru/rest/"), "is not some.bitrix24.ru"),
        (token_answer(client_endpoint="https://10.0.0.5/rest/"), "private"),
        (token_answer(client_endpoint="https://169.254.169.254/rest/"), "link-local"),
        (token_answer(refresh_token=""), "without a token pair"),
    ],
)
def test_a_token_answer_for_another_portal_is_refused(oauth, answer, reason):
    oauth.get(OAUTH + "oauth/token/", json=answer)
    with pytest.raises(ReconnectRefused, match=reason):
        exchange(reply())


@pytest.mark.parametrize(
    ("status", "error"), [(400, "invalid_grant"), (200, "wrong_client"), (400, "invalid_client")]
)
def test_oauth_server_refusals_are_auth_errors_without_secrets(oauth, caplog, status, error):
    caplog.set_level(logging.DEBUG)
    oauth.get(OAUTH + "oauth/token/", json={"error": error, "error_description": "no"}, status=status)
    with pytest.raises(AuthError) as refused:
        exchange(reply())
    assert refused.value.code == error
    for secret in (SECRET, "c0de" * 10):
        assert secret not in str(refused.value) and secret not in caplog.text
