"""`b24app apply TEMPLATE --all`: every installed portal of the store, each journaled, over real HTTP."""

from __future__ import annotations

import json

from b24app.cli import main
from b24app.store import PortalState, RunKind, RunOutcome


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_apply_all_applies_every_installed_portal_and_journals_each(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    portals = [kit.install(sandbox, app_store, index).portal for index in (0, 1)]

    code, out, err = run(capsys, "apply", str(example_path), "--all", "--yes", "--json")

    assert code == 0, err
    result = json.loads(out)
    assert {p["portal"]: p["outcome"] for p in result["portals"]} == {
        p.domain: "applied_verified" for p in portals
    }
    for portal in portals:
        applies = app_store.runs.list(portal.id, kind=RunKind.APPLY)
        assert [r.outcome for r in applies] == [RunOutcome.APPLIED]
        assert applies[0].template_name == "crm.yaml" and applies[0].state_before is not None


def test_apply_all_leaves_out_uninstalled_portals(capsys, cli_env, app_store, sandbox, kit, example_path):
    kept, gone = (kit.install(sandbox, app_store, index).portal for index in (0, 1))
    app_store.portals.set_state(gone.id, PortalState.UNINSTALLED)

    code, out, err = run(capsys, "plan", str(example_path), "--all", "--json")

    assert code == 2, err
    assert [p["portal"] for p in json.loads(out)["portals"]] == [kept.domain]
    code, _, err = run(capsys, "plan", str(example_path), "--all", "--portal", kept.domain)
    assert code == 1 and "either --all or --portal" in err
