"""reference-lists.md §6 fresh-portal defaults (ru and en), §1.2 entity.types, §6.14 default pipelines."""

from __future__ import annotations

import json

import pytest

from .conftest import DEFAULTS, ok

DATA = json.loads(DEFAULTS.read_text(encoding="utf-8"))
LISTS = [
    "STATUS",
    "DEAL_STAGE",
    "QUOTE_STATUS",
    "SOURCE",
    "CONTACT_TYPE",
    "COMPANY_TYPE",
    "EMPLOYEES",
    "INDUSTRY",
    "DEAL_TYPE",
    "HONORIFIC",
    "CALL_LIST",
    "DEAL_STATE",
    "EVENT_TYPE",
    "INVOICE_STATUS",
]
PROCESS = (None, "", "P")  # §3: null, "" and "P" all mean in progress


def expected(entity: str, lang: str) -> list[dict]:
    if entity == "HONORIFIC" and lang == "en":
        return DATA["_variants"]["HONORIFIC@en"]
    rows = []
    for row in DATA[entity]:
        row = dict(row)
        if lang == "en":
            row["NAME"] = row.get("NAME_EN", row["NAME"])
            row["NAME_INIT"] = row.get("NAME_INIT_EN", row["NAME_INIT"])
        rows.append(row)
    return rows


def check_row(got: dict, want: dict, entity: str):
    ctx = (entity, want["STATUS_ID"], got)
    assert got["ENTITY_ID"] == entity, ctx
    assert got["NAME"] == want["NAME"], ctx
    assert got["NAME_INIT"] == want["NAME_INIT"], ctx
    assert got["SORT"] == str(want["SORT"]), ctx  # numbers as strings (§2.1)
    assert got["SYSTEM"] == want["SYSTEM"], ctx
    assert isinstance(got["ID"], str) and got["ID"].isdigit(), ctx
    if want["SEMANTICS"] is None:
        assert got["SEMANTICS"] in PROCESS, ctx
    else:
        assert got["SEMANTICS"] == want["SEMANTICS"], ctx
    if want["COLOR"] is None:
        assert got["COLOR"] in (None, ""), ctx
    else:
        assert (got["COLOR"] or "").upper() == want["COLOR"].upper(), ctx
    assert got["CATEGORY_ID"] in (None, "0"), ctx  # §9 open question: null vs "0"


@pytest.mark.parametrize("entity", LISTS)
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_fresh_list(request, lang, entity):
    portal = request.getfixturevalue("sb_ru" if lang == "ru" else "sb_en").portal(0)
    rows = ok(portal.webhook, "crm.status.list", {"filter": {"ENTITY_ID": entity}, "order": {"SORT": "ASC"}})
    want = expected(entity, lang)
    assert [r["STATUS_ID"] for r in rows] == [w["STATUS_ID"] for w in want]
    for got, w in zip(rows, want, strict=True):
        check_row(got, w, entity)


def test_prepayment_invoice_latin_c(fresh):
    flt = {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "PREPAYMENT_INVOICE"}
    rows = ok(fresh.webhook, "crm.status.list", {"filter": flt})
    assert rows[0]["NAME"].startswith("C")  # U+0043, §6 quirk
    assert rows[0]["NAME"] == "Cчёт на предоплату"


