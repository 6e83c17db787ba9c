"""Second suite: batch details.

platform.md §4.5 (cmd forms, `$result[key][...]` references incl. wrapper keys and list indexes,
halt, double encoding in GET, sections keyed by name or by position, empty sections as `[]`,
`result_total`/`result_next`, length limit, no nested batch, sub-requests inherit the outer auth),
§6.1 (error codes), §8 item 9.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import requests

from .conftest import app_tokens, call, ok


@pytest.fixture(scope="module")
def portal(sb_mod):
    return sb_mod.portal(1)


@pytest.fixture(scope="module")
def hook(portal):
    return portal.webhook


@pytest.fixture(scope="module")
def spa(hook):
    e = ok(hook, "crm.type.add", {"fields": {"title": "Batch refs"}})["type"]["entityTypeId"]
    ids = [
        ok(hook, "crm.item.add", {"entityTypeId": e, "fields": {"title": f"i{i}"}})["item"]["id"]
        for i in range(3)
    ]
    return e, ids


@pytest.fixture(scope="module")
def many_deals(hook):
    cmd = {f"d{i}": f"crm.deal.add?fields[TITLE]=bd{i}" for i in range(50)}
    ok(hook, "batch", {"cmd": cmd, "halt": 1})
    ok(hook, "batch", {"cmd": {f"e{i}": f"crm.deal.add?fields[TITLE]=be{i}" for i in range(5)}})
    return call(hook, "crm.deal.list").json()["total"]


def sect(section, key):
    """A section entry by command key, whether the section is an object or a positional list."""
    if isinstance(section, list):
        return section[int(key)]
    return section[str(key)]


# ---- references ----------------------------------------------------------------------------------
def test_ref_through_wrapper_key(hook, spa):
    """§4.5 + §8.9: `$result[key][items][0][id]` – references go through wrapper keys and list indexes."""
    e, ids = spa
    cmd = {
        "lst": f"crm.item.list?entityTypeId={e}&order[id]=ASC",
        # crm.item.get is not emulated; a list filtered by the referenced id shows the substitution
        "get": f"crm.item.list?entityTypeId={e}&filter[id]=$result[lst][items][0][id]",
        "last": f"crm.item.list?entityTypeId={e}&filter[id]=$result[lst][items][2][id]",
    }
    res = ok(hook, "batch", {"cmd": cmd})
    assert res["result_error"] == [], res["result_error"]
    assert [i["id"] for i in res["result"]["get"]["items"]] == [ids[0]]
    assert [i["id"] for i in res["result"]["last"]["items"]] == [ids[2]]


def test_ref_to_scalar_and_into_fields(hook):
    """§4.5: `$result[cmd_key]` of a scalar result (an add's new id) can be used inside later
    commands' params, also inside nested field values; commands run sequentially."""
    cmd = {
        "deal": "crm.deal.add?fields[TITLE]=parent",
        "lead": "crm.lead.add?fields[TITLE]=for deal $result[deal]",
        "get": "crm.lead.list?filter[ID]=$result[lead]&select[]=ID&select[]=TITLE",
    }
    res = ok(hook, "batch", {"cmd": cmd})
    assert res["result_error"] == [], res["result_error"]
    deal_id = res["result"]["deal"]
    rows = res["result"]["get"]
    assert [r["ID"] for r in rows] == [str(res["result"]["lead"])]
    assert rows[0]["TITLE"] == f"for deal {deal_id}"


# ---- halt ------------------------------------------------------------------------------------------
def test_halt_stops_later_commands_side_effects(hook):
    """§4.5: `halt=1` stops at the first failing sub-request; later ones are not run (no side effect)."""
    cmd = {
        "a": "crm.status.fields",
        "b": "crm.status.get?id=0",
        "c": "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=HALTED1&fields[NAME]=h",
    }
    res = ok(hook, "batch", {"cmd": cmd, "halt": 1})
    assert set(sect_keys(res["result"])) == {"a"}
    assert set(sect_keys(res["result_error"])) == {"b"}
    rows = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "HALTED1"}})
    assert rows == []


