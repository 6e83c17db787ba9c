"""platform.md §5 leaky bucket, §4.5 batch counts once."""

from __future__ import annotations

import pytest

from .conftest import call


@pytest.fixture
def portal(sb_mod):
    p = sb_mod.portal(2)
    yield p
    p.limits(capacity=100000, drain=1000, reset=True)


def burst(p, n):
    return [call(p.webhook, "crm.status.fields") for _ in range(n)]


def test_burst_50_then_503(portal):
    portal.limits(capacity=50, drain=2, reset=True)
    rs = burst(portal, 50)
    assert all(r.status_code == 200 for r in rs)
    extra = burst(portal, 6)
    bad = [r for r in extra if r.status_code != 200]
    assert bad, "no refusal after the burst of 50"
    assert bad[0].status_code == 503
    assert bad[0].json()["error"] == "QUERY_LIMIT_EXCEEDED"
    assert bad[0].json()["error_description"] == "Too many requests"


def test_small_capacity_and_drain(portal):
    import time

    portal.limits(capacity=5, drain=20, reset=True)
    codes = [r.status_code for r in burst(portal, 8)]
    assert codes[:5] == [200] * 5 and 503 in codes
    time.sleep(0.3)  # drains ~6
    assert call(portal.webhook, "crm.status.fields").status_code == 200


def test_batch_counts_once(portal):
    portal.limits(capacity=5, drain=0.01, reset=True)
    r = call(portal.webhook, "batch", {"cmd": {f"c{i}": "crm.status.fields" for i in range(40)}})
    assert r.status_code == 200
    assert len(r.json()["result"]["result"]) == 40
    codes = [x.status_code for x in burst(portal, 4)]
    assert codes == [200] * 4
