"""crm.category.*, crm.dealcategory.* and crm.type.* against reference-lists.md §4 and §5."""

from __future__ import annotations

import pytest

from b24app.sandbox.portal import new_portal
from b24app.sandbox.rest import CallContext, RestError, call

ADMIN = CallContext(1, "webhook", frozenset({"crm"}))
MANAGER = CallContext(2, "webhook", frozenset({"crm"}))


@pytest.fixture
def portal():
    return new_portal("cats", "ru", seed=3)


def cat_call(portal, method, ctx=ADMIN, **params):
    return call(portal, f"crm.category.{method}", params, ctx)


def error_of(portal, method, params, ctx=ADMIN):
    with pytest.raises(RestError) as info:
        call(portal, method, params, ctx)
    return info.value


def stage_ids(portal, entity_id):
    return [
        r["STATUS_ID"] for r in call(portal, "crm.status.entity.items", {"entityId": entity_id}, ADMIN).result
    ]


def test_deal_list_includes_virtual_default(portal):
    reply = cat_call(portal, "list", entityTypeId=2)
    assert reply.total == 1 and reply.next is None
    assert reply.result == {
        "categories": [{"id": 0, "name": "Общая", "sort": 0, "entityTypeId": 2, "isDefault": "Y"}]
    }


def test_deal_add_creates_prefixed_stages_and_truncates(portal):
    first = cat_call(portal, "add", entityTypeId=2, fields={"name": "Опт", "originId": "X1"}).result[
        "category"
    ]
    assert first == {
        "id": 1,
        "name": "Опт",
        "sort": 500,
        "entityTypeId": 2,
        "isDefault": "N",
        "originId": "X1",
        "originatorId": "",
    }
    assert stage_ids(portal, "DEAL_STAGE_1") == [
        "C1:NEW",
        "C1:PREPARATION",
        "C1:PREPAYMENT_INVOICE",
        "C1:EXECUTING",
        "C1:FINAL_INVOICE",
        "C1:WON",
        "C1:LOSE",
        "C1:APOLOGY",
    ]
    portal.next_deal_category_id = 10
    cat_call(portal, "add", entityTypeId=2, fields={"name": "Ten"})
    assert "C10:PREPAYMENT_INVOIC" in stage_ids(portal, "DEAL_STAGE_10")
    rows = call(portal, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}}, ADMIN).result
    won = next(r for r in rows if r["STATUS_ID"] == "C1:WON")
    prep = next(r for r in rows if r["STATUS_ID"] == "C1:PREPARATION")
    assert won["NAME_INIT"] == "Сделка успешна" and prep["NAME_INIT"] == "" and won["CATEGORY_ID"] == "1"


def test_deal_default_update_and_delete_rules(portal):
    updated = cat_call(portal, "update", entityTypeId=2, id=0, fields={"name": "Main", "sort": 7}).result
    assert updated["category"]["name"] == "Main" and updated["category"]["sort"] == 7
    err = error_of(portal, "crm.category.delete", {"entityTypeId": 2, "id": 0})
    assert (err.status, err.error, err.description) == (400, 0, "Default deal category can not be deleted")
    cat_id = cat_call(portal, "add", entityTypeId=2, fields={"name": "P"}).result["category"]["id"]
    call(portal, "crm.deal.add", {"fields": {"TITLE": "d", "CATEGORY_ID": cat_id}}, ADMIN)
    assert (
        error_of(portal, "crm.category.delete", {"entityTypeId": 2, "id": cat_id}).description
        == 'Found "P" pipeline deals'
    )


def test_deal_delete_erases_stage_list(portal):
    cat_id = cat_call(portal, "add", entityTypeId=2, fields={"name": "P"}).result["category"]["id"]
    assert cat_call(portal, "delete", entityTypeId=2, id=cat_id).result is None
    assert stage_ids(portal, f"DEAL_STAGE_{cat_id}") == []
    err = error_of(portal, "crm.category.get", {"entityTypeId": 2, "id": cat_id})
    assert (err.error, err.description) == ("NOT_FOUND", "Item was not found.")


def test_smart_invoice_default_and_new_category(portal):
    default = cat_call(portal, "list", entityTypeId=31).result["categories"]
    assert len(default) == 1 and default[0]["isDefault"] == "Y" and default[0]["isSystem"] == "N"
    new = cat_call(portal, "add", entityTypeId=31, fields={"name": "B2B", "isDefault": "Y"}).result[
        "category"
    ]
    assert new["id"] == default[0]["id"] + 1  # shared item-category autoincrement
    assert stage_ids(portal, f"SMART_INVOICE_STAGE_{new['id']}") == [f"DT31_{new['id']}:{s}" for s in "NSPD"]
    flags = {c["id"]: c["isDefault"] for c in cat_call(portal, "list", entityTypeId=31).result["categories"]}
    assert flags == {default[0]["id"]: "N", new["id"]: "Y"}


