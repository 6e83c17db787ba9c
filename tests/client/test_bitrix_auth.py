import pytest
import requests
from portal_fakes import CODE, WEBHOOK
from responses import matchers

from b24app.bitrix.auth import OAuthAuth, OAuthTokens, WebhookAuth
from b24app.bitrix.errors import AuthError, ProtocolError, TransientError

# -- webhooks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "domain", "base_url"),
    [
        (WEBHOOK, "portal.bitrix24.ru", WEBHOOK),
        (WEBHOOK.rstrip("/"), "portal.bitrix24.ru", WEBHOOK),
        (
            "https://crm.example.com:8443/rest/12/abc/",
            "crm.example.com:8443",
            "https://crm.example.com:8443/rest/12/abc/",
        ),
        (
            "http://127.0.0.1:8000/p/alpha/rest/1/abc/",
            "127.0.0.1:8000",
            "http://127.0.0.1:8000/p/alpha/rest/1/abc/",
        ),
        ("http://127.5.0.1/rest/1/abc/", "127.5.0.1", "http://127.5.0.1/rest/1/abc/"),
        ("http://localhost:5000/rest/1/abc", "localhost:5000", "http://localhost:5000/rest/1/abc/"),
        ("http://[::1]:5000/rest/1/abc/", "[::1]:5000", "http://[::1]:5000/rest/1/abc/"),
    ],
)
def test_webhook_urls_are_accepted(url, domain, base_url):
    auth = WebhookAuth(url)

    assert (auth.domain, auth.base_url) == (domain, base_url)
    assert auth.method_url("crm.status.list") == base_url + "crm.status.list"
    assert auth.params() == {}
    assert auth.can_refresh is False


@pytest.mark.parametrize(
    "url",
    [
        "http://portal.bitrix24.ru/rest/1/abc/",
        "http://10.0.0.5/rest/1/abc/",
        "http://localhost.evil.com/rest/1/abc/",
    ],
)
def test_plain_http_is_only_for_loopback_hosts(url):
    with pytest.raises(ValueError, match="must use https://.*only for 127.0.0.1, ::1 and localhost"):
        WebhookAuth(url)


@pytest.mark.parametrize(
    "url",
    [
        f"https://portal.bitrix24.ru/rest/x/{CODE}/",
        f"https://portal.bitrix24.ru/rest/1/{CODE}/profile",
        "https://portal.bitrix24.ru/rest/1/",
        f"https://portal.bitrix24.ru/rest/1/{CODE}/?x=1",
        f"https://user:pw@portal.bitrix24.ru/rest/1/{CODE}/",
        f"ftp://portal.bitrix24.ru/rest/1/{CODE}/",
        "portal.bitrix24.ru",
    ],
)
def test_malformed_webhook_urls_are_refused_without_echoing_the_code(url):
    with pytest.raises(ValueError) as refused:
        WebhookAuth(url)

    assert CODE not in str(refused.value)


def test_webhook_redacts_its_code_everywhere():
    auth = WebhookAuth(WEBHOOK)

    assert auth.redact(f"POST {WEBHOOK}profile") == "POST https://portal.bitrix24.ru/rest/1/***/profile"
    assert CODE not in repr(auth)


# -- OAuth ----------------------------------------------------------------------------------------

OAUTH_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"


def make_tokens(**changes):
    values = dict(
        access_token="access-1",
        refresh_token="refresh-1",
        expires=1700000000.0,
        client_endpoint="https://portal.bitrix24.ru/rest/",
        member_id="m1",
        domain="portal.bitrix24.ru",
        scope="crm",
        user_id=1,
    )
    return OAuthTokens(**{**values, **changes})


def renewed_pair(**changes):
    return {
        "access_token": "access-2",
        "refresh_token": "refresh-2",
        "expires": 1700003600,
        "expires_in": 3600,
        "client_endpoint": "https://portal.bitrix24.ru/rest/",
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "domain": "oauth.bitrix.info",
        "member_id": "m1",
        "scope": "crm,user",
        "status": "L",
        "user_id": "1",
        **changes,
    }


def test_oauth_calls_go_to_the_client_endpoint_with_the_token_in_auth():
    auth = OAuthAuth(make_tokens(), "local.1", "secret")

    assert auth.domain == "portal.bitrix24.ru"
    assert auth.method_url("profile") == "https://portal.bitrix24.ru/rest/profile"
    assert auth.params() == {"auth": "access-1"}
    assert auth.can_refresh is True


def test_refresh_asks_the_oauth_server_and_hands_the_new_pair_to_the_hook(portal):
    saved = []
    auth = OAuthAuth(make_tokens(), "local.1", "secret", on_refresh=saved.append)
    query = {
        "grant_type": "refresh_token",
        "client_id": "local.1",
        "client_secret": "secret",
        "refresh_token": "refresh-1",
    }
    portal.get(OAUTH_TOKEN_URL, json=renewed_pair(), match=[matchers.query_param_matcher(query)])

    auth.refresh(requests.Session())

    assert auth.params() == {"auth": "access-2"}
    assert saved == [auth.tokens]
    assert (saved[0].refresh_token, saved[0].expires, saved[0].user_id, saved[0].scope) == (
        "refresh-2",
        1700003600.0,
        1,
        "crm,user",
    )
    assert saved[0].domain == "portal.bitrix24.ru"  # the portal, not the OAuth host of the answer


