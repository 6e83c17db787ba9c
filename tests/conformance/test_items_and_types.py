"""CRM items (legacy crm.{type}.* and crm.item.*), crm.type shapes, coded-less errors and
crm.status.entity.types pipeline fields, each asserting a fact of the Bitrix24 REST docs
(bitrix24/b24restdocs, api-reference/crm/...): deals/crm-deal-{get,update,delete}.md,
{leads,contacts,companies,quote}/*-{update,delete}.md, universal/crm-item-{get,list,update,delete}.md,
universal/user-defined-object-types/crm-type-{add,get,list,update,delete}.md, data-types.md#type,
universal/category/crm-category-delete.md, status/crm-status-entity-types.md and the tutorial
how-to-add-category-to-spa.md (crm.type.list answer).
"""

from __future__ import annotations

import pytest

from .conftest import call, err, ok

PAGE = 50
LINKED = {"CALENDAR_EVENT|UF_CRM_CAL_EVENT", "TASKS_TASK|UF_CRM_TASK", "TASKS_TASK_TEMPLATE|UF_CRM_TASK"}


@pytest.fixture(scope="module")
def hook(sb_mod):
    return sb_mod.portal(1).webhook


@pytest.fixture
def spa(hook):
    """A new smart process of its own: (type, entityTypeId, default category id)."""
    t = ok(hook, "crm.type.add", {"fields": {"title": "Conformance SPA", "isCategoriesEnabled": "Y"}})["type"]
    etid = t["entityTypeId"]
    cats = ok(hook, "crm.category.list", {"entityTypeId": etid})["categories"]
    return t, etid, next(c["id"] for c in cats if c["isDefault"] == "Y")


# ---- legacy crm.{type}.* -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lead", "deal", "contact", "company", "quote"])
def test_legacy_item_round_trip(hook, name):
    """get answers the item with upper-case fields; update and delete answer `true`; a deleted id
    then answers 400, empty code, "Not found" (crm-{type}-get/update/delete.md)."""
    item_id = ok(hook, f"crm.{name}.add", {"fields": {"COMMENTS": "before"}})
    assert ok(hook, f"crm.{name}.update", {"id": item_id, "fields": {"COMMENTS": "after"}}) is True
    row = ok(hook, f"crm.{name}.get", {"id": item_id})
    assert row["ID"] == str(item_id) and row["COMMENTS"] == "after"
    assert ok(hook, f"crm.{name}.delete", {"id": item_id}) is True
    status, body = err(hook, f"crm.{name}.get", {"id": item_id})
    assert (status, body["error"], body["error_description"]) == (400, "", "Not found")


@pytest.mark.parametrize(
    ("name", "code", "description"),
    [
        ("deal", "", "Not found"),
        ("lead", "", "Not found"),
        ("contact", "ERROR_CORE", "Element not found"),
        ("company", "", "Company is not found"),
        ("quote", "ERROR_CORE", "Element not found"),
    ],
    ids=["deal", "lead", "contact", "company", "quote"],
)
def test_legacy_delete_of_an_unknown_id(hook, name, code, description):
    """crm-{type}-delete.md: the documented not-found answer of each type, HTTP 400."""
    status, body = err(hook, f"crm.{name}.delete", {"id": 987654})
    assert (status, body["error"], body["error_description"]) == (400, code, description)


@pytest.mark.parametrize(
    ("name", "description"),
    [
        ("deal", "Not found"),
        ("lead", "Not found"),
        ("contact", "Contact is not found"),
        ("company", "Company is not found"),
        ("quote", "Quote is not found"),
    ],
    ids=["deal", "lead", "contact", "company", "quote"],
)
def test_legacy_update_of_an_unknown_id(hook, name, description):
    """crm-{type}-update.md: 400 with an empty code and the type's own not-found text."""
    status, body = err(hook, f"crm.{name}.update", {"id": 987654, "fields": {"COMMENTS": "x"}})
    assert (status, body["error"], body["error_description"]) == (400, "", description)


def test_legacy_delete_needs_a_positive_id(hook):
    """crm-deal-delete.md: "ID is not defined or invalid." with an empty code, HTTP 400."""
    status, body = err(hook, "crm.deal.delete", {"id": 0})
    assert (status, body["error"], body["error_description"]) == (400, "", "ID is not defined or invalid.")


def test_legacy_deal_update_moves_the_stage(hook):
    """crm-deal-update.md: STAGE_ID takes a stage of the deal's own pipeline (DEAL_STAGE for the
    general one)."""
    deal = ok(hook, "crm.deal.add", {"fields": {"TITLE": "stage move"}})
    ok(hook, "crm.deal.update", {"id": deal, "fields": {"STAGE_ID": "PREPARATION"}})
    assert ok(hook, "crm.deal.get", {"id": deal})["STAGE_ID"] == "PREPARATION"
    ok(hook, "crm.deal.delete", {"id": deal})


