"""An installed app's OAuth tokens against the sandbox's OAuth server: code exchange, expiry, refresh."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from b24app import sync
from b24app.bitrix.auth import OAuthAuth, OAuthTokens
from b24app.bitrix.client import Client
from b24app.bitrix.errors import AuthError
from b24app.bitrix.ratelimit import LeakyBucket
from b24app.bitrix.tokens import MemoryTokenStore, ProcessRefreshLock


def install_and_authorise(sandbox) -> tuple[OAuthTokens, dict]:
    app = sandbox.register_app(0, handler_url="http://127.0.0.1:9/app/")
    portal = sandbox.portals[0]
    answer = requests.get(
        f"{portal.base_url}oauth/authorize/",
        params={"client_id": app["client_id"], "state": "s1"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["s1"] and query["member_id"] == [portal.member_id]
    token = requests.get(
        f"{sandbox.oauth_url}oauth/token/",
        timeout=5,
        params={
            "grant_type": "authorization_code",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": query["code"][0],
        },
    ).json()
    tokens = OAuthTokens(
        access_token=token["access_token"],
        refresh_token=token["refresh_token"],
        expires=float(token["expires"]),
        client_endpoint=token["client_endpoint"],
        server_endpoint=token["server_endpoint"],
        member_id=token["member_id"],
    )
    return tokens, app


def test_expired_token_is_refreshed_once_and_the_new_pair_saved(sandbox, example):
    tokens, app = install_and_authorise(sandbox)
    saved: list[OAuthTokens] = []
    auth = OAuthAuth(
        tokens, app["client_id"], app["client_secret"], oauth_url=sandbox.oauth_url, on_refresh=saved.append
    )
    client = Client(auth, bucket=LeakyBucket())
    plan, _ = sync.make_plan(client, example)
    assert plan.has_changes and saved == []
    sandbox.set_faults(0, expire_tokens=True)
    result = sync.apply(client, example)
    assert result.converged
    assert len(saved) == 1 and saved[0].refresh_token != tokens.refresh_token
    # the old refresh token was single-use: a second client holding it cannot renew
    stale = Client(
        OAuthAuth(tokens, app["client_id"], app["client_secret"], oauth_url=sandbox.oauth_url),
        bucket=LeakyBucket(),
    )
    sandbox.set_faults(0, expire_tokens=True)
    with pytest.raises(AuthError) as failure:
        stale.call("profile")
    assert failure.value.code == "invalid_grant"
    assert tokens.refresh_token not in str(failure.value) and tokens.access_token not in str(failure.value)


def test_a_process_holding_a_spent_pair_takes_the_renewed_one_from_the_store(sandbox):
    tokens, app = install_and_authorise(sandbox)
    store = MemoryTokenStore(tokens)

    def process() -> Client:  # its own credentials and lock, as in another process; only the store is shared
        auth = OAuthAuth(
            tokens,
            app["client_id"],
            app["client_secret"],
            oauth_url=sandbox.oauth_url,
            on_refresh=store.save,
            load=store.load,
            lock=ProcessRefreshLock(),
        )
        return Client(auth, bucket=LeakyBucket())

    first, second = process(), process()
    sandbox.set_faults(0, expire_tokens=True)
    first.call("profile")
    renewed = store.load()
    assert renewed.refresh_token != tokens.refresh_token

    assert second.call("profile").result  # its token expired and its refresh token is spent
    assert store.load() is renewed  # the second process used the stored pair; nothing renewed twice
