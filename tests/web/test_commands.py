"""``b24app app add|list|remove`` and ``b24app serve --sandbox``, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from b24app.cli import main

SECRET = "s3cret-from-the-form-0123456789"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("B24APP_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("B24APP_PUBLIC_URL", "https://b24app.example.com")
    monkeypatch.delenv("B24APP_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def run(argv, capsys, stdin: str = ""):
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(argv)
    finally:
        sys.stdin = sys.__stdin__
    out = capsys.readouterr()
    return code, out.out, out.err


def test_app_add_reads_the_secret_from_stdin_and_prints_the_form_lines(env, capsys):
    code, out, err = run(
        ["app", "add", "--client-id", "local.abc.1", "--client-secret", "-"], capsys, SECRET + "\n"
    )
    assert (code, err) == (0, "")
    handler = re.search(r"^handler: (https://b24app\.example\.com/b24/([\w-]+)/app/)$", out, re.M)
    assert handler is not None
    assert f"install: https://b24app.example.com/b24/{handler[2]}/install/" in out.splitlines()
    assert "scopes: crm, im" in out.splitlines()
    assert SECRET not in out
    code, listed, _ = run(["app", "list"], capsys)
    assert code == 0 and "local.abc.1" in listed and handler[1] in listed and SECRET not in listed


def test_app_add_takes_the_secret_from_the_environment(env, capsys, monkeypatch):
    monkeypatch.setenv("B24APP_CLIENT_SECRET", SECRET)
    code, out, _ = run(["app", "add", "--client-id", "local.env.1"], capsys)
    assert code == 0 and "handler: https://" in out


def test_a_secret_on_the_command_line_is_refused(env, capsys):
    code, out, err = run(["app", "add", "--client-id", "local.abc.1", "--client-secret", SECRET], capsys)
    assert code == 1
    assert "--client-secret -" in err and "B24APP_CLIENT_SECRET" in err
    assert SECRET not in err + out
    assert "no registrations" in run(["app", "list"], capsys)[1]


def test_app_remove_is_refused_while_a_portal_has_it_installed(env, capsys):
    from b24app.store import PortalState, Settings, Store

    run(["app", "add", "--client-id", "local.abc.1", "--client-secret", "-"], capsys, SECRET)
    store = Store.open(Settings.from_env(os.environ))
    registration = store.registrations.by_client_id("local.abc.1")
    portal = store.portals.upsert(
        "m1",
        domain="a.bitrix24.ru",
        client_endpoint="https://a.bitrix24.ru/rest/",
        registration_id=registration.id,
        state=PortalState.INSTALLED,
    )
    code, _, err = run(["app", "remove", "local.abc.1"], capsys)
    assert code == 1 and "uninstall the app" in err
    store.portals.set_state(portal.id, PortalState.UNINSTALLED)
    store.close()
    code, out, _ = run(["app", "remove", str(registration.id)], capsys)
    assert code == 0 and "removed" in out
    assert "no registrations" in run(["app", "list"], capsys)[1]


def post_json(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_serve_sandbox_gives_portal_pages_that_install_b24app(tmp_path):
    env = {**os.environ, "B24APP_INSTANCE": str(tmp_path / "instance"), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "b24app.cli", "serve", "--sandbox", "--portals", "2", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        pages = [process.stdout.readline().strip() for _ in range(2)]
        errors = []
        while not any("serves on" in line for line in errors):
            errors.append(process.stderr.readline())
            assert errors[-1], "".join(errors)
        control = re.search(r"control API: (\S+)", "".join(errors))[1]
        instance = Path(re.search(r"removed on exit\): (\S+)", "".join(errors))[1])
        server = re.search(r"serves on (\S+)", "".join(errors))[1]
        assert [p.split(":")[0] for p in pages] == ["portal1", "portal2"]
        page_url = pages[0].split(" ", 1)[1]
        with urllib.request.urlopen(page_url, timeout=10) as answer:  # the portal page frames our installer
            assert f"{server}b24/" in answer.read().decode()
        client_id = page_url.rstrip("/").rsplit("/", 1)[1]
        opened = post_json(f"{control}control/portals/portal1/apps/{client_id}/open")
        assert opened["status"] == 200  # the installer answered the portal's frame POST
        with urllib.request.urlopen(f"{server}healthz", timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "ok"
        assert instance.is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0
    assert not instance.exists()
