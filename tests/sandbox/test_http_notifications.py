"""The notifications a sandbox portal keeps (im.notify.system.add): the Sandbox object, the control
API, per-portal isolation, the bound on what is kept, and the state file."""

from __future__ import annotations

import requests

from b24app.sandbox import rest_im
from b24app.sandbox.server import Sandbox

TIMEOUT = 5


def notify(url: str, user_id: int, message: str, **extra: object) -> object:
    r = requests.post(
        f"{url}im.notify.system.add", json={"USER_ID": user_id, "MESSAGE": message, **extra}, timeout=TIMEOUT
    )
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_each_portal_keeps_its_own_notifications(sandbox):
    first = sandbox.add_webhook(0, 1, ["im"])
    second = sandbox.add_webhook(1, 1, ["im"])
    notify(first, 2, "to the manager of portal1")
    notify(second, 1, "to the admin of portal2")
    assert [(n["user_id"], n["message"]) for n in sandbox.notifications(0)] == [
        (2, "to the manager of portal1")
    ]
    assert [(n["user_id"], n["message"]) for n in sandbox.notifications("portal2")] == [
        (1, "to the admin of portal2")
    ]
    assert sandbox.notifications(0, user_id=1) == []


def test_the_control_api_lists_them_with_the_count_ever_sent(sandbox):
    hook = sandbox.add_webhook(0, 1, ["im"])
    notify(hook, 1, "one", TAG="t", CLIENT_ID="local.a.1")
    notify(hook, 1, "two", TAG="t", CLIENT_ID="local.a.1")  # replaces "one"
    r = requests.get(sandbox.control_url + "control/portals/portal1/notifications", timeout=TIMEOUT)
    body = r.json()
    assert [n["message"] for n in body["notifications"]] == ["two"]
    assert body["sent"] == 2
    r = requests.get(sandbox.control_url + "control/portals/portal1/notifications?user_id=2", timeout=TIMEOUT)
    assert r.json()["notifications"] == []


def test_a_copy_is_handed_out(sandbox):
    notify(sandbox.add_webhook(0, 1, ["im"]), 1, "kept")
    sandbox.notifications(0)[0]["message"] = "changed by a test"
    assert sandbox.notifications(0)[0]["message"] == "kept"


def test_only_the_newest_are_kept(sandbox):
    """The sandbox bounds what it keeps per portal (rest_im.MAX_KEPT), oldest dropped first."""
    sandbox.set_limits(0, capacity=10_000, drain=10_000.0)
    hook = sandbox.add_webhook(0, 1, ["im"])
    total = rest_im.MAX_KEPT + 5
    for start in range(0, total, 50):
        cmd = {
            str(i): f"im.notify.system.add?USER_ID=1&MESSAGE=n{i}"
            for i in range(start, min(start + 50, total))
        }
        r = requests.post(f"{hook}batch", json={"cmd": cmd}, timeout=TIMEOUT)
        assert not r.json()["result"]["result_error"], r.text
    kept = sandbox.notifications(0)
    assert len(kept) == rest_im.MAX_KEPT
    assert (kept[0]["message"], kept[-1]["message"]) == ("n5", f"n{total - 1}")
    assert sandbox.notifications_sent(0) == total


def test_notifications_survive_a_restart(tmp_path):
    state = tmp_path / "state.json"
    box = Sandbox(port=0, portals=1, state_file=state).start()
    try:
        notify(box.add_webhook(0, 1, ["im"]), 1, "before the restart")
    finally:
        box.stop()
    again = Sandbox(port=0, portals=1, state_file=state).start()
    try:
        assert [n["message"] for n in again.notifications(0)] == ["before the restart"]
        assert notify(again.add_webhook(0, 1, ["im"]), 1, "after") == 2
    finally:
        again.stop()
