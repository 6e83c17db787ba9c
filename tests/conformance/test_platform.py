"""platform.md §4 request forms, envelope, paging, batch; §6 errors; §7 basic methods;
reference-lists.md §7 permissions."""

from __future__ import annotations

import re

import pytest
import requests

from .conftest import call, err, legacy_error, ok


@pytest.fixture(scope="module")
def hook(sb_ru):
    return sb_ru.portal(2).webhook


# ---- §4.1/4.2 request forms --------------------------------------------------------------------
@pytest.mark.parametrize("how", ["json", "form", "get"])
def test_request_forms(fresh, how):
    r = call(
        fresh.webhook,
        "crm.status.list",
        {"filter": {"ENTITY_ID": "SOURCE"}, "order": {"SORT": "DESC"}},
        how=how,
    )
    assert r.status_code == 200
    rows = r.json()["result"]
    assert [x["STATUS_ID"] for x in rows][0] == "OTHER" and len(rows) == 12


@pytest.mark.parametrize("method", ["crm.status.fields.json", "CRM.Status.Fields", "Crm.STATUS.fields.json"])
def test_method_name_forms(fresh, method):
    assert "STATUS_ID" in ok(fresh.webhook, method)
    assert "STATUS_ID" in requests.get(fresh.webhook + method, timeout=5).json()["result"]


def test_query_and_body_merge(fresh):
    r = requests.post(fresh.webhook + "crm.status.entity.items?entityId=INDUSTRY", json={}, timeout=5)
    assert r.json()["result"][0]["STATUS_ID"] == "IT"


# ---- §4.3 envelope -----------------------------------------------------------------------------
def test_envelope_time(fresh):
    r = call(fresh.webhook, "crm.status.fields")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    t = r.json()["time"]
    for k in (
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating",
        "operating_reset_at",
    ):
        assert k in t, k
    assert isinstance(t["start"], float) and t["finish"] >= t["start"]
    assert abs(t["duration"] - (t["finish"] - t["start"])) < 0.01
    assert isinstance(t["operating_reset_at"], int)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", t["date_start"])


def test_slash_escaping_and_strings(hook):
    sid = ok(hook, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "SLASH", "NAME": "a/b"}})
    r = call(hook, "crm.status.get", {"id": sid})
    assert '"a\\/b"' in r.text
    assert r.json()["result"]["NAME"] == "a/b"
    assert re.search(r'"SORT":\s*"10"', r.text) and re.search(r'"ID":\s*"\d+"', r.text)


def test_php_empty_array(fresh):
    r = call(fresh.webhook, "batch", {"cmd": {"a": "crm.status.fields"}})
    assert re.search(r'"result_error":\s*\[\]', r.text)


# ---- §6 errors ---------------------------------------------------------------------------------
def test_unknown_method(fresh):
    r = call(fresh.webhook, "crm.nope.nothing")
    assert r.status_code == 404 and r.json()["error"] == "ERROR_METHOD_NOT_FOUND"


