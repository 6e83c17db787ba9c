"""Each safety rule of DESIGN §3 where it fires: removing the rule's code makes one of these fail.

Everything goes through the public surface (sync.make_plan / sync.apply, the command line) against a
sandbox portal over HTTP; what is checked is the plan's JSON form, the messages and the portal itself.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from b24app import sync
from b24app.cli import main
from b24app.core.template import load_template
from b24app.progress import COUNTING, READING, ProgressEvent
from b24app.sandbox.server import Sandbox

from .conftest import make_client


def rest(webhook: str, method: str, params: dict) -> object:
    reply = requests.post(f"{webhook}{method}.json", json=params, timeout=10).json()
    assert "error" not in reply, reply
    return reply["result"]


def stage_ids(webhook: str, entity_id: str) -> list[str]:
    rows = rest(webhook, "crm.status.list", {"filter": {"ENTITY_ID": entity_id}})
    return [row["STATUS_ID"] for row in sorted(rows, key=lambda r: int(r["SORT"]))]


def categories(webhook: str, entity_type_id: int) -> list[dict]:
    return rest(webhook, "crm.category.list", {"entityTypeId": entity_type_id})["categories"]


def template(text: str):
    return load_template(text, source="crm.yaml")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


DEFAULT_DEALS = """\
  - name: Общая
    default: true
    stages:
      - {id: NEW, name: Новая}
      - {id: PREPARATION, name: Подготовка документов}
      - {id: PREPAYMENT_INVOICE, name: Счёт на предоплату}
      - {id: EXECUTING, name: В работе}
      - {id: FINAL_INVOICE, name: Финальный счёт}
      - {id: WON, name: Сделка успешна, semantics: success}
      - {id: LOSE, name: Сделка провалена, semantics: failure}
      - {id: APOLOGY, name: Анализ причины провала, semantics: failure}
"""

SMALL_STAGES = """\
      - {{id: NEW, name: Новая}}
      - {{id: {middle}, name: Работа}}
      - {{id: WON, name: Успех, semantics: success}}
      - {{id: LOSE, name: Провал, semantics: failure}}