def test_refresh_goes_only_to_the_configured_oauth_server_whatever_the_pair_names(portal):
    """The client_secret goes to the configured OAuth server: a pair's server_endpoint (stored,
    POSTed, or named by a token answer) never redirects a renewal."""
    auth = OAuthAuth(
        make_tokens(server_endpoint="https://evil.example/rest/"),
        "local.1",
        "secret",
        oauth_url="https://oauth.example/",
    )
    portal.get(
        "https://oauth.example/oauth/token/",
        json=renewed_pair(server_endpoint="https://evil.example/rest/", refresh_token="refresh-2"),
    )
    portal.get(
        "https://oauth.example/oauth/token/",
        json=renewed_pair(access_token="access-3", refresh_token="refresh-3"),
    )

    auth.refresh(requests.Session())
    auth.refresh(requests.Session())  # the answer named evil.example: the next renewal ignores it

    assert auth.tokens.access_token == "access-3"
    assert [call.request.url.split("?")[0] for call in portal.calls] == [
        "https://oauth.example/oauth/token/",
        "https://oauth.example/oauth/token/",
    ]
    assert all("evil.example" not in call.request.url for call in portal.calls)


def test_refresh_is_skipped_when_another_thread_already_renewed_the_token(portal):
    auth = OAuthAuth(make_tokens(), "local.1", "secret")

    auth.refresh(requests.Session(), stale_token="access-0")

    assert len(portal.calls) == 0
    assert auth.tokens.access_token == "access-1"


def test_a_rejected_refresh_token_says_to_reauthorise_and_hides_secrets(portal):
    saved = []
    auth = OAuthAuth(make_tokens(), "local.1", "secret", on_refresh=saved.append)
    portal.get(
        OAUTH_TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Invalid grant"}
    )

    with pytest.raises(AuthError, match="refresh token rejected; reinstall/re-authorise the app") as failed:
        auth.refresh(requests.Session())

    assert failed.value.code == "invalid_grant"
    assert saved == []
    for secret in ("secret", "refresh-1", "access-1"):
        assert secret not in str(failed.value)


def test_an_unknown_client_is_an_auth_error_even_with_http_200(portal):
    auth = OAuthAuth(make_tokens(), "local.1", "secret")
    portal.get(OAUTH_TOKEN_URL, json={"error": "wrong_client", "error_description": "Wrong client"})

    with pytest.raises(AuthError, match="client_id is unknown"):
        auth.refresh(requests.Session())


def test_an_answer_without_tokens_is_a_protocol_error(portal):
    auth = OAuthAuth(make_tokens(), "local.1", "secret")
    portal.get(OAUTH_TOKEN_URL, json={"result": "ok"})

    with pytest.raises(ProtocolError, match="without a token pair"):
        auth.refresh(requests.Session())


def test_a_network_failure_during_refresh_does_not_leak_the_secret(portal):
    auth = OAuthAuth(make_tokens(), "local.1", "secret")
    portal.get(OAUTH_TOKEN_URL, body=requests.ConnectionError(f"{OAUTH_TOKEN_URL}?client_secret=secret"))

    with pytest.raises(TransientError) as failed:
        auth.refresh(requests.Session())

    assert "secret" not in str(failed.value)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_oauth_urls_must_be_https_unless_loopback():
    with pytest.raises(ValueError, match="client_endpoint"):
        OAuthAuth(make_tokens(client_endpoint="http://portal.bitrix24.ru/rest/"), "local.1", "secret")
    with pytest.raises(ValueError, match="OAuth server"):
        OAuthAuth(make_tokens(), "local.1", "secret", oauth_url="http://oauth.example.com/")
    local = OAuthAuth(
        make_tokens(client_endpoint="http://127.0.0.1:8000/rest/"),
        "local.1",
        "secret",
        oauth_url="http://127.0.0.1:8001",
    )
    assert local.oauth_url == "http://127.0.0.1:8001/"


def test_oauth_secrets_stay_out_of_reprs_and_are_redacted(portal):
    auth = OAuthAuth(make_tokens(), "local.1", "secret")
    portal.get(OAUTH_TOKEN_URL, json=renewed_pair())
    auth.refresh(requests.Session())

    for text in (repr(auth), repr(auth.tokens)):
        for secret in ("secret", "access-1", "refresh-1", "access-2", "refresh-2"):
            assert secret not in text
    assert auth.redact("old access-1 new access-2 refresh-2 secret") == "old *** new *** *** ***"


def test_an_empty_secret_does_not_garble_redaction():
    auth = OAuthAuth(make_tokens(), "local.1", "")

    assert auth.redact("token access-1 here") == "token *** here"
