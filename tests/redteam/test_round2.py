"""Red-team round 2: lived-in portals (smart processes, legacy stages, cross-portal templates, logs).

Each test describes what a careful integrator expects; the one still marked ``xfail(strict=True)`` is a
known limitation, kept visible.
"""

from __future__ import annotations

import json
import logging

import pytest

from .conftest import rest, run, stages

SEVEN_STEPS = """\
version: 1
deal_pipelines:
  - name: Продажи
    default: true
    stages:
      - {id: NEW, name: Новая}
      - {id: PREPARATION, name: Подготовка}
      - {id: MEASURE, name: Замер}
      - {id: OFFER, name: КП}
      - {id: CONTRACT, name: Договор}
      - {id: MOUNT, name: Монтаж}
      - {id: ACCEPT, name: Приёмка}
      - {id: WON, name: Успех, semantics: success}
      - {id: LOSE, name: Провал, semantics: failure}
"""


def test_success_stage_is_not_moved_onto_the_sort_of_an_unlisted_failure_stage(capsys, tmp_path, hook):
    assert stages(hook, "DEAL_STAGE")["APOLOGY"]["EXTRA"]["SEMANTICS"] != "process"
    template = tmp_path / "crm.yaml"
    template.write_text(SEVEN_STEPS, encoding="utf-8")
    code, out, err = run(capsys, "apply", str(template), "--portal", hook, "--yes")
    assert code == 0, err
    rows = stages(hook, "DEAL_STAGE")
    # APOLOGY was never mentioned by the template: it must stay a failure stage, after WON.
    assert int(rows["APOLOGY"]["SORT"]) > int(rows["WON"]["SORT"]), out
    assert rows["APOLOGY"]["EXTRA"]["SEMANTICS"] != "process", out


SMART_WITH_KEY = """\
version: 1
smart_processes:
  - title: Закупки
    code: purchases
    pipelines:
      - name: Основная
        default: true
        stages:
          - {{id: NEW, name: Начало}}
          - {{id: PREPARATION, name: Подготовка}}
          - {{id: CLIENT, name: Согласование}}
          - {{id: SUCCESS, name: Успех, semantics: success}}
          - {{id: FAIL, name: Провал, semantics: failure}}
      - name: {name}
        key: ved
        stages:
          - {{id: NEW, name: Начало}}
          - {{id: SUCCESS, name: Успех, semantics: success}}
          - {{id: FAIL, name: Провал, semantics: failure}}
"""


def test_a_key_on_a_smart_process_pipeline_is_refused_before_anything_happens(capsys, tmp_path, hook):
    """Only deal pipelines can keep a key on the portal (originId): elsewhere a key would be a promise
    b24app cannot keep, so validation refuses it and points to previous_names."""
    template = tmp_path / "crm.yaml"
    template.write_text(SMART_WITH_KEY.format(name="Импорт"), encoding="utf-8")
    code, out, err = run(capsys, "plan", str(template), "--portal", hook)
    assert code == 1 and "a key is kept only for deal pipelines" in err and "previous_names" in err
    assert rest(hook, "crm.type.list", {})["types"] == []  # nothing was created


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: a portal where a stage sorts before the initial stage breaks the rule 'the "
    "initial stage comes first', so its export does not validate (export warns)",
)
def test_export_of_a_stage_sorted_before_the_initial_stage_is_valid(capsys, tmp_path, hook):
    etid = rest(hook, "crm.type.add", {"fields": {"title": "Закупки", "isCategoriesEnabled": "Y"}})["type"][
        "entityTypeId"
    ]
    category = rest(hook, "crm.category.list", {"entityTypeId": etid})["categories"][0]["id"]
    client = stages(hook, f"DYNAMIC_{etid}_STAGE_{category}")[f"DT{etid}_{category}:CLIENT"]
    rest(hook, "crm.status.update", {"id": client["ID"], "fields": {"SORT": 5}})
    exported = tmp_path / "portal.yaml"
    code, out, err = run(capsys, "export", "--portal", hook, "-o", str(exported))
    assert code == 0, err
    assert "sorts before the initial stage NEW" in err  # export says so up front
    code, out, err = run(capsys, "plan", str(exported), "--portal", hook)
    assert code == 0, out + err


def test_debug_logs_carry_no_webhook_code(capsys, caplog, tmp_path, hook):
    code_part = hook.rstrip("/").rsplit("/", 1)[-1]
    template = tmp_path / "crm.yaml"
    template.write_text(SEVEN_STEPS, encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    code, out, err = run(capsys, "plan", str(template), "--portal", hook)
    assert code == 2, err
    assert code_part not in out + err
    assert code_part not in caplog.text


def test_template_name_matching_two_portal_pipelines_is_not_guessed(capsys, tmp_path, hook):
    rest(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Сервис", "sort": 300}})
    busy = rest(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Сервис", "sort": 310}})
    busy_id = busy["category"]["id"]
    rest(hook, "crm.deal.add", {"fields": {"TITLE": "repair", "CATEGORY_ID": busy_id}})
    template = tmp_path / "crm.yaml"
    template.write_text(
        """\
version: 1
deal_pipelines:
  - name: Общая
    default: true
    stages:
      - {id: NEW, name: Новая, sort: 10}
      - {id: WON, name: Сделка успешна, sort: 60, semantics: success}
      - {id: LOSE, name: Сделка провалена, sort: 70, semantics: failure}
  - name: Сервис
    stages:
      - {id: NEW, name: Новая, sort: 10}
      - {id: DIAG, name: Диагностика, sort: 15}
      - {id: WON, name: Сделка успешна, sort: 60, semantics: success}
      - {id: LOSE, name: Сделка провалена, sort: 70, semantics: failure}
""",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "plan", str(template), "--portal", hook, "--json")
    # Which "Сервис" is meant cannot be known: a conflict, blocked with why, no pipeline picked.
    assert code == 2, err  # not in sync while the conflict exists
    data = json.loads(out)
    assert data["conflicts"] == ['deal pipeline "Сервис"']
    changes = data["changes"]
    assert [(c["action"], c["target"], c["key"]) for c in changes] == [("blocked", "pipeline", "Сервис")]
    assert changes[0]["reason"].startswith("conflict: 2 deal pipelines on the portal have this name")
    code, out, err = run(capsys, "apply", str(template), "--portal", hook, "--yes")
    assert code == 1 and "1 conflict(s)" in out, out + err
    for category in rest(hook, "crm.category.list", {"entityTypeId": 2})["categories"]:
        prefix = f"C{category['id']}:" if category["id"] else ""
        entity = f"DEAL_STAGE_{category['id']}" if category["id"] else "DEAL_STAGE"
        assert f"{prefix}DIAG" not in stages(hook, entity)  # neither "Сервис" was changed