"""


def deals_template(*others: tuple[str, str], prune: bool = False) -> str:
    """The default pipeline as it is, and the named pipelines (name, middle stage id)."""
    text = f"version: 1\ndeal_pipelines:\n  prune: {str(prune).lower()}\n  entries:\n" + DEFAULT_DEALS
    for name, middle in others:
        text += f"  - name: {name}\n    stages:\n" + SMALL_STAGES.format(middle=middle)
    return text


def add_pipelines(webhook: str, count: int) -> list[str]:
    names = [f"P{n}" for n in range(1, count + 1)]
    for name in names:
        rest(webhook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": name}})
    return names


# -- the prune threshold of pipelines -------------------------------------------------------------


def pipeline_plan(client, kept: list[str]) -> dict:
    text = deals_template(*((name, "WORK") for name in kept), prune=True)
    plan, _ = sync.make_plan(client, template(text))
    return plan.to_json()


def pipeline_deletions(data: dict) -> list[str]:
    return [c["key"] for c in data["changes"] if (c["action"], c["target"]) == ("delete", "pipeline")]


def test_pruning_more_than_30_percent_of_ten_pipelines_is_refused(client, webhook):
    names = add_pipelines(webhook, 9)  # ten pipelines with the default one
    three = pipeline_plan(client, names[3:])  # 3 of 10: at the limit, allowed
    assert pipeline_deletions(three) == names[:3] and three["refusals"] == []
    four = pipeline_plan(client, names[4:])  # 4 of 10: over it
    assert pipeline_deletions(four) == names[:4]
    (refusal,) = four["refusals"]
    assert (refusal["list"], refusal["deletions"], refusal["size"]) == ("deal_pipelines", 4, 10)
    with pytest.raises(sync.UnsafePlan, match="4 of 10 would be deleted"):
        sync.apply(client, template(deals_template(*((n, "WORK") for n in names[4:]), prune=True)))
    assert [c["name"] for c in categories(webhook, 2)][1:] == names  # refused before anything was written


def test_the_pipeline_threshold_needs_ten_pipelines(client, webhook):
    names = add_pipelines(webhook, 8)  # nine with the default one: 4 of 9 may go
    data = pipeline_plan(client, names[4:])
    assert pipeline_deletions(data) == names[:4] and data["refusals"] == []


def test_forced_prune_of_pipelines_goes_through(capsys, tmp_path, webhook):
    names = add_pipelines(webhook, 9)
    path = tmp_path / "crm.yaml"
    path.write_text(deals_template(*((n, "WORK") for n in names[4:]), prune=True), encoding="utf-8")
    code, _, err = run(capsys, "apply", str(path), "--portal", webhook, "--yes")
    assert code == 1 and "the plan is unsafe: deal pipelines: 4 of 10 would be deleted" in err
    assert len(categories(webhook, 2)) == 10
    code, out, err = run(capsys, "apply", str(path), "--portal", webhook, "--yes", "--force")
    assert code == 0, err
    assert [c["name"] for c in categories(webhook, 2)][1:] == names[4:]


# -- the refusal of an unsafe plan, before writing and once pipelines exist -----------------------

INDUSTRIES = "industries:\n  prune: true\n  entries:\n    - {id: IT, name: Информационные технологии}\n"


def test_an_unsafe_plan_is_refused_before_anything_is_written(client, webhook):
    before = stage_ids(webhook, "INDUSTRY")
    assert len(before) >= 10
    unsafe = template("version: 1\nsources:\n  - {id: CALL, name: Звонок клиента}\n" + INDUSTRIES)
    with pytest.raises(sync.UnsafePlan, match=r"the plan is unsafe: industries \(INDUSTRY\): \d+ of"):
        sync.apply(client, unsafe)
    assert stage_ids(webhook, "INDUSTRY") == before
    sources = rest(webhook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "CALL"}})
    assert sources[0]["NAME"] != "Звонок клиента"  # the safe part of the plan was not applied either


def test_a_plan_that_turns_unsafe_while_pipelines_are_created_is_refused(webhook):
    """A colleague adds ten industries while apply creates a pipeline: pruning them would go past the
    limit, so apply stops before it writes anything else."""
    fresh = stage_ids(webhook, "INDUSTRY")
    everything = "".join(f"    - {{id: {i}, name: x}}\n" for i in fresh)
    text = deals_template(("Монтаж", "SURVEY")) + INDUSTRIES.split("  entries:\n")[0] + "  entries:\n"
    text += everything

    sent: list[str] = []

    def colleague(method: str) -> None:
        sent.append(method)
        if len(sent) == 2:  # the batch that creates the pipeline (the first one read the portal)
            for n in range(len(fresh)):
                rest(
                    webhook,
                    "crm.status.add",
                    {"fields": {"ENTITY_ID": "INDUSTRY", "STATUS_ID": f"X{n}", "NAME": f"x{n}"}},
                )

    client = make_client(webhook, on_request=colleague)
    with pytest.raises(sync.UnsafePlan, match="after creating pipelines the plan became unsafe: industries"):
        sync.apply(client, template(text))
    assert [c["name"] for c in categories(webhook, 2)] == ["Общая", "Монтаж"]
    assert set(stage_ids(webhook, "INDUSTRY")) == set(fresh) | {f"X{n}" for n in range(len(fresh))}
    assert set(stage_ids(webhook, "DEAL_STAGE_1")) >= {"C1:PREPAYMENT_INVOICE", "C1:EXECUTING"}  # untouched


# -- stage ids too long for the number a new deal pipeline will get -------------------------------


def test_a_new_pipeline_takes_the_id_limit_of_the_number_it_will_get(client, webhook):
    add_pipelines(webhook, 8)  # the next two pipelines will be C9 (19 characters) and C10 (18)
    nineteen = "NINETEEN_CHARS_XXXX"
    text = deals_template(("Девятый", nineteen), ("Десятый", nineteen))
    plan, _ = sync.make_plan(client, template(text))
    blocked = [c for c in plan.to_json()["changes"] if c["action"] == "blocked"]
    assert [(c["key"], c["scope"]["pipeline"]) for c in blocked] == [(nineteen, "Десятый")]
    assert blocked[0]["reason"] == (
        "id is 19 characters; the new pipeline will be C10 or later, whose stages take at most 18 — "
        "shorten it in the template"
    )
    result = sync.apply(client, template(text))
    assert result.converged
    assert f"C9:{nineteen}" in stage_ids(webhook, "DEAL_STAGE_9")
    assert not any(nineteen in s for s in stage_ids(webhook, "DEAL_STAGE_10"))


# -- a lost answer while pipelines are created ----------------------------------------------------


def test_a_lost_answer_while_creating_pipelines_creates_nothing_twice(sandbox, webhook, example):
    """The creating batch is carried out but its answer is lost: apply re-reads and carries on."""
    sent: list[str] = []

    def lose_the_creating_answer(method: str) -> None:
        sent.append(method)
        if len(sent) == 2:  # the batch that creates the pipelines (the first one read the portal)
            sandbox.set_faults(0, drop=1)

    client = make_client(webhook, on_request=lose_the_creating_answer)
    progress: list[ProgressEvent] = []
    result = sync.apply(client, example, progress=progress.append)
    assert any(e.phase == READING and "lost_answer" in e.detail for e in progress), progress
    assert result.converged
    names = sorted(c["name"] for c in categories(webhook, 2))
    assert names == sorted(p.name for p in example.deal_pipelines.pipelines)  # each one once
    assert not sync.make_plan(make_client(webhook), example)[0].has_changes


# -- a creation Bitrix24 refuses ------------------------------------------------------------------

PURCHASES = """\
version: 1
smart_processes:
  - title: Закупки
    code: purchases
    pipelines:
      - name: Общая
        default: true
        stages:
          - {id: NEW, name: Начало}
          - {id: SUCCESS, name: Успех, semantics: success}
          - {id: FAIL, name: Провал, semantics: failure}
      - name: Импорт
        stages:
          - {id: NEW, name: Заявка}
          - {id: SUCCESS, name: Получено, semantics: success}
          - {id: FAIL, name: Отменено, semantics: failure}