def test_unsupported_and_unknown_types(portal):
    for etid, name in ((1, "LEAD"), (7, "QUOTE")):
        err = error_of(portal, "crm.category.list", {"entityTypeId": etid})
        assert (err.error, err.description) == (
            "ENTITY_TYPE_NOT_SUPPORTED",
            f"Entity type {name} is not supported",
        )
    assert error_of(portal, "crm.category.list", {"entityTypeId": 36}).error == "NOT_FOUND"
    assert (
        error_of(portal, "crm.category.list", {"entityTypeId": 130}).description
        == "Smart Process Automation was not found"
    )
    assert cat_call(portal, "list", entityTypeId=3).result["categories"][0]["isSystem"] == "Y"


def test_add_validation_and_permissions(portal):
    err = error_of(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": ""}})
    assert err.description == "Field 'NAME' is required."
    err = error_of(portal, "crm.category.add", {"entityTypeId": 31, "fields": {"name": "x", "isSystem": "Y"}})
    assert (err.error, err.description) == ("ADDING_DISABLED", "Cannot add a system pipeline")
    err = error_of(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "x"}}, MANAGER)
    assert (err.error, err.description) == ("ACCESS_DENIED", "Access denied")
    assert cat_call(portal, "list", MANAGER, entityTypeId=2).total == 1
    negative = cat_call(portal, "add", entityTypeId=2, fields={"name": "neg", "sort": -5}).result["category"]
    assert negative["sort"] == 500
    assert (
        error_of(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "n" * 256}}).status == 400
    )


@pytest.mark.parametrize("flag", [None, "N"])
def test_a_smart_process_without_categories_keeps_one_pipeline_and_refuses_more(portal, flag):
    fields = {"title": "Cars"} | ({"isCategoriesEnabled": flag} if flag else {})
    created = call(portal, "crm.type.add", {"fields": fields}, ADMIN).result["type"]
    etid = created["entityTypeId"]
    assert created["isCategoriesEnabled"] == "N"
    cats = cat_call(portal, "list", entityTypeId=etid).result["categories"]
    assert [(c["name"], c["isDefault"]) for c in cats] == [("Общая", "Y")]  # made whatever the flag says
    assert stage_ids(portal, f"DYNAMIC_{etid}_STAGE_{cats[0]['id']}")[-1].endswith(":FAIL")
    err = error_of(portal, "crm.category.add", {"entityTypeId": etid, "fields": {"name": "Second"}})
    assert (err.error, err.description) == (
        "ENTITY_TYPE_NOT_SUPPORTED",
        f"Entity type DYNAMIC_{etid} is not supported",
    )
    assert len(cat_call(portal, "list", entityTypeId=etid).result["categories"]) == 1
    call(portal, "crm.type.update", {"id": created["id"], "fields": {"isCategoriesEnabled": "Y"}}, ADMIN)
    assert (
        cat_call(portal, "add", entityTypeId=etid, fields={"name": "Second"}).result["category"]["name"]
        == "Second"
    )


def test_smart_process_type_and_categories(portal):
    created = call(
        portal, "crm.type.add", {"fields": {"title": "Cars", "isCategoriesEnabled": "Y"}}, ADMIN
    ).result
    etid = created["type"]["entityTypeId"]
    assert (
        etid == 128
        and created["type"]["isCategoriesEnabled"] == "Y"
        and created["type"]["isStagesEnabled"] == "N"
    )
    cats = cat_call(portal, "list", entityTypeId=etid).result["categories"]
    assert [(c["name"], c["isDefault"], c["sort"]) for c in cats] == [("Общая", "Y", 500)]
    second = cat_call(portal, "add", entityTypeId=etid, fields={"name": "Used"}).result["category"]
    entity_id = f"DYNAMIC_{etid}_STAGE_{second['id']}"
    items = call(portal, "crm.status.list", {"filter": {"ENTITY_ID": entity_id}}, ADMIN).result
    assert [r["STATUS_ID"].split(":")[1] for r in items] == [
        "NEW",
        "PREPARATION",
        "CLIENT",
        "SUCCESS",
        "FAIL",
    ]
    assert all(r["NAME_INIT"] == r["NAME"] for r in items)
    assert [r["SORT"] for r in items] == ["10", "20", "30", "40", "50"]
    types = call(portal, "crm.status.entity.types", {}, ADMIN).result
    assert next(t for t in types if t["ID"] == entity_id)["NAME"] == "Cars (Used)"


