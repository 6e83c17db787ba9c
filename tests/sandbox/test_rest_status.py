"""crm.status.* against reference-lists.md §1.2, §2 and §3."""

from __future__ import annotations

import pytest

from b24app.sandbox.portal import new_portal
from b24app.sandbox.rest import CallContext, RestError, call
from b24app.sandbox.rest_status import MSG_SORT_AFTER_SUCCESS

ADMIN = CallContext(1, "webhook", frozenset({"crm", "user", "basic"}))
MANAGER = CallContext(2, "webhook", frozenset({"crm"}))
NO_CRM = CallContext(3, "webhook", frozenset({"crm"}))


@pytest.fixture
def portal():
    return new_portal("acme", "ru", seed=1)


def rows(portal, entity_id):
    return call(portal, "crm.status.list", {"filter": {"ENTITY_ID": entity_id}}, ADMIN).result


def by_status(portal, entity_id, status_id):
    return next(r for r in rows(portal, entity_id) if r["STATUS_ID"] == status_id)


def add(portal, ctx=ADMIN, **fields):
    return call(portal, "crm.status.add", {"fields": fields}, ctx).result


def error_of(portal, method, params, ctx=ADMIN):
    with pytest.raises(RestError) as info:
        call(portal, method, params, ctx)
    return info.value


def test_entity_types_order_and_keys(portal):
    types = call(portal, "crm.status.entity.types", {}, ADMIN).result
    ids = [t["ID"] for t in types]
    invoice = next(t for t in types if t["ID"].startswith("SMART_INVOICE_STAGE_"))
    cat = invoice["CATEGORY_ID"]
    assert ids == [
        "STATUS",
        "SOURCE",
        "CONTACT_TYPE",
        "COMPANY_TYPE",
        "EMPLOYEES",
        "INDUSTRY",
        "DEAL_TYPE",
        f"SMART_INVOICE_STAGE_{cat}",
        "DEAL_STAGE",
        "QUOTE_STATUS",
        "HONORIFIC",
        "CALL_LIST",
    ]
    assert 1 <= cat <= 9
    assert (
        invoice["PREFIX"] == f"DT31_{cat}"
        and invoice["SEMANTIC_INFO"] == []
        and invoice["IS_ENABLED"] is True
    )
    deal = types[ids.index("DEAL_STAGE")]
    assert "PREFIX" not in deal and deal["CATEGORY_ID"] == 0 and deal["FIELD_ATTRIBUTE_SCOPE"] == ""
    assert deal["SEMANTIC_INFO"] == {
        "START_FIELD": "NEW",
        "FINAL_SUCCESS_FIELD": "WON",
        "FINAL_UNSUCCESS_FIELD": "LOSE",
        "FINAL_SORT": 0,
    }
    assert types[0]["NAME"] == "Стадии лида"
    assert "DEAL_STATE" not in ids


