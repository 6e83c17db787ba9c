"""reference-lists.md §2 (crm.status.*), §3 semantics, §8 checklist items 1-8."""

from __future__ import annotations

import pytest

from .conftest import call, err, legacy_error, ok


@pytest.fixture(scope="module")
def hook(sb_ru):
    return sb_ru.portal(1).webhook


def add(hook, **fields):
    return ok(hook, "crm.status.add", {"fields": fields})


def get(hook, id_):
    return ok(hook, "crm.status.get", {"id": id_})


# ---- §2.2 fields -------------------------------------------------------------------------------
def test_fields(fresh):
    f = ok(fresh.webhook, "crm.status.fields")
    table = {
        "ID": ("integer", False, True, False),
        "ENTITY_ID": ("string", True, False, True),
        "STATUS_ID": ("string", True, False, True),
        "SORT": ("integer", False, False, False),
        "NAME": ("string", True, False, False),
        "NAME_INIT": ("string", False, True, False),
        "SYSTEM": ("char", False, True, False),
        "CATEGORY_ID": ("integer", False, False, True),
        "COLOR": ("string", False, False, False),
        "SEMANTICS": ("char", False, False, True),
        "EXTRA": ("crm_status_extra", False, False, False),
    }
    assert set(f) == set(table)
    for k, (typ, req, ro, imm) in table.items():
        d = f[k]
        assert {"type", "isRequired", "isReadOnly", "isImmutable", "isMultiple", "isDynamic", "title"} <= set(
            d
        )
        assert (d["type"], d["isRequired"], d["isReadOnly"], d["isImmutable"]) == (typ, req, ro, imm), k


# ---- §2.1 common mechanics ---------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -3, "abc", ""])
def test_bad_id(fresh, bad):
    legacy_error(fresh.webhook, "crm.status.get", {"id": bad}, "ID is not defined or invalid.")


def test_fields_not_array(hook):
    legacy_error(hook, "crm.status.add", {"fields": "x"}, "Parameter 'fields' must be array.")


def test_params_not_array(hook):
    sid = add(hook, ENTITY_ID="SOURCE", STATUS_ID="PARAMSX", NAME="p")
    legacy_error(hook, "crm.status.delete", {"id": sid, "params": "x"}, "Parameter 'params' must be array.")


# ---- §2.3 add ----------------------------------------------------------------------------------
def test_add_required(hook):
    body = legacy_error(hook, "crm.status.add", {"fields": {"NAME": "x"}}, "The field ENTITY_ID is required.")
    assert "The field STATUS_ID is required." in body["error_description"]
    assert "\n" in body["error_description"]
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "SOURCE", "NAME": "x"}},
        "The field STATUS_ID is required.",
    )


@pytest.mark.parametrize("entity", ["DEAL_STATE", "source", "EVENT_TYPE", "NOPE", "DYNAMIC_999_STAGE_1"])
def test_add_unsupported_entity(hook, entity):
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": entity, "STATUS_ID": "X1", "NAME": "x"}},
        "Specified entity type is not supported.",
    )


def test_add_returns_int_and_defaults(hook):
    sid = add(
        hook,
        ENTITY_ID="SOURCE",
        STATUS_ID="A1",
        NAME="  Name A1  ",
        SYSTEM="Y",
        NAME_INIT="zz",
        FOO="bar",
        ID=5,
    )
    assert isinstance(sid, int)
    row = get(hook, sid)
    assert set(row) == {
        "ID",
        "ENTITY_ID",
        "STATUS_ID",
        "NAME",
        "NAME_INIT",
        "SORT",
        "SYSTEM",
        "CATEGORY_ID",
        "COLOR",
        "SEMANTICS",
    }  # no EXTRA for SOURCE
    assert row["ID"] == str(sid)
    assert row["NAME"] == "Name A1"  # trimmed
    assert row["SYSTEM"] == "N" and row["NAME_INIT"] == ""
    assert row["SORT"] == "10"
    assert row["CATEGORY_ID"] == "0"
    assert row["COLOR"] == ""
    assert row["SEMANTICS"] in ("P", None)


@pytest.mark.parametrize("sort,want", [(0, "10"), (-5, "10"), ("abc", "10"), (35, "35"), ("7", "7")])
def test_add_sort(hook, sort, want):
    sid = add(hook, ENTITY_ID="SOURCE", STATUS_ID=f"S_{abs(hash(str(sort))) % 10**6}", NAME="s", SORT=sort)
    assert get(hook, sid)["SORT"] == want


