"""Leaky bucket, operating-time budget and fault injection, with recovery."""

from __future__ import annotations

import pytest
import requests

TIMEOUT = 5


def test_burst_over_the_bucket_gets_503_then_recovers_after_drain(sandbox):
    hook = sandbox.portals[0].webhook_url
    with requests.Session() as session:
        statuses = [session.get(hook + "profile", timeout=TIMEOUT).status_code for _ in range(55)]
        assert statuses[:50] == [200] * 50
        assert 503 in statuses[50:]
        bucket = sandbox.portals[0].bucket  # what benchmarks read: refusals and the highest level
        assert bucket.refused == statuses.count(503) and 49 < bucket.peak <= 50
        refused = session.get(hook + "profile", timeout=TIMEOUT)
        assert refused.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
        sandbox.advance_clock(1.0)  # drains 2 requests
        assert session.get(hook + "profile", timeout=TIMEOUT).status_code == 200
    # the bucket is per portal
    assert requests.get(sandbox.portals[1].webhook_url + "profile", timeout=TIMEOUT).status_code == 200


def test_enterprise_limits_are_configurable_over_control(sandbox):
    url = sandbox.control_url + "control/portals/portal1/limits"
    r = requests.post(url, json={"capacity": 3, "drain": 5}, timeout=TIMEOUT)
    assert r.json()["limits"] == {"capacity": 3, "drain": 5.0, "operating_limit": None}
    hook = sandbox.portals[0].webhook_url
    statuses = [requests.get(hook + "profile", timeout=TIMEOUT).status_code for _ in range(5)]
    assert statuses[:3] == [200] * 3 and 503 in statuses[3:]


def test_operating_budget_blocks_the_method_after_the_crossing_call(sandbox):
    sandbox.set_limits(0, operating_limit=0)
    hook = sandbox.portals[0].webhook_url
    assert requests.get(hook + "profile", timeout=TIMEOUT).status_code == 200  # crosses the limit, completes
    r = requests.get(hook + "profile", timeout=TIMEOUT)
    assert r.status_code == 429
    assert r.json()["error"] == "OPERATION_TIME_LIMIT"
    assert requests.get(hook + "user.admin", timeout=TIMEOUT).status_code == 200  # other methods unaffected
    sandbox.advance_clock(601)
    assert requests.get(hook + "profile", timeout=TIMEOUT).status_code == 200


def test_counted_faults_hit_the_next_requests_then_recover(sandbox):
    r = requests.post(
        sandbox.control_url + "control/portals/portal1/faults",
        json={"error500": 1, "html": 1, "rate_storm": 2, "operation_limit": 1},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    hook = sandbox.portals[0].webhook_url
    answers = [requests.get(hook + "profile", timeout=TIMEOUT) for _ in range(6)]
    assert [a.status_code for a in answers] == [500, 502, 503, 503, 429, 200]
    assert answers[0].json()["error"] == "INTERNAL_SERVER_ERROR"
    assert answers[1].headers["Content-Type"].startswith("text/html")
    assert answers[2].json()["error"] == "QUERY_LIMIT_EXCEEDED"
    assert answers[4].json()["error"] == "OPERATION_TIME_LIMIT"
    # faults are per portal
    sandbox.set_faults(0, error500=5)
    assert requests.get(sandbox.portals[1].webhook_url + "profile", timeout=TIMEOUT).status_code == 200


def test_timeout_fault_hangs_then_closes_without_answer(sandbox):
    sandbox.set_faults(0, timeout=1, hang=0.3)
    hook = sandbox.portals[0].webhook_url
    with pytest.raises(requests.ConnectionError):
        requests.get(hook + "profile", timeout=TIMEOUT)
    sandbox.set_faults(0, timeout=1, hang=2)
    with pytest.raises(requests.Timeout):
        requests.get(hook + "profile", timeout=0.3)
    assert requests.get(hook + "profile", timeout=TIMEOUT).status_code == 200


def test_ratio_faults_are_deterministic_for_a_seed_and_delete_clears(sandbox):
    hook = sandbox.portals[0].webhook_url

    def run() -> list[int]:
        sandbox.set_limits(0, reset=True)
        sandbox.set_faults(0, seed=7, error500=0.5)
        return [requests.get(hook + "profile", timeout=TIMEOUT).status_code for _ in range(12)]

    first = run()
    assert 500 in first and 200 in first
    assert run() == first
    r = requests.delete(sandbox.control_url + "control/portals/portal1/faults", timeout=TIMEOUT)
    assert r.json()["faults"]["ratios"] == {}
    assert all(requests.get(hook + "profile", timeout=TIMEOUT).status_code == 200 for _ in range(5))


def test_latency_fault_slows_answers(sandbox):
    sandbox.set_faults(0, latency=0.2)
    r = requests.get(sandbox.portals[0].webhook_url + "profile", timeout=TIMEOUT)
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.2


def test_bad_fault_spec_is_refused(sandbox):
    r = requests.post(
        sandbox.control_url + "control/portals/portal1/faults", json={"meteor": 1}, timeout=TIMEOUT
    )
    assert r.status_code == 400 and "unknown fault" in r.json()["error"]
