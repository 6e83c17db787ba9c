"""Second suite: the per-method operating-time budget.

platform.md §5 (operating time: 10 one-minute baskets, `operating`, `operating_reset_at`, the call
that crosses completes, the next is refused with 429 OPERATION_TIME_LIMIT, other methods/apps
unaffected), §4.3 (time fields), §4.5 (batch: outer call not counted, inner calls checked against
their own method limit), §6.1 (error table). Private sandbox: the module moves the clock.
"""

from __future__ import annotations

import pytest

from .conftest import app_tokens, call, clock, ok

# far below any real call duration, so the first call always crosses it (brief suggests 0.0001 s,
# but a trivial call can finish faster than that)
LIMIT = 1e-9
BLOCKED = "Method is blocked due to operation time limit."


@pytest.fixture
def portal(sb_mod):
    p = sb_mod.portal(0)
    yield p
    p.limits(operating_limit=None)
    clock(sb_mod, 700)  # let every basket drop


def blocked(r) -> bool:
    return r.status_code == 429 and r.json().get("error") == "OPERATION_TIME_LIMIT"


def test_crossing_call_completes_next_refused(portal):
    """§5: the call that crosses the limit completes, the next one is refused with HTTP 429
    OPERATION_TIME_LIMIT "Method is blocked due to operation time limit."."""
    portal.limits(operating_limit=LIMIT)
    first = call(portal.webhook, "crm.status.list")
    assert first.status_code == 200, first.text
    t = first.json()["time"]
    assert t["operating"] > 0 and isinstance(t["operating_reset_at"], int)
    r = call(portal.webhook, "crm.status.list")
    assert blocked(r), (r.status_code, r.text)
    assert r.json()["error_description"] == BLOCKED
    assert blocked(call(portal.webhook, "crm.status.list", how="get"))


def test_other_methods_unaffected(portal):
    """§5: other methods are unaffected."""
    portal.limits(operating_limit=LIMIT)
    ok(portal.webhook, "crm.status.entity.types")
    assert blocked(call(portal.webhook, "crm.status.entity.types"))
    r = call(portal.webhook, "crm.status.fields")
    assert r.status_code == 200, r.text
    assert ok(portal.webhook, "crm.status.entity.items", {"entityId": "SOURCE"})


def test_other_app_unaffected(portal):
    """§5: operating time is per method, per app/webhook – an app of the same user is unaffected."""
    portal.limits(operating_limit=LIMIT)
    ok(portal.webhook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})
    assert blocked(call(portal.webhook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}}))
    _, t = app_tokens(portal, scopes=["crm"])
    r = call(
        portal.base + "rest/", "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}}, auth=t["access_token"]
    )
    assert r.status_code == 200, r.text


def test_other_webhook_of_same_user_unaffected(portal):
    """§5: "Operating time per method, per app/webhook … other methods/apps unaffected" – a second
    incoming webhook (its own code) has its own budget."""
    portal.limits(operating_limit=LIMIT)
    other_hook = portal.hook_for(1, scopes=["crm"])
    assert other_hook != portal.webhook
    ok(portal.webhook, "crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}})
    assert blocked(call(portal.webhook, "crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}}))
    r = call(other_hook, "crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}})
    assert r.status_code == 200, r.text


def test_operating_in_time_and_reset_at(portal):
    """§4.3/§5: `time.operating` (float seconds accumulated for this method in the last 10 min) and
    `operating_reset_at` (int unix; oldest basket drops 10 min after its first call)."""
    now = clock(portal.sb)
    ts = [call(portal.webhook, "crm.status.fields").json()["time"] for _ in range(3)]
    for t in ts:
        assert isinstance(t["operating"], float | int) and isinstance(t["operating_reset_at"], int)
    assert ts[0]["operating"] <= ts[1]["operating"] <= ts[2]["operating"]  # accumulated
    assert ts[2]["operating"] >= ts[0]["duration"]
    reset = ts[0]["operating_reset_at"]
    assert now + 540 <= reset <= now + 660, (now, reset)


def test_block_lifts_after_operating_reset_at(portal):
    """§5 retry guidance: pause the method until `operating_reset_at` from the last successful
    response – after that the oldest basket has dropped and the method works again."""
    portal.limits(operating_limit=LIMIT)
    r = call(portal.webhook, "crm.category.list", {"entityTypeId": 2})
    assert r.status_code == 200
    reset = r.json()["time"]["operating_reset_at"]
    assert blocked(call(portal.webhook, "crm.category.list", {"entityTypeId": 2}))
    now = clock(portal.sb)
    clock(portal.sb, reset - now + 1)
    r = call(portal.webhook, "crm.category.list", {"entityTypeId": 2})
    assert r.status_code == 200, r.text


def test_batch_inner_call_of_blocked_method_refused(portal):
    """§4.5 Limits: "each inner call is timed and checked against its own method limit" → a method
    blocked by OPERATION_TIME_LIMIT fails inside the batch (result_error), the others succeed and the
    batch itself answers 200 (§4.5 response is HTTP 200 even if sub-requests fail)."""
    portal.limits(operating_limit=LIMIT)
    ok(portal.webhook, "crm.deal.list")
    assert blocked(call(portal.webhook, "crm.deal.list"))
    r = call(portal.webhook, "batch", {"cmd": {"a": "crm.deal.list", "b": "crm.status.fields"}})
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert "b" in res["result"]
    assert "a" not in res["result"]
    assert res["result_error"]["a"]["error"] == "OPERATION_TIME_LIMIT"


def test_batch_inner_call_is_timed(portal):
    """§4.5 Limits: each inner call is timed against its own method → a crossing inner call
    completes, the next direct call of that method is refused."""
    portal.limits(operating_limit=LIMIT)
    r = call(portal.webhook, "batch", {"cmd": {"a": "crm.lead.list"}})
    assert r.status_code == 200, r.text
    assert "a" in r.json()["result"]["result"]
    assert blocked(call(portal.webhook, "crm.lead.list"))


def test_outer_batch_not_counted(portal):
    """§4.5 Limits: "the outer batch is not counted in `operating`" → repeated batches of an unblocked
    method never get 429 for the batch call itself."""
    portal.limits(operating_limit=LIMIT)
    codes = [call(portal.webhook, "batch", {"cmd": {"b": "crm.status.fields"}}).status_code for _ in range(3)]
    assert codes == [200, 200, 200], codes
