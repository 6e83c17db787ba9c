"""connect(): one way from a PORTAL reference (webhook URL, or what a resolver knows) to a client."""

import pytest
import requests
from portal_fakes import CODE, PORTAL, WEBHOOK, envelope, error, sent_json

from b24app import cli
from b24app.bitrix import (
    AuthError,
    OAuthAuth,
    OAuthTokens,
    TransientError,
    UnknownPortal,
    WebhookAuth,
    bucket_for,
    connect,
    register_resolver,
    unregister_resolver,
)

MEMBER_ID = "a223c5f2bd3e4e0f8c6d2b1e9f0a7c55"
OAUTH_ENDPOINT = "https://installed.bitrix24.ru/rest/"


class CountingLimiter:
    """A RateLimiter that is not a LeakyBucket: what the client asks of any limiter."""

    def __init__(self):
        self.acquired = 0
        self.penalized = 0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    def penalize(self) -> None:
        self.penalized += 1


class InstalledPortals:
    """A resolver like the web app's store: an installed portal by domain or member_id."""

    def __init__(self):
        self.asked: list[str] = []

    def resolve(self, ref):
        self.asked.append(ref)
        if ref.lower() not in ("installed.bitrix24.ru", MEMBER_ID):
            return None
        tokens = OAuthTokens("access-1", "refresh-1", None, OAUTH_ENDPOINT, member_id=MEMBER_ID)
        return OAuthAuth(tokens, "local.1", "secret")


class Unknowing:
    def __init__(self):
        self.asked: list[str] = []

    def resolve(self, ref):
        self.asked.append(ref)
        return None


class Uninstalled:
    def resolve(self, ref):
        raise ValueError(f"{ref} uninstalled b24app; install it again from the portal's Market page")


# -- webhooks ---------------------------------------------------------------------------------------


def test_a_webhook_url_gives_a_webhook_client(portal):
    portal.post(WEBHOOK + "profile", json=envelope({"ID": "1"}))

    client = connect(f"  {WEBHOOK}  ", max_attempts=1)

    assert client.domain == PORTAL
    assert client.call("profile").result == {"ID": "1"}
    assert sent_json(portal.calls[0]) == {}  # a webhook sends no auth field: the code is in the path


def test_webhook_clients_of_one_portal_share_its_bucket():
    first, second = connect(WEBHOOK), connect(WEBHOOK.replace("/rest/1/", "/rest/7/"))

    assert first._bucket is second._bucket is bucket_for(PORTAL)


def test_resolvers_are_never_asked_about_a_webhook_url(portal):
    resolver = InstalledPortals()

    client = connect(WEBHOOK, resolvers=[resolver])

    assert client.domain == PORTAL and resolver.asked == []


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("http://portal.bitrix24.ru/rest/1/abc/", "must use https://.*only for 127.0.0.1, ::1 and localhost"),
        (f"portal.bitrix24.ru/rest/1/{CODE}/", "must be an https:// address"),
        (f"https://portal.bitrix24.ru/rest/1/{CODE}/profile", "does not have the form"),
    ],
)
def test_a_bad_webhook_url_keeps_its_message_and_is_not_offered_to_resolvers(ref, message):
    resolver = InstalledPortals()

    with pytest.raises(ValueError, match=message) as refused:
        connect(ref, resolvers=[resolver])

    assert resolver.asked == [] and CODE not in str(refused.value)


# -- resolvers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["installed.bitrix24.ru", "INSTALLED.bitrix24.ru", MEMBER_ID])
def test_a_domain_or_member_id_goes_to_the_first_resolver_that_knows_it(portal, ref):
    unknowing, installed = Unknowing(), InstalledPortals()
    portal.post(OAUTH_ENDPOINT + "profile", json=envelope({"ID": "1"}))

    client = connect(ref, resolvers=[unknowing, installed])

    assert client.domain == "installed.bitrix24.ru"
    assert client.call("profile").result == {"ID": "1"}
    assert sent_json(portal.calls[0]) == {"auth": "access-1"}
    assert unknowing.asked == installed.asked == [ref]