def test_no_auth(fresh):
    r = requests.post(fresh.base + "rest/crm.status.fields", json={}, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "NO_AUTH_FOUND"


def test_bad_webhook_code(fresh):
    bad = re.sub(r"/rest/(\d+)/[^/]+/", r"/rest/\1/wrongcode123/", fresh.webhook)
    r = call(bad, "crm.status.fields")
    assert r.status_code in (401, 403) and r.json()["error"] == "INVALID_CREDENTIALS"


def test_unknown_token(fresh):
    r = requests.post(fresh.base + "rest/crm.status.fields", json={"auth": "garbage0token"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_insufficient_scope(sb_ru):
    p = sb_ru.portal(2)
    h = p.hook_for(1, scopes=["user"])
    r = call(h, "crm.status.fields")
    assert r.status_code in (401, 403) and r.json()["error"] == "insufficient_scope"


def test_app_only_methods_via_webhook(fresh):
    r = call(fresh.webhook, "app.info")
    assert r.status_code == 400 and r.json()["error"] == "ACCESS_DENIED"
    r = call(fresh.webhook, "event.bind", {"event": "ONCRMDEALADD", "handler": "http://127.0.0.1:9/h"})
    assert r.status_code in (400, 401, 403)
    assert r.json()["error"] in ("WRONG_AUTH_TYPE", "ACCESS_DENIED")


# ---- §7 basic methods --------------------------------------------------------------------------
def test_basic_methods(sb_ru):
    p = sb_ru.portal(2)
    h = p.webhook
    prof = ok(h, "profile")
    assert prof["ID"] == "1" and prof["ADMIN"] is True
    assert ok(h, "user.admin") is True
    sc = ok(h, "scope")
    assert isinstance(sc, list) and "crm" in sc
    mg = ok(h, "method.get", {"name": "crm.status.list"})
    assert mg["isExisting"] is True and mg["isAvailable"] is True
    assert ok(h, "method.get", {"name": "no.such.method"})["isExisting"] is False
    assert re.match(r"^\d{4}-\d\d-\d\dT", ok(h, "server.time"))
    h2 = p.hook_for(2)
    assert ok(h2, "user.admin") is False
    assert ok(h2, "profile")["ADMIN"] is False


def test_user_access(sb_ru):
    h = sb_ru.portal(2).webhook
    assert ok(h, "user.access", {"ACCESS": ["AU"]}) is True
    assert ok(h, "user.access", {"ACCESS": ["U2"]}) is True  # always true for admins


def test_feature_get(sb_ru):
    h = sb_ru.portal(2).webhook
    assert ok(h, "feature.get", {"CODE": "rest_offline_extended"})["value"] in ("Y", "N")
    r = call(h, "feature.get")
    assert r.status_code == 400 and r.json()["error"] == "CODE_EMPTY"


# ---- reference-lists.md §7 permissions ---------------------------------------------------------
def test_permissions_crm_user(sb_ru):
    p = sb_ru.portal(2)
    h2 = p.hook_for(2)
    assert ok(h2, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})
    assert ok(h2, "crm.status.entity.types")
    assert ok(h2, "crm.status.fields")
    row = ok(h2, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "WEB"}})[0]
    assert ok(h2, "crm.status.get", {"id": row["ID"]})["STATUS_ID"] == "WEB"
    legacy_error(
        h2,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "U2", "NAME": "x"}},
        "Access denied.",
    )
    legacy_error(h2, "crm.status.update", {"id": row["ID"], "fields": {"NAME": "x"}}, "Access denied.")
    legacy_error(h2, "crm.status.delete", {"id": row["ID"]}, "Access denied.")
    legacy_error(h2, "crm.dealcategory.add", {"fields": {"NAME": "x"}}, "Access denied.")
    assert ok(h2, "crm.category.list", {"entityTypeId": 2})["categories"]
    for m, prm in (
        ("crm.category.add", {"entityTypeId": 2, "fields": {"name": "x"}}),
        ("crm.category.update", {"entityTypeId": 2, "id": 0, "fields": {"name": "x"}}),
        ("crm.type.list", {}),
    ):
        s, b = err(h2, m, prm)
        assert b["error"] == "ACCESS_DENIED" and b["error_description"].startswith("Access denied"), (m, b)


def test_permissions_no_crm(sb_ru):
    h3 = sb_ru.portal(2).hook_for(3)
    for m, prm in (
        ("crm.status.list", {}),
        ("crm.status.fields", {}),
        ("crm.status.entity.types", {}),
        ("crm.status.entity.items", {"entityId": "SOURCE"}),
    ):
        legacy_error(h3, m, prm, "Access denied.")


