"""`--portal DOMAIN|MEMBER_ID`: installed portals through their stored OAuth tokens, over real HTTP.

The sandbox is the portal and the OAuth server; the tokens come through its authorization-code
flow; the store is SQLite or PostgreSQL. Renewals go to the configured OAuth server, the rotated
pair is saved, and the journal records the command line's runs.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from b24app.cli import main
from b24app.portal_access import PortalUnavailable, connect_installed
from b24app.store import PortalState, RunKind, RunOutcome


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_by_domain_and_by_member_id_uses_the_stored_tokens_and_is_journaled(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    portal = installed.portal
    for ref in (portal.domain, portal.member_id):
        code, out, err = run(capsys, "plan", str(example_path), "--portal", ref, "--json")
        assert code == 2, err
        assert json.loads(out)["portal"] == portal.domain

    plans = app_store.runs.list(portal.id, kind=RunKind.PLAN)
    assert len(plans) == 2 and {r.outcome for r in plans} == {RunOutcome.PLANNED}
    assert plans[0].checksum == json.loads(out)["checksum"] and plans[0].summary["create"] > 0
    assert plans[0].template_name == "crm.yaml" and len(plans[0].template_hash) == 64
    assert plans[0].requests_used and plans[0].user_name.startswith("command line")

    code, out, _ = run(capsys, "portal", "list")
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith(portal.domain))
    assert portal.member_id in line and "installed" in line and "plan planned" in line
    assert f"{plans[0].summary['create']} create" in line


def test_apply_and_export_by_domain_are_journaled_with_the_state_before(
    capsys, cli_env, app_store, sandbox, kit, example_path, tmp_path
):
    installed = kit.install(sandbox, app_store)
    code, out, err = run(capsys, "apply", str(example_path), "--portal", installed.portal.domain, "--yes")
    assert code == 0, err
    run_ = app_store.runs.last(installed.portal.id, kind=RunKind.APPLY)
    assert run_.outcome == RunOutcome.APPLIED and run_.finished_at >= run_.started_at
    assert run_.result["outcome"] == "applied_verified" and run_.requests_used <= 6
    assert "lead_stages:" in run_.state_before["template"]  # the portal as it was, as a template

    exported = tmp_path / "export.yaml"
    code, _, err = run(capsys, "export", "--portal", installed.portal.member_id, "-o", str(exported))
    assert code == 0, err
    code, _, _ = run(capsys, "plan", str(exported), "--portal", installed.portal.domain)
    assert code == 0  # the export of the applied portal plans empty against it


def test_an_expired_token_is_renewed_and_the_rotated_pair_saved(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    before = app_store.tokens.load(installed.portal.id)
    sandbox.set_faults(0, expire_tokens=True)

    code, _, err = run(capsys, "plan", str(example_path), "--portal", installed.portal.domain)
    assert code == 2, err

    after = app_store.tokens.load(installed.portal.id)
    assert after.generation == before.generation + 1
    assert after.pair.refresh_token != before.pair.refresh_token
    assert after.pair.access_token != before.pair.access_token
    spent = kit.refresh_directly(sandbox, installed, before.pair.refresh_token)
    assert spent.json().get("error") == "invalid_grant"  # the old refresh token is dead in the sandbox
    assert kit.refresh_directly(sandbox, installed, after.pair.refresh_token).json()["access_token"]
    for secret in (before.pair.access_token, before.pair.refresh_token, after.pair.refresh_token):
        assert secret not in err


def test_two_processes_renewing_one_portal_at_once_both_succeed_and_the_live_pair_is_stored(
    app_store, settings, sandbox, kit, b24_env, tmp_path
):
    installed = kit.install(sandbox, app_store)
    before = app_store.tokens.load(installed.portal.id)
    sandbox.set_faults(0, expire_tokens=True)
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from b24app.portal_access import connect_installed\n"
        "from b24app.store import Settings, Store\n"
        "settings = Settings.from_env(os.environ)\n"
        "store = Store.open(settings, migrate=False)\n"
        f"client = connect_installed(store, settings, {installed.portal.id})\n"
        "Path(sys.argv[1]).touch()\n"
        f"while not Path({str(go)!r}).exists(): time.sleep(0.005)\n"
        "print(client.call('profile').result['ID'])\n"
    )
    processes = [kit.subprocess_python(b24_env, script, str(tmp_path / f"ready{n}")) for n in range(2)]
    try:
        kit.wait_for(lambda: all((tmp_path / f"ready{n}").exists() for n in range(2)), processes)
        go.touch()  # both hold the expired pair in memory; both call now
        results = [p.communicate(timeout=60) for p in processes]
    finally:
        for p in processes:
            p.kill()
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0 and out.strip() == "1", err

    stored = app_store.tokens.load(installed.portal.id)
    assert stored.generation == before.generation + 1  # renewed once: the other process used that pair
    assert (
        kit.refresh_directly(sandbox, installed, before.pair.refresh_token).json()["error"] == "invalid_grant"
    )
    sandbox.set_faults(0, expire_tokens=True)
    client = connect_installed(app_store, settings, installed.portal.id)
    assert client.call("profile").result["ID"] == "1"  # the stored refresh token is the live one


def test_a_portal_that_cannot_be_called_says_what_to_do(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    portal = installed.portal

    app_store.tokens.delete(portal.id)
    code, _, err = run(capsys, "plan", str(example_path), "--portal", portal.domain)
    assert code == 1 and "open b24app in the portal and press Reconnect" in err

    app_store.portals.set_state(portal.id, PortalState.UNINSTALLED)
    code, _, err = run(capsys, "plan", str(example_path), "--portal", portal.member_id)
    assert code == 1 and "was uninstalled; reinstall b24app in the portal" in err
    assert app_store.runs.list(portal.id) == []  # nothing was run, so nothing journaled

    code, _, err = run(capsys, "plan", str(example_path), "--portal", "unknown.bitrix24.ru")
    assert code == 1 and "neither an incoming-webhook URL nor an installed portal" in err


def test_a_dead_refresh_token_says_to_reconnect(capsys, cli_env, app_store, sandbox, kit, example_path):
    installed = kit.install(sandbox, app_store)
    stored = app_store.tokens.load(installed.portal.id)
    assert kit.refresh_directly(
        sandbox, installed, stored.pair.refresh_token
    ).ok  # spent elsewhere, not saved
    sandbox.set_faults(0, expire_tokens=True)

    code, _, err = run(capsys, "plan", str(example_path), "--portal", installed.portal.domain)

    assert code == 1 and "refresh token of" in err and "press Reconnect" in err
    assert stored.pair.refresh_token not in err and "Traceback" not in err
    failed = app_store.runs.last(installed.portal.id)
    assert failed.outcome == RunOutcome.FAILED and "press Reconnect" in failed.error  # journaled too


def test_a_webhook_portal_never_opens_the_store(capsys, monkeypatch, tmp_path, sandbox, example_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")  # would fail if opened
    code, _, err = run(capsys, "plan", str(example_path), "--portal", sandbox.portals[0].webhook_url)
    assert code == 2, err


def test_connect_installed_refuses_an_uninstalled_portal(app_store, settings, sandbox, kit):
    installed = kit.install(sandbox, app_store)
    app_store.portals.set_state(installed.portal.id, PortalState.UNINSTALLED)
    with pytest.raises(PortalUnavailable, match="was uninstalled"):
        connect_installed(app_store, settings, installed.portal)


def test_portal_assign_takes_a_template_of_the_library_only(
    capsys, cli_env, app_store, settings, sandbox, kit
):
    installed = kit.install(sandbox, app_store)
    settings.templates.mkdir(parents=True)
    (settings.templates / "retail.yaml").write_text("version: 1\n", encoding="utf-8")

    code, _, err = run(capsys, "portal", "assign", installed.portal.domain, "wholesale")
    assert code == 1 and "no template 'wholesale'" in err and "available: retail" in err
    assert app_store.portals.by_id(installed.portal.id).template is None

    code, out, err = run(capsys, "portal", "assign", installed.portal.member_id, "retail")
    assert code == 0, err
    assert app_store.portals.by_id(installed.portal.id).template == "retail"
    code, out, _ = run(capsys, "portal", "list")
    assert "retail" in next(row for row in out.splitlines() if row.startswith(installed.portal.domain))

    code, _, err = run(capsys, "portal", "assign", "nowhere.example", "retail")
    assert code == 1 and "no portal 'nowhere.example' is installed" in err


def test_portal_policy_is_report_or_apply_and_shown_in_the_list(capsys, cli_env, app_store, sandbox, kit):
    installed = kit.install(sandbox, app_store)
    domain = installed.portal.domain
    assert app_store.portals.by_id(installed.portal.id).policy == "report"  # the default

    code, out, err = run(capsys, "portal", "policy", installed.portal.member_id, "apply")
    assert (code, out.strip()) == (0, f"{domain}: policy apply"), err
    assert app_store.portals.by_id(installed.portal.id).policy == "apply"
    code, out, _ = run(capsys, "portal", "list")
    header, row = (
        out.splitlines()[0].split(),
        next(r for r in out.splitlines() if r.startswith(domain)).split(),
    )
    assert row[header.index("POLICY")] == "apply"

    code, _, err = run(capsys, "portal", "policy", domain, "yolo")
    assert code == 1 and "no policy 'yolo'" in err and "report, apply" in err
    assert app_store.portals.by_id(installed.portal.id).policy == "apply"  # bad input changes nothing
    code, _, err = run(capsys, "portal", "policy", "nowhere.example", "report")
    assert code == 1 and "no portal 'nowhere.example' is installed" in err


def test_a_refused_apply_by_domain_is_journaled_as_refused(
    capsys, cli_env, app_store, sandbox, kit, example_path, tmp_path
):
    installed = kit.install(sandbox, app_store)
    plan_file = tmp_path / "plan.json"
    domain = installed.portal.domain
    assert run(capsys, "plan", str(example_path), "--portal", domain, "--out", str(plan_file))[0] == 2
    kit.add_source(sandbox, "SNEAKY")

    code, _, err = run(
        capsys, "apply", str(example_path), "--portal", domain, "--plan", str(plan_file), "--yes"
    )

    assert code == 1 and "changed since the plan" in err
    refused = app_store.runs.last(installed.portal.id, kind=RunKind.APPLY)
    assert refused.outcome == RunOutcome.REFUSED and "changed since the plan" in refused.error
    assert refused.finished_at is not None


def test_plan_and_apply_of_a_child_template_journal_every_file(
    capsys, cli_env, app_store, sandbox, kit, example_path, tmp_path
):
    installed = kit.install(sandbox, app_store)
    base = tmp_path / "base.yaml"
    base.write_text(example_path.read_text(encoding="utf-8"), encoding="utf-8")
    child = tmp_path / "client.yaml"
    child.write_text("extends: base.yaml\nhonorifics:\n  - {id: HNR_RU_1, name: г-н}\n", encoding="utf-8")
    expected = [
        {"name": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()} for path in (child, base)
    ]
    domain = installed.portal.domain
    assert run(capsys, "plan", str(child), "--portal", domain)[0] == 2
    assert run(capsys, "apply", str(child), "--portal", domain, "--yes")[0] == 0
    for kind in (RunKind.PLAN, RunKind.APPLY):
        journaled = app_store.runs.last(installed.portal.id, kind=kind)
        assert journaled.template_sources == expected
        assert journaled.template_name == "client.yaml" and journaled.template_hash == expected[0]["sha256"]
