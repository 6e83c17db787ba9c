"""Paging: the first page, then the remaining pages in batches of start offsets."""

import json
from urllib.parse import parse_qs

import pytest
from portal_fakes import WEBHOOK, envelope, sent_json

from b24app.bitrix.errors import ProtocolError, RejectedError

BATCH = WEBHOOK + "batch"
ITEMS = WEBHOOK + "crm.item.list"


def rows(start, count):
    return [{"id": str(n)} for n in range(start, start + count)]


def page(start, total, key=None):
    """One page of a list of `total` rows, as the portal sends it."""
    found = rows(start, max(0, min(50, total - start)))
    answer = envelope({key: found} if key else found, total=total)
    if start + 50 < total:
        answer["next"] = start + 50
    return answer


def paging_portal(total, key=None):
    """Answers crm.item.list directly and inside batches, from the `start` of each command."""

    def direct(request):
        return 200, {}, json.dumps(page(json.loads(request.body)["start"], total, key))

    def batch(request):
        results, totals, nexts = {}, {}, {}
        for name, command in json.loads(request.body)["cmd"].items():
            start = int(parse_qs(command.split("?", 1)[1])["start"][0])
            answer = page(start, total, key)
            results[name], totals[name] = answer["result"], total
            if "next" in answer:
                nexts[name] = answer["next"]
        sections = {"result": results, "result_error": [], "result_total": totals, "result_next": nexts or []}
        return 200, {}, json.dumps(envelope({**sections, "result_time": []}))

    return direct, batch


def serve(portal, total, key=None):
    direct, batch = paging_portal(total, key)
    portal.add_callback("POST", ITEMS, callback=direct)
    portal.add_callback("POST", BATCH, callback=batch)


def test_a_single_page_is_one_request(portal, client):
    serve(portal, total=7)

    assert client.list_all("crm.item.list") == rows(0, 7)
    assert len(portal.calls) == 1
    assert sent_json(portal.calls[0]) == {"start": 0}


def test_the_remaining_pages_come_in_one_batch(portal, client):
    serve(portal, total=130)

    found = client.list_all("crm.item.list", {"filter": {"CATEGORY_ID": 3}, "order": {"ID": "ASC"}})

    assert found == rows(0, 130)
    assert [call.request.url for call in portal.calls] == [ITEMS, BATCH]
    assert sent_json(portal.calls[1])["cmd"] == {
        "start_50": "crm.item.list?filter[CATEGORY_ID]=3&order[ID]=ASC&start=50",
        "start_100": "crm.item.list?filter[CATEGORY_ID]=3&order[ID]=ASC&start=100",
    }
    assert sent_json(portal.calls[1])["halt"] == 1


def test_a_wrapper_key_is_unwrapped(portal, client):
    serve(portal, total=75, key="items")

    assert client.list_all("crm.item.list", {"entityTypeId": 128}, key="items") == rows(0, 75)
    assert len(portal.calls) == 2


def test_more_than_50_remaining_pages_take_one_batch_per_50_pages(portal, client):
    serve(portal, total=50 * 61)

    assert len(client.list_all("crm.item.list")) == 50 * 61
    assert [call.request.url for call in portal.calls] == [ITEMS, BATCH, BATCH]
    assert [len(sent_json(call)["cmd"]) for call in portal.calls[1:]] == [50, 10]


def test_pages_without_a_total_are_followed_one_by_one(portal, client):
    portal.post(ITEMS, json={"result": rows(0, 50), "next": 50})
    portal.post(ITEMS, json={"result": rows(50, 10)})

    assert client.list_all("crm.item.list") == rows(0, 60)
    assert [sent_json(call)["start"] for call in portal.calls] == [0, 50]


def test_rows_added_after_the_first_page_are_still_followed(portal, client):
    portal.post(ITEMS, json=envelope(rows(0, 50), total=60, next=50))
    portal.post(
        BATCH, json=envelope({"result": {"start_50": rows(50, 50)}, "result_next": {"start_50": 100}})
    )
    portal.post(ITEMS, json=envelope(rows(100, 3), total=103))

    assert client.list_all("crm.item.list") == rows(0, 103)
    assert sent_json(portal.calls[2])["start"] == 100


def test_a_failed_page_is_raised(portal, client):
    portal.post(ITEMS, json=envelope(rows(0, 50), total=80, next=50))
    failed = {
        "result": [],
        "result_error": {"start_50": {"error": "ERROR_CORE", "error_description": "Boom"}},
    }
    portal.post(BATCH, json=envelope(failed))

    with pytest.raises(RejectedError, match="Boom"):
        client.list_all("crm.item.list")


def test_an_unexpected_page_shape_is_a_protocol_error(portal, client):
    portal.post(WEBHOOK + "crm.type.list", json=envelope({"types": []}))

    with pytest.raises(ProtocolError, match="'items'"):
        client.list_all("crm.type.list", key="items")


def test_a_portal_that_pages_backwards_is_stopped(portal, client):
    portal.post(ITEMS, json={"result": rows(0, 50), "next": 0})

    with pytest.raises(ProtocolError, match="backwards"):
        client.list_all("crm.item.list")


def test_a_given_start_is_where_paging_begins(portal, client):
    serve(portal, total=120)

    assert client.list_all("crm.item.list", {"start": 100}) == rows(100, 20)
    assert sent_json(portal.calls[0])["start"] == 100