def test_item_category_delete_rules(portal):
    etid = call(portal, "crm.type.add", {"fields": {"title": "T", "isCategoriesEnabled": "Y"}}, ADMIN).result[
        "type"
    ]["entityTypeId"]
    default_id = cat_call(portal, "list", entityTypeId=etid).result["categories"][0]["id"]
    other = cat_call(portal, "add", entityTypeId=etid, fields={"name": "O"}).result["category"]["id"]
    call(portal, "crm.item.add", {"entityTypeId": etid, "fields": {"title": "i", "categoryId": other}}, ADMIN)
    assert (
        error_of(portal, "crm.category.delete", {"entityTypeId": etid, "id": default_id}).description
        == "This is a default pipeline"
    )
    assert (
        error_of(portal, "crm.category.delete", {"entityTypeId": etid, "id": other}).description
        == "There are items in this pipeline"
    )


def test_default_item_category_of_type_without_items_is_deletable(portal):
    etid = call(portal, "crm.type.add", {"fields": {"title": "T"}}, ADMIN).result["type"]["entityTypeId"]
    default_id = cat_call(portal, "list", entityTypeId=etid).result["categories"][0]["id"]
    assert cat_call(portal, "delete", entityTypeId=etid, id=default_id).result is None
    assert stage_ids(portal, f"DYNAMIC_{etid}_STAGE_{default_id}") == []


def test_type_list_paging_and_ranges(portal):
    for i in range(52):
        call(portal, "crm.type.add", {"fields": {"title": f"T{i}"}}, ADMIN)
    first = call(portal, "crm.type.list", {}, ADMIN)
    assert len(first.result["types"]) == 50 and first.total == 52 and first.next == 50
    last = call(portal, "crm.type.list", {"start": 50}, ADMIN)
    assert [t["title"] for t in last.result["types"]] == ["T50", "T51"] and last.next is None
    assert (
        error_of(portal, "crm.type.add", {"fields": {"title": "x", "entityTypeId": 1031}}).description
        == "entityTypeId is out of allowed range"
    )
    assert (
        call(portal, "crm.type.add", {"fields": {"title": "x", "entityTypeId": 1032}}, ADMIN).result["type"][
            "entityTypeId"
        ]
        == 1032
    )
    assert error_of(portal, "crm.type.list", {}, MANAGER).error == "ACCESS_DENIED"


def test_legacy_dealcategory(portal):
    new_id = call(portal, "crm.dealcategory.add", {"fields": {"NAME": "Legacy", "SORT": 20}}, ADMIN).result
    rows = call(portal, "crm.dealcategory.list", {}, ADMIN)
    assert rows.total == 1 and rows.result[0]["ID"] == str(new_id) and rows.result[0]["SORT"] == "20"
    assert call(portal, "crm.dealcategory.status", {"id": new_id}, ADMIN).result == f"DEAL_STAGE_{new_id}"
    assert call(portal, "crm.dealcategory.status", {"id": 0}, ADMIN).result == "DEAL_STAGE"
    assert (
        call(portal, "crm.dealcategory.stage.list", {"id": new_id}, ADMIN).result[0]["STATUS_ID"]
        == f"C{new_id}:NEW"
    )
    assert call(portal, "crm.dealcategory.stage.list", {"id": 77}, ADMIN).result == []
    assert call(portal, "crm.dealcategory.default.get", {}, ADMIN).result == {"ID": 0, "NAME": "Общая"}
    call(portal, "crm.dealcategory.default.set", {"name": "Основная"}, ADMIN)
    assert cat_call(portal, "get", entityTypeId=2, id=0).result["category"]["name"] == "Основная"
    call(portal, "crm.dealcategory.default.set", {"name": ""}, ADMIN)
    assert call(portal, "crm.dealcategory.default.get", {}, ADMIN).result["NAME"] == "Общая"
    assert error_of(portal, "crm.dealcategory.get", {"id": 0}).description == "ID is not defined or invalid."
    assert error_of(portal, "crm.dealcategory.get", {"id": 99}).description == "Not found"
    assert (
        call(
            portal, "crm.dealcategory.update", {"id": new_id, "fields": {"NAME": "", "SORT": -1}}, ADMIN
        ).result
        is True
    )
    assert call(portal, "crm.dealcategory.get", {"id": new_id}, ADMIN).result["NAME"] == "Legacy"
    assert (
        error_of(portal, "crm.dealcategory.add", {"fields": {"NAME": "x"}}, MANAGER).description
        == "Access denied."
    )
    assert call(portal, "crm.dealcategory.delete", {"id": new_id}, ADMIN).result is True


