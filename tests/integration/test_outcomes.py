"""Refusals, outcomes and progress against a sandbox portal: the data the engine hands over, and how
the command line words it (exit codes per README: apply 0 = applied and verified, 1 = error or not
converged; plan 0 / 2 / 1)."""

from __future__ import annotations

import json

import pytest
import requests

from b24app import console, sync
from b24app.core.template import load_template
from b24app.outcome import Outcome
from b24app.progress import APPLYING, CREATING, READING, VERIFYING, ProgressEvent

from .conftest import make_client
from .test_cli import run

# A prune that would delete 7 of the 12 sources of a fresh portal (4 more are system, so blocked).
PRUNE_SOURCES = "version: 1\nsources:\n  prune: true\n  entries:\n    - {id: CALL, name: Звонок}\n"


def rest(webhook: str, method: str, params: dict) -> object:
    reply = requests.post(f"{webhook}{method}.json", json=params, timeout=10).json()
    assert "error" not in reply, reply
    return reply["result"]


def source_ids(webhook: str) -> set[str]:
    rows = rest(webhook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})
    return {row["STATUS_ID"] for row in rows}


@pytest.fixture
def prune_path(tmp_path):
    path = tmp_path / "prune.yaml"
    path.write_text(PRUNE_SOURCES, encoding="utf-8")
    return path


# -- refusals -----------------------------------------------------------------------------------------


def test_plan_json_carries_the_refusals_as_data(capsys, webhook, prune_path):
    code, out, _ = run(capsys, "plan", str(prune_path), "--portal", webhook, "--json")
    assert code == 2
    data = json.loads(out)
    assert set(data) >= {"portal", "checksum", "summary", "changes", "refusals"}
    assert data["refusals"] == [
        {
            "list": "sources",
            "label": "sources (SOURCE)",
            "deletions": 7,
            "size": 12,
            "share": 0.3,
            "min_size": 10,
        }
    ]
    assert data["summary"]["delete"] == 7


def test_an_unsafe_apply_is_refused_with_its_numbers_and_the_way_out(capsys, webhook, prune_path):
    before = source_ids(webhook)
    code, out, err = run(capsys, "apply", str(prune_path), "--portal", webhook, "--yes")
    assert code == 1
    assert (
        "error: the plan is unsafe: sources (SOURCE): 7 of 12 would be deleted (58 %, more than 30 %). "
        "Check the template, or add --force to accept"
    ) in err
    assert "Traceback" not in err and "Applied" not in out
    assert source_ids(webhook) == before  # nothing was deleted
    code, out, err = run(capsys, "apply", str(prune_path), "--portal", webhook, "--yes", "--force")
    assert code == 0, err
    assert "Forced past the safety limit: sources (SOURCE): 7 of 12" in out
    assert len(source_ids(webhook)) == len(before) - 7


def test_the_library_raises_refusals_as_data_and_says_nothing_of_the_cli(client, webhook, prune_path):
    template = load_template(PRUNE_SOURCES, source=str(prune_path))
    with pytest.raises(sync.UnsafePlan) as refused:
        sync.apply(client, template)
    [refusal] = refused.value.refusals
    assert (refusal.list, refusal.deletions, refusal.size) == ("sources", 7, 12)
    assert not refused.value.after_creating
    assert "--force" not in str(refused.value) and "7 of 12" in str(refused.value)


def test_a_changed_portal_is_raised_with_both_checksums(client, webhook, example):
    reviewed, _ = sync.make_plan(client, example)
    rest(webhook, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "SNEAKY", "NAME": "x"}})
    with pytest.raises(sync.PlanChanged) as changed:
        sync.apply(client, example, expected_checksum=reviewed.checksum)
    assert changed.value.expected == reviewed.checksum
    assert changed.value.actual == changed.value.plan.checksum != reviewed.checksum
    assert "run plan again" not in str(changed.value)


