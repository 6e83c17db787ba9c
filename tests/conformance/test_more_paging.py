"""Second suite: paging of list methods.

platform.md §4.4 (page size 50, `start`, `total`, `next` absent on the last page, `start=-1` →
`total: 0` and no `next`, full-export pattern `order ID ASC` + filter `>ID` + `start=-1`,
`crm.item.list` wraps rows in `result.items` with `total` at top level), §8 item 8;
reference-lists.md §5 (`crm.type.list` paginated, page size 50, `{result: {types: [...]}, total, next}`).
"""

from __future__ import annotations

import pytest

from .conftest import Sandbox, call, ok

N = 57  # > one page, < two pages


@pytest.fixture(scope="module")
def hook(sb_mod):
    return sb_mod.portal(0).webhook


def fill(hook, method: str, fields_of, n: int = N) -> list[int]:
    ids: list[int] = []
    for start in range(0, n, 50):
        cmd = {f"c{i}": method + "?" + fields_of(i) for i in range(start, min(n, start + 50))}
        res = ok(hook, "batch", {"cmd": cmd, "halt": 1})
        assert res["result_error"] == [], res["result_error"]
        for k in cmd:
            v = res["result"][k]
            ids.append(int(v["item"]["id"]) if isinstance(v, dict) else int(v))
    return ids


@pytest.fixture(scope="module")
def deals(hook):
    return fill(hook, "crm.deal.add", lambda i: f"fields[TITLE]=deal{i}")


@pytest.fixture(scope="module")
def leads(hook):
    return fill(hook, "crm.lead.add", lambda i: f"fields[TITLE]=lead{i}")


@pytest.fixture(scope="module")
def spa(hook):
    t = ok(hook, "crm.type.add", {"fields": {"title": "Paging"}})["type"]
    e = t["entityTypeId"]
    ids = fill(hook, "crm.item.add", lambda i: f"entityTypeId={e}&fields[title]=item{i}")
    return e, ids


@pytest.mark.parametrize("method,fixture", [("crm.deal.list", "deals"), ("crm.lead.list", "leads")])
def test_legacy_list_pages(request, hook, method, fixture):
    """§4.4: page size 50; `total`; `next` = next offset, absent on the last page; numbers as strings."""
    ids = request.getfixturevalue(fixture)
    b1 = call(hook, method, {"order": {"ID": "ASC"}}).json()
    assert b1["total"] == N and len(b1["result"]) == 50 and b1["next"] == 50
    assert [int(r["ID"]) for r in b1["result"]] == ids[:50]
    assert all(isinstance(r["ID"], str) for r in b1["result"])
    b2 = call(hook, method, {"order": {"ID": "ASC"}, "start": 50}).json()
    assert b2["total"] == N and "next" not in b2
    assert [int(r["ID"]) for r in b2["result"]] == ids[50:]
    # `start` given as a form/query value works the same (§4.2)
    b3 = call(hook, method, {"order": {"ID": "ASC"}, "start": 50}, how="get").json()
    assert [int(r["ID"]) for r in b3["result"]] == ids[50:]


@pytest.mark.parametrize("method,fixture", [("crm.deal.list", "deals"), ("crm.lead.list", "leads")])
def test_legacy_list_exactly_50_has_no_next(request, hook, method, fixture):
    """§4.4: `next` is absent on the last page – also when that page is exactly full."""
    ids = request.getfixturevalue(fixture)
    b = call(hook, method, {"order": {"ID": "ASC"}, "filter": {">ID": ids[N - 51]}}).json()
    assert b["total"] == 50 and len(b["result"]) == 50 and "next" not in b, {
        k: v for k, v in b.items() if k != "result"
    }


@pytest.mark.parametrize("method,fixture", [("crm.deal.list", "deals"), ("crm.lead.list", "leads")])
def test_legacy_list_start_minus_one(request, hook, method, fixture):
    """§4.4: `start=-1` disables counting: `total: 0`, no `next`, still (up to) one page of rows."""
    request.getfixturevalue(fixture)
    b = call(hook, method, {"order": {"ID": "ASC"}, "start": -1}).json()
    assert b["total"] == 0 and "next" not in b
    assert len(b["result"]) == 50


