"""Faults aimed at one request of a run (after, drop) and at one method (method_latency)."""

from __future__ import annotations

import requests

TIMEOUT = 5


def categories(hook: str) -> list[str]:
    reply = requests.post(hook + "crm.category.list", json={"entityTypeId": 2}, timeout=TIMEOUT).json()
    return [c["name"] for c in reply["result"]["categories"]]


def test_after_lets_requests_pass_then_drop_does_the_work_and_loses_the_answer(sandbox):
    hook = sandbox.portals[0].webhook_url
    sandbox.set_faults(0, after=2, drop=1)
    assert [requests.get(hook + "profile", timeout=TIMEOUT).status_code for _ in range(2)] == [200, 200]
    add = {"entityTypeId": 2, "fields": {"name": "Монтаж"}}
    lost = requests.post(hook + "crm.category.add", json=add, timeout=TIMEOUT)
    assert lost.status_code == 502 and lost.headers["Content-Type"].startswith("text/html")
    assert "Монтаж" in categories(hook)  # carried out all the same
    assert sandbox.portals[0].faults.to_json()["counts"] == {}


def test_method_latency_delays_that_method_also_inside_a_batch(sandbox):
    hook = sandbox.portals[0].webhook_url
    sandbox.set_faults(0, method_latency={"crm.category.add": 0.2})
    batch = {"cmd": {"a": "crm.category.add?entityTypeId=2&fields[name]=X"}}
    r = requests.post(hook + "batch", json=batch, timeout=TIMEOUT)
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.2
    assert sandbox.portals[0].faults.to_json()["method_latency"] == {"crm.category.add": 0.2}


def test_bad_method_latency_is_refused(sandbox):
    url = sandbox.control_url + "control/portals/portal1/faults"
    r = requests.post(url, json={"method_latency": {"crm.category.add": -1}}, timeout=TIMEOUT)
    assert r.status_code == 400 and "method_latency" in r.json()["error"]