# ---- §4.4 paging -------------------------------------------------------------------------------
def test_paging(hook):
    cmd = {f"d{i}": f"crm.deal.add?fields[TITLE]=deal{i}" for i in range(50)}
    ok(hook, "batch", {"cmd": cmd, "halt": 1})
    for i in range(5):
        ok(hook, "crm.deal.add", {"fields": {"TITLE": f"x{i}"}})
    total = call(hook, "crm.deal.list", {"start": -1}).json()
    assert total["total"] == 0 and "next" not in total
    b = call(hook, "crm.deal.list", {"order": {"ID": "ASC"}}).json()
    n = b["total"]
    assert n >= 55 and len(b["result"]) == 50 and b["next"] == 50
    last_start = (n - 1) // 50 * 50
    b2 = call(hook, "crm.deal.list", {"order": {"ID": "ASC"}, "start": last_start}).json()
    assert len(b2["result"]) == n - last_start and "next" not in b2 and b2["total"] == n
    b3 = call(hook, "crm.deal.list", {"order": {"ID": "ASC"}, "start": 50}).json()
    assert b3["result"][0]["ID"] != b["result"][0]["ID"]
    assert isinstance(b["result"][0]["ID"], str)


# ---- §4.5 batch --------------------------------------------------------------------------------
def test_batch_sections_and_refs(hook):
    cmd = {
        "add": "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=BATCH1&fields[NAME]=b1",
        "get": "crm.status.get?id=$result[add]",
        "lst": "crm.status.list?filter[ENTITY_ID]=SOURCE",
        "ref": "crm.status.get?id=$result[lst][0][ID]",
        "cats": "crm.category.list?entityTypeId=2",
        "cat0": "crm.category.get?entityTypeId=2&id=$result[cats][categories][0][id]",
        "bad": "crm.status.get?id=0",
    }
    res = ok(hook, "batch", {"cmd": cmd, "halt": 0})
    assert set(res) == {"result", "result_error", "result_total", "result_next", "result_time"}
    r = res["result"]
    assert r["get"]["STATUS_ID"] == "BATCH1" and r["get"]["ID"] == str(r["add"])
    assert r["ref"]["ID"] == r["lst"][0]["ID"]
    assert r["cat0"]["category"]["id"] == 0
    assert "bad" not in r
    assert set(res["result_error"]) == {"bad"}
    assert res["result_error"]["bad"]["error_description"] == "ID is not defined or invalid."
    assert "lst" in res["result_total"] and "get" not in res["result_total"]
    assert set(res["result_time"]) >= {"add", "get", "lst"}
    assert res["result_next"] == [] or "lst" not in res["result_next"]


def test_batch_halt(hook):
    cmd = {"a": "crm.status.fields", "b": "crm.status.get?id=0", "c": "crm.status.fields"}
    res = ok(hook, "batch", {"cmd": cmd, "halt": 1})
    assert "a" in res["result"] and "c" not in res["result"] and "b" in res["result_error"]
    res = ok(hook, "batch", {"cmd": cmd, "halt": 0})
    assert "a" in res["result"] and "c" in res["result"]


def test_batch_list_cmd_and_form(hook):
    res = ok(
        hook, "batch", {"cmd": ["crm.status.fields", "crm.status.entity.items?entityId=SOURCE"]}, how="form"
    )
    r = res["result"]
    first = r[0] if isinstance(r, list) else r["0"]
    assert "STATUS_ID" in first


def test_batch_next_section(hook):
    res = ok(hook, "batch", {"cmd": {"deals": "crm.deal.list?order[ID]=ASC"}})
    if res["result_total"]["deals"] > 50:
        assert res["result_next"]["deals"] == 50


def test_batch_nested_refused(hook):
    res = ok(hook, "batch", {"cmd": {"inner": "batch?cmd[x]=crm.status.fields"}})
    assert res["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_batch_too_long(hook):
    cmd = {f"c{i}": "crm.status.fields" for i in range(51)}
    r = call(hook, "batch", {"cmd": cmd})
    body = r.json()
    if r.status_code == 400:
        assert body["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
    else:  # §9.11: sub-requests beyond the limit get the error in-batch
        errs = body["result"]["result_error"]
        assert any(e["error"] == "ERROR_BATCH_LENGTH_EXCEEDED" for e in errs.values())
    ok(hook, "batch", {"cmd": {f"c{i}": "crm.status.fields" for i in range(50)}})