def test_the_first_resolver_that_knows_a_portal_wins():
    later = Unknowing()

    connect("installed.bitrix24.ru", resolvers=[InstalledPortals(), later])

    assert later.asked == []


def test_a_resolver_that_knows_the_portal_but_cannot_reach_it_says_so():
    with pytest.raises(ValueError, match="uninstalled b24app; install it again"):
        connect("gone.bitrix24.ru", resolvers=[Unknowing(), Uninstalled()])


@pytest.mark.parametrize("resolvers", [[], [Unknowing()]])
def test_a_reference_nobody_knows_says_what_portal_takes(resolvers):
    with pytest.raises(UnknownPortal) as refused:
        connect("nowhere.bitrix24.ru", resolvers=resolvers)

    message = str(refused.value)
    assert message.startswith(
        "'nowhere.bitrix24.ru' is neither an incoming-webhook URL nor an installed portal"
    )
    assert "Inbound webhook" in message and "member_id" in message


@pytest.mark.parametrize("ref", [CODE, "a1b2c3d4e5f6" * 6, "my portal.ru <b>"])
def test_a_reference_that_is_not_a_host_name_is_not_repeated(ref):
    with pytest.raises(UnknownPortal) as refused:
        connect(ref, resolvers=[])

    assert ref not in str(refused.value)
    assert str(refused.value).startswith("the portal reference is neither")


def test_an_empty_reference_is_refused():
    with pytest.raises(UnknownPortal, match="no portal given"):
        connect("   ")


def test_registered_resolvers_are_used_when_none_are_given():
    resolver = InstalledPortals()
    register_resolver(resolver)
    try:
        assert connect(MEMBER_ID).domain == "installed.bitrix24.ru"
    finally:
        unregister_resolver(resolver)

    with pytest.raises(UnknownPortal):
        connect(MEMBER_ID)


# -- what connect hands to the client ---------------------------------------------------------------


def test_the_rate_limiter_comes_from_limiter_for_and_is_told_about_503s(portal):
    limiters: dict[str, CountingLimiter] = {}

    def limiter_for(domain):
        return limiters.setdefault(domain, CountingLimiter())

    portal.post(WEBHOOK + "profile", status=503, json=error("QUERY_LIMIT_EXCEEDED", "Too many requests"))
    portal.post(WEBHOOK + "profile", json=envelope({"ID": "1"}))
    delays = []

    client = connect(WEBHOOK, limiter_for=limiter_for, sleep=delays.append)
    client.call("profile")

    assert list(limiters) == [PORTAL]
    assert (limiters[PORTAL].acquired, limiters[PORTAL].penalized) == (2, 1)
    assert len(delays) == 1


def test_client_options_pass_through(portal):
    announced = []
    portal.post(WEBHOOK + "profile", body=requests.ConnectionError("refused"))

    limiter = CountingLimiter()

    client = connect(WEBHOOK, max_attempts=1, on_request=announced.append, bucket=limiter)
    with pytest.raises(TransientError, match="gave up after 1 attempt"):
        client.call("profile")

    assert announced == ["profile"] and limiter.acquired == 1


def test_a_webhook_cannot_be_refreshed():
    with pytest.raises(AuthError, match="cannot be renewed.*check that it still exists") as refused:
        WebhookAuth(WEBHOOK).refresh(requests.Session())

    assert CODE not in str(refused.value)


# -- the command line -------------------------------------------------------------------------------


def test_the_cli_reaches_portals_through_connect(capsys, tmp_path):
    template = tmp_path / "crm.yaml"
    template.write_text("version: 1\nsources:\n  - {id: CALL, name: Звонок}\n", encoding="utf-8")

    code = cli.main(["plan", str(template), "--portal", "nowhere.bitrix24.ru"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        "error: 'nowhere.bitrix24.ru' is neither an incoming-webhook URL nor an installed portal; "
        "pass the portal's incoming-webhook URL (https://example.bitrix24.ru/rest/1/abc123/, from Developer "
        "resources → Other → Inbound webhook), or the domain or member_id of a portal where b24app is "
        "installed as an app (from --portal)"
    ]
