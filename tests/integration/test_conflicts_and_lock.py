"""Conflicts seen by plan and apply; one apply per portal on one machine (the lock)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from b24app.cli import main
from b24app.lock import FileLock

from .conftest import make_client


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_deal_pipeline(webhook: str, name: str, key: str) -> int:
    fields = {"name": name, "originId": key, "sort": 20}
    reply = make_client(webhook).call("crm.category.add", {"entityTypeId": 2, "fields": fields})
    return int(reply.result["category"]["id"])


def test_two_pipelines_with_one_key_are_a_conflict_and_apply_does_not_verify(capsys, webhook, example_path):
    first = add_deal_pipeline(webhook, "Монтаж", "install")
    second = add_deal_pipeline(webhook, "Монтаж (копия)", "install")
    code, out, err = run(capsys, "plan", str(example_path), "--portal", webhook)
    assert code == 2, err
    assert "conflict: 2 deal pipelines on the portal have the key 'install'" in out
    assert f"ids {first}, {second}" in out
    code, out, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes")
    assert code == 1, out + err
    assert "verified" not in out
    assert 'deal pipeline "Монтаж": conflict' in out
    code, out, err = run(capsys, "plan", str(example_path), "--portal", webhook, "--json")
    assert code == 2, err  # everything else applied, yet not in sync
    data = json.loads(out)
    assert data["summary"]["create"] == data["summary"]["update"] == 0
    assert data["conflicts"] == ['deal pipeline "Монтаж"']
    # Nothing was deleted or merged: both are still there for a person to settle.
    categories = make_client(webhook).call("crm.category.list", {"entityTypeId": 2}).result["categories"]
    assert [c.get("originId") for c in categories].count("install") == 2


def test_no_wait_fails_at_once_while_another_run_applies(capsys, webhook, example_path, sandbox):
    domain = make_client(webhook).domain
    with FileLock().hold(domain):
        code, out, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes", "--no-wait")
    assert code == 1
    assert f"another b24app run is applying to {domain}" in err and "Traceback" not in err
    assert out == ""  # nothing read, nothing written


def test_a_second_apply_waits_for_the_first(webhook, example_path):
    domain = make_client(webhook).domain
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-c", "from b24app.cli import main; raise SystemExit(main())"]
    with FileLock().hold(domain):  # held before the second run starts
        second = subprocess.Popen(
            [*argv, "apply", str(example_path), "--portal", webhook, "--yes"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = iter(second.stderr.readline, "")  # blocks until each line arrives
            waiting = next(line for line in lines if not line.startswith("…"))
            assert waiting.strip() == (
                f"another b24app run is applying to {domain}; waiting… (use --no-wait to fail at once)"
            )
            assert second.poll() is None  # still waiting while the lock is held
        except BaseException:
            second.kill()
            second.communicate()
            raise
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "verified" in out


def test_the_lock_is_released_when_its_holder_dies(capsys, webhook, example_path):
    domain = make_client(webhook).domain
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from b24app.lock import FileLock\n"
            f"with FileLock().hold({domain!r}):\n"
            "    print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    code, _, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes", "--no-wait")
    assert code == 1 and "another b24app run" in err
    holder.send_signal(signal.SIGKILL)  # a crash: no chance to unlock
    holder.wait(timeout=30)
    holder.stdout.close()
    code, out, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes", "--no-wait")
    assert code == 0, err
    assert "verified" in out


def test_other_portals_are_not_held(capsys, webhook, example_path):
    with FileLock().hold("other.bitrix24.ru"):
        code, _, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes", "--no-wait")
    assert code == 0, err
