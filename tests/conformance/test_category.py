"""reference-lists.md §4 (crm.category.*), §4.4 default stages, §4.5 crm.dealcategory.*, §5 crm.type.*,
§1.2 entity.types after new pipelines, §8 checklist items 9-10."""

from __future__ import annotations

import json

import pytest

from .conftest import DEFAULTS, call, err, legacy_error, ok

DATA = json.loads(DEFAULTS.read_text(encoding="utf-8"))
DEAL_TEMPLATE = DATA["_templates"]["DEAL_STAGE_{N}"]


@pytest.fixture(scope="module")
def hook(sb_mod):
    return sb_mod.portal(0).webhook


def stages(hook, entity):
    return ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": entity}, "order": {"SORT": "ASC"}})


def new_deal_cat(hook, name="Pipe", **fields):
    return ok(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": name, **fields}})["category"]


def test_deal_category_add_and_stages(hook):
    cat = new_deal_cat(hook, "Продажи Б")
    n = cat["id"]
    assert isinstance(n, int) and n > 0
    assert cat["name"] == "Продажи Б" and cat["sort"] == 500 and cat["entityTypeId"] == 2
    assert cat["isDefault"] == "N"
    assert "originId" in cat and "originatorId" in cat
    rows = stages(hook, f"DEAL_STAGE_{n}")
    assert [r["STATUS_ID"] for r in rows] == [
        t["STATUS_ID"].replace("{N}", str(n))[:21] for t in DEAL_TEMPLATE
    ]
    for got, t in zip(rows, DEAL_TEMPLATE, strict=True):
        assert got["NAME"] == t["NAME"]
        assert got["NAME_INIT"] == t["NAME_INIT"]  # only system rows
        assert got["SORT"] == str(t["SORT"]) and got["SYSTEM"] == t["SYSTEM"]
        assert got["CATEGORY_ID"] == str(n)
        assert got["COLOR"].upper() == t["COLOR"].upper()
        if t["SEMANTICS"]:
            assert got["SEMANTICS"] == t["SEMANTICS"]
        else:
            assert got["SEMANTICS"] in (None, "", "P")
    ex = {r["STATUS_ID"].split(":")[1]: r["EXTRA"]["SEMANTICS"] for r in rows}
    assert ex["WON"] == "success" and ex["LOSE"] == "failure" and ex["APOLOGY"] == "apology"
    # entity.types (§1.2)
    types = {t["ID"]: t for t in ok(hook, "crm.status.entity.types")}
    t = types[f"DEAL_STAGE_{n}"]
    assert t["PARENT_ID"] == "DEAL_STAGE" and t["PREFIX"] == f"C{n}"
    assert t["FIELD_ATTRIBUTE_SCOPE"] == f"category_{n}"
    assert str(t["CATEGORY_ID"]) == str(n) and t["ENTITY_TYPE_ID"] == 2
    assert t["SEMANTIC_INFO"] == {
        "START_FIELD": f"C{n}:NEW",
        "FINAL_SUCCESS_FIELD": f"C{n}:WON",
        "FINAL_UNSUCCESS_FIELD": f"C{n}:LOSE",
        "FINAL_SORT": 0,
    } or t["SEMANTIC_INFO"]["FINAL_SUCCESS_FIELD"] in ("WON", f"C{n}:WON")
    assert "PREFIX" not in types["DEAL_STAGE"]


def test_deal_category_truncation_21(hook):
    last = None
    while last is None or last < 10:
        last = new_deal_cat(hook, "T")["id"]
    ids = [r["STATUS_ID"] for r in stages(hook, f"DEAL_STAGE_{last}")]
    assert f"C{last}:PREPAYMENT_INVOIC" in ids and all(len(i) <= 21 for i in ids)
    assert f"C{last}:FINAL_INVOICE" in ids


def test_deal_category_list_get_update(hook):
    cat = new_deal_cat(hook, "ListMe", sort=-5)
    assert cat["sort"] == 500  # negative sort ignored
    body = call(hook, "crm.category.list", {"entityTypeId": 2}).json()
    cats = body["result"]["categories"]
    assert "next" not in body and body["total"] == len(cats)
    assert cats[0]["id"] == 0
    assert [c["sort"] for c in cats] == sorted(c["sort"] for c in cats)
    got = ok(hook, "crm.category.get", {"entityTypeId": 2, "id": cat["id"]})["category"]
    assert got["name"] == "ListMe"
    upd = ok(hook, "crm.category.update", {"entityTypeId": 2, "id": cat["id"], "fields": {"sort": 700}})[
        "category"
    ]
    assert upd["sort"] == 700 and upd["name"] == "ListMe"


def test_deal_category_errors(hook):
    s, b = err(hook, "crm.category.get", {"entityTypeId": 2, "id": 9999})
    assert b["error"] == "NOT_FOUND" and b["error_description"] == "Item was not found."
    s, b = err(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": ""}})
    assert "Field 'NAME' is required." in b["error_description"]
    for et in (1, 7):
        s, b = err(hook, "crm.category.list", {"entityTypeId": et})
        assert b["error"] == "ENTITY_TYPE_NOT_SUPPORTED"
        assert b["error_description"].startswith("Entity type ") and b["error_description"].endswith(
            "is not supported"
        )
    s, b = err(hook, "crm.category.list", {"entityTypeId": 999})
    assert b["error"] == "NOT_FOUND" and b["error_description"] == "Smart Process Automation was not found"


def test_default_deal_category(hook):
    new_deal_cat(hook, "Before the default")  # sort 500, so the default at 1000 comes after it
    s, b = err(hook, "crm.category.delete", {"entityTypeId": 2, "id": 0})
    assert b["error_description"] in (
        "Default deal category can not be deleted",
        "Default deal category cannot be deleted",
    )
    ok(hook, "crm.category.update", {"entityTypeId": 2, "id": 0, "fields": {"name": "Main", "sort": 1000}})
    c0 = ok(hook, "crm.category.get", {"entityTypeId": 2, "id": 0})["category"]
    assert (c0["name"], c0["sort"], c0["isDefault"]) == ("Main", 1000, "Y")
    # §1.2: the default pipeline is inserted at its sort position
    ids = [t["ID"] for t in ok(hook, "crm.status.entity.types") if t["ID"].startswith("DEAL_STAGE")]
    assert ids[-1] == "DEAL_STAGE" and ids[0] != "DEAL_STAGE"
    ok(hook, "crm.category.update", {"entityTypeId": 2, "id": 0, "fields": {"sort": 0}})


def test_deal_category_delete(hook):
    n = new_deal_cat(hook, "Doomed")["id"]
    assert ok(hook, "crm.category.delete", {"entityTypeId": 2, "id": n}) is None
    assert stages(hook, f"DEAL_STAGE_{n}") == []
    assert f"DEAL_STAGE_{n}" not in [t["ID"] for t in ok(hook, "crm.status.entity.types")]
    # §4.3 names DealCategory's "Deal pipeline was not found"; the controller row of §4.1 answers
    # NOT_FOUND "Item was not found." for a missing category -- the docs do not say which comes first.
    s, b = err(hook, "crm.category.delete", {"entityTypeId": 2, "id": n})
    assert b["error_description"] in ("Deal pipeline was not found", "Item was not found.")


def test_deal_category_delete_with_deals(hook):
    n = new_deal_cat(hook, "Busy")["id"]
    ok(hook, "crm.deal.add", {"fields": {"TITLE": "d", "CATEGORY_ID": n}})
    s, b = err(hook, "crm.category.delete", {"entityTypeId": 2, "id": n})
    assert b["error_description"] in ('Found "Busy" pipeline deals', "Deals related to the funnel Busy found")


def test_client_default_category(hook):
    for et in (3, 4):
        cats = ok(hook, "crm.category.list", {"entityTypeId": et})["categories"]
        assert any(c["id"] == 0 and c["isDefault"] == "Y" for c in cats)
        err(hook, "crm.category.delete", {"entityTypeId": et, "id": 0})


# ---- smart invoices / smart processes ----------------------------------------------------------
def test_smart_invoice_category_stages(hook):
    cat = ok(hook, "crm.category.add", {"entityTypeId": 31, "fields": {"name": "Inv2"}})["category"]
    c = cat["id"]
    rows = stages(hook, f"SMART_INVOICE_STAGE_{c}")
    assert [r["STATUS_ID"] for r in rows] == [f"DT31_{c}:{s}" for s in "NSPD"]
    assert [r["NAME"] for r in rows] == ["Новый", "Отправлен клиенту", "Оплачен", "Не оплачен"]
    assert [r["SORT"] for r in rows] == ["10", "20", "30", "40"]
    assert [r["SYSTEM"] for r in rows] == ["Y", "N", "Y", "Y"]
    assert [r["NAME_INIT"] for r in rows] == [r["NAME"] for r in rows]
    assert [r["COLOR"].upper() for r in rows] == ["#39A8EF", "#2FC6F6", "#7BD500", "#FF5752"]
    assert rows[2]["SEMANTICS"] == "S" and rows[3]["SEMANTICS"] == "F"


@pytest.fixture(scope="module")
def spa(hook):
    t = ok(
        hook,
        "crm.type.add",
        {"fields": {"title": "Проекты", "entityTypeId": 180, "isCategoriesEnabled": "Y"}},
    )["type"]
    return t


def test_type_add_and_list(hook, spa):
    assert spa["entityTypeId"] == 180 and spa["id"] != spa["entityTypeId"]
    body = call(hook, "crm.type.list").json()
    types = body["result"]["types"]
    assert body["total"] == len(types)
    t = [x for x in types if x["entityTypeId"] == 180][0]
    for k in ("isCategoriesEnabled", "isStagesEnabled", "isClientEnabled", "isAutomationEnabled"):
        assert t[k] in ("Y", "N"), k
    flt = ok(hook, "crm.type.list", {"filter": {"entityTypeId": 180}})["types"]
    assert [x["entityTypeId"] for x in flt] == [180]


@pytest.mark.parametrize("etid", [127, 193, 1031, 1000])
def test_type_entity_type_id_range(hook, etid):
    s, b = err(hook, "crm.type.add", {"fields": {"title": "bad", "entityTypeId": etid}})
    assert b["error"] == "INVALID_ARG_VALUE"
    assert "entityTypeId is out of allowed range" in b["error_description"]


def test_type_auto_entity_type_id(hook):
    t = ok(hook, "crm.type.add", {"fields": {"title": "Auto"}})["type"]
    e = t["entityTypeId"]
    assert 128 <= e <= 192 or (e >= 1030 and e % 2 == 0)


def test_spa_default_category_and_stages(hook, spa):
    e = spa["entityTypeId"]
    cats = ok(hook, "crm.category.list", {"entityTypeId": e})["categories"]
    assert len(cats) == 1 and cats[0]["isDefault"] == "Y"
    c = cats[0]["id"]
    check_spa_stages(hook, e, c)
    types = {x["ID"]: x for x in ok(hook, "crm.status.entity.types")}
    t = types[f"DYNAMIC_{e}_STAGE_{c}"]
    assert t["SEMANTIC_INFO"] == [] and t["PREFIX"] == f"DT{e}_{c}" and t["ENTITY_TYPE_ID"] == e
    assert "IS_ENABLED" in t
    assert f"DYNAMIC_{spa['id']}_STAGE_{c}" not in types  # lists use entityTypeId, not the type id


def check_spa_stages(hook, e, c):
    rows = stages(hook, f"DYNAMIC_{e}_STAGE_{c}")
    assert [r["STATUS_ID"] for r in rows] == [
        f"DT{e}_{c}:{s}" for s in ("NEW", "PREPARATION", "CLIENT", "SUCCESS", "FAIL")
    ]
    assert [r["NAME"] for r in rows] == ["Начало", "Подготовка", "Согласование", "Успех", "Провал"]
    assert [r["NAME_INIT"] for r in rows] == [r["NAME"] for r in rows]
    assert [r["SORT"] for r in rows] == ["10", "20", "30", "40", "50"]
    assert [r["SYSTEM"] for r in rows] == ["Y", "N", "N", "Y", "Y"]
    assert [r["SEMANTICS"] for r in rows] == [None, None, None, "S", "F"]
    assert [r["COLOR"].upper() for r in rows] == ["#22B9FF", "#88B9FF", "#10E5FC", "#00FF00", "#FF0000"]
    assert all(r["CATEGORY_ID"] == str(c) for r in rows)
    assert all("EXTRA" not in r for r in rows)


def test_spa_category_add_default_switch(hook, spa):
    e = spa["entityTypeId"]
    old = ok(hook, "crm.category.list", {"entityTypeId": e})["categories"][0]
    s, b = err(hook, "crm.category.add", {"entityTypeId": e, "fields": {"name": "Sys", "isSystem": "Y"}})
    assert b["error"] == "ADDING_DISABLED" and b["error_description"] == "Cannot add a system pipeline"
    cat = ok(hook, "crm.category.add", {"entityTypeId": e, "fields": {"name": "Second", "isDefault": "Y"}})[
        "category"
    ]
    assert cat["isDefault"] == "Y" and "isSystem" in cat and "code" in cat
    check_spa_stages(hook, e, cat["id"])
    prev = ok(hook, "crm.category.get", {"entityTypeId": e, "id": old["id"]})["category"]
    assert prev["isDefault"] == "N"
    # §5: disabling categories with >1 category is refused
    s, b = err(hook, "crm.type.update", {"id": spa["id"], "fields": {"isCategoriesEnabled": "N"}})
    assert "You cannot disable pipelines if there more than one of them." in b["error_description"]


def test_spa_stage_add_prefix_and_category(hook, spa):
    e = spa["entityTypeId"]
    c = ok(hook, "crm.category.list", {"entityTypeId": e})["categories"][0]["id"]
    sid = ok(
        hook,
        "crm.status.add",
        {
            "fields": {
                "ENTITY_ID": f"DYNAMIC_{e}_STAGE_{c}",
                "STATUS_ID": "MY_STAGE",
                "NAME": "Mine",
                "SORT": 25,
            }
        },
    )
    row = ok(hook, "crm.status.get", {"id": sid})
    assert row["STATUS_ID"] == f"DT{e}_{c}:MY_STAGE"
    assert row["CATEGORY_ID"] == "0"  # §2.3.9: not inferred for DYNAMIC lists
    maxlen = 50 - len(f"DT{e}_{c}:")
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": f"DYNAMIC_{e}_STAGE_{c}", "STATUS_ID": "Z" * (maxlen + 1), "NAME": "x"}},
        f"Exceeded maximum length of status ID: {maxlen}.",
    )


def test_spa_delete_rules(hook):
    t = ok(hook, "crm.type.add", {"fields": {"title": "DelRules", "isCategoriesEnabled": "Y"}})["type"]
    e = t["entityTypeId"]
    default = ok(hook, "crm.category.list", {"entityTypeId": e})["categories"][0]
    other = ok(hook, "crm.category.add", {"entityTypeId": e, "fields": {"name": "Other"}})["category"]
    ok(
        hook,
        "crm.item.add",
        {
            "entityTypeId": e,
            "fields": {"title": "i", "categoryId": other["id"], "stageId": f"DT{e}_{other['id']}:CLIENT"},
        },
    )
    # stage with items cannot be deleted (§2.5.5)
    row = ok(hook, "crm.status.list", {"filter": {"STATUS_ID": f"DT{e}_{other['id']}:CLIENT"}})[0]
    status, body = err(hook, "crm.status.delete", {"id": row["ID"]})
    assert status == 400
    s, b = err(hook, "crm.category.delete", {"entityTypeId": e, "id": default["id"]})
    assert (
        "This is a default pipeline" in b["error_description"] or "default funnel" in b["error_description"]
    )
    s, b = err(hook, "crm.category.delete", {"entityTypeId": e, "id": other["id"]})
    assert (
        "There are items in this pipeline" in b["error_description"]
        or "Elements related" in b["error_description"]
    )
    # a type with items cannot be deleted
    err(hook, "crm.type.delete", {"id": t["id"]})


def test_spa_delete_empty_category_removes_stages(hook, spa):
    e = spa["entityTypeId"]
    cat = ok(hook, "crm.category.add", {"entityTypeId": e, "fields": {"name": "Temp"}})["category"]
    assert ok(hook, "crm.category.delete", {"entityTypeId": e, "id": cat["id"]}) is None
    assert stages(hook, f"DYNAMIC_{e}_STAGE_{cat['id']}") == []


def test_spa_default_category_of_empty_type_deletable(hook):
    # §4.3 quirk: the default check only applies when the type has items
    t = ok(hook, "crm.type.add", {"fields": {"title": "Empty", "isCategoriesEnabled": "Y"}})["type"]
    e = t["entityTypeId"]
    ok(hook, "crm.category.add", {"entityTypeId": e, "fields": {"name": "Keep"}})
    d = [
        c for c in ok(hook, "crm.category.list", {"entityTypeId": e})["categories"] if c["isDefault"] == "Y"
    ][0]
    assert ok(hook, "crm.category.delete", {"entityTypeId": e, "id": d["id"]}) is None


# ---- §4.5 crm.dealcategory.* -------------------------------------------------------------------
def test_dealcategory_legacy(hook):
    f = ok(hook, "crm.dealcategory.fields")
    assert {"ID", "CREATED_DATE", "NAME", "SORT", "IS_LOCKED"} <= set(f)
    nid = ok(hook, "crm.dealcategory.add", {"fields": {"NAME": "Legacy", "SORT": 300}})
    assert isinstance(nid, int)
    rows = ok(hook, "crm.dealcategory.list", {})
    assert all(str(r["ID"]) != "0" for r in rows)  # default excluded
    mine = [r for r in rows if str(r["ID"]) == str(nid)][0]
    assert {"ID", "CREATED_DATE", "NAME", "SORT", "IS_LOCKED"} <= set(mine)
    assert ok(hook, "crm.dealcategory.get", {"id": nid})["NAME"] == "Legacy"
    assert any(c["id"] == nid for c in ok(hook, "crm.category.list", {"entityTypeId": 2})["categories"])
    assert ok(hook, "crm.dealcategory.update", {"id": nid, "fields": {"NAME": "", "SORT": 310}}) is True
    g = ok(hook, "crm.dealcategory.get", {"id": nid})
    assert g["NAME"] == "Legacy" and str(g["SORT"]) == "310"
    assert ok(hook, "crm.dealcategory.status", {"id": nid}) == f"DEAL_STAGE_{nid}"
    assert ok(hook, "crm.dealcategory.status", {"id": 0}) == "DEAL_STAGE"
    sl = ok(hook, "crm.dealcategory.stage.list", {"id": nid})
    assert sl[0] == {"NAME": "Новая", "SORT": 10, "STATUS_ID": f"C{nid}:NEW"}
    assert ok(hook, "crm.dealcategory.stage.list", {"id": 987654}) == []
    legacy_error(hook, "crm.dealcategory.get", {"id": 0}, "ID is not defined or invalid.")
    s, b = err(hook, "crm.dealcategory.get", {"id": 987654})
    assert "Not found" in b["error_description"]
    assert ok(hook, "crm.dealcategory.delete", {"id": nid}) is True


def test_dealcategory_default(hook):
    d = ok(hook, "crm.dealcategory.default.get")
    assert str(d["ID"]) == "0" and "NAME" in d
    assert ok(hook, "crm.dealcategory.default.set", {"name": "Основная"}) is True
    assert ok(hook, "crm.dealcategory.default.get")["NAME"] == "Основная"
    assert ok(hook, "crm.category.get", {"entityTypeId": 2, "id": 0})["category"]["name"] == "Основная"
    assert ok(hook, "crm.dealcategory.default.set", {"name": ""}) is True
    assert ok(hook, "crm.dealcategory.default.get")["NAME"] == "Общая"


def test_en_names_for_new_pipelines(sb_en):
    hook = sb_en.portal(1).webhook
    n = new_deal_cat(hook, "Install")["id"]
    types = {t["ID"]: t for t in ok(hook, "crm.status.entity.types")}
    assert types["DEAL_STAGE"]["NAME"] == "General deal stages"
    assert types[f"DEAL_STAGE_{n}"]["NAME"] == "Install deal stages"
    rows = stages(hook, f"DEAL_STAGE_{n}")
    assert [r["NAME"] for r in rows] == [t["NAME_EN"] for t in DEAL_TEMPLATE]
    t = ok(hook, "crm.type.add", {"fields": {"title": "Projects"}})["type"]
    e = t["entityTypeId"]
    c = ok(hook, "crm.category.list", {"entityTypeId": e})["categories"][0]["id"]
    names = [r["NAME"] for r in stages(hook, f"DYNAMIC_{e}_STAGE_{c}")]
    assert names[0] == "Start" and names[3] == "Success"
    assert names[1] in ("Prepare", "Preparation") and names[4] in ("Failed", "Failure")
