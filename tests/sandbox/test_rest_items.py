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


@pytest.mark.parametrize("name", ["lead", "deal", "contact", "company", "quote"])
def test_legacy_items_get_update_delete(portal, name):
    item_id = call(portal, f"crm.{name}.add", {"fields": {"COMMENTS": "first"}}, ADMIN).result
    assert call(portal, f"crm.{name}.update", {"id": item_id, "fields": {"COMMENTS": "second"}}, ADMIN).result
    row = call(portal, f"crm.{name}.get", {"id": str(item_id)}, ADMIN).result
    assert row["ID"] == str(item_id) and row["COMMENTS"] == "second"
    assert call(portal, f"crm.{name}.delete", {"id": item_id}, ADMIN).result is True
    assert call(portal, f"crm.{name}.list", {}, ADMIN).total == 0
    with pytest.raises(RestError) as info:
        call(portal, f"crm.{name}.get", {"id": item_id}, ADMIN)
    assert (info.value.status, info.value.error, info.value.description) == (400, "", "Not found")


@pytest.mark.parametrize(
    ("name", "update_missing", "delete_missing"),
    [
        ("deal", "Not found", ("", "Not found")),
        ("lead", "Not found", ("", "Not found")),
        ("contact", "Contact is not found", ("ERROR_CORE", "Element not found")),
        ("company", "Company is not found", ("", "Company is not found")),
        ("quote", "Quote is not found", ("ERROR_CORE", "Element not found")),
    ],
)
def test_legacy_unknown_ids_answer_the_documented_errors(portal, name, update_missing, delete_missing):
    with pytest.raises(RestError) as update:
        call(portal, f"crm.{name}.update", {"id": 77, "fields": {"TITLE": "x"}}, ADMIN)
    assert (update.value.status, update.value.error, update.value.description) == (400, "", update_missing)
    with pytest.raises(RestError) as delete:
        call(portal, f"crm.{name}.delete", {"id": 77}, ADMIN)
    assert (delete.value.status, delete.value.error, delete.value.description) == (400, *delete_missing)
    with pytest.raises(RestError) as bad:
        call(portal, f"crm.{name}.delete", {"id": "0"}, ADMIN)
    assert (bad.value.error, bad.value.description) == ("", "ID is not defined or invalid.")


def test_legacy_deal_update_moves_stage_but_not_pipeline(portal):
    call(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "P"}}, ADMIN)
    deal = call(portal, "crm.deal.add", {"fields": {"TITLE": "d"}}, ADMIN).result
    call(
        portal,
        "crm.deal.update",
        {"id": deal, "fields": {"STAGE_ID": "PREPARATION", "CATEGORY_ID": 1}},
        ADMIN,
    )
    row = call(portal, "crm.deal.get", {"id": deal}, ADMIN).result
    assert (row["CATEGORY_ID"], row["STAGE_ID"]) == ("0", "PREPARATION")
    call(portal, "crm.deal.update", {"id": deal, "fields": {"STAGE_ID": "C1:WON"}}, ADMIN)
    assert call(portal, "crm.deal.get", {"id": deal}, ADMIN).result["STAGE_ID"] == "PREPARATION"
    assert [e.event for e in portal.outbox][-2:] == ["ONCRMDEALUPDATE", "ONCRMDEALUPDATE"]


def test_crm_item_get_update_delete(portal):
    etid = call(portal, "crm.type.add", {"fields": {"title": "T", "isCategoriesEnabled": "Y"}}, ADMIN).result[
        "type"
    ]["entityTypeId"]
    first = call(portal, "crm.category.list", {"entityTypeId": etid}, ADMIN).result["categories"][0]["id"]
    second = call(portal, "crm.category.add", {"entityTypeId": etid, "fields": {"name": "B"}}, ADMIN).result
    second_id = second["category"]["id"]
    item = call(portal, "crm.item.add", {"entityTypeId": etid, "fields": {"title": "x"}}, ADMIN).result[
        "item"
    ]
    got = call(portal, "crm.item.get", {"entityTypeId": etid, "id": item["id"]}, ADMIN).result
    assert got == {"item": item}
    moved = call(
        portal,
        "crm.item.update",
        {"entityTypeId": etid, "id": item["id"], "fields": {"stageId": f"DT{etid}_{first}:SUCCESS"}},
        ADMIN,
    ).result["item"]
    assert moved["stageId"] == f"DT{etid}_{first}:SUCCESS" and moved["title"] == "x"
    other = call(
        portal,
        "crm.item.update",
        {"entityTypeId": etid, "id": item["id"], "fields": {"categoryId": second_id}},
        ADMIN,
    ).result["item"]
    assert (other["categoryId"], other["stageId"]) == (second_id, f"DT{etid}_{second_id}:NEW")
    counted = call(
        portal, "crm.item.list", {"entityTypeId": etid, "filter": {"categoryId": second_id}}, ADMIN
    )
    assert counted.total == 1
    with pytest.raises(RestError) as wrong_stage:
        call(
            portal,
            "crm.item.update",
            {"entityTypeId": etid, "id": item["id"], "fields": {"stageId": f"DT{etid}_{first}:NEW"}},
            ADMIN,
        )
    assert wrong_stage.value.error == "CRM_FIELD_ERROR_VALUE_NOT_VALID"
    assert call(portal, "crm.item.delete", {"entityTypeId": etid, "id": item["id"]}, ADMIN).result == []
    with pytest.raises(RestError) as gone:
        call(portal, "crm.item.delete", {"entityTypeId": etid, "id": item["id"]}, ADMIN)
    assert (gone.value.status, gone.value.error) == (400, "NOT_FOUND")
    events = [e.event for e in portal.outbox]
    assert events[-2:] == ["ONCRMDYNAMICITEMDELETE", f"ONCRMDYNAMICITEMDELETE_{etid}"]
    assert events.count("ONCRMDYNAMICITEMUPDATE") == 2


def test_crm_item_update_moves_a_deal_to_another_pipeline(portal):
    call(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "P"}}, ADMIN)
    deal = call(portal, "crm.deal.add", {"fields": {"TITLE": "d"}}, ADMIN).result
    portal.outbox.clear()
    item = call(
        portal, "crm.item.update", {"entityTypeId": 2, "id": deal, "fields": {"categoryId": 1}}, ADMIN
    )
    assert (item.result["item"]["categoryId"], item.result["item"]["stageId"]) == (1, "C1:NEW")
    assert [(e.event, e.data) for e in portal.outbox] == [
        ("ONCRMDEALMOVETOCATEGORY", {"FIELDS": {"ID": str(deal), "CATEGORY_ID": "1", "STAGE_ID": "C1:NEW"}})
    ]
    with pytest.raises(RestError) as info:
        call(portal, "crm.item.update", {"entityTypeId": 2, "id": deal, "fields": {"categoryId": 42}}, ADMIN)
    assert info.value.error == "CRM_FIELD_ERROR_VALUE_NOT_VALID"
    # the pipeline now holds a deal, so it cannot be deleted until the deal is gone
    with pytest.raises(RestError):
        call(portal, "crm.category.delete", {"entityTypeId": 2, "id": 1}, ADMIN)
    call(portal, "crm.deal.delete", {"id": deal}, ADMIN)
    assert call(portal, "crm.category.delete", {"entityTypeId": 2, "id": 1}, ADMIN).result is None