def test_the_cli_words_a_changed_portal_with_both_summaries(capsys, tmp_path, webhook, example_path):
    plan_file = tmp_path / "plan.json"
    run(capsys, "plan", str(example_path), "--portal", webhook, "--out", str(plan_file))
    saved = json.loads(plan_file.read_text(encoding="utf-8"))
    rest(webhook, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "SNEAKY", "NAME": "x"}})
    code, _, err = run(
        capsys, "apply", str(example_path), "--portal", webhook, "--plan", str(plan_file), "--yes"
    )
    assert code == 1
    assert f"changed since the plan was made (plan {saved['checksum']}, now " in err
    assert "run plan again and review it" in err
    s = saved["summary"]
    was = f"{s['create']} to create, {s['update']} to update, {s['delete']} to delete, {s['blocked']} blocked"
    assert f"(the saved plan: {was}; now: " in err


# -- outcomes -----------------------------------------------------------------------------------------


def test_apply_json_reports_the_outcome_with_its_data(capsys, webhook, example_path):
    code, out, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes", "--json")
    assert code == 0, err
    data = json.loads(out)  # stdout holds the JSON only: the plan text is not printed
    assert data["outcome"] == "applied_verified" and data["portal"] == data["plan"]["portal"]
    counts = data["counts"]
    assert counts["applied"] == len(data["applied"]) > 0 and counts["failed"] == len(data["failed"]) == 0
    assert counts["planned"] == sum(c["action"] != "blocked" for c in data["plan"]["changes"])
    assert counts["extra_created"] == counts["applied"] - counts["planned"] > 0  # the new pipelines' stages
    assert data["verify"]["remaining"] == [] and counts["remaining"] == 0
    assert set(data["verify"]["summary"]) == {"create", "update", "delete", "blocked"}
    assert data["requests"] >= 3
    code, out, _ = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes", "--json")
    again = json.loads(out)
    assert code == 0 and again["outcome"] == "nothing_to_do"
    assert again["applied"] == [] and again["counts"]["applied"] == 0


def test_apply_words_applied_and_nothing_to_do(capsys, webhook, example_path):
    code, out, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes")
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("Applied ") and "more than planned: the stages of new pipelines" in last
    assert "; verified: 127.0.0.1:" in last and "matches the template" in last and "request(s)." in last
    code, out, _ = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes")
    assert code == 0
    assert "Nothing to apply: 127.0.0.1:" in out and "already matches the template" in out


def collision(webhook: str, tmp_path):
    """A template whose one new source Bitrix24 refuses: the portal already holds the same id in
    other letter case (STATUS_ID is compared case-insensitively), so the write fails for good."""
    rest(
        webhook,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "Partner_net", "NAME": "p"}},
    )
    path = tmp_path / "collision.yaml"
    path.write_text("version: 1\nsources:\n  - {id: PARTNER_NET, name: Партнёры}\n", encoding="utf-8")
    return path


def test_apply_says_not_converged_and_exits_1(capsys, tmp_path, webhook):
    path = collision(webhook, tmp_path)
    code, out, err = run(capsys, "apply", str(path), "--portal", webhook, "--yes")
    assert code == 1
    assert (
        "failed: sources (SOURCE) PARTNER_NET: Bitrix24 crm.status.add: The specified status ID already exists"
        in err
    )
    assert (
        "Not converged: 1 change(s) failed; 1 difference(s) remain:\n  sources (SOURCE): create PARTNER_NET\n"
        in out
    )
    assert "running apply again is safe" in out and "verified" not in out


def test_apply_json_of_a_run_that_did_not_converge(capsys, tmp_path, webhook):
    path = collision(webhook, tmp_path)
    code, out, _ = run(capsys, "apply", str(path), "--portal", webhook, "--yes", "--json", "--quiet")
    assert code == 1
    data = json.loads(out)
    assert data["outcome"] == "not_converged"
    assert data["counts"] == {
        "applied": 0,
        "planned": 1,
        "extra_created": 0,
        "failed": 1,
        "remaining": 1,
        "blocked": 0,
        "late_blocked": 0,
    }
    [failed] = data["failed"]
    assert failed["change"]["key"] == "PARTNER_NET" and failed["change"]["action"] == "create"
    assert (
        failed["error"]["method"] == "crm.status.add" and "already exists" in failed["error"]["description"]
    )
    assert [c["key"] for c in data["verify"]["remaining"]] == ["PARTNER_NET"]
    assert webhook.rstrip("/").rsplit("/", 1)[1] not in out  # no secret in the JSON


