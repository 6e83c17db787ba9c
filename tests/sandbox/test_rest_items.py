"""Item add/list methods: defaults, paging, filters, events."""

from __future__ import annotations

import pytest

from b24app.sandbox.portal import new_portal
from b24app.sandbox.rest import CallContext, RestError, call

ADMIN = CallContext(1, "webhook", frozenset({"crm"}))


@pytest.fixture
def portal():
    return new_portal("items", "en", seed=5)


def test_deal_defaults_to_first_stage_of_its_pipeline(portal):
    call(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "P"}}, ADMIN)
    deal_id = call(
        portal,
        "crm.deal.add",
        {"fields": {"TITLE": "d", "CATEGORY_ID": "1", "STAGE_ID": "WON", "SOURCE_ID": "WEB", "UNKNOWN": 1}},
        ADMIN,
    ).result
    row = call(portal, "crm.deal.list", {"filter": {"ID": deal_id}}, ADMIN).result[0]
    assert row["STAGE_ID"] == "C1:NEW" and row["CATEGORY_ID"] == "1" and row["SOURCE_ID"] == "WEB"
    assert row["ID"] == str(deal_id) and "UNKNOWN" not in row
    other = call(portal, "crm.deal.add", {"fields": {"TITLE": "e", "CATEGORY_ID": 42}}, ADMIN).result
    row = call(
        portal, "crm.deal.list", {"filter": {"=ID": other}, "select": ["ID", "STAGE_ID"]}, ADMIN
    ).result[0]
    assert row == {"ID": str(other), "STAGE_ID": "NEW"}


def test_paging_filters_and_order(portal):
    for i in range(120):
        call(
            portal,
            "crm.lead.add",
            {"fields": {"TITLE": f"L{i}", "SOURCE_ID": "WEB" if i % 2 else "CALL"}},
            ADMIN,
        )
    first = call(portal, "crm.lead.list", {}, ADMIN)
    assert len(first.result) == 50 and first.total == 120 and first.next == 50
    last = call(portal, "crm.lead.list", {"start": "100"}, ADMIN)
    assert len(last.result) == 20 and last.next is None
    fast = call(portal, "crm.lead.list", {"start": -1, "filter": {">ID": 100}, "order": {"ID": "ASC"}}, ADMIN)
    assert fast.total == 0 and fast.next is None and [r["ID"] for r in fast.result][0] == "101"
    web = call(portal, "crm.lead.list", {"filter": {"SOURCE_ID": "WEB"}}, ADMIN)
    assert web.total == 60
    picked = call(portal, "crm.lead.list", {"filter": {"@ID": ["3", "5"]}, "order": {"ID": "DESC"}}, ADMIN)
    assert [r["ID"] for r in picked.result] == ["5", "3"]
    assert call(portal, "crm.lead.list", {"filter": {"!SOURCE_ID": "WEB", "<=ID": 4}}, ADMIN).total == 2


def test_crm_item_camel_case(portal):
    etid = call(portal, "crm.type.add", {"fields": {"title": "T"}}, ADMIN).result["type"]["entityTypeId"]
    item = call(
        portal, "crm.item.add", {"entityTypeId": etid, "fields": {"title": "x", "sourceId": "CALL"}}, ADMIN
    ).result["item"]
    cat = call(portal, "crm.category.list", {"entityTypeId": etid}, ADMIN).result["categories"][0]["id"]
    assert item["id"] == 1 and item["categoryId"] == cat and item["stageId"] == f"DT{etid}_{cat}:NEW"
    assert item["entityTypeId"] == etid and item["sourceId"] == "CALL"
    listed = call(
        portal,
        "crm.item.list",
        {"entityTypeId": etid, "filter": {"=stageId": item["stageId"]}, "select": ["id", "stageId"]},
        ADMIN,
    )
    assert listed.result == {"items": [{"id": 1, "stageId": item["stageId"], "entityTypeId": etid}]}
    assert listed.total == 1


def test_crm_item_for_leads_quotes_and_companies(portal):
    lead = call(
        portal, "crm.item.add", {"entityTypeId": 1, "fields": {"title": "l", "stageId": "IN_PROCESS"}}, ADMIN
    ).result["item"]
    assert lead["stageId"] == "IN_PROCESS"
    assert call(portal, "crm.lead.list", {}, ADMIN).result[0]["STATUS_ID"] == "IN_PROCESS"
    quote = call(portal, "crm.quote.add", {"fields": {"TITLE": "q"}}, ADMIN).result
    assert call(portal, "crm.quote.list", {"filter": {"ID": quote}}, ADMIN).result[0]["STATUS_ID"] == "DRAFT"
    company = call(
        portal, "crm.item.add", {"entityTypeId": 4, "fields": {"typeId": "PARTNER", "industry": "IT"}}, ADMIN
    ).result["item"]
    assert company["typeId"] == "PARTNER"
    assert call(portal, "crm.company.list", {}, ADMIN).result[0]["COMPANY_TYPE"] == "PARTNER"
    contact = call(
        portal, "crm.contact.add", {"fields": {"NAME": "A", "HONORIFIC": "HNR_EN_1"}}, ADMIN
    ).result
    assert call(portal, "crm.contact.list", {}, ADMIN).result[0]["HONORIFIC"] == "HNR_EN_1" and contact == 1
    with pytest.raises(RestError) as info:
        call(portal, "crm.item.list", {"entityTypeId": 999}, ADMIN)
    assert info.value.error == "NOT_FOUND"


def test_events_are_queued(portal):
    call(portal, "crm.deal.add", {"fields": {"TITLE": "d"}}, ADMIN)
    call(portal, "crm.item.add", {"entityTypeId": 31, "fields": {"title": "inv"}}, ADMIN)
    events = [(e.event, e.data, e.user_id) for e in portal.outbox]
    assert events[0] == ("ONCRMDEALADD", {"FIELDS": {"ID": "1"}}, 1)
    assert events[1] == ("ONCRMDYNAMICITEMADD", {"FIELDS": {"ID": "1", "ENTITY_TYPE_ID": "31"}}, 1)
    assert events[2][0] == "ONCRMDYNAMICITEMADD_31"