def test_entity_types_with_custom_pipeline_and_documents():
    portal = new_portal("docs", "en", documents=True)
    call(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Wholesale", "sort": 100}}, ADMIN)
    types = call(portal, "crm.status.entity.types", {}, ADMIN).result
    deal1 = next(t for t in types if t["ID"] == "DEAL_STAGE_1")
    assert deal1["PREFIX"] == "C1" and deal1["CATEGORY_ID"] == "1" and deal1["PARENT_ID"] == "DEAL_STAGE"
    assert deal1["NAME"] == "Wholesale deal stages"
    assert next(t for t in types if t["ID"] == "DEAL_STAGE")["NAME"] == "General deal stages"
    assert any(t["ID"].startswith("SMART_DOCUMENT_STAGE_") for t in types)


def test_list_is_not_paginated_and_ignores_start_and_select(portal):
    full = call(portal, "crm.status.list", {}, ADMIN)
    again = call(portal, "crm.status.list", {"start": 50, "select": ["ID"]}, ADMIN)
    assert full.total == len(full.result) > 50 and full.next is None
    assert again.result == full.result
    entity_ids = {r["ENTITY_ID"] for r in full.result}
    assert {"DEAL_STATE", "EVENT_TYPE", "INVOICE_STATUS"} <= entity_ids


@pytest.mark.parametrize("flt", [{"entity_id": "SOURCE"}, {"=ENTITY_ID": "SOURCE"}, {"ENTITY_ID": ""}])
def test_unusable_filter_keys_return_everything(portal, flt):
    result = call(portal, "crm.status.list", {"filter": flt}, ADMIN)
    assert result.total == call(portal, "crm.status.list", {}, ADMIN).total


def test_numbers_are_strings_and_extra_only_on_legacy_stage_lists(portal):
    source = rows(portal, "SOURCE")
    assert source[0]["SORT"] == "10" and source[0]["ID"].isdigit() and "EXTRA" not in source[0]
    assert source[0]["SYSTEM"] == "Y" and source[0]["NAME_INIT"] == "Звонок"
    apology = by_status(portal, "DEAL_STAGE", "APOLOGY")
    assert apology["SEMANTICS"] == "F" and apology["EXTRA"] == {"SEMANTICS": "apology", "COLOR": "#FF5752"}
    assert by_status(portal, "DEAL_STAGE", "WON")["EXTRA"]["SEMANTICS"] == "success"
    assert by_status(portal, "STATUS", "JUNK")["EXTRA"]["SEMANTICS"] == "failure"
    assert by_status(portal, "STATUS", "IN_PROCESS")["EXTRA"]["SEMANTICS"] == "process"
    assert by_status(portal, "DEAL_STAGE", "PREPAYMENT_INVOICE")["NAME"].startswith("C")  # Latin C quirk
    invoice = call(portal, "crm.status.entity.types", {}, ADMIN).result[7]["ID"]
    assert all("EXTRA" not in r for r in rows(portal, invoice))


def test_order(portal):
    desc = call(
        portal, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}, "order": {"sort": "desc"}}, ADMIN
    )
    assert [r["SORT"] for r in desc.result][:2] == ["80", "79"]
    unknown = call(
        portal, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}, "order": {"FOO": "ASC"}}, ADMIN
    )
    ids = [int(r["ID"]) for r in unknown.result]
    assert ids == sorted(ids, reverse=True)
    assert (
        error_of(portal, "crm.status.list", {"order": "x"}).description == "Parameter 'order' must be array."
    )


def test_entity_items(portal):
    items = call(portal, "crm.status.entity.items", {"entity_id": "source"}, ADMIN).result
    assert items[0] == {"NAME": "Звонок", "SORT": 10, "STATUS_ID": "CALL"}
    assert call(portal, "crm.status.entity.items", {"entityId": "NOPE"}, ADMIN).result == []
    err = error_of(portal, "crm.status.entity.items", {})
    assert (err.status, err.error, err.description) == (
        400,
        "",
        "The parameter entityId is not defined or invalid.",
    )


def test_get(portal):
    row = by_status(portal, "SOURCE", "EMAIL")
    assert call(portal, "crm.status.get", {"id": row["ID"]}, ADMIN).result == row
    assert error_of(portal, "crm.status.get", {"id": "abc"}).description == "ID is not defined or invalid."
    assert error_of(portal, "crm.status.get", {"id": 99999}).description == "CRM Status is not found."


def test_permissions(portal):
    assert error_of(portal, "crm.status.list", {}, NO_CRM).description == "Access denied."
    assert call(portal, "crm.status.list", {}, MANAGER).total > 0
    err = error_of(
        portal, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "X", "NAME": "x"}}, MANAGER
    )
    assert (err.error, err.description) == ("", "Access denied.")


def test_add_normalises_prefix_and_defaults(portal):
    new_id = add(portal, ENTITY_ID="SOURCE", STATUS_ID="A:B", NAME=" Партнёры ", SORT="0", COLOR="ABCDEF")
    row = call(portal, "crm.status.get", {"id": new_id}, ADMIN).result
    assert isinstance(new_id, int)
    assert row["STATUS_ID"] == "B" and row["NAME"] == "Партнёры" and row["SORT"] == "10"
    assert row["COLOR"] == "#ABCDEF" and row["SYSTEM"] == "N" and row["NAME_INIT"] == ""
    assert row["SEMANTICS"] == "P" and row["CATEGORY_ID"] == "0"
    call(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "P1"}}, ADMIN)
    for given in ("DECISION", "C1:DECISION2", "C5:DECISION3"):
        add(portal, ENTITY_ID="DEAL_STAGE_1", STATUS_ID=given, NAME="d", SORT=45)
    ids = [r["STATUS_ID"] for r in rows(portal, "DEAL_STAGE_1")]
    assert {"C1:DECISION", "C1:DECISION2", "C1:DECISION3"} <= set(ids)
    assert by_status(portal, "DEAL_STAGE_1", "C1:DECISION")["CATEGORY_ID"] == "1"