def test_add_color(hook):
    a = add(hook, ENTITY_ID="SOURCE", STATUS_ID="C1", NAME="c", COLOR="ABCDEF")
    assert get(hook, a)["COLOR"] == "#ABCDEF"
    b = add(hook, ENTITY_ID="SOURCE", STATUS_ID="C2", NAME="c", EXTRA={"COLOR": "#112233"})
    assert get(hook, b)["COLOR"] == "#112233"
    c = add(hook, ENTITY_ID="SOURCE", STATUS_ID="C3", NAME="c", COLOR="#445566", EXTRA={"COLOR": "#000000"})
    assert get(hook, c)["COLOR"] == "#445566"


def test_add_empty_name(hook):
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "NN", "NAME": "   "}},
        "The field Title is required.",
    )


def test_add_prefix_strip_plain(hook):
    sid = add(hook, ENTITY_ID="SOURCE", STATUS_ID="abc:B_PLAIN", NAME="x")
    assert get(hook, sid)["STATUS_ID"] == "B_PLAIN"
    sid = add(hook, ENTITY_ID="DEAL_STAGE", STATUS_ID="C3:DS_PLAIN", NAME="x", SORT=25)
    assert get(hook, sid)["STATUS_ID"] == "DS_PLAIN"


@pytest.fixture(scope="module")
def deal_cat(hook):
    cat = ok(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "StatusTests"}})["category"]
    return cat["id"]


def test_add_prefix_pipeline(hook, deal_cat):
    n = deal_cat
    ent = f"DEAL_STAGE_{n}"
    for given, want in [
        ("DECISION", f"C{n}:DECISION"),
        (f"C{n}:DEC2", f"C{n}:DEC2"),
        ("C55:DEC3", f"C{n}:DEC3"),
        ("x:y:DEC4", f"C{n}:y:DEC4"),
    ]:
        if given.startswith("x:"):
            continue  # the doc only says "up to and including the first ':'"; nothing more to assert cheaply
        sid = add(hook, ENTITY_ID=ent, STATUS_ID=given, NAME="d", SORT=25)
        row = get(hook, sid)
        assert row["STATUS_ID"] == want
        assert row["CATEGORY_ID"] == str(n)  # §2.3.9 default = N for DEAL_STAGE_{N}
        assert row["EXTRA"]["SEMANTICS"] == "process"


def test_add_category_id_passed_as_is(hook):
    sid = add(hook, ENTITY_ID="SOURCE", STATUS_ID="CATX", NAME="x", CATEGORY_ID=37)
    assert get(hook, sid)["CATEGORY_ID"] == "37"


@pytest.mark.parametrize(
    "entity,maxlen",
    [("STATUS", 21), ("QUOTE_STATUS", 22), ("DEAL_STAGE", 22), ("SOURCE", 50), ("INDUSTRY", 50)],
)
def test_add_length(hook, entity, maxlen):
    okid = "L" * maxlen
    sid = add(hook, ENTITY_ID=entity, STATUS_ID=okid, NAME="len", SORT=15)
    assert get(hook, sid)["STATUS_ID"] == okid
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": entity, "STATUS_ID": "M" * (maxlen + 1), "NAME": "len", "SORT": 15}},
        f"Exceeded maximum length of status ID: {maxlen}.",
    )


def test_add_length_pipeline(hook, deal_cat):
    n = deal_cat
    maxlen = 30 - len(f"C{n}:") - 8
    ent = f"DEAL_STAGE_{n}"
    sid = add(hook, ENTITY_ID=ent, STATUS_ID="P" * maxlen, NAME="len", SORT=25)
    assert get(hook, sid)["STATUS_ID"] == f"C{n}:" + "P" * maxlen
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": ent, "STATUS_ID": "Q" * (maxlen + 1), "NAME": "len", "SORT": 25}},
        f"Exceeded maximum length of status ID: {maxlen}.",
    )


@pytest.mark.parametrize("entity", ["STATUS", "QUOTE_STATUS", "DEAL_STAGE"])
def test_add_charset(hook, entity):
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": entity, "STATUS_ID": "BAD ID", "NAME": "x", "SORT": 15}},
        "Status ID may include Latin characters, numbers, minus and underscore characters only",
    )
    sid = add(hook, ENTITY_ID=entity, STATUS_ID="low-er_1", NAME="x", SORT=15)
    assert get(hook, sid)["STATUS_ID"] == "low-er_1"


def test_add_charset_free_lists(hook):
    sid = add(hook, ENTITY_ID="SOURCE", STATUS_ID="Ж я!", NAME="x")
    assert get(hook, sid)["STATUS_ID"] == "Ж я!"


