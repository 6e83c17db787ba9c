"""The sandbox as a whole: ports and URLs, control API, multi-portal isolation, state file, command line."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from b24app.sandbox.cli import main
from b24app.sandbox.server import Sandbox

TIMEOUT = 5
REPO = Path(__file__).resolve().parents[2]


def test_control_lists_portals_with_their_urls(sandbox):
    r = requests.get(sandbox.control_url + "control/portals", timeout=TIMEOUT)
    portals = r.json()["portals"]
    assert [p["name"] for p in portals] == ["portal1", "portal2"]
    for info, handle in zip(portals, sandbox.portals, strict=True):
        assert info["base_url"] == handle.base_url == f"http://{handle.domain}/"
        assert info["webhook_url"].startswith(handle.base_url + "rest/1/")
        assert info["member_id"] == handle.member_id
    assert len({p["base_url"] for p in portals}) == 2
    assert len({p["member_id"] for p in portals}) == 2


def test_control_creates_webhooks_for_other_users(sandbox):
    r = requests.post(
        sandbox.control_url + "control/portals/portal2/webhooks",
        json={"user_id": 2, "scopes": "crm,user"},
        timeout=TIMEOUT,
    )
    url = r.json()["url"]
    assert url.startswith(sandbox.portals[1].base_url + "rest/2/")
    assert requests.get(url + "profile", timeout=TIMEOUT).json()["result"]["ID"] == "2"
    assert (
        requests.post(
            sandbox.control_url + "control/portals/portal9/webhooks", json={}, timeout=TIMEOUT
        ).status_code
        == 404
    )


def test_portals_are_isolated(sandbox):
    first, second = sandbox.portals[0], sandbox.portals[1]
    fields = {"ENTITY_ID": "SOURCE", "STATUS_ID": "ONLY1", "NAME": "Only on portal 1"}
    assert (
        requests.post(
            first.webhook_url + "crm.status.add", json={"fields": fields}, timeout=TIMEOUT
        ).status_code
        == 200
    )
    for handle, expected in ((first, True), (second, False)):
        rows = requests.get(
            handle.webhook_url + "crm.status.list", params={"filter[ENTITY_ID]": "SOURCE"}, timeout=TIMEOUT
        ).json()["result"]
        assert ("ONLY1" in {row["STATUS_ID"] for row in rows}) is expected
    # a webhook of one portal means nothing on another
    code_path = first.webhook_url.removeprefix(first.base_url)
    assert requests.get(second.base_url + code_path + "profile", timeout=TIMEOUT).status_code == 401


def start_on_fixed_ports(portals: int) -> Sandbox:
    """A sandbox on a fixed base port: tries a few random bases until three consecutive ports are free."""
    rng = random.Random()
    for _ in range(20):
        try:
            return Sandbox(port=rng.randrange(20000, 30000), portals=portals).start()
        except OSError:
            continue
    raise AssertionError("no free block of loopback ports found")


def test_fixed_port_scheme():
    box = start_on_fixed_ports(2)
    base = int(box.control_url.rsplit(":", 1)[1].strip("/"))
    try:
        assert box.control_url == f"http://127.0.0.1:{base}/"
        assert [h.base_url for h in box.portals] == [f"http://127.0.0.1:{base + i}/" for i in (1, 2)]
    finally:
        box.stop()


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    box = Sandbox(port=0, portals=1, state_file=state).start()
    hook_path = box.portals[0].webhook_url.removeprefix(box.portals[0].base_url)
    fields = {"ENTITY_ID": "SOURCE", "STATUS_ID": "KEPT", "NAME": "Kept"}
    requests.post(box.portals[0].webhook_url + "crm.status.add", json={"fields": fields}, timeout=TIMEOUT)
    app = box.register_app(0, handler_url="http://127.0.0.1:9/app")
    box.set_limits(0, capacity=7)
    box.advance_clock(100)
    tokens = box.oauth.issue(box.oauth.apps[app["client_id"]], 1)
    box.stop()
    assert state.exists()

    again = Sandbox(port=0, portals=2, state_file=state).start()
    try:
        handle = again.portals[0]
        assert len(again.portals) == 2 and again.clock.offset >= 100
        assert handle.limits.capacity == 7
        rows = requests.get(
            handle.base_url + hook_path + "crm.status.list",
            params={"filter[ENTITY_ID]": "SOURCE"},
            timeout=TIMEOUT,
        ).json()["result"]
        assert "KEPT" in {row["STATUS_ID"] for row in rows}
        r = requests.get(
            handle.base_url + "rest/profile", params={"auth": tokens["access_token"]}, timeout=TIMEOUT
        )
        assert r.status_code == 200
        assert handle.domain in handle.base_url  # domain follows the new port
    finally:
        again.stop()


def test_cli_refuses_a_non_loopback_host(capsys):
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "not a loopback address" in capsys.readouterr().err


def test_cli_prints_one_webhook_line_per_portal_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    state = tmp_path / "cli-state.json"
    with subprocess.Popen(
        [sys.executable, "-m", "b24app.sandbox.cli", "--port", "0", "--portals", "2", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    ) as proc:
        try:
            lines = [proc.stdout.readline().strip() for _ in range(2)]
            assert all(line.startswith("webhook: http://127.0.0.1:") for line in lines)
            url = lines[0].removeprefix("webhook: ")
            assert requests.get(url + "profile", timeout=TIMEOUT).status_code == 200
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0 and out == ""
    assert "control API" in err
    assert state.exists()


@pytest.mark.parametrize("limits,refused", [("standard", True), ("enterprise", False)])
def test_cli_limits_option_sets_every_portals_bucket(tmp_path, limits, refused):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "b24app.sandbox.cli", "--port", "0", "--limits", limits]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    ) as proc:
        try:
            url = proc.stdout.readline().strip().removeprefix("webhook: ")
            session = requests.Session()
            statuses = [session.get(url + "server.time", timeout=TIMEOUT).status_code for _ in range(100)]
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert (503 in statuses) is refused
    assert statuses[:50] == [200] * 50