def test_halt_false_runs_everything(hook):
    """§4.5: `halt=0` (default false) – every sub-request runs, errors collected."""
    cmd = {
        "b": "crm.status.get?id=0",
        "c": "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=HALTED2&fields[NAME]=h",
    }
    res = ok(hook, "batch", {"cmd": cmd})
    assert "c" in res["result"] and "b" in res["result_error"]
    rows = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "HALTED2"}})
    assert len(rows) == 1


def test_halt_json_true(hook):
    """§4.5: `halt` is bool/0/1 – JSON `true` halts like 1."""
    cmd = {"a": "crm.status.get?id=0", "b": "crm.status.fields"}
    res = ok(hook, "batch", {"cmd": cmd, "halt": True})
    assert sect_keys(res["result"]) == [] and set(sect_keys(res["result_error"])) == {"a"}


def sect_keys(section):
    if isinstance(section, list):
        return [str(i) for i in range(len(section))]
    return list(section)


# ---- encodings ---------------------------------------------------------------------------------
def test_get_double_encoded_cmd(portal, hook):
    """§4.5: in a GET URL the whole cmd is encoded twice (`%26` → `%2526`): a value containing `&`
    and spaces survives into the sub-request."""
    name = "R&D dept/1"
    inner = "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=GETDBL&fields[NAME]=" + quote(
        name, safe=""
    )
    url = (
        hook
        + "batch?halt=0&cmd%5Badd%5D="
        + quote(inner, safe="")
        + "&cmd%5Bget%5D="
        + quote("crm.status.get?id=$result[add]", safe="")
    )
    assert "%2526" in url  # the & inside the name, encoded twice
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["result_error"] == [], res["result_error"]
    assert res["result"]["get"]["NAME"] == name
    assert res["result"]["get"]["STATUS_ID"] == "GETDBL"


def test_json_cmd_sent_as_is(hook):
    """§4.5: in a JSON body the cmd strings are sent as-is, their own params URL-encoded once."""
    name = "A&B=C"
    cmd = {
        "add": "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=JSONENC&fields[NAME]="
        + quote(name, safe=""),
        "get": "crm.status.get?id=$result[add]",
    }
    res = ok(hook, "batch", {"cmd": cmd})
    assert res["result"]["get"]["NAME"] == name


# ---- sections --------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["json", "form"])
def test_numeric_keys_positional_sections(hook, how):
    """§4.5: numeric keys → sections as a list by command position (PHP list)."""
    res = ok(
        hook, "batch", {"cmd": ["crm.status.fields", "crm.status.entity.items?entityId=SOURCE"]}, how=how
    )
    assert isinstance(res["result"], list) and len(res["result"]) == 2
    assert "STATUS_ID" in res["result"][0]
    assert res["result"][1][0]["STATUS_ID"] == "CALL"
    assert isinstance(res["result_time"], list) and len(res["result_time"]) == 2
    assert res["result_error"] == []


def test_numeric_string_keys_positional(hook):
    """§4.5: `cmd` with numeric keys given as an object ("0", "1") is positional too."""
    res = ok(hook, "batch", {"cmd": {"0": "crm.status.fields", "1": "crm.status.get?id=0"}})
    assert isinstance(res["result"], list | dict)
    assert "STATUS_ID" in sect(res["result"], 0)
    assert sect(res["result_error"], 1)["error_description"] == "ID is not defined or invalid."


def test_empty_sections_are_php_arrays(hook):
    """§4.5: empty sections serialize as `[]` (not `{}`)."""
    r = call(hook, "batch", {"cmd": {"a": "crm.status.fields"}})
    text = r.text
    for s in ("result_error", "result_total", "result_next"):
        assert re.search(rf'"{s}":\s*\[\]', text), s
    res = r.json()["result"]
    assert isinstance(res["result"], dict) and isinstance(res["result_time"], dict)