def test_add_duplicate(hook):
    add(hook, ENTITY_ID="SOURCE", STATUS_ID="DUPX", NAME="x")
    status, body = err(
        hook, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "DUPX", "NAME": "y"}}
    )
    assert status == 400
    assert body["error"] in ("", "ERROR_CORE")
    assert "The specified status ID already exists." in body["error_description"]
    # same STATUS_ID in another list is fine
    add(hook, ENTITY_ID="INDUSTRY", STATUS_ID="DUPX", NAME="y")


def test_add_second_success(hook):
    legacy_error(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "WIN2", "NAME": "x", "SEMANTICS": "S", "SORT": 41}},
        "Only one success status can exist for any one type",
    )


def test_add_failure_semantics(hook):
    sid = add(hook, ENTITY_ID="QUOTE_STATUS", STATUS_ID="LOST2", NAME="x", SEMANTICS="F", SORT=60)
    row = get(hook, sid)
    assert row["SEMANTICS"] == "F"
    assert row["EXTRA"]["SEMANTICS"] == "apology"


def test_sort_zone_if_enforced(hook):
    # §2.3.13 docs-only: either refused with the exact message, or accepted
    r = call(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "AFTERWON", "NAME": "x", "SORT": 65}},
    )
    body = r.json()
    if "error" in body:
        assert body["error_description"].startswith("Cannot create more stages after the final stage")


# ---- §2.4 update -------------------------------------------------------------------------------
def test_update(hook):
    sid = add(hook, ENTITY_ID="SOURCE", STATUS_ID="UPD1", NAME="orig", SORT=33, COLOR="#101010")
    assert (
        ok(
            hook,
            "crm.status.update",
            {
                "id": sid,
                "fields": {
                    "ENTITY_ID": "INDUSTRY",
                    "STATUS_ID": "CHANGED",
                    "CATEGORY_ID": 9,
                    "SEMANTICS": "F",
                    "SYSTEM": "Y",
                    "NAME_INIT": "zz",
                },
            },
        )
        is True
    )
    row = get(hook, sid)
    assert (row["ENTITY_ID"], row["STATUS_ID"], row["CATEGORY_ID"], row["SYSTEM"], row["NAME_INIT"]) == (
        "SOURCE",
        "UPD1",
        "0",
        "N",
        "",
    )
    assert row["SEMANTICS"] in ("P", None)
    assert (row["NAME"], row["SORT"], row["COLOR"]) == ("orig", "33", "#101010")
    assert ok(hook, "crm.status.update", {"id": sid, "fields": {"SORT": 0}}) is True
    assert get(hook, sid)["SORT"] == "10"
    assert ok(hook, "crm.status.update", {"id": sid, "fields": {"NAME": "   "}}) is True
    assert get(hook, sid)["NAME"] == "orig"
    assert (
        ok(hook, "crm.status.update", {"id": sid, "fields": {"NAME": "  new  ", "COLOR": "AABBCC"}}) is True
    )
    row = get(hook, sid)
    assert (row["NAME"], row["COLOR"], row["SORT"]) == ("new", "#AABBCC", "10")
    assert ok(hook, "crm.status.update", {"id": sid, "fields": {"EXTRA": {"COLOR": "#123456"}}}) is True
    assert get(hook, sid)["COLOR"] == "#123456"
    assert ok(hook, "crm.status.update", {"id": sid, "fields": {"FOO": 1}}) is True


def test_update_not_found(hook):
    legacy_error(hook, "crm.status.update", {"id": 987654, "fields": {"NAME": "x"}}, "Status is not found.")


def test_update_system_rename_keeps_name_init(hook):
    row = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "CALL_LIST", "STATUS_ID": "SUCCESS"}})[0]
    assert ok(hook, "crm.status.update", {"id": row["ID"], "fields": {"NAME": "Renamed"}}) is True
    new = get(hook, row["ID"])
    assert new["NAME"] == "Renamed" and new["NAME_INIT"] == row["NAME_INIT"] and new["SYSTEM"] == "Y"


def test_update_makes_apology(hook):
    # §2.7 EXTRA: a process stage with SORT beyond the success stage is "apology"
    row = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "STATUS", "STATUS_ID": "PROCESSED"}})[0]
    ok(hook, "crm.status.update", {"id": row["ID"], "fields": {"SORT": 45}})
    assert get(hook, row["ID"])["EXTRA"]["SEMANTICS"] == "apology"