# ---- crm.item.* --------------------------------------------------------------------------------
def test_item_get_update_delete(hook, spa):
    """crm-item-get.md: result {"item": {...}} with camelCase fields; crm-item-update.md: the updated
    item, here moved to another stage; crm-item-delete.md: result `[]`, then NOT_FOUND (HTTP 400)."""
    _, etid, cat = spa
    item = ok(hook, "crm.item.add", {"entityTypeId": etid, "fields": {"title": "move me"}})["item"]
    got = ok(hook, "crm.item.get", {"entityTypeId": etid, "id": item["id"]})
    assert set(got) == {"item"} and got["item"]["id"] == item["id"]
    assert {"id", "title", "categoryId", "stageId", "entityTypeId"} <= set(got["item"])
    assert got["item"]["stageId"] == f"DT{etid}_{cat}:NEW"
    params = {"entityTypeId": etid, "id": item["id"], "fields": {"stageId": f"DT{etid}_{cat}:SUCCESS"}}
    moved = ok(hook, "crm.item.update", params)["item"]
    assert moved["stageId"] == f"DT{etid}_{cat}:SUCCESS" and moved["title"] == "move me"
    assert ok(hook, "crm.item.delete", {"entityTypeId": etid, "id": item["id"]}) == []
    for method in ("crm.item.get", "crm.item.delete"):
        status, body = err(hook, method, {"entityTypeId": etid, "id": item["id"]})
        assert (status, body["error"]) == (400, "NOT_FOUND")


def test_item_list_pages_and_filters_by_stage_and_pipeline(hook, spa):
    """crm-item-list.md: 50 items a page with `total` and `next`; filter by stageId/categoryId."""
    _, etid, cat = spa
    for i in range(PAGE + 1):
        ok(hook, "crm.item.add", {"entityTypeId": etid, "fields": {"title": f"i{i}"}})
    ok(
        hook,
        "crm.item.add",
        {"entityTypeId": etid, "fields": {"title": "won", "stageId": f"DT{etid}_{cat}:SUCCESS"}},
    )
    first = call(hook, "crm.item.list", {"entityTypeId": etid}).json()
    assert len(first["result"]["items"]) == PAGE and first["total"] == PAGE + 2 and first["next"] == PAGE
    last = call(hook, "crm.item.list", {"entityTypeId": etid, "start": PAGE}).json()
    assert len(last["result"]["items"]) == 2 and "next" not in last
    won = call(
        hook, "crm.item.list", {"entityTypeId": etid, "filter": {"stageId": f"DT{etid}_{cat}:SUCCESS"}}
    )
    assert won.json()["total"] == 1
    in_cat = call(hook, "crm.item.list", {"entityTypeId": etid, "filter": {"categoryId": cat}}).json()
    assert in_cat["total"] == PAGE + 2


def test_item_update_moves_a_deal_to_another_pipeline(hook):
    """crm-deal-update.md: a deal changes pipeline through crm.item.update with entityTypeId 2."""
    pipeline = ok(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Moved to"}})["category"][
        "id"
    ]
    deal = ok(hook, "crm.deal.add", {"fields": {"TITLE": "pipeline move"}})
    params = {
        "entityTypeId": 2,
        "id": deal,
        "fields": {"categoryId": pipeline, "stageId": f"C{pipeline}:WON"},
    }
    item = ok(hook, "crm.item.update", params)["item"]
    assert (item["categoryId"], item["stageId"]) == (pipeline, f"C{pipeline}:WON")
    row = ok(hook, "crm.deal.get", {"id": deal})
    assert (row["CATEGORY_ID"], row["STAGE_ID"]) == (str(pipeline), f"C{pipeline}:WON")
    ok(hook, "crm.deal.delete", {"id": deal})
    assert ok(hook, "crm.category.delete", {"entityTypeId": 2, "id": pipeline}) is None