def test_add_color_from_extra_and_explicit_category(portal):
    new_id = add(
        portal,
        ENTITY_ID="INDUSTRY",
        STATUS_ID="AGRO",
        NAME="Agro",
        EXTRA={"COLOR": "#00FF00"},
        CATEGORY_ID="7",
    )
    row = call(portal, "crm.status.get", {"id": new_id}, ADMIN).result
    assert row["COLOR"] == "#00FF00" and row["CATEGORY_ID"] == "7"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "The field ENTITY_ID is required.\nThe field STATUS_ID is required."),
        (
            {"ENTITY_ID": "DEAL_STATE", "STATUS_ID": "X", "NAME": "x"},
            "Specified entity type is not supported.",
        ),
        (
            {"ENTITY_ID": "STATUS", "STATUS_ID": "A" * 22, "NAME": "x"},
            "Exceeded maximum length of status ID: 21.",
        ),
        (
            {"ENTITY_ID": "QUOTE_STATUS", "STATUS_ID": "A" * 23, "NAME": "x"},
            "Exceeded maximum length of status ID: 22.",
        ),
        (
            {"ENTITY_ID": "SOURCE", "STATUS_ID": "A" * 51, "NAME": "x"},
            "Exceeded maximum length of status ID: 50.",
        ),
        (
            {"ENTITY_ID": "STATUS", "STATUS_ID": "ПЛОХО", "NAME": "x"},
            "Status ID may include Latin characters, numbers, minus and underscore characters only",
        ),
        (
            {"ENTITY_ID": "SOURCE", "STATUS_ID": "CALL", "NAME": "x"},
            "The specified status ID already exists.",
        ),
        ({"ENTITY_ID": "SOURCE", "STATUS_ID": "NEWONE", "NAME": "  "}, "The field Title is required."),
        (
            {"ENTITY_ID": "STATUS", "STATUS_ID": "WIN2", "NAME": "x", "SEMANTICS": "S", "SORT": 35},
            "Only one success status can exist for any one type",
        ),
        (
            {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "LATE", "NAME": "x", "SORT": 65},
            MSG_SORT_AFTER_SUCCESS,
        ),
        (
            {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "EARLYFAIL", "NAME": "x", "SORT": 15, "SEMANTICS": "F"},
            "Cannot add semantics with the specified sort order",
        ),
    ],
)
def test_add_refusals(portal, fields, message):
    err = error_of(portal, "crm.status.add", {"fields": fields})
    assert (err.status, err.error, err.description) == (400, "", message)


def test_add_charset_allows_any_characters_outside_stage_lists_and_lower_case_in_stages(portal):
    assert add(portal, ENTITY_ID="SOURCE", STATUS_ID="Ярмарка", NAME="x") > 0
    assert by_status(portal, "STATUS", "NEW")  # sanity
    new_id = add(portal, ENTITY_ID="STATUS", STATUS_ID="call_back", NAME="x", SORT=25)
    assert call(portal, "crm.status.get", {"id": new_id}, ADMIN).result["STATUS_ID"] == "call_back"


def test_deal_pipeline_length_limit(portal):
    call(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "P1"}}, ADMIN)
    assert add(portal, ENTITY_ID="DEAL_STAGE_1", STATUS_ID="A" * 19, NAME="x", SORT=15) > 0
    err = error_of(
        portal,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "B" * 20, "NAME": "x"}},
    )
    assert err.description == "Exceeded maximum length of status ID: 19."


def test_fields_must_be_array(portal):
    assert (
        error_of(portal, "crm.status.add", {"fields": "x"}).description == "Parameter 'fields' must be array."
    )


def test_update_ignores_immutable_fields_and_normalises(portal):
    row = by_status(portal, "DEAL_STAGE", "PREPARATION")
    params = {
        "id": row["ID"],
        "fields": {
            "STATUS_ID": "HACK",
            "ENTITY_ID": "SOURCE",
            "CATEGORY_ID": 5,
            "SEMANTICS": "S",
            "NAME": "  ",
            "SORT": -3,
            "COLOR": "123456",
        },
    }
    assert call(portal, "crm.status.update", params, ADMIN).result is True
    after = call(portal, "crm.status.get", {"id": row["ID"]}, ADMIN).result
    assert after["STATUS_ID"] == "PREPARATION" and after["ENTITY_ID"] == "DEAL_STAGE"
    assert after["SEMANTICS"] is None and after["NAME"] == row["NAME"]
    assert after["SORT"] == "10" and after["COLOR"] == "#123456"


