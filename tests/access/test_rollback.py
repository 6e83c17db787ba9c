"""Journal and rollback on installed sandbox portals (tokens from the OAuth flow), over real HTTP,
on SQLite and PostgreSQL: ``b24app journal PORTAL`` and ``b24app rollback RUN``."""

from __future__ import annotations

import json
from dataclasses import replace

from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.cli import main
from b24app.core.plan import plan
from b24app.core.template import load_template
from b24app.rollback import plan_rollback
from b24app.snapshot import dump_state, load_state
from b24app.store import RunKind, RunOutcome
from tests.integration.portal_view import portal_view


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def view(sandbox) -> dict:
    return portal_view(Client(WebhookAuth(sandbox.portals[0].webhook_url)))


def apply_example(capsys, app_store, installed, example_path) -> int:
    code, _, err = run(capsys, "apply", str(example_path), "--portal", installed.portal.domain, "--yes")
    assert code == 0, err
    return app_store.runs.last(installed.portal.id, kind=RunKind.APPLY).id


def add_deal(sandbox, pipeline: str) -> None:
    client = Client(WebhookAuth(sandbox.portals[0].webhook_url))
    categories = client.call("crm.category.list", {"entityTypeId": 2}).result["categories"]
    category = next(int(c["id"]) for c in categories if c["name"] == pipeline)
    fields = {"TITLE": "Кондиционер", "CATEGORY_ID": category, "STAGE_ID": f"C{category}:NEW"}
    client.call("crm.deal.add", {"fields": fields})


