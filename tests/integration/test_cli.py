"""The command line as a user runs it: exit codes, output, errors without tracebacks or secrets."""

from __future__ import annotations

import json

from b24app.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_apply_plan_exit_codes(capsys, webhook, example_path):
    code, out, err = run(capsys, "plan", str(example_path), "--portal", webhook)
    assert code == 2, err
    assert "to create" in out and "Apply with: b24app apply" in out
    code, out, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes")
    assert code == 0, err
    assert "verified" in out
    code, out, _ = run(capsys, "plan", str(example_path), "--portal", webhook)
    assert code == 0 and "No differences" in out


def test_plan_json_shape(capsys, webhook, example_path):
    code, out, _ = run(capsys, "plan", str(example_path), "--portal", webhook, "--json")
    assert code == 2
    data = json.loads(out)
    assert set(data) >= {"portal", "checksum", "summary", "changes"}
    assert set(data["summary"]) == {"create", "update", "delete", "blocked"}
    assert data["summary"]["create"] == sum(c["action"] == "create" for c in data["changes"])


def test_apply_needs_yes(capsys, webhook, example_path):
    code, _, err = run(capsys, "apply", str(example_path), "--portal", webhook)
    assert code == 1 and "--yes" in err


def test_apply_with_a_stale_plan_is_refused(capsys, tmp_path, webhook, example_path, client):
    plan_file = tmp_path / "plan.json"
    code, _, _ = run(capsys, "plan", str(example_path), "--portal", webhook, "--out", str(plan_file))
    assert code == 2 and plan_file.exists()
    client.call("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "SNEAKY", "NAME": "x"}})
    code, _, err = run(
        capsys, "apply", str(example_path), "--portal", webhook, "--plan", str(plan_file), "--yes"
    )
    assert code == 1 and "changed since the plan" in err
    ids = {r["STATUS_ID"] for r in client.call("crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}}).result}
    assert "IN_PROCESS" in ids  # nothing was applied


def test_apply_with_the_reviewed_plan_goes_through(capsys, tmp_path, webhook, example_path):
    plan_file = tmp_path / "plan.json"
    run(capsys, "plan", str(example_path), "--portal", webhook, "--out", str(plan_file))
    code, _, err = run(
        capsys, "apply", str(example_path), "--portal", webhook, "--plan", str(plan_file), "--yes"
    )
    assert code == 0, err


def test_errors_are_one_line_without_secret(capsys, webhook, example_path):
    code_part = webhook.rstrip("/").rsplit("/", 1)[1]
    wrong = webhook.replace(code_part, "wrongcode123")
    code, out, err = run(capsys, "plan", str(example_path), "--portal", wrong)
    assert code == 1
    errors = [line for line in err.splitlines() if not line.startswith("…")]
    assert len(errors) == 1 and errors[0].startswith("error:") and "Traceback" not in err
    assert "webhook" in errors[0]  # says what to check
    assert "wrongcode123" not in err + out and code_part not in err + out


def test_http_refused_for_non_loopback(capsys, example_path):
    code, _, err = run(
        capsys, "plan", str(example_path), "--portal", "http://example.bitrix24.ru/rest/1/abc/"
    )
    assert code == 1 and "https" in err


def test_export_writes_a_valid_template(capsys, tmp_path, webhook):
    target = tmp_path / "exported.yaml"
    code, _, _ = run(capsys, "export", "--portal", webhook, "-o", str(target))
    assert code == 0
    code, out, _ = run(capsys, "validate", str(target))
    assert code == 0 and "valid" in out
    code, _, _ = run(capsys, "plan", str(target), "--portal", webhook)
    assert code == 0


def test_non_admin_is_told_before_anything_is_written(capsys, sandbox, example_path, client):
    url = sandbox.add_webhook(0, 2, ["crm", "user"])
    code_part = url.rstrip("/").rsplit("/", 1)[1]
    before = client.call("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}}).result
    code, _, err = run(capsys, "apply", str(example_path), "--portal", url, "--yes")
    assert code == 1 and "may not change CRM settings" in err
    assert client.call("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}}).result == before
    assert code_part not in err