"""


def test_apply_stops_after_bitrix24_refuses_a_creation(sandbox, webhook):
    """A user who may edit CRM settings but not add pipelines: Bitrix24 refuses the new pipeline, and
    apply reports it rather than asking again."""
    portal = sandbox.portal(0).portal
    with portal.lock:
        portal.users[2] = replace(portal.users[2], config_write=True)
    editor = sandbox.add_webhook(0, 2, ["crm", "user"])
    result = sync.apply(make_client(editor), template(deals_template(("Монтаж", "SURVEY"))))
    assert [(c.key, e.code) for c, e in result.failed] == [("Монтаж", "ACCESS_DENIED")]
    assert not result.converged
    assert [c["name"] for c in categories(webhook, 2)] == ["Общая"]


# -- the second success stage ---------------------------------------------------------------------


def test_a_second_success_stage_is_blocked(client, webhook):
    etid = rest(
        webhook,
        "crm.type.add",
        {"fields": {"title": "Закупки", "code": "purchases", "isCategoriesEnabled": "Y"}},
    )["type"]["entityTypeId"]
    category = categories(webhook, etid)[0]["id"]
    entity, prefix = f"DYNAMIC_{etid}_STAGE_{category}", f"DT{etid}_{category}"
    rows = rest(webhook, "crm.status.list", {"filter": {"ENTITY_ID": entity}})
    success = next(r for r in rows if r["STATUS_ID"] == f"{prefix}:SUCCESS")
    rest(webhook, "crm.status.delete", {"id": success["ID"], "params": {"FORCED": "Y"}})
    rest(
        webhook,
        "crm.status.add",
        {
            "fields": {
                "ENTITY_ID": entity,
                "STATUS_ID": f"{prefix}:DONE",
                "NAME": "Готово",
                "SORT": 45,
                "SEMANTICS": "S",
            }
        },
    )
    text = PURCHASES.split("      - name: Импорт")[0]
    plan, _ = sync.make_plan(client, template(text))
    (success,) = [c for c in plan.to_json()["changes"] if c["key"] == "SUCCESS"]
    assert success["action"] == "blocked"
    assert success["reason"].startswith(
        "the list already has the success stage DONE; Bitrix24 allows only one"
    )
    sync.apply(client, template(text))
    assert f"{prefix}:SUCCESS" not in stage_ids(webhook, entity)


# -- pipeline sort, key and default updates -------------------------------------------------------


def test_deal_pipeline_sort_and_key_are_updated(client, webhook):
    rest(webhook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Монтаж", "sort": 500}})
    text = deals_template(("Монтаж", "SURVEY")).replace(
        "  - name: Монтаж\n", "  - name: Монтаж\n    key: install\n    sort: 20\n"
    )
    plan, _ = sync.make_plan(client, template(text))
    updates = [c for c in plan.to_json()["changes"] if (c["action"], c["target"]) == ("update", "pipeline")]
    assert [(c["key"], c["old"], c["new"]) for c in updates] == [
        ("Монтаж", {"sort": 500, "key": None}, {"sort": 20, "key": "install"})
    ]
    assert sync.apply(client, template(text)).converged
    (installs,) = [c for c in categories(webhook, 2) if c["name"] == "Монтаж"]
    assert (installs["sort"], installs["originId"]) == (20, "install")


# -- smart processes end to end -------------------------------------------------------------------


def test_smart_process_with_pipelines_is_created_then_renamed(client, webhook):
    result = sync.apply(client, template(PURCHASES))
    assert result.converged and not result.failed
    (made,) = rest(webhook, "crm.type.list", {})["types"]
    assert (made["title"], made["code"]) == ("Закупки", "purchases")
    assert made["isCategoriesEnabled"] == "Y"  # without it Bitrix24 refuses the second pipeline
    etid = made["entityTypeId"]
    pipelines = {c["name"]: c for c in categories(webhook, etid)}
    assert sorted(pipelines) == ["Импорт", "Общая"] and pipelines["Общая"]["isDefault"] == "Y"
    for name, category in pipelines.items():
        prefix = f"DT{etid}_{category['id']}"
        assert stage_ids(webhook, f"DYNAMIC_{etid}_STAGE_{category['id']}") == [
            f"{prefix}:NEW",
            f"{prefix}:SUCCESS",
            f"{prefix}:FAIL",
        ], name
    renamed = PURCHASES.replace("title: Закупки", "title: Снабжение").replace(
        "name: Импорт", "name: Импорт и ВЭД\n        previous_names: [Импорт]"
    )
    plan, _ = sync.make_plan(client, template(renamed))
    assert [(c["action"], c["target"], c["key"]) for c in plan.to_json()["changes"]] == [
        ("update", "smart_process", "Снабжение"),
        ("update", "pipeline", "Импорт и ВЭД"),
    ]
    assert sync.apply(client, template(renamed)).converged
    (after,) = rest(webhook, "crm.type.list", {})["types"]
    assert (after["id"], after["title"]) == (made["id"], "Снабжение")
    assert sorted(c["name"] for c in categories(webhook, etid)) == ["Импорт и ВЭД", "Общая"]
    assert not sync.make_plan(client, template(renamed))[0].has_changes


def test_a_smart_process_left_without_a_default_pipeline_gets_the_templates_one(client, webhook):
    """Bitrix24 lets the default pipeline of a smart process without items be deleted
    (reference-lists.md §4.3): the template's default pipeline is then created as the default, or,
    when the portal has it under its name, marked default."""
    fields = {"title": "Закупки", "code": "purchases", "isCategoriesEnabled": "Y"}
    etid = rest(webhook, "crm.type.add", {"fields": fields})["type"]["entityTypeId"]

    def leave_only_imports() -> None:
        for category in categories(webhook, etid):
            if category["name"] != "Импорт":
                rest(webhook, "crm.category.delete", {"entityTypeId": etid, "id": category["id"]})
        assert [(c["name"], c["isDefault"]) for c in categories(webhook, etid)] == [("Импорт", "N")]

    rest(webhook, "crm.category.add", {"entityTypeId": etid, "fields": {"name": "Импорт"}})
    leave_only_imports()
    assert sync.apply(client, template(PURCHASES)).converged
    assert {c["name"]: c["isDefault"] for c in categories(webhook, etid)} == {"Общая": "Y", "Импорт": "N"}

    leave_only_imports()
    imports_default = PURCHASES.replace("name: Общая\n        default: true", "name: Общая").replace(
        "name: Импорт\n", "name: Импорт\n        default: true\n"
    )
    plan, _ = sync.make_plan(client, template(imports_default))
    pipelines = [c for c in plan.to_json()["changes"] if c["target"] == "pipeline"]
    assert [(c["action"], c["key"]) for c in pipelines] == [("create", "Общая"), ("update", "Импорт")]
    assert (pipelines[1]["old"], pipelines[1]["new"]) == ({"default": False}, {"default": True})
    assert sync.apply(client, template(imports_default)).converged
    assert {c["name"]: c["isDefault"] for c in categories(webhook, etid)} == {"Общая": "N", "Импорт": "Y"}


# -- the demo -------------------------------------------------------------------------------------


def test_demo_applies_the_example_and_finds_nothing_left(capsys):
    code, out, err = run(capsys, "demo")
    assert code == 0, out + err
    assert "verified by re-reading the portal: it matches the template" in out
    assert "A second plan finds nothing to do." in out


# -- what the mutation run found untested (README, "Mutation testing") ----------------------------


def test_a_write_batch_that_gets_a_500_is_retried(sandbox, webhook, example):
    """Entry writes are idempotent: a 500 on a write batch is retried, unlike the creating batch."""
    sent: list[str] = []

    def fail_the_first_write(method: str) -> None:
        sent.append(method)
        if len(sent) == 3:  # read, create pipelines, then the first batch of entry writes
            sandbox.set_faults(0, error500=1)

    client = make_client(webhook, on_request=fail_the_first_write, sleep=lambda _: None)
    result = sync.apply(client, example)
    assert result.converged and len(sent) == 5  # the failed batch was sent again


def test_new_pipelines_carry_their_sort_and_key_from_the_creating_call(webhook, example):
    """The key (originId) is the mark b24app finds its pipelines by: it is set by the creation itself."""
    seen: list[dict] = []

    def look_after_creating(method: str) -> None:
        seen.append({"request": method})
        if len(seen) == 3:  # the creating batch has been answered; no other write has been sent
            seen.append({c["name"]: (c["sort"], c.get("originId")) for c in categories(webhook, 2)})

    client = make_client(webhook, on_request=look_after_creating)
    result = sync.apply(client, example)
    assert result.converged
    wanted = {p.name: (p.sort, p.key) for p in example.deal_pipelines.pipelines if not p.default}
    created = seen[3]
    assert {name: created[name] for name in wanted} == wanted
    done = [(c.action, c.target) for c in result.applied]
    assert done.count(("create", "pipeline")) == len(wanted) and ("update", "entry") in done
    assert result.requests == client.requests_sent


@pytest.mark.parametrize(("new_sources", "requests_sent"), [(44, 2), (45, 3)])
def test_the_verifying_read_rides_in_the_last_write_batch_when_it_fits(webhook, new_sources, requests_sent):
    """Six read commands follow the writes: with 44 writes they share one batch of 50, with 45 not."""
    lines = "".join(f"  - {{id: NEW_{n}, name: Источник {n}}}\n" for n in range(new_sources))
    client = make_client(webhook)
    result = sync.apply(client, template("version: 1\nsources:\n" + lines))
    assert result.converged and len(result.applied) == new_sources
    assert client.requests_sent == requests_sent  # the read, then the writes with the verifying read


def test_an_apply_that_only_creates_a_smart_process_verifies_by_reading_again(client):
    """Bitrix24 makes the new smart process's stages exactly as the template lists them: nothing is
    left to write after creating it, and the verification reads the portal once more."""
    other = Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru").start()
    try:
        hook = other.portals[0].webhook_url
        rest(hook, "crm.type.add", {"fields": {"title": "Закупки", "isCategoriesEnabled": "Y"}})
        exported, _, _ = sync.export(make_client(hook))
    finally:
        other.stop()
    result = sync.apply(client, exported)
    assert result.converged
    assert [(c.action, c.target) for c in result.applied] == [("create", "smart_process")]
    assert result.requests == client.requests_sent
    assert not sync.make_plan(client, exported)[0].has_changes


def test_prune_after_creating_a_pipeline_counts_the_items_again(client, webhook):
    rest(webhook, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "UNUSED", "NAME": "u"}})
    sources = [s for s in stage_ids(webhook, "SOURCE") if s != "UNUSED"]
    text = deals_template(("Монтаж", "SURVEY")) + "sources:\n  prune: true\n  entries:\n"
    text += "".join(f"    - {{id: {s}, name: {s}}}\n" for s in sources)
    progress: list[ProgressEvent] = []
    result = sync.apply(client, template(text), progress=progress.append)
    assert result.converged
    assert sum(e.phase == COUNTING for e in progress) >= 2  # before and after creating
    assert "UNUSED" not in stage_ids(webhook, "SOURCE")


SMART_PRUNE = """\
version: 1
smart_processes:
  - title: Закупки
    pipelines:
      prune: true
      entries:
        - name: Общая
          default: true
          stages:
            prune: true
            entries:
              - {id: NEW, name: Начало, sort: 10}
              - {id: SUCCESS, name: Успех, sort: 40, semantics: success}
              - {id: FAIL, name: Провал, sort: 50, semantics: failure}
