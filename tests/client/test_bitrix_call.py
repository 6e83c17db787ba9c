"""Client.call against a fake portal: envelope, odd answers, secrets."""

import logging

import pytest
import requests
from portal_fakes import CODE, WEBHOOK, envelope, error, sent_json

from b24app.bitrix.auth import OAuthAuth, OAuthTokens, WebhookAuth
from b24app.bitrix.client import Client, Reply
from b24app.bitrix.errors import AccessDenied, AuthError, ProtocolError, RejectedError, TransientError
from b24app.bitrix.ratelimit import bucket_for

PROFILE = WEBHOOK + "profile"


def test_call_posts_json_and_returns_the_envelope(portal, client):
    portal.post(WEBHOOK + "crm.status.list", json=envelope([{"ID": "1"}], total="1"))

    reply = client.call("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})

    assert reply == Reply(result=[{"ID": "1"}], total=1, next=None, time=envelope(None)["time"])
    request = portal.calls[0].request
    assert sent_json(portal.calls[0]) == {"filter": {"ENTITY_ID": "SOURCE"}}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("b24app/")


def test_paging_numbers_become_ints_and_the_rest_is_left_as_sent(portal, client):
    portal.post(
        WEBHOOK + "crm.type.list", json={"result": {"types": [{"id": "7"}]}, "total": "60", "next": "50"}
    )

    reply = client.call("crm.type.list")

    assert (reply.result, reply.total, reply.next, reply.time) == ({"types": [{"id": "7"}]}, 60, 50, None)


def test_an_empty_php_result_is_kept_as_sent(portal, client):
    portal.post(PROFILE, json=envelope([]))

    assert client.call("profile").result == []


def test_oauth_calls_carry_the_token_in_the_body(portal, make_client):
    tokens = OAuthTokens("tok", "ref", None, "https://portal.bitrix24.ru/rest/")
    client = make_client(OAuthAuth(tokens, "local.1", "secret"))
    portal.post("https://portal.bitrix24.ru/rest/profile", json=envelope({"ID": "1"}))

    client.call("profile", {"x": 1})

    assert sent_json(portal.calls[0]) == {"x": 1, "auth": "tok"}


def test_html_instead_of_json_is_a_protocol_error_with_the_status(portal, client):
    portal.post(PROFILE, body="<html><body>Maintenance</body></html>", content_type="text/html")

    with pytest.raises(
        ProtocolError, match=r"the portal answered HTML instead of JSON \(HTTP 200\)"
    ) as failed:
        client.call("profile")

    assert failed.value.status == 200
    assert len(portal.calls) == 1


def test_a_5xx_html_page_is_transient_and_retried(portal, client, delays):
    portal.post(
        PROFILE, status=502, body="<!DOCTYPE html><title>Bad Gateway</title>", content_type="text/html"
    )
    portal.post(PROFILE, json=envelope({"ID": "1"}))

    assert client.call("profile").result == {"ID": "1"}
    assert len(delays) == 1


def test_a_5xx_html_page_that_stays_gives_up_with_a_transient_error(portal, make_client):
    client = make_client(max_attempts=2)
    portal.post(PROFILE, status=502, body="<html>Bad Gateway</html>")

    with pytest.raises(
        TransientError, match=r"the portal answered HTML instead of JSON \(HTTP 502\)"
    ) as failed:
        client.call("profile")

    assert failed.value.status == 502


def test_invalid_json_is_a_protocol_error(portal, client):
    portal.post(PROFILE, body='{"result": ', content_type="application/json")

    with pytest.raises(ProtocolError, match="something that is not JSON"):
        client.call("profile")


@pytest.mark.parametrize("body", [{"time": {}}, ["not", "an", "object"]])
def test_an_answer_without_result_is_a_protocol_error(portal, client, body):
    portal.post(PROFILE, json=body)

    with pytest.raises(ProtocolError):
        client.call("profile")


def test_a_redirect_is_not_followed_but_names_the_new_host(portal, client):
    portal.post(PROFILE, status=302, headers={"Location": f"https://new.bitrix24.ru/rest/1/{CODE}/profile"})

    with pytest.raises(ProtocolError, match="redirects to new.bitrix24.ru") as failed:
        client.call("profile")

    assert CODE not in str(failed.value)
    assert failed.value.status == 302
    assert len(portal.calls) == 1


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (401, error("NO_AUTH_FOUND", "Wrong authorization data"), AuthError),
        (401, error("INVALID_CREDENTIALS", "Invalid request credentials"), AuthError),
        (403, error("insufficient_scope", "The request requires higher privileges"), AccessDenied),
        (400, error("", "Access denied."), AccessDenied),
        (400, error("NOT_FOUND", "Not found"), RejectedError),
        (404, error("ERROR_METHOD_NOT_FOUND", "Method not found"), RejectedError),
        (200, error("ERROR_CORE", "Something"), RejectedError),
    ],
)
def test_permanent_errors_are_raised_at_once(portal, client, delays, status, payload, expected):
    portal.post(PROFILE, status=status, json=payload)

    with pytest.raises(expected) as failed:
        client.call("profile")

    assert (failed.value.status, failed.value.method) == (status, "profile")
    assert len(portal.calls) == 1
    assert delays == []


def test_a_webhook_cannot_refresh_an_expired_token(portal, client):
    portal.post(PROFILE, status=401, json=error("expired_token", "The access token provided has expired."))

    with pytest.raises(AuthError):
        client.call("profile")

    assert len(portal.calls) == 1


def test_every_request_is_counted_and_announced(portal, make_client):
    announced = []
    client = make_client(on_request=announced.append)
    portal.post(PROFILE, status=500, json=error("INTERNAL_SERVER_ERROR", "Internal server error"))
    portal.post(PROFILE, json=envelope({}))
    portal.post(WEBHOOK + "user.admin", json=envelope(True))

    client.call("profile")
    client.call("user.admin")

    assert announced == ["profile", "profile", "user.admin"]
    assert client.requests_sent == 3


def test_the_default_bucket_is_shared_per_portal():
    webhook = f"https://shared-bucket.bitrix24.ru/rest/1/{CODE}/"
    first, second = Client(WebhookAuth(webhook)), Client(WebhookAuth(webhook))

    assert first._bucket is second._bucket is bucket_for("shared-bucket.bitrix24.ru")


def test_secrets_stay_out_of_errors_logs_and_reprs(portal, make_client, caplog):
    client = make_client(max_attempts=2)
    portal.post(
        PROFILE, body=requests.ConnectionError(f"Max retries exceeded with url: /rest/1/{CODE}/profile")
    )
    caplog.set_level(logging.DEBUG, logger="b24app.bitrix")

    with pytest.raises(TransientError) as failed:
        client.call("profile")

    assert "portal.bitrix24.ru" in str(failed.value)
    assert "/rest/1/***/profile" in caplog.text
    for text in (str(failed.value), repr(failed.value), caplog.text, repr(client)):
        assert CODE not in text
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