# ---- §2.5 delete -------------------------------------------------------------------------------
def test_delete(hook):
    sid = add(hook, ENTITY_ID="SOURCE", STATUS_ID="DEL1", NAME="x")
    assert ok(hook, "crm.status.delete", {"id": sid}) is True
    legacy_error(hook, "crm.status.get", {"id": sid}, "Status is not found.")
    legacy_error(hook, "crm.status.delete", {"id": sid}, "Status is not found.")


def test_delete_system(hook):
    row = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "EMPLOYEES", "STATUS_ID": "EMPLOYEES_1"}})[0]
    msg = 'CRM System Status can be deleted only if parameter FORCED is specified and equal to "Y".'
    legacy_error(hook, "crm.status.delete", {"id": row["ID"]}, msg)
    legacy_error(hook, "crm.status.delete", {"id": row["ID"], "params": {"FORCED": "y"}}, msg)
    legacy_error(hook, "crm.status.delete", {"id": row["ID"], "params": {"FORCED": "N"}}, msg)
    assert ok(hook, "crm.status.delete", {"id": row["ID"], "params": {"FORCED": "Y"}}) is True


def test_delete_last_failure_non_system(hook):
    row = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "QUOTE_STATUS", "STATUS_ID": "APOLOGY"}})[0]
    assert ok(hook, "crm.status.delete", {"id": row["ID"]}) is True


def test_delete_with_lead(hook):
    ok(hook, "crm.lead.add", {"fields": {"TITLE": "t", "STATUS_ID": "IN_PROCESS"}})
    row = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "STATUS", "STATUS_ID": "IN_PROCESS"}})[0]
    legacy_error(hook, "crm.status.delete", {"id": row["ID"]}, "There are active items in this status.")


def test_delete_with_deal(hook):
    ok(hook, "crm.deal.add", {"fields": {"TITLE": "t", "STAGE_ID": "EXECUTING"}})
    row = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "EXECUTING"}})[0]
    legacy_error(hook, "crm.status.delete", {"id": row["ID"]}, "There are active items in this status.")


# ---- §2.6 get / §2.7 list ----------------------------------------------------------------------
def test_get_not_found(fresh):
    status, body = err(fresh.webhook, "crm.status.get", {"id": 999999})
    assert status == 400 and body["error"] == ""
    assert body["error_description"] in ("CRM Status is not found.", "Status is not found.")


def test_list_unpaged(fresh):
    from .conftest import call as c

    b1 = c(fresh.webhook, "crm.status.list").json()
    assert "next" not in b1
    assert b1["total"] == len(b1["result"]) > 50
    b2 = c(fresh.webhook, "crm.status.list", {"start": 50}).json()
    assert b2["result"] == b1["result"] and "next" not in b2
    ents = {r["ENTITY_ID"] for r in b1["result"]}
    assert {"DEAL_STATE", "EVENT_TYPE", "INVOICE_STATUS", "SOURCE"} <= ents


def test_list_default_order_sort_asc(fresh):
    rows = ok(fresh.webhook, "crm.status.list")
    sorts = [int(r["SORT"]) for r in rows]
    assert sorts == sorted(sorts)


def test_list_order(fresh):
    h = fresh.webhook
    f = {"ENTITY_ID": "INDUSTRY"}
    asc = [r["STATUS_ID"] for r in ok(h, "crm.status.list", {"filter": f, "order": {"sort": "asc"}})]
    desc = [r["STATUS_ID"] for r in ok(h, "crm.status.list", {"filter": f, "order": {"SORT": "whatever"}})]
    assert asc[0] == "IT" and asc == list(reversed(desc))
    by_id_desc = ok(h, "crm.status.list", {"filter": f, "order": {"NOPE": "ASC"}})
    ids = [int(r["ID"]) for r in by_id_desc]
    assert ids == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "flt",
    [{"entity_id": "SOURCE"}, {"=ENTITY_ID": "SOURCE"}, {"!SYSTEM": "Y"}, {"%NAME": "a"}, {"ENTITY_ID": ""}],
)
def test_list_ignored_filters(fresh, flt):
    all_rows = ok(fresh.webhook, "crm.status.list")
    assert len(ok(fresh.webhook, "crm.status.list", {"filter": flt})) == len(all_rows)


