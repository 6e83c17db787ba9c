"""Fleet runs: `b24app plan|apply TEMPLATE --portal A --portal B …` on sandbox portals over HTTP."""

from __future__ import annotations

import json
import threading

import pytest

from b24app import sync
from b24app.cli import main
from b24app.core.template import load_template
from b24app.fleet import Fleet, FleetOutcome, PortalRef
from b24app.lock import FileLock
from b24app.sandbox.server import Sandbox
from b24app.template_files import file_resolver

from .conftest import make_client

FLEET = 20


@pytest.fixture
def fleet_box():
    box = Sandbox(host="127.0.0.1", port=0, portals=FLEET, lang="ru").start()
    yield box
    box.stop()


def portal_args(box: Sandbox, indexes=None) -> list[str]:
    handles = box.portals if indexes is None else [box.portals[i] for i in indexes]
    return [arg for h in handles for arg in ("--portal", h.webhook_url)]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def in_sync(webhook: str, template) -> bool:
    plan, _ = sync.make_plan(make_client(webhook), template)
    return not plan.has_changes and not plan.conflicts


def secrets_of(box: Sandbox) -> list[str]:
    """The secret part of every portal's webhook URL (https://host/rest/USER/SECRET/)."""
    return [h.webhook_url.rstrip("/").rsplit("/", 1)[1] for h in box.portals]


def test_one_failing_portal_is_reported_and_the_others_are_applied(capsys, fleet_box, example_path, example):
    failing = fleet_box.portals[6]
    fleet_box.set_faults(6, error500=1.0)

    code, out, err = run(
        capsys, "apply", str(example_path), *portal_args(fleet_box), "--yes", "--attempts", "2", "--json"
    )

    assert code == 1, err
    result = json.loads(out)
    outcomes = {p["portal"]: p["outcome"] for p in result["portals"]}
    assert len(outcomes) == FLEET
    assert outcomes.pop(failing.domain) == "error"
    assert set(outcomes.values()) == {"applied_verified"}
    assert result["ok"] is False and result["outcomes"]["error"] == 1
    failed = next(p for p in result["portals"] if p["portal"] == failing.domain)
    assert "500" in failed["message"]
    for handle in fleet_box.portals:
        if handle is not failing:
            assert in_sync(handle.webhook_url, example), handle.domain
    fleet_box.clear_faults(6)
    assert not in_sync(failing.webhook_url, example)  # never applied
    for secret in secrets_of(fleet_box):
        assert secret not in out and secret not in err


def test_all_converged_exits_0_and_a_second_run_has_nothing_to_do(capsys, fleet_box, example_path):
    args = portal_args(fleet_box, range(3))

    code, out, err = run(capsys, "apply", str(example_path), *args, "--yes")
    assert code == 0, err
    assert "3 applied, verified; every portal matches the template" in out

    code, out, err = run(capsys, "apply", str(example_path), *args, "--yes")
    assert code == 0, err
    assert "3 nothing to do; every portal matches the template" in out


def test_the_summary_table_has_a_row_per_portal_and_plan_exit_codes(capsys, fleet_box, example_path, example):
    synced, fresh, broken = fleet_box.portals[:3]
    assert sync.apply(make_client(synced.webhook_url), example).converged
    fleet_box.set_faults(2, error500=1.0)

    code, out, err = run(
        capsys, "plan", str(example_path), *portal_args(fleet_box, range(3)), "--attempts", "1"
    )

    assert code == 1, err  # a portal could not be planned
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(" 127.0.0.1")}
    fresh_plan, _ = sync.make_plan(make_client(fresh.webhook_url), example)
    expected = [str(fresh_plan.summary[k]) for k in ("create", "update", "delete", "blocked")] + ["0", "0"]
    assert rows[fresh.domain][1:] == expected
    assert rows[synced.domain][1:] == ["0"] * 6
    assert rows[broken.domain][1:7] == ["-"] * 6 and "500" in " ".join(rows[broken.domain][7:])
    assert "1 portal(s) could not be planned" in out
    for secret in secrets_of(fleet_box):
        assert secret not in out and secret not in err

    fleet_box.clear_faults(2)
    code, _, err = run(capsys, "plan", str(example_path), *portal_args(fleet_box, range(3)))
    assert code == 2, err  # changes to apply
    code, _, err = run(capsys, "plan", str(example_path), *portal_args(fleet_box, [0, 0]))
    assert code == 1 and "given twice" in err


