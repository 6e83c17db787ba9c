"""Keyed batches: one request, PHP-shaped sections, errors per command, halt, chunking."""

import json

import pytest
from portal_fakes import WEBHOOK, envelope, error, sent_json

from b24app.bitrix.client import Command
from b24app.bitrix.errors import AccessDenied, AuthError, RejectedError, TransientError

BATCH = WEBHOOK + "batch"


def batch_answer(result=None, result_error=None, result_total=None, result_next=None, result_time=None):
    sections = {
        "result": result,
        "result_error": result_error,
        "result_total": result_total,
        "result_next": result_next,
        "result_time": result_time,
    }
    return envelope({name: [] if value is None else value for name, value in sections.items()})


def test_a_batch_is_one_request_with_keyed_commands(portal, make_client):
    announced = []
    client = make_client(on_request=announced.append)
    portal.post(
        BATCH,
        json=batch_answer(
            result={"sources": [{"ID": "1"}], "admin": True},
            result_total={"sources": "1"},
            result_time={"sources": {"start": 1, "finish": 2}, "admin": {"start": 2, "finish": 3}},
        ),
    )

    reply = client.batch(
        {
            "sources": Command("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}}),
            "admin": Command("user.admin"),
        }
    )

    assert sent_json(portal.calls[0]) == {
        "halt": 0,
        "cmd": {"sources": "crm.status.list?filter[ENTITY_ID]=SOURCE", "admin": "user.admin?"},
    }
    assert reply.results == {"sources": [{"ID": "1"}], "admin": True}
    assert (reply.errors, reply.totals, reply.nexts) == ({}, {"sources": 1}, {})
    assert announced == ["batch"] and client.requests_sent == 1


def test_command_errors_are_collected_not_raised(portal, client):
    portal.post(
        BATCH,
        json=batch_answer(
            result={"ok": 1},
            result_error={
                "missing": {"error": "NOT_FOUND", "error_description": "Not found"},
                "denied": {"error": "", "error_description": "Access denied."},
            },
        ),
    )

    reply = client.batch(
        {
            "ok": Command("crm.status.add", {"fields": {"NAME": "x"}}),
            "missing": Command("crm.category.get", {"id": 9}),
            "denied": Command("crm.status.delete", {"id": 3}),
        }
    )

    assert reply.results == {"ok": 1}
    assert isinstance(reply.errors["missing"], RejectedError)
    assert (reply.errors["missing"].code, reply.errors["missing"].method) == ("NOT_FOUND", "crm.category.get")
    assert isinstance(reply.errors["denied"], AccessDenied)
    assert str(reply.errors["denied"]).startswith("Bitrix24 crm.status.delete: Access denied.")


def test_list_shaped_sections_map_positions_to_keys(portal, client):
    portal.post(
        BATCH,
        json=batch_answer(
            result=[["a"], ["b"], ["c"]],
            result_total=[3, "4", 5],
            result_next=[50],
            result_time=[{"finish": 1}, {"finish": 2}, {"finish": 3}],
        ),
    )

    reply = client.batch({str(i): Command("crm.status.list") for i in range(3)})

    assert reply.results == {"0": ["a"], "1": ["b"], "2": ["c"]}
    assert reply.totals == {"0": 3, "1": 4, "2": 5}
    assert reply.nexts == {"0": 50}


def test_a_list_shaped_error_section_follows_the_command_order(portal, client):
    portal.post(BATCH, json=batch_answer(result_error=[{"error": "ERROR_CORE", "error_description": "No"}]))

    reply = client.batch({"first": Command("crm.status.add"), "second": Command("crm.status.add")})

    assert list(reply.errors) == ["first"]
    assert reply.results == {}


def test_an_all_empty_batch_answer_is_tolerated(portal, client):
    portal.post(BATCH, json=envelope([]))

    reply = client.batch({"a": Command("crm.status.delete", {"id": 1})})

    assert (reply.results, reply.errors, reply.totals, reply.nexts) == ({}, {}, {}, {})


def test_halt_is_sent(portal, client):
    portal.post(BATCH, json=batch_answer(result={"a": True}))

    client.batch({"a": Command("crm.status.delete", {"id": 1})}, halt=True)

    assert sent_json(portal.calls[0])["halt"] == 1


def test_more_than_50_commands_is_refused_before_sending(portal, client):
    with pytest.raises(ValueError, match="at most 50 commands, got 51"):
        client.batch({str(i): Command("user.admin") for i in range(51)})

    assert len(portal.calls) == 0


def test_an_empty_batch_sends_nothing(portal, client):
    reply = client.batch({})

    assert reply.results == {} and len(portal.calls) == 0


def test_a_failed_batch_request_raises(portal, client):
    portal.post(BATCH, status=401, json=error("NO_AUTH_FOUND", "Wrong authorization data"))

    with pytest.raises(AuthError):
        client.batch({"a": Command("user.admin")})


def test_a_rate_limited_batch_is_retried(portal, client, delays):
    portal.post(BATCH, status=503, json=error("QUERY_LIMIT_EXCEEDED", "Too many requests"))
    portal.post(BATCH, json=batch_answer(result={"a": True}))

    assert client.batch({"a": Command("user.admin")}).results == {"a": True}
    assert len(delays) == 1


def echo_batch(request):
    """A portal that answers each command with its own key."""
    commands = json.loads(request.body)["cmd"]
    return 200, {}, json.dumps(batch_answer(result={key: key for key in commands}))


def test_batch_all_splits_in_order_and_merges(portal, client):
    portal.add_callback("POST", BATCH, callback=echo_batch)
    commands = {f"c{i:03}": Command("crm.status.delete", {"id": i}) for i in range(120)}

    reply = client.batch_all(commands)

    assert [len(sent_json(call)["cmd"]) for call in portal.calls] == [50, 50, 20]
    assert list(sent_json(portal.calls[1])["cmd"])[0] == "c050"
    assert list(reply.results) == list(commands)


def test_batch_all_with_halt_stops_after_the_first_chunk_with_an_error(portal, client):
    failed = {"c001": {"error": "ERROR_CORE", "error_description": "No"}}
    portal.post(BATCH, json=batch_answer(result={"c000": True}, result_error=failed))
    commands = {f"c{i:03}": Command("crm.status.delete", {"id": i}) for i in range(30)}

    reply = client.batch_all(commands, halt=True, chunk=10)

    assert len(portal.calls) == 1
    assert sent_json(portal.calls[0])["halt"] == 1
    assert list(reply.errors) == ["c001"]


def test_batch_all_chunk_must_fit_a_batch(client):
    with pytest.raises(ValueError):
        client.batch_all({}, chunk=51)


def test_a_transient_command_error_stays_in_the_reply(portal, client):
    portal.post(BATCH, json=batch_answer(result_error={"a": {"error": "OPERATION_TIME_LIMIT"}}))

    reply = client.batch({"a": Command("crm.item.list")})

    assert isinstance(reply.errors["a"], TransientError)