EN_NAMES = {
    "STATUS": "Lead stages",
    "SOURCE": "Sources",
    "CONTACT_TYPE": "Contact Type",
    "COMPANY_TYPE": "Company Type",
    "EMPLOYEES": "Employees",
    "INDUSTRY": "Industry",
    "DEAL_TYPE": "Deal Type",
    "DEAL_STAGE": "Deal Stage",
    "QUOTE_STATUS": "Estimate stages",
    "HONORIFIC": "Salutations",
    "CALL_LIST": "Call statuses",
}
RU_NAMES = {
    "STATUS": "Стадии лида",
    "SOURCE": "Источники",
    "CONTACT_TYPE": "Тип контакта",
    "COMPANY_TYPE": "Тип компании",
    "EMPLOYEES": "Кол-во сотрудников",
    "INDUSTRY": "Сфера деятельности",
    "DEAL_TYPE": "Тип сделки",
    "DEAL_STAGE": "Стадии сделки",
    "QUOTE_STATUS": "Стадии предложения",
    "HONORIFIC": "Обращения",
    "CALL_LIST": "Статусы обзвона",
}
PLAIN = [
    "SOURCE",
    "CONTACT_TYPE",
    "COMPANY_TYPE",
    "EMPLOYEES",
    "INDUSTRY",
    "DEAL_TYPE",
    "HONORIFIC",
    "CALL_LIST",
]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_entity_types_fresh(request, lang):
    portal = request.getfixturevalue("sb_ru" if lang == "ru" else "sb_en").portal(0)
    r = portal.webhook
    from .conftest import call

    body = call(r, "crm.status.entity.types").json()
    assert isinstance(body["result"], list)
    assert "total" not in body  # §1.2 plain array, no total
    types = {t["ID"]: t for t in body["result"]}
    ids = [t["ID"] for t in body["result"]]
    names = RU_NAMES if lang == "ru" else EN_NAMES
    for k, v in names.items():
        assert types[k]["NAME"] == v, (k, types[k])
    # never listed
    for hidden in ("DEAL_STATE", "EVENT_TYPE", "PRODUCT"):
        assert hidden not in types
    # emission order (§1.2)
    core = [
        "STATUS",
        "SOURCE",
        "CONTACT_TYPE",
        "COMPANY_TYPE",
        "EMPLOYEES",
        "INDUSTRY",
        "DEAL_TYPE",
        "DEAL_STAGE",
        "QUOTE_STATUS",
        "HONORIFIC",
        "CALL_LIST",
    ]
    assert [i for i in ids if i in core] == core
    assert ids[:7] == core[:7]
    inv = [i for i in ids if i.startswith("SMART_INVOICE_STAGE_")]
    pos_deal = ids.index("DEAL_STAGE")
    for i in inv + (["INVOICE_STATUS"] if "INVOICE_STATUS" in ids else []):
        assert 7 <= ids.index(i) < pos_deal
    # keys per kind
    for k in PLAIN:
        assert set(types[k]) == {"ID", "NAME"}, types[k]
    deal = types["DEAL_STAGE"]
    assert "PREFIX" not in deal and "PARENT_ID" not in deal
    assert deal["SEMANTIC_INFO"] == {
        "START_FIELD": "NEW",
        "FINAL_SUCCESS_FIELD": "WON",
        "FINAL_UNSUCCESS_FIELD": "LOSE",
        "FINAL_SORT": 0,
    }
    assert deal["ENTITY_TYPE_ID"] == 2
    assert deal["FIELD_ATTRIBUTE_SCOPE"] == ""
    assert deal["CATEGORY_ID"] == 0
    st = types["STATUS"]
    assert st["SEMANTIC_INFO"] == {
        "START_FIELD": "NEW",
        "FINAL_SUCCESS_FIELD": "CONVERTED",
        "FINAL_UNSUCCESS_FIELD": "JUNK",
        "FINAL_SORT": 0,
    }
    assert st["ENTITY_TYPE_ID"] == 1 and "PREFIX" not in st
    q = types["QUOTE_STATUS"]
    assert q["SEMANTIC_INFO"] == {
        "START_FIELD": "DRAFT",
        "FINAL_SUCCESS_FIELD": "APPROVED",
        "FINAL_UNSUCCESS_FIELD": "DECLAINED",
        "FINAL_SORT": 0,
    }
    assert q.get("ENTITY_TYPE_ID", 7) == 7 and "PREFIX" not in q
    for i in inv:
        t = types[i]
        assert t["SEMANTIC_INFO"] == []  # PHP empty array
        assert t["ENTITY_TYPE_ID"] == 31
        n = i.rsplit("_", 1)[1]
        assert t["PREFIX"] == f"DT31_{n}"
        assert t["IS_ENABLED"] is True
        assert int(t["CATEGORY_ID"]) == int(n)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_default_deal_pipeline(request, lang):
    portal = request.getfixturevalue("sb_ru" if lang == "ru" else "sb_en").portal(0)
    from .conftest import call

    body = call(portal.webhook, "crm.category.list", {"entityTypeId": 2}).json()
    cats = body["result"]["categories"]
    assert body["total"] == 1 and "next" not in body
    c = cats[0]
    assert c["id"] == 0 and c["sort"] == 0 and c["entityTypeId"] == 2 and c["isDefault"] == "Y"
    assert c["name"] == ("Общая" if lang == "ru" else "General")
    assert "originId" not in c and "originatorId" not in c


def test_smart_invoice_default_category_stages(sb_ru, sb_en):
    for sb, lang in ((sb_ru, "ru"), (sb_en, "en")):
        hook = sb.portal(0).webhook
        types = [t["ID"] for t in ok(hook, "crm.status.entity.types")]
        inv = [t for t in types if t.startswith("SMART_INVOICE_STAGE_")]
        if not inv:
            pytest.skip("portal without new invoices (§6.13 allows it)")
        cats = ok(hook, "crm.category.list", {"entityTypeId": 31})["categories"]
        default = [c for c in cats if c["isDefault"] == "Y"]
        assert len(default) == 1
        n = default[0]["id"]
        assert f"SMART_INVOICE_STAGE_{n}" in inv
        rows = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": f"SMART_INVOICE_STAGE_{n}"}})
        want = DATA["SMART_INVOICE_STAGE_{N}"]
        assert [r["STATUS_ID"] for r in rows] == [w["STATUS_ID"].replace("{N}", str(n)) for w in want]
        for got, w in zip(rows, want, strict=True):
            name = w["NAME"] if lang == "ru" else w["NAME_EN"]
            assert got["NAME"] == name and got["NAME_INIT"] == name
            assert got["SORT"] == str(w["SORT"]) and got["SYSTEM"] == w["SYSTEM"]
            assert got["CATEGORY_ID"] == str(n)
            assert "EXTRA" not in got