def test_rollback_of_an_apply_gives_back_the_fresh_portals_lists(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    fresh = view(sandbox)
    applied = apply_example(capsys, app_store, installed, example_path)
    assert view(sandbox) != fresh and "Монтаж" in view(sandbox)["deal"]

    code, out, err = run(capsys, "rollback", str(applied), "--yes", "--force")
    assert code == 0, err
    assert "Монтаж" in out  # the plan shown names the pipeline it deletes

    after = view(sandbox)
    assert after == fresh  # created pipelines deleted, renamed entries and pipelines named as before
    rollback = app_store.runs.last(installed.portal.id)
    assert rollback.kind == RunKind.ROLLBACK and rollback.rollback_of == applied
    assert rollback.outcome == RunOutcome.APPLIED and rollback.summary["delete"] > 0
    assert f"rollback of {applied}" in out


def test_a_created_pipeline_holding_a_deal_is_blocked_and_the_rest_rolled_back(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    fresh = view(sandbox)
    applied = apply_example(capsys, app_store, installed, example_path)
    add_deal(sandbox, "Монтаж")

    code, out, err = run(capsys, "rollback", str(applied), "--yes", "--force", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["rollback_of"] == applied and shown["result"]["outcome"] == "applied_verified"
    plan = shown["plan"]
    blocked = [c for c in plan["changes"] if c["action"] == "blocked" and c["key"] == "Монтаж"]
    assert len(blocked) == 1 and "1 deal is in this pipeline" in blocked[0]["reason"]

    after = view(sandbox)
    assert "Монтаж" in after["deal"]  # kept: it holds a deal
    assert after["lists"] == fresh["lists"]  # everything else is back
    assert {n: p for n, p in after["deal"].items() if n != "Монтаж"} == fresh["deal"]


def test_a_rollback_of_a_rollback_restores_the_applied_state(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    applied = apply_example(capsys, app_store, installed, example_path)
    after_apply = view(sandbox)
    code, _, err = run(capsys, "rollback", str(applied), "--yes", "--force")
    assert code == 0, err
    first = app_store.runs.last(installed.portal.id).id
    assert view(sandbox) != after_apply

    code, _, err = run(capsys, "rollback", str(first), "--yes", "--force")
    assert code == 0, err
    assert view(sandbox) == after_apply  # pipelines the rollback deleted (empty) are made again
    second = app_store.runs.last(installed.portal.id)
    assert second.kind == RunKind.ROLLBACK and second.rollback_of == first


def test_the_journal_lists_runs_as_text_and_json(capsys, cli_env, app_store, sandbox, kit, example_path):
    installed = kit.install(sandbox, app_store)
    domain = installed.portal.domain
    assert run(capsys, "plan", str(example_path), "--portal", domain)[0] == 2
    applied = apply_example(capsys, app_store, installed, example_path)
    assert run(capsys, "rollback", str(applied), "--yes", "--force")[0] == 0

    code, out, _ = run(capsys, "journal", domain, "--json")
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [r["kind"] for r in runs] == ["rollback", "apply", "plan"]
    assert runs[0]["rollback_of"] == applied and runs[1]["id"] == applied
    assert runs[1]["template"] == "crm.yaml" and len(runs[1]["template_hash"]) == 64
    assert runs[1]["summary"]["create"] > 0 and runs[1]["requests"] > 0 and runs[1]["outcome"] == "applied"
    assert runs[2]["can_roll_back"] and runs[0]["who"].startswith("command line")

    code, out, _ = run(capsys, "journal", installed.portal.member_id, "--limit", "2")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and lines[0].startswith("RUN")
    assert f"rollback of {applied}" in lines[1] and "crm.yaml" in lines[2] and "applied" in lines[2]

    code, _, err = run(capsys, "journal", "nowhere.bitrix24.ru")
    assert code == 1 and "nowhere.bitrix24.ru" in err


def test_the_state_before_is_a_complete_snapshot_that_plans_the_same(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    example = load_template(example_path.read_text(encoding="utf-8"), source=str(example_path))
    installed = kit.install(sandbox, app_store)
    applied = app_store.runs.get(apply_example(capsys, app_store, installed, example_path))
    recorded = applied.state_before["state"]
    state = load_state(json.loads(json.dumps(recorded)))
    assert dump_state(state) == recorded and recorded["version"] == 1
    assert any(e.system for e in state.lists["lead_stages"].entries)  # portal-only facts kept too

    assert plan(example, state).checksum == applied.checksum  # re-plannable: the run's own plan


def test_a_rollback_plan_never_deletes_a_system_entry(
    capsys, cli_env, app_store, sandbox, kit, example_path, settings
):
    installed = kit.install(sandbox, app_store)
    applied = app_store.runs.get(apply_example(capsys, app_store, installed, example_path))
    # A journal that says the run created the system lead stage NEW, absent before it.
    state = load_state(applied.state_before["state"])
    leads = state.lists["lead_stages"]
    assert next(e for e in leads.entries if e.id == "NEW").system
    without = replace(leads, entries=tuple(e for e in leads.entries if e.id != "NEW"))
    before = {
        **applied.state_before,
        "state": dump_state(replace(state, lists={**state.lists, "lead_stages": without})),
    }
    claim = {
        "action": "create",
        "target": "entry",
        "key": "NEW",
        "scope": {"list": "lead_stages", "entity_id": "STATUS"},
    }
    plan_json = {**applied.plan, "changes": [*applied.plan["changes"], claim]}
    forged = app_store.runs.record(
        installed.portal.id, RunKind.APPLY, RunOutcome.APPLIED, state_before=before, plan=plan_json
    )

    rollback, template = plan_rollback(app_store, settings, forged.id, force=True)
    on_new = [c for c in rollback.changes if c.key == "NEW" and c.scope.entity_id == "STATUS"]
    assert [c.action for c in on_new] == ["blocked"] and "system" in on_new[0].reason
    assert all(e.id != "NEW" for e in template.lists["lead_stages"].entries)
    assert any(c.action == "delete" for c in rollback.changes)  # the run's other creations do go


def test_an_unknown_run_is_a_clear_error(capsys, cli_env, app_store, sandbox, kit):
    kit.install(sandbox, app_store)
    code, out, err = run(capsys, "rollback", "999", "--yes")
    assert code == 1 and out == ""
    assert "there is no run 999" in err and "b24app journal PORTAL" in err and "Traceback" not in err


def webhook_call(sandbox, method: str, params: dict):
    return Client(WebhookAuth(sandbox.portals[0].webhook_url)).call(method, params).result


def add_deal_pipeline(sandbox, name: str) -> int:
    reply = webhook_call(
        sandbox, "crm.category.add", {"entityTypeId": 2, "fields": {"name": name, "sort": 90}}
    )
    return int(reply["category"]["id"])


def test_entries_and_pipelines_added_since_by_someone_else_stay(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    fresh = view(sandbox)
    applied = apply_example(capsys, app_store, installed, example_path)
    kit.add_source(sandbox, "FAIR")
    add_deal_pipeline(sandbox, "Аренда")

    code, _, err = run(capsys, "rollback", str(applied), "--yes", "--force")
    assert code == 0, err
    after = view(sandbox)
    assert "Аренда" in after["deal"] and any(row[0] == "FAIR" for row in after["lists"]["SOURCE"])
    assert [row for row in after["lists"]["SOURCE"] if row[0] != "FAIR"] == fresh["lists"]["SOURCE"]
    assert {n: p for n, p in after["deal"].items() if n != "Аренда"} == fresh["deal"]


def test_a_pipeline_deleted_since_the_run_is_blocked_with_the_reason(
    capsys, cli_env, app_store, sandbox, kit, example_path, settings
):
    installed = kit.install(sandbox, app_store)
    rent = add_deal_pipeline(sandbox, "Аренда")
    applied = apply_example(capsys, app_store, installed, example_path)
    webhook_call(sandbox, "crm.category.delete", {"entityTypeId": 2, "id": rent})

    rollback, template = plan_rollback(app_store, settings, applied, force=True)
    blocked = [c for c in rollback.changes if c.key == "Аренда"]
    assert [c.action for c in blocked] == ["blocked"] and "deleted after the run" in blocked[0].reason
    assert "Аренда" not in {p.name for p in template.deal_pipelines.pipelines}
    assert not any(c.action == "create" and c.target == "pipeline" for c in rollback.changes)


def test_lists_the_run_did_not_manage_are_left_alone(
    capsys, cli_env, app_store, sandbox, kit, example_path, tmp_path
):
    installed = kit.install(sandbox, app_store)
    fresh = view(sandbox)
    text = example_path.read_text(encoding="utf-8")
    sources_only = tmp_path / "sources.yaml"
    sources_only.write_text("version: 1\n" + text[text.index("\nsources:") : text.index("\ncontact_types:")])
    code, _, err = run(capsys, "apply", str(sources_only), "--portal", installed.portal.domain, "--yes")
    assert code == 0, err
    applied = app_store.runs.last(installed.portal.id, kind=RunKind.APPLY).id
    row = next(
        r
        for r in webhook_call(sandbox, "crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}})
        if r["STATUS_ID"] == "NEW"
    )
    webhook_call(sandbox, "crm.status.update", {"id": row["ID"], "fields": {"NAME": "Входящие"}})

    code, _, err = run(capsys, "rollback", str(applied), "--yes", "--force")
    assert code == 0, err
    after = view(sandbox)
    assert after["lists"]["SOURCE"] == fresh["lists"]["SOURCE"]
    assert next(r for r in after["lists"]["STATUS"] if r[0] == "NEW")[1] == "Входящие"  # not managed: kept


def test_rollback_asks_for_confirmation_and_keeps_the_prune_threshold(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    applied = apply_example(capsys, app_store, installed, example_path)
    before = view(sandbox)
    code, out, err = run(capsys, "rollback", str(applied), "--force")
    assert code == 1 and "add --yes to confirm" in err and "Монтаж" in out  # the plan is shown
    code, _, err = run(capsys, "rollback", str(applied), "--yes")
    assert code == 1 and "5 of 16 would be deleted" in err and "add --force to accept" in err
    assert view(sandbox) == before
    assert app_store.runs.last(installed.portal.id).id == applied  # nothing journaled: nothing applied


def test_a_pipeline_the_run_renamed_gets_its_old_name_back(
    capsys, cli_env, app_store, sandbox, kit, example_path
):
    installed = kit.install(sandbox, app_store)
    service = add_deal_pipeline(sandbox, "Обслуживание")  # the example renames it to "Сервис"
    fresh = view(sandbox)
    applied = apply_example(capsys, app_store, installed, example_path)
    assert "Сервис" in view(sandbox)["deal"]

    code, _, err = run(capsys, "rollback", str(applied), "--yes", "--force")
    assert code == 0, err
    after = view(sandbox)
    assert "Сервис" not in after["deal"]
    assert after["deal"]["Обслуживание"]["stages"] == fresh["deal"]["Обслуживание"]["stages"]
    categories = webhook_call(sandbox, "crm.category.list", {"entityTypeId": 2})["categories"]
    assert next(int(c["id"]) for c in categories if c["name"] == "Обслуживание") == service  # the same one


PURCHASES = """version: 1
smart_processes:
  - title: Закупки
    code: purchases
    pipelines:
      - name: Основная
        default: true
        stages:
          - {id: NEW, name: Заявка на закупку, color: "#39A8EF"}
          - {id: ORDERED, name: %s, color: "#2FC6F6"}
          - {id: SUCCESS, name: Получено на склад, color: "#7BD500", semantics: success}
          - {id: FAIL, name: Отменено, color: "#FF5752", semantics: failure}
%s"""
URGENT = """      - name: Срочные
        stages:
          - {id: NEW, name: Срочная заявка, color: "#39A8EF"}
          - {id: SUCCESS, name: Получено, color: "#7BD500", semantics: success}
          - {id: FAIL, name: Отменено, color: "#FF5752", semantics: failure}
"""


def test_smart_processes_roll_back_but_one_the_run_created_is_only_reported(
    capsys, cli_env, app_store, sandbox, kit, tmp_path, settings
):
    installed = kit.install(sandbox, app_store)
    domain = installed.portal.domain
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(PURCHASES % ("Заказано у поставщика", ""), encoding="utf-8")
    second.write_text(PURCHASES % ("Заказано", URGENT), encoding="utf-8")
    assert run(capsys, "apply", str(first), "--portal", domain, "--yes")[0] == 0
    created = app_store.runs.last(installed.portal.id).id
    assert run(capsys, "apply", str(second), "--portal", domain, "--yes")[0] == 0
    changed = app_store.runs.last(installed.portal.id).id

    code, out, err = run(capsys, "rollback", str(changed), "--yes", "--json")
    assert code == 0, err
    changes = json.loads(out)["plan"]["changes"]
    assert {(c["action"], c["target"], c["key"]) for c in changes} == {
        ("delete", "pipeline", "Срочные"),
        ("update", "entry", "ORDERED"),
    }
    assert run(capsys, "plan", str(first), "--portal", domain)[0] == 0  # as after the first apply
    process = webhook_call(sandbox, "crm.type.list", {})["types"][0]
    pipelines = webhook_call(sandbox, "crm.category.list", {"entityTypeId": process["entityTypeId"]})
    assert [c["name"] for c in pipelines["categories"]] == ["Основная"]

    rollback, _ = plan_rollback(app_store, settings, created)
    blocked = [c for c in rollback.changes if c.target == "smart_process"]
    assert [(c.action, c.key) for c in blocked] == [("blocked", "Закупки")]
    assert "never deletes smart processes" in blocked[0].reason
