"""An expired OAuth token is renewed once, for all threads, and the new pair is handed to the hook."""

import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from portal_fakes import envelope, error

from b24app.bitrix.auth import OAuthAuth, OAuthTokens
from b24app.bitrix.errors import AuthError

PROFILE = "https://portal.bitrix24.ru/rest/profile"
TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"
EXPIRED = error("expired_token", "The access token provided has expired.")


def oauth(saved):
    tokens = OAuthTokens("access-1", "refresh-1", 1700000000.0, "https://portal.bitrix24.ru/rest/")
    return OAuthAuth(tokens, "local.1", "secret", on_refresh=saved.append)


def new_pair(request):
    refresh_token = parse_qs(urlsplit(request.url).query)["refresh_token"][0]
    number = int(refresh_token.rsplit("-", 1)[1]) + 1
    pair = {"access_token": f"access-{number}", "refresh_token": f"refresh-{number}", "expires_in": 3600}
    return 200, {}, json.dumps(pair)


def portal_accepting(token):
    def answer(request):
        if json.loads(request.body)["auth"] == token:
            return 200, {}, json.dumps(envelope({"ID": "1"}))
        return 401, {}, json.dumps(EXPIRED)

    return answer


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(portal, make_client):
    saved = []
    client = make_client(oauth(saved))
    portal.add_callback("POST", PROFILE, callback=portal_accepting("access-2"))
    portal.add_callback("GET", TOKEN_URL, callback=new_pair)

    assert client.call("profile").result == {"ID": "1"}

    assert [call.request.method for call in portal.calls] == ["POST", "GET", "POST"]
    assert [tokens.access_token for tokens in saved] == ["access-2"]
    assert saved[0].refresh_token == "refresh-2"


def test_a_second_expired_token_after_the_refresh_is_an_auth_error(portal, make_client):
    saved = []
    client = make_client(oauth(saved))
    portal.post(PROFILE, status=401, json=EXPIRED)
    portal.add_callback("GET", TOKEN_URL, callback=new_pair)

    with pytest.raises(AuthError) as failed:
        client.call("profile")

    assert failed.value.code == "expired_token"
    assert [call.request.method for call in portal.calls] == ["POST", "GET", "POST"]
    assert len(saved) == 1 and saved[0].access_token == "access-2"


def test_other_auth_errors_do_not_refresh(portal, make_client):
    saved = []
    client = make_client(oauth(saved))
    portal.post(PROFILE, status=401, json=error("invalid_token", "Unable to get application by token"))

    with pytest.raises(AuthError):
        client.call("profile")

    assert len(portal.calls) == 1 and saved == []


def test_two_threads_with_an_expired_token_refresh_it_only_once(portal, make_client):
    saved = []
    auth = oauth(saved)
    clients = [make_client(auth), make_client(auth)]
    both_rejected = threading.Barrier(2, timeout=5)

    def answer(request):
        if json.loads(request.body)["auth"] == "access-1":
            both_rejected.wait()  # both threads have sent the old token before anyone refreshes
            return 401, {}, json.dumps(EXPIRED)
        return 200, {}, json.dumps(envelope({"ID": "1"}))

    portal.add_callback("POST", PROFILE, callback=answer)
    portal.add_callback("GET", TOKEN_URL, callback=new_pair)
    results, failures = [], []

    def run(client):
        try:
            results.append(client.call("profile").result)
        except Exception as failure:
            failures.append(failure)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert results == [{"ID": "1"}, {"ID": "1"}]
    assert [call.request.method for call in portal.calls].count("GET") == 1
    assert [tokens.access_token for tokens in saved] == ["access-2"]