def test_type_not_found_is_error_zero(portal):
    for method, params in (
        ("crm.type.get", {"id": 99}),
        ("crm.type.update", {"id": 99, "fields": {"title": "x"}}),
        ("crm.type.delete", {"id": 99}),
    ):
        err = error_of(portal, method, params)
        assert (err.status, err.error, err.description) == (400, 0, "Smart Process Automation was not found")


def test_type_shape_relations_and_linked_user_fields(portal):
    fields = {
        "title": "Cars",
        "isClientEnabled": "Y",
        "isUseInUserfieldEnabled": "Y",
        "relations": {
            "parent": [{"entityTypeId": 2, "isChildrenListEnabled": "true"}],
            "child": [{"entityTypeId": 1}],
        },
        "linkedUserFields": {"TASKS_TASK|UF_CRM_TASK": "true", "CALENDAR_EVENT|UF_CRM_CAL_EVENT": "Y"},
    }
    added = call(portal, "crm.type.add", {"fields": fields}, ADMIN).result["type"]
    assert added["relations"] == {
        "parent": [
            {"entityTypeId": 3, "isChildrenListEnabled": "Y", "isPredefined": "Y"},
            {"entityTypeId": 4, "isChildrenListEnabled": "Y", "isPredefined": "Y"},
            {"entityTypeId": 2, "isChildrenListEnabled": "Y", "isPredefined": "N"},
        ],
        "child": [{"entityTypeId": 1, "isChildrenListEnabled": "N", "isPredefined": "N"}],
    }
    # "Y"/"N" do not work for these switches (crm.type.add docs): only "true" switches one on
    assert added["linkedUserFields"] == {
        "CALENDAR_EVENT|UF_CRM_CAL_EVENT": "N",
        "TASKS_TASK|UF_CRM_TASK": "Y",
        "TASKS_TASK_TEMPLATE|UF_CRM_TASK": "N",
    }
    assert added["customSections"] == [] and "isInitialized" not in added
    assert call(portal, "crm.type.get", {"id": added["id"]}, ADMIN).result == {"type": added}
    updated = call(
        portal,
        "crm.type.update",
        {"id": added["id"], "fields": {"isClientEnabled": "N", "relations": {}}},
        ADMIN,
    ).result["type"]
    assert updated["relations"] == {"parent": [], "child": []}
    listed = call(portal, "crm.type.list", {}, ADMIN).result["types"][0]
    assert listed["isInitialized"] == "Y"
    assert not {"relations", "linkedUserFields", "customSections"} & set(listed)


def test_linked_user_fields_need_use_in_userfields(portal):
    fields = {"title": "T", "linkedUserFields": {"TASKS_TASK|UF_CRM_TASK": "true"}}
    added = call(portal, "crm.type.add", {"fields": fields}, ADMIN).result["type"]
    assert set(added["linkedUserFields"].values()) == {"N"}


def test_entity_types_name_the_pipeline_of_smart_process_lists_only(portal):
    etid = call(
        portal, "crm.type.add", {"fields": {"title": "Cars", "isCategoriesEnabled": "Y"}}, ADMIN
    ).result["type"]["entityTypeId"]
    second = cat_call(portal, "add", entityTypeId=etid, fields={"name": "Second", "sort": 700}).result[
        "category"
    ]
    cat_call(portal, "add", entityTypeId=2, fields={"name": "P"})
    types = call(portal, "crm.status.entity.types", {}, ADMIN).result
    dynamic = [t for t in types if t["ID"].startswith("DYNAMIC_")]
    assert [(t["CATEGORY_NAME"], t["CATEGORY_SORT"], t["IS_DEFAULT_CATEGORY"]) for t in dynamic] == [
        ("Общая", 500, True),
        ("Second", 700, False),
    ]
    assert dynamic[1]["ID"] == f"DYNAMIC_{etid}_STAGE_{second['id']}"
    others = [t for t in types if not t["ID"].startswith("DYNAMIC_")]
    assert not [t for t in others if {"CATEGORY_NAME", "CATEGORY_SORT", "IS_DEFAULT_CATEGORY"} & set(t)]