def test_total_and_next_only_for_list_calls(hook, many_deals):
    """§4.5: `result_total` only for list sub-calls; `result_next` only where a next page exists."""
    cmd = {
        "deals": "crm.deal.list?order[ID]=ASC",
        "deals2": f"crm.deal.list?order[ID]=ASC&start={(many_deals - 1) // 50 * 50}",
        "fields": "crm.status.fields",
        "stat": "crm.status.list?filter[ENTITY_ID]=SOURCE",
    }
    res = ok(hook, "batch", {"cmd": cmd})
    assert res["result_total"]["deals"] == many_deals
    assert res["result_total"]["deals2"] == many_deals
    assert res["result_next"]["deals"] == 50
    assert "deals2" not in res["result_next"] and "stat" not in res["result_next"]
    assert "fields" not in res["result_total"] and "fields" not in res["result_next"]
    assert res["result_total"]["stat"] == len(res["result"]["stat"])
    for k in cmd:
        t = res["result_time"][k]
        assert {"start", "finish", "duration"} <= set(t), t


def test_start_minus_one_in_batch(hook, many_deals):
    """§4.4 + §4.5: a `start=-1` list sub-call → total 0 and no next entry."""
    res = ok(hook, "batch", {"cmd": {"d": "crm.deal.list?order[ID]=ASC&start=-1"}})
    if res["result_total"] != []:  # a list sub-call: its total is the uncounted 0
        assert res["result_total"]["d"] == 0
    assert res["result_next"] == [] or "d" not in res["result_next"]
    assert len(res["result"]["d"]) == 50


# ---- limits and refusals -----------------------------------------------------------------------
def test_batch_length_exceeded_list_form(hook):
    """§4.5/§6.1: more than 50 sub-requests → ERROR_BATCH_LENGTH_EXCEEDED "Max batch length exceeded"
    (400 for the whole call, or in-batch for the commands beyond 50 – §9.11 leaves it open)."""
    r = call(hook, "batch", {"cmd": ["crm.status.fields"] * 51})
    body = r.json()
    if r.status_code == 400:
        assert body["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
        assert body["error_description"] == "Max batch length exceeded"
    else:
        errs = body["result"]["result_error"]
        vals = errs.values() if isinstance(errs, dict) else errs
        assert {e["error"] for e in vals} == {"ERROR_BATCH_LENGTH_EXCEEDED"}
        ran = body["result"]["result"]
        assert len(ran) == 50


def test_nested_batch_refused_halt(hook):
    """§4.5/§6.1: nested batch → 405-class ERROR_BATCH_METHOD_NOT_ALLOWED "Method is not allowed for
    batch usage" in result_error; with halt=1 later commands do not run; outer call still HTTP 200."""
    cmd = {"a": "crm.status.fields", "inner": "batch?cmd[x]=crm.status.fields", "z": "crm.status.fields"}
    r = call(hook, "batch", {"cmd": cmd, "halt": 1})
    assert r.status_code == 200
    res = r.json()["result"]
    e = res["result_error"]["inner"]
    assert e["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert e["error_description"] == "Method is not allowed for batch usage"
    assert "a" in res["result"] and "z" not in res["result"]


def test_unknown_method_in_batch(hook):
    """§6.1: unknown method → ERROR_METHOD_NOT_FOUND, inside a batch as a sub-request error."""
    res = ok(hook, "batch", {"cmd": {"x": "crm.no.such.method", "y": "crm.status.fields"}})
    assert res["result_error"]["x"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert "y" in res["result"]


def test_batch_inherits_oauth_auth(portal):
    """§4.5: sub-requests inherit the outer auth (here an OAuth token of user 1)."""
    _, t = app_tokens(portal, scopes=["crm", "user"])
    res = ok(portal.base + "rest/", "batch", {"cmd": {"p": "profile", "s": "scope"}}, auth=t["access_token"])
    assert res["result"]["p"]["ID"] == "1"
    assert set(res["result"]["s"]) == {"crm", "user"}


def test_batch_inherits_scope_limits(portal):
    """§4.5 + §6.1: sub-requests inherit the outer auth – a webhook without `crm` gets
    insufficient_scope for a crm sub-request."""
    h = portal.hook_for(1, scopes=["user"])
    res = ok(h, "batch", {"cmd": {"c": "crm.status.fields", "p": "profile"}})
    assert res["result_error"]["c"]["error"] == "insufficient_scope"
    assert res["result"]["p"]["ID"] == "1"