def test_a_concurrent_change_leaves_the_apply_not_converged(webhook, example):
    """Another user adds an entry the plan is about to create, while the apply runs: the outcome
    says so (not "verified"), with the failure and the difference that remains."""
    client = make_client(webhook)

    def meanwhile(event: ProgressEvent) -> None:
        if event.phase == APPLYING and event.done == 0:
            rest(
                webhook,
                "crm.status.add",
                {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "TELEGRAM", "NAME": "x"}},
            )

    result = sync.apply(client, example, progress=meanwhile)
    summary = result.summary()
    assert summary.outcome == Outcome.NOT_CONVERGED and not summary.ok
    assert [(c.key, c.action) for c, _ in result.failed] == [("TELEGRAM", "create")]
    assert [(c.key, c.action) for c in result.remaining] == [("TELEGRAM", "update")]
    assert (summary.failed, summary.remaining, summary.applied) == (1, 1, len(result.applied))
    assert console.outcome_lines(result)[0] == "Not converged: 1 change(s) failed; 1 difference(s) remain:"
    assert sync.apply(make_client(webhook), example).summary().outcome == Outcome.APPLIED_VERIFIED


# -- progress -----------------------------------------------------------------------------------------


def test_progress_of_an_apply_shows_every_phase_and_each_write_batch(webhook, example):
    events: list[ProgressEvent] = []
    result = sync.apply(make_client(webhook), example, progress=events.append)
    assert result.converged
    phases = [e.phase for e in events]
    assert phases[0] == READING and events[0].detail == {"portal": result.plan.domain}
    assert phases.index(CREATING) < phases.index(APPLYING) < phases.index(VERIFYING)
    creating = [e for e in events if e.phase == CREATING]
    assert creating[0].done == 0 and creating[0].detail == {"smart_processes": 0, "pipelines": 2}
    assert creating[-1].done == creating[-1].total == 2
    applying = [e for e in events if e.phase == APPLYING]
    start, batches = applying[0], applying[1:]
    assert start.done == 0 and start.total > 50  # more than one batch of 50
    assert [e.done for e in batches] == [50 * n for n in range(1, len(batches))] + [start.total]
    assert all(e.total == start.total for e in batches)
    assert len(batches) == -(-start.total // 50)  # one event per batch of up to 50 commands


def test_a_lost_answer_while_creating_shows_the_re_read(sandbox, webhook, example):
    events: list[ProgressEvent] = []
    client = make_client(webhook, timeout=(1.0, 0.3), sleep=lambda _: None)

    def record(event: ProgressEvent) -> None:
        if event.phase == CREATING and not any(e.phase == CREATING for e in events):
            sandbox.set_faults(0, timeout=1, hang=1.0)  # the first creating batch gets no answer
        events.append(event)

    assert sync.apply(client, example, progress=record).converged
    rereads = [e for e in events if e.phase == READING and "lost_answer" in e.detail]
    assert len(rereads) == 1
    assert console.progress_text(rereads[0]).startswith("no answer while creating (")
    names = [c["name"] for c in client.call("crm.category.list", {"entityTypeId": 2}).result["categories"]]
    assert sorted(names) == sorted(p.name for p in example.deal_pipelines.pipelines)  # each exactly once


def test_the_cli_prints_progress_lines_unless_quiet(capsys, webhook, example_path):
    code, _, err = run(capsys, "apply", str(example_path), "--portal", webhook, "--yes")
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("… ")]
    assert lines[0].startswith("… reading 127.0.0.1:") and "… creating 2 pipeline(s)" in lines
    assert "… sent 2 of 2 creation(s)" in lines and "… verifying" in lines
    applying = next(line for line in lines if line.startswith("… applying "))
    total = int(applying.split()[2])
    assert f"… sent 50 of {total} change(s)" in lines and f"… sent {total} of {total} change(s)" in lines
    code, _, err = run(capsys, "plan", str(example_path), "--portal", webhook, "--quiet")
    assert code == 0 and err == ""


def test_the_demo_shows_progress_and_the_outcome(capsys):
    code, out, _ = run(capsys, "demo", "--no-color")
    assert code == 0
    assert "  … reading 127.0.0.1:" in out and "  … verifying" in out
    assert "  … sent 50 of " in out
    assert "verified by re-reading the portal: it matches the template" in out
    assert "A second plan finds nothing to do." in out