def test_update_swallows_orm_failures_and_keeps_name_init(portal):
    row = by_status(portal, "STATUS", "NEW")
    assert (
        call(portal, "crm.status.update", {"id": row["ID"], "fields": {"NAME": "x" * 101}}, ADMIN).result
        is True
    )
    assert call(portal, "crm.status.get", {"id": row["ID"]}, ADMIN).result["NAME"] == row["NAME"]
    call(portal, "crm.status.update", {"id": row["ID"], "fields": {"NAME": "Renamed"}}, ADMIN)
    after = call(portal, "crm.status.get", {"id": row["ID"]}, ADMIN).result
    assert after["NAME"] == "Renamed" and after["NAME_INIT"] == row["NAME_INIT"] == "Не обработан"
    assert (
        error_of(portal, "crm.status.update", {"id": 99999, "fields": {}}).description
        == "Status is not found."
    )


def test_delete_rules(portal):
    call_row = by_status(portal, "SOURCE", "CALL")
    err = error_of(portal, "crm.status.delete", {"id": call_row["ID"]})
    assert (
        err.description
        == 'CRM System Status can be deleted only if parameter FORCED is specified and equal to "Y".'
    )
    assert (
        call(portal, "crm.status.delete", {"id": call_row["ID"], "params": {"FORCED": "Y"}}, ADMIN).result
        is True
    )
    email = by_status(portal, "SOURCE", "EMAIL")
    call(
        portal,
        "crm.lead.add",
        {"fields": {"TITLE": "l", "SOURCE_ID": "EMAIL", "STATUS_ID": "IN_PROCESS"}},
        ADMIN,
    )
    assert call(portal, "crm.status.delete", {"id": email["ID"]}, ADMIN).result is True  # values unprotected
    in_process = by_status(portal, "STATUS", "IN_PROCESS")
    err = error_of(portal, "crm.status.delete", {"id": in_process["ID"]})
    assert err.description == "There are active items in this status."
    assert error_of(portal, "crm.status.delete", {"id": 99999}).description == "Status is not found."
    assert (
        error_of(portal, "crm.status.delete", {"id": 1, "params": "x"}).description
        == "Parameter 'params' must be array."
    )


def test_delete_factory_stage_with_items(portal):
    call(portal, "crm.type.add", {"fields": {"title": "Shipments", "entityTypeId": 150}}, ADMIN)
    cat = call(portal, "crm.category.list", {"entityTypeId": 150}, ADMIN).result["categories"][0]["id"]
    call(
        portal,
        "crm.item.add",
        {"entityTypeId": 150, "fields": {"title": "x", "stageId": f"DT150_{cat}:CLIENT"}},
        ADMIN,
    )
    row = by_status(portal, f"DYNAMIC_150_STAGE_{cat}", f"DT150_{cat}:CLIENT")
    assert row["NAME_INIT"] == row["NAME"] and row["SEMANTICS"] is None
    assert (
        error_of(portal, "crm.status.delete", {"id": row["ID"]}).description
        == "There are items in this stage."
    )
    prep = by_status(portal, f"DYNAMIC_150_STAGE_{cat}", f"DT150_{cat}:PREPARATION")
    assert call(portal, "crm.status.delete", {"id": prep["ID"]}, ADMIN).result is True


def test_english_portal_names_and_honorifics():
    portal = new_portal("en-co", "en")
    assert [r["NAME"] for r in rows(portal, "HONORIFIC")] == ["Mr.", "Mrs.", "Ms.", "Dr."]
    assert by_status(portal, "STATUS", "NEW")["NAME"] == "Unassigned"
    assert call(portal, "crm.status.entity.types", {}, ADMIN).result[0]["NAME"] == "Lead stages"


def test_fields(portal):
    fields = call(portal, "crm.status.fields", {}, ADMIN).result
    assert fields["ENTITY_ID"]["isRequired"] and fields["ENTITY_ID"]["isImmutable"]
    assert fields["NAME_INIT"]["isReadOnly"] and fields["EXTRA"]["type"] == "crm_status_extra"


def test_sort_zone_message_is_the_documented_text():
    assert MSG_SORT_AFTER_SUCCESS == (
        "Cannot create more stages after the final stage because the final successful stage already exists. "
        "Try using sort order values less than that of the final stage."
    )