def test_list_filters(fresh):
    h = fresh.webhook
    src = ok(h, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "SYSTEM": "Y"}, "select": ["ID"]})
    assert {r["STATUS_ID"] for r in src} == {"CALL", "WEBFORM", "CALLBACK", "RC_GENERATOR", "STORE"}
    assert "NAME" in src[0]  # select ignored
    src_n = ok(h, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "SYSTEM": "foo"}})
    assert len(src_n) == 7
    s = ok(h, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE", "SORT": 60}})
    assert [r["STATUS_ID"] for r in s] == ["WON"]
    sem = ok(h, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE", "SEMANTICS": "F"}})
    assert {r["STATUS_ID"] for r in sem} == {"LOSE", "APOLOGY"}
    name = ok(h, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE", "NAME": "Сделка"}})
    assert {r["STATUS_ID"] for r in name} == {"WON", "LOSE"}
    one = ok(h, "crm.status.list", {"filter": {"STATUS_ID": "JUNK"}})
    assert [r["ENTITY_ID"] for r in one] == ["STATUS"]


def test_list_param_errors(fresh):
    legacy_error(fresh.webhook, "crm.status.list", {"order": "x"}, "Parameter 'order' must be array.")
    legacy_error(fresh.webhook, "crm.status.list", {"filter": "x"}, "Parameter 'filter' must be array.")


def test_list_entity_id_array(fresh):
    r = call(fresh.webhook, "crm.status.list", {"filter": {"ENTITY_ID": ["SOURCE", "STATUS"]}})
    body = r.json()
    if "error" in body:  # docs-only newer behaviour
        assert "Filter by ENTITY_ID must be a string" in body["error_description"]


def test_extra(fresh):
    h = fresh.webhook
    want = {
        "DEAL_STAGE": {
            "NEW": "process",
            "PREPARATION": "process",
            "PREPAYMENT_INVOICE": "process",
            "EXECUTING": "process",
            "FINAL_INVOICE": "process",
            "WON": "success",
            "LOSE": "failure",
            "APOLOGY": "apology",
        },
        "STATUS": {
            "NEW": "process",
            "IN_PROCESS": "process",
            "PROCESSED": "process",
            "CONVERTED": "success",
            "JUNK": "failure",
        },
        "QUOTE_STATUS": {
            "DRAFT": "process",
            "SENT": "process",
            "APPROVED": "success",
            "DECLAINED": "failure",
            "APOLOGY": "apology",
        },
    }
    for ent, m in want.items():
        for r in ok(h, "crm.status.list", {"filter": {"ENTITY_ID": ent}}):
            assert r["EXTRA"] == {"SEMANTICS": m[r["STATUS_ID"]], "COLOR": r["COLOR"] or ""}, r
        g = ok(h, "crm.status.get", {"id": r["ID"]})
        assert "EXTRA" in g
    for ent in ("SOURCE", "INDUSTRY", "CALL_LIST", "DEAL_STATE", "INVOICE_STATUS"):
        for r in ok(h, "crm.status.list", {"filter": {"ENTITY_ID": ent}}):
            assert "EXTRA" not in r


# ---- §2.8 entity.items -------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["entityId", "entityID", "entity_id", "ENTITY_ID"])
def test_entity_items(fresh, key):
    body = call(fresh.webhook, "crm.status.entity.items", {key: "source"}).json()
    assert "total" not in body
    rows = body["result"]
    assert rows[0] == {"NAME": "Звонок", "SORT": 10, "STATUS_ID": "CALL"}
    assert all(set(r) == {"NAME", "SORT", "STATUS_ID"} and isinstance(r["SORT"], int) for r in rows)
    assert [r["SORT"] for r in rows] == sorted(r["SORT"] for r in rows)


def test_entity_items_unknown_and_empty(fresh):
    assert ok(fresh.webhook, "crm.status.entity.items", {"entityId": "NOPE_LIST"}) == []
    legacy_error(
        fresh.webhook, "crm.status.entity.items", {}, "The parameter entityId is not defined or invalid."
    )


def test_add_bad_semantics(hook):
    # §2.2 SEMANTICS enum {P,F,S}: anything else fails the ORM enum
    r = call(
        hook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "SEMX", "NAME": "x", "SEMANTICS": "X"}},
    )
    assert r.status_code == 400 and "error" in r.json()


def test_delete_with_quote(hook):
    ok(hook, "crm.quote.add", {"fields": {"TITLE": "q", "STATUS_ID": "SENT"}})
    row = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "QUOTE_STATUS", "STATUS_ID": "SENT"}})[0]
    legacy_error(hook, "crm.status.delete", {"id": row["ID"]}, "There are active items in this status.")


def test_entity_items_pipeline_lowercase(hook, deal_cat):
    rows = ok(hook, "crm.status.entity.items", {"entityId": f"deal_stage_{deal_cat}"})
    assert rows[0]["STATUS_ID"] == f"C{deal_cat}:NEW"
