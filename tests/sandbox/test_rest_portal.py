"""Fresh portal state, determinism, JSON snapshot round-trip; phpform helpers."""

from __future__ import annotations

import json

from b24app.sandbox.phpform import parse_php_pairs, parse_php_query, php_json
from b24app.sandbox.portal import new_portal
from b24app.sandbox.rest import CallContext, call

ADMIN = CallContext(1, "webhook", frozenset({"crm"}))


def test_fresh_portal_is_deterministic():
    a, b = new_portal("same", seed=7), new_portal("same", seed=7)
    assert a.member_id == b.member_id and len(a.member_id) == 32 and int(a.member_id, 16) >= 0
    assert list(a.webhooks) == list(b.webhooks)
    code, hook = next(iter(a.webhooks.items()))
    assert len(code) == 16 and code.isalnum() and code == code.lower() and hook.user_id == 1
    assert new_portal("same", seed=8).member_id != a.member_id
    assert a.users[1].admin and not a.users[2].can_write_config and not a.users[3].crm_access
    assert a.domain == "same.sandbox.local"


def test_snapshot_round_trip():
    portal = new_portal("snap", "en", documents=True)
    call(portal, "crm.type.add", {"fields": {"title": "T"}}, ADMIN)
    call(portal, "crm.deal.add", {"fields": {"TITLE": "d"}}, ADMIN)
    data = json.loads(json.dumps(portal.to_json()))
    restored = type(portal).from_json(data)
    assert restored.to_json() == portal.to_json()
    assert (
        call(restored, "crm.status.list", {}, ADMIN).result
        == call(portal, "crm.status.list", {}, ADMIN).result
    )
    assert call(restored, "crm.deal.add", {"fields": {"TITLE": "e"}}, ADMIN).result == 2


def test_php_bracket_parsing():
    parsed = parse_php_query(
        "fields[NAME]=A%20B&select[]=ID&select[]=NAME&cmd[0]=x&a[b][c]=1&a[b][d][]=2&t=+"
    )
    assert parsed == {
        "fields": {"NAME": "A B"},
        "select": ["ID", "NAME"],
        "cmd": {"0": "x"},
        "a": {"b": {"c": "1", "d": ["2"]}},
        "t": " ",
    }
    assert parse_php_pairs([("x[]", "1"), ("x[k]", "2"), ("x[]", "3")]) == {
        "x": {"0": "1", "k": "2", "1": "3"}
    }
    assert parse_php_pairs([("y[][z]", "1"), ("y[][z]", "2")]) == {"y": [{"z": "1"}, {"z": "2"}]}


def test_php_json():
    assert (
        php_json({"u": "https://x/й", "e": {}, "l": [], "n": [{}]})
        == '{"u":"https:\\/\\/x\\/\\u0439","e":[],"l":[],"n":[[]]}'
    )