def test_a_failing_canary_stops_the_run_and_the_rest_is_skipped(capsys, fleet_box, example_path, example):
    fleet_box.set_faults(1, after=1, error500=1.0)  # its plan works; its apply fails

    code, out, err = run(
        capsys,
        "apply",
        str(example_path),
        *portal_args(fleet_box, range(5)),
        "--yes",
        "--canary",
        "2",
        "--attempts",
        "1",
        "--json",
    )

    assert code == 1, err
    outcomes = [p["outcome"] for p in json.loads(out)["portals"]]
    assert outcomes[:2] == ["applied_verified", "error"]
    assert outcomes[2:] == ["skipped"] * 3
    for handle in fleet_box.portals[2:5]:
        assert not in_sync(handle.webhook_url, example)  # nothing was written to them


def test_a_canary_that_converges_lets_the_rest_go(capsys, fleet_box, example_path, example):
    code, out, err = run(
        capsys,
        "apply",
        str(example_path),
        *portal_args(fleet_box, range(4)),
        "--yes",
        "--canary",
        "1",
        "--json",
    )
    assert code == 0, err
    assert [p["outcome"] for p in json.loads(out)["portals"]] == ["applied_verified"] * 4


def test_a_portal_another_run_is_applying_is_not_applied_twice(capsys, fleet_box, example_path, example):
    busy = fleet_box.portals[0]
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with FileLock().hold(busy.domain):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=other_run)
    thread.start()
    held.wait(5)
    try:
        code, out, err = run(
            capsys,
            "apply",
            str(example_path),
            *portal_args(fleet_box, range(3)),
            "--yes",
            "--no-wait",
            "--json",
        )
    finally:
        release.set()
        thread.join()
    assert code == 1, err
    outcomes = {p["portal"]: p for p in json.loads(out)["portals"]}
    assert outcomes[busy.domain]["outcome"] == "error"
    assert "another b24app run is applying" in outcomes[busy.domain]["message"]
    assert not in_sync(busy.webhook_url, example)
    assert all(in_sync(h.webhook_url, example) for h in fleet_box.portals[1:3])


def test_apply_without_yes_off_a_terminal_changes_nothing(capsys, fleet_box, example_path, example):
    code, out, err = run(capsys, "apply", str(example_path), *portal_args(fleet_box, range(2)))
    assert code == 1 and "add --yes" in err
    assert "PORTAL" in out  # the summary was shown
    assert not in_sync(fleet_box.portals[0].webhook_url, example)


def test_fleet_options_need_a_fleet(capsys, fleet_box, example_path):
    code, _, err = run(
        capsys, "apply", str(example_path), *portal_args(fleet_box, [0]), "--canary", "1", "--yes"
    )
    assert code == 1 and "only for a fleet run" in err


def test_a_portal_changed_since_the_summary_is_refused(fleet_box, example_path, example):
    portals = [PortalRef.of(h.webhook_url) for h in fleet_box.portals[:2]]
    fleet = Fleet(portals, example, {"template_name": "crm.yaml"})
    reviewed = fleet.plan()
    changed = fleet_box.portals[0]
    assert sync.apply(make_client(changed.webhook_url), example).converged  # another run, meanwhile

    result = fleet.apply(reviewed)

    outcomes = {r.portal: r for r in result.results}
    assert outcomes[changed.domain].outcome == FleetOutcome.REFUSED
    assert "changed since its plan" in outcomes[changed.domain].message
    assert outcomes[fleet_box.portals[1].domain].outcome == FleetOutcome.APPLIED_VERIFIED
    assert not result.ok


def test_a_template_that_extends_a_base_is_applied_merged(capsys, tmp_path, fleet_box, example_path):
    (tmp_path / "base.yaml").write_text(example_path.read_text(encoding="utf-8"), encoding="utf-8")
    child = tmp_path / "client.yaml"
    child.write_text("extends: base.yaml\nsources:\n  - {id: FAIR, name: Ярмарка}\n", encoding="utf-8")

    code, out, err = run(capsys, "apply", str(child), *portal_args(fleet_box, range(2)), "--yes", "--json")

    assert code == 0, err
    assert json.loads(out)["outcomes"]["applied_verified"] == 2
    merged = load_template(child.read_text(encoding="utf-8"), source=str(child), resolver=file_resolver(None))
    for handle in fleet_box.portals[:2]:
        assert in_sync(handle.webhook_url, merged)
        sources = make_client(handle.webhook_url).call("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})
        assert "FAIR" in {row["STATUS_ID"] for row in sources.result}