@pytest.mark.parametrize("method,fixture", [("crm.deal.list", "deals"), ("crm.lead.list", "leads")])
def test_legacy_list_id_export_pattern(request, hook, method, fixture):
    """§4.4 full export: order ID ASC, filter `>ID` = last seen ID, `start=-1`, stop when a page has
    fewer than 50 rows – every row exactly once, ascending."""
    ids = request.getfixturevalue(fixture)
    seen: list[int] = []
    last = 0
    for _ in range(10):
        b = call(hook, method, {"order": {"ID": "ASC"}, "filter": {">ID": last}, "start": -1}).json()
        rows = [int(r["ID"]) for r in b["result"]]
        assert b["total"] == 0 and "next" not in b
        seen += rows
        if len(rows) < 50:
            break
        last = rows[-1]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(ids) <= set(seen)


def test_item_list_wrapper_and_pages(hook, spa):
    """§4.4: `crm.item.list` → `result.items`, `total` and `next` at top level, 50 per page."""
    e, ids = spa
    b1 = call(hook, "crm.item.list", {"entityTypeId": e, "order": {"id": "ASC"}}).json()
    assert set(b1["result"]) == {"items"}
    assert b1["total"] == N and b1["next"] == 50 and len(b1["result"]["items"]) == 50
    assert [r["id"] for r in b1["result"]["items"]] == ids[:50]
    b2 = call(hook, "crm.item.list", {"entityTypeId": e, "order": {"id": "ASC"}, "start": 50}).json()
    assert b2["total"] == N and "next" not in b2
    assert [r["id"] for r in b2["result"]["items"]] == ids[50:]


def test_item_list_start_minus_one(hook, spa):
    """§4.4: `start=-1` → `total: 0`, no `next` (crm.item.list keeps the `items` wrapper)."""
    e, _ = spa
    b = call(hook, "crm.item.list", {"entityTypeId": e, "order": {"id": "ASC"}, "start": -1}).json()
    assert b["total"] == 0 and "next" not in b
    assert len(b["result"]["items"]) == 50


def test_item_list_id_export_pattern(hook, spa):
    """§4.4: the `>id` variant of the export pattern for crm.item.list."""
    e, ids = spa
    seen: list[int] = []
    last = 0
    for _ in range(10):
        b = call(
            hook,
            "crm.item.list",
            {"entityTypeId": e, "order": {"id": "ASC"}, "filter": {">id": last}, "start": -1},
        ).json()
        rows = [int(r["id"]) for r in b["result"]["items"]]
        seen += rows
        if len(rows) < 50:
            break
        last = rows[-1]
    assert seen == ids


# ---- crm.type.list paging (reference-lists.md §5) ----------------------------------------------
@pytest.fixture(scope="module")
def sb_nolimits():
    sb = Sandbox(portals=1, extra=["--limits", "off"])
    yield sb
    sb.stop()


def test_type_list_paging(sb_nolimits):
    """reference-lists.md §5: crm.type.list is paginated, fixed page size 50, `start=(N-1)*50`;
    response `{result: {types: [...]}, total, (next)}`."""
    hook = sb_nolimits.portal(0).webhook
    before = call(hook, "crm.type.list").json()["total"]
    want = 51 - before
    for start in range(0, want, 50):
        cmd = {f"t{i}": f"crm.type.add?fields[title]=T{i}" for i in range(start, min(want, start + 50))}
        res = ok(hook, "batch", {"cmd": cmd, "halt": 1})
        assert res["result_error"] == [], res["result_error"]
    b1 = call(hook, "crm.type.list").json()
    assert set(b1["result"]) == {"types"}
    assert b1["total"] == 51 and len(b1["result"]["types"]) == 50 and b1["next"] == 50
    b2 = call(hook, "crm.type.list", {"start": 50}).json()
    assert b2["total"] == 51 and len(b2["result"]["types"]) == 1 and "next" not in b2
    got = [t["id"] for t in b1["result"]["types"] + b2["result"]["types"]]
    assert len(set(got)) == 51
