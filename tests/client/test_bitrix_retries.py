"""What the client retries, how long it waits, and when it gives up."""

import pytest
import requests
from portal_fakes import WEBHOOK, envelope, error

from b24app.bitrix.errors import RejectedError, TransientError
from b24app.jobs import Tuning
from b24app.resync import retry_after

LIST = WEBHOOK + "crm.item.list"
RATE_LIMITED = error("QUERY_LIMIT_EXCEEDED", "Too many requests")
TIME_LIMITED = error("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")


def test_a_rate_limit_is_retried_after_a_backoff_and_fills_the_bucket(portal, client, delays, bucket_clock):
    portal.post(LIST, status=503, json=RATE_LIMITED)
    portal.post(LIST, json=envelope([]))

    assert client.call("crm.item.list").result == []
    assert len(delays) == 1 and 0.5 <= delays[0] <= 1.0
    assert bucket_clock.sleeps == [pytest.approx(0.5)]  # the penalized bucket made the retry wait its turn


def test_backoff_grows_exponentially_with_jitter_and_is_capped(portal, make_client, delays):
    client = make_client(max_attempts=7, backoff=1.0, max_backoff=10.0)
    for _ in range(6):
        portal.post(LIST, status=500, json=error("INTERNAL_SERVER_ERROR"))
    portal.post(LIST, json=envelope([]))

    client.call("crm.item.list")

    ceilings = [1, 2, 4, 8, 10, 10]
    assert len(delays) == len(ceilings)
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectTimeout("connect timed out"),
    ],
)
def test_timeouts_are_retried(portal, client, delays, failure):
    portal.post(LIST, body=failure)
    portal.post(LIST, json=envelope([1]))

    assert client.call("crm.item.list").result == [1]
    assert len(delays) == 1


def test_connection_errors_are_retried(portal, client, delays):
    portal.post(LIST, body=requests.ConnectionError("connection reset"))
    portal.post(LIST, json=envelope([1]))

    assert client.call("crm.item.list").result == [1]
    assert len(delays) == 1


def test_giving_up_says_what_happened_and_that_rerunning_is_safe(portal, make_client, delays):
    client = make_client(max_attempts=3)
    portal.post(LIST, status=503, json=RATE_LIMITED)

    with pytest.raises(TransientError) as failed:
        client.call("crm.item.list")

    assert str(failed.value) == (
        "Bitrix24 crm.item.list: Too many requests (QUERY_LIMIT_EXCEEDED, HTTP 503); "
        "the portal's request budget is exhausted (gave up after 3 attempts; rerunning is safe)"
    )
    assert (failed.value.code, failed.value.status) == ("QUERY_LIMIT_EXCEEDED", 503)
    assert len(portal.calls) == 3 and client.requests_sent == 3
    assert len(delays) == 2


def test_giving_up_after_timeouts(portal, make_client):
    client = make_client(max_attempts=2)
    portal.post(LIST, body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(
        TransientError, match="portal.bitrix24.ru did not answer in time .gave up after 2 attempts"
    ):
        client.call("crm.item.list")


def test_operation_time_limit_waits_until_the_reset_given_in_the_error(portal, client, delays):
    limited = {**TIME_LIMITED, "time": {"finish": 1700000000.0, "operating_reset_at": 1700000007}}
    portal.post(LIST, status=429, json=limited)
    portal.post(LIST, json=envelope([]))

    client.call("crm.item.list")

    assert delays == [pytest.approx(7.0)]


def test_operation_time_limit_waits_until_the_reset_of_the_last_success(portal, client, delays):
    time_block = {"finish": 1700000000.0, "operating_reset_at": 1700000012, "operating": 470.5}
    portal.post(LIST, json={"result": [], "time": time_block})
    portal.post(LIST, status=429, json=TIME_LIMITED)
    portal.post(LIST, json=envelope([]))

    client.call("crm.item.list")
    client.call("crm.item.list")

    assert len(delays) == 1 and 11.0 < delays[0] <= 12.0


def test_operation_time_limit_waits_are_capped(portal, make_client, delays):
    client = make_client(max_backoff=30.0)
    limited = {**TIME_LIMITED, "time": {"finish": 1700000000.0, "operating_reset_at": 1700000500}}
    portal.post(LIST, status=429, json=limited)
    portal.post(LIST, json=envelope([]))

    client.call("crm.item.list")

    assert delays == [30.0]


@pytest.mark.parametrize("status", [400, 404, 405, 413])
def test_4xx_other_than_429_is_never_retried(portal, client, delays, status):
    portal.post(LIST, status=status, json=error("SOMETHING", "refused"))

    with pytest.raises(RejectedError):
        client.call("crm.item.list")

    assert len(portal.calls) == 1 and delays == []


def test_an_unknown_429_is_retried(portal, client, delays):
    portal.post(LIST, status=429, json=error("TOO_FAST"))
    portal.post(LIST, json=envelope([]))

    client.call("crm.item.list")

    assert len(delays) == 1


BATCH = WEBHOOK + "batch"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "json": error("INTERNAL_SERVER_ERROR", "Internal server error")},
        {"body": requests.exceptions.ReadTimeout("read timed out")},
    ],
)
def test_a_write_that_may_have_happened_is_not_resent(portal, client, delays, answer):
    portal.post(BATCH, **answer)
    portal.post(BATCH, json=envelope({"result": {"p": {"category": {"id": 7}}}}))

    with pytest.raises(TransientError):
        client.call("batch", {"cmd": {"p": "crm.category.add?entityTypeId=2"}}, idempotent=False)
    assert delays == [] and len(portal.calls) == 1


def test_a_refusal_before_running_is_retried_even_for_a_write(portal, client, delays):
    portal.post(BATCH, status=503, json=RATE_LIMITED)
    portal.post(BATCH, json=envelope({"result": {"p": {"category": {"id": 7}}}}))

    reply = client.call("batch", {"cmd": {"p": "crm.category.add?entityTypeId=2"}}, idempotent=False)
    assert reply.result["result"]["p"]["category"]["id"] == 7
    assert len(delays) == 1 and len(portal.calls) == 2


def test_a_job_retrying_an_operation_time_limit_later_waits_until_the_reset(portal, make_client, delays):
    client = make_client(max_attempts=1)  # the client gives up at once: the job queue retries later
    time_block = {"finish": 1700000000.0, "operating_reset_at": 1700000400, "operating": 479.0}
    portal.post(LIST, json={"result": [], "time": time_block})
    portal.post(LIST, status=429, json=TIME_LIMITED)
    client.call("crm.item.list")

    with pytest.raises(TransientError) as refused:
        client.call("crm.item.list")

    assert 399.0 < retry_after(refused.value, client) <= 400.0
    assert Tuning(backoff=1, max_backoff=1800).delay(1, retry_after(refused.value, client)) > 399.0