"""


def test_smart_process_pipelines_and_stages_in_use_are_kept(client, webhook):
    made = rest(webhook, "crm.type.add", {"fields": {"title": "Закупки", "isCategoriesEnabled": "Y"}})
    etid = made["type"]["entityTypeId"]
    default = categories(webhook, etid)[0]["id"]
    busy = rest(webhook, "crm.category.add", {"entityTypeId": etid, "fields": {"name": "Старая"}})
    rest(webhook, "crm.category.add", {"entityTypeId": etid, "fields": {"name": "Пустая"}})
    busy_id = busy["category"]["id"]
    item = {"title": "заказ", "categoryId": busy_id}
    rest(webhook, "crm.item.add", {"entityTypeId": etid, "fields": item})
    stage = f"DT{etid}_{default}:CLIENT"
    rest(webhook, "crm.item.add", {"entityTypeId": etid, "fields": {"title": "x", "stageId": stage}})
    plan, _ = sync.make_plan(client, template(SMART_PRUNE))
    got = {(c["action"], c["key"]) for c in plan.to_json()["changes"] if c["action"] in ("delete", "blocked")}
    assert got == {
        ("delete", "Пустая"),
        ("blocked", "Старая"),
        ("delete", "PREPARATION"),
        ("blocked", "CLIENT"),
    }
    sync.apply(client, template(SMART_PRUNE))
    assert sorted(c["name"] for c in categories(webhook, etid)) == ["Общая", "Старая"]
    assert stage_ids(webhook, f"DYNAMIC_{etid}_STAGE_{default}") == [
        f"DT{etid}_{default}:{s}" for s in ("NEW", "CLIENT", "SUCCESS", "FAIL")
    ]