# ---- crm.type.* --------------------------------------------------------------------------------
def test_type_get_and_add_carry_relations_user_fields_and_sections(hook):
    """data-types.md#type and crm-type-add/get.md: relations {parent, child} of {entityTypeId,
    isChildrenListEnabled, isPredefined}; isClientEnabled = preset parent links to contacts (3) and
    companies (4); linkedUserFields with the three bindings; customSections an array."""
    fields = {"title": "Shape", "isClientEnabled": "Y", "relations": {"child": [{"entityTypeId": 2}]}}
    added = ok(hook, "crm.type.add", {"fields": fields})["type"]
    got = ok(hook, "crm.type.get", {"id": added["id"]})["type"]
    for t in (added, got):
        assert set(t["relations"]) == {"parent", "child"}
        parents = {r["entityTypeId"]: r for r in t["relations"]["parent"]}
        assert parents[3]["isPredefined"] == "Y" and parents[4]["isPredefined"] == "Y"
        assert t["relations"]["child"] == [
            {"entityTypeId": 2, "isChildrenListEnabled": "N", "isPredefined": "N"}
        ]
        assert set(t["linkedUserFields"]) == LINKED and set(t["linkedUserFields"].values()) <= {"Y", "N"}
        assert t["customSections"] == [] and t["customSectionId"] is None
    ok(hook, "crm.type.delete", {"id": added["id"]})


def test_type_list_entries_say_initialized(hook, spa):
    """how-to-add-category-to-spa.md: crm.type.list entries carry isInitialized "Y"."""
    t, _, _ = spa
    listed = ok(hook, "crm.type.list", {"filter": {"id": t["id"]}})["types"]
    assert [entry["isInitialized"] for entry in listed] == ["Y"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("crm.type.get", {"id": 987654}),
        ("crm.type.update", {"id": 987654, "fields": {"title": "x"}}),
        ("crm.type.delete", {"id": 987654}),
    ],
)
def test_type_not_found_is_the_number_zero(hook, method, params):
    """crm-type-get/update/delete.md: HTTP 400 with `"error": 0` -- a JSON number, not "0"."""
    status, body = err(hook, method, params)
    assert status == 400
    assert type(body["error"]) is int and body["error"] == 0, body
    assert body["error_description"]


def test_type_delete_answers_an_empty_array_and_refuses_a_type_with_items(hook, spa):
    """crm-type-delete.md: `[]` on success; BX_ERROR "You cannot delete an entity type that has
    elements" while items exist."""
    t, etid, _ = spa
    item = ok(hook, "crm.item.add", {"entityTypeId": etid, "fields": {"title": "keeps it"}})["item"]
    status, body = err(hook, "crm.type.delete", {"id": t["id"]})
    assert (status, body["error"]) == (400, "BX_ERROR")
    assert body["error_description"] == "You cannot delete an entity type that has elements"
    ok(hook, "crm.item.delete", {"entityTypeId": etid, "id": item["id"]})
    assert ok(hook, "crm.type.delete", {"id": t["id"]}) == []


def test_default_deal_pipeline_refusal_is_the_number_zero(hook):
    """crm-category-delete.md: deleting the default deal pipeline answers code 0, HTTP 400."""
    status, body = err(hook, "crm.category.delete", {"entityTypeId": 2, "id": 0})
    assert status == 400
    assert type(body["error"]) is int and body["error"] == 0, body
    # the Russian page quotes the untranslated message, the English page translates it
    assert body["error_description"] in (
        "Default deal category can not be deleted",
        "Default deal category cannot be deleted",
    )


# ---- crm.status.entity.types -------------------------------------------------------------------
def test_entity_types_name_the_pipeline_of_smart_process_lists(hook, spa):
    """crm-status-entity-types.md: DYNAMIC_* entries carry CATEGORY_NAME (string), CATEGORY_SORT
    (integer) and IS_DEFAULT_CATEGORY (boolean); the other entries of the example do not."""
    _, etid, cat = spa
    second = ok(hook, "crm.category.add", {"entityTypeId": etid, "fields": {"name": "Second", "sort": 600}})
    second_id = second["category"]["id"]
    types = {t["ID"]: t for t in ok(hook, "crm.status.entity.types")}
    default, other = types[f"DYNAMIC_{etid}_STAGE_{cat}"], types[f"DYNAMIC_{etid}_STAGE_{second_id}"]
    assert type(default["CATEGORY_NAME"]) is str and type(default["CATEGORY_SORT"]) is int
    assert default["IS_DEFAULT_CATEGORY"] is True
    assert (other["CATEGORY_NAME"], other["CATEGORY_SORT"], other["IS_DEFAULT_CATEGORY"]) == (
        "Second",
        600,
        False,
    )
    pipeline_keys = {"CATEGORY_NAME", "CATEGORY_SORT", "IS_DEFAULT_CATEGORY"}
    for entity_id in ("STATUS", "SOURCE", "DEAL_STAGE", "QUOTE_STATUS"):
        assert not pipeline_keys & set(types[entity_id]), entity_id
    invoices = [t for key, t in types.items() if key.startswith("SMART_INVOICE_STAGE_")]
    assert invoices and not [t for t in invoices if pipeline_keys & set(t)]
