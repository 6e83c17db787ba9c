"""Regression tests for the bugs a red-team pass over the CLI found (each failed before its fix)."""

from __future__ import annotations

import pytest

from .conftest import rest, run, stages

# The deal part of the template in DESIGN.md §2: the default pipeline with NEW, OFFER, WON, LOSE.
DESIGN_DEALS = """\
version: 1
deal_pipelines:
  - name: Продажи
    default: true
    stages:
      - {id: NEW, name: Новая}
      - {id: OFFER, name: Отправка предложения}
      - {id: WON, name: Сделка успешна, semantics: success}
      - {id: LOSE, name: Сделка провалена, semantics: failure}
"""


def test_partial_stage_list_does_not_turn_in_progress_stages_into_failures(capsys, tmp_path, hook):
    rest(hook, "crm.deal.add", {"fields": {"TITLE": "open deal", "CATEGORY_ID": 0, "STAGE_ID": "EXECUTING"}})
    template = tmp_path / "crm.yaml"
    template.write_text(DESIGN_DEALS, encoding="utf-8")
    code, out, err = run(capsys, "apply", str(template), "--portal", hook, "--yes")
    assert code == 0, err
    rows = stages(hook, "DEAL_STAGE")
    # EXECUTING holds an open deal and was never mentioned by the template: it must stay in progress.
    assert rows["EXECUTING"]["EXTRA"]["SEMANTICS"] == "process", out
    assert rows["FINAL_INVOICE"]["EXTRA"]["SEMANTICS"] == "process", out


def test_blocked_semantics_change_is_not_carried_out_through_sort(capsys, tmp_path, hook):
    template = tmp_path / "crm.yaml"
    template.write_text(
        """\
version: 1
deal_pipelines:
  - name: Общая
    default: true
    stages:
      - {id: NEW, name: Новая}
      - {id: PREPARATION, name: Подготовка документов}
      - {id: PREPAYMENT_INVOICE, name: Cчёт на предоплату}
      - {id: FINAL_INVOICE, name: Финальный счёт}
      - {id: WON, name: Сделка успешна, semantics: success}
      - {id: LOSE, name: Сделка провалена, semantics: failure}
      - {id: EXECUTING, name: В работе, semantics: failure}
      - {id: APOLOGY, name: Анализ причины провала, semantics: failure}
""",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "plan", str(template), "--portal", hook)
    assert code == 2, err
    assert "! EXECUTING" in out and "blocked" in out
    code, out, err = run(capsys, "apply", str(template), "--portal", hook, "--yes")
    assert code == 0, err
    # The change was shown as blocked ("semantics cannot change"): the stage must still be in progress.
    assert stages(hook, "DEAL_STAGE")["EXECUTING"]["EXTRA"]["SEMANTICS"] == "process", out


def test_export_of_duplicate_pipeline_names_warns(capsys, tmp_path, hook):
    """Bitrix24 allows two pipelines of one name; a template cannot tell them apart, so export says so."""
    for _ in range(2):
        rest(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Монтаж"}})
    exported = tmp_path / "portal.yaml"
    code, _, err = run(capsys, "export", "--portal", hook, "-o", str(exported))
    assert code == 0, err
    assert 'warning: 2 deal pipelines are named "Монтаж"' in err
    code, _, err = run(capsys, "validate", str(exported))
    assert code == 1 and "already names a pipeline" in err


def test_plan_file_of_another_portal_is_refused(capsys, tmp_path, box):
    staging, production = box.portals[0].webhook_url, box.portals[1].webhook_url
    template = tmp_path / "crm.yaml"
    template.write_text("version: 1\nsources:\n  - {id: CALL, name: Входящий звонок}\n", encoding="utf-8")
    plan_file = tmp_path / "staging-plan.json"
    code, _, err = run(capsys, "plan", str(template), "--portal", staging, "--out", str(plan_file))
    assert code == 2, err
    code, out, err = run(
        capsys, "apply", str(template), "--portal", production, "--plan", str(plan_file), "--yes"
    )
    assert code == 1, out
    assert stages(production, "SOURCE")["CALL"]["NAME"] == "Звонок"


def test_stage_id_too_long_for_the_new_pipeline_is_reported(capsys, tmp_path, hook):
    for n in range(10):
        rest(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": f"P{n}"}})
    template = tmp_path / "crm.yaml"
    template.write_text(
        """\
version: 1
deal_pipelines:
  - name: Общая
    default: true
    stages:
      - {id: NEW, name: Новая}
      - {id: PREPARATION, name: Подготовка документов}
      - {id: PREPAYMENT_INVOICE, name: Cчёт на предоплату}
      - {id: EXECUTING, name: В работе}
      - {id: FINAL_INVOICE, name: Финальный счёт}
      - {id: WON, name: Сделка успешна, semantics: success}
      - {id: LOSE, name: Сделка провалена, semantics: failure}
      - {id: APOLOGY, name: Анализ причины провала, semantics: failure}
  - name: Длинные
    key: longids
    stages:
      - {id: NEW, name: Новая}
      - {id: NINETEEN_CHARS_XXXX, name: Девятнадцать}
      - {id: WON, name: Успех, semantics: success}
      - {id: LOSE, name: Провал, semantics: failure}
""",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "validate", str(template))
    assert code == 0, err
    code, out, err = run(capsys, "plan", str(template), "--portal", hook)
    assert code == 2, err
    # The plan already says which stage and why, before the pipeline exists: C11 takes 18 characters.
    blocked = "! NINETEEN_CHARS_XXXX blocked: id is 19 characters; the new pipeline will be C11 or later"
    assert blocked in out, out
    code, out, err = run(capsys, "apply", str(template), "--portal", hook, "--yes")
    assert code == 0, err
    assert "DEAL_STAGE_11) NINETEEN_CHARS_XXXX: id is 19 characters" in err, err
    new = {c["name"]: c["id"] for c in rest(hook, "crm.category.list", {"entityTypeId": 2})["categories"]}
    assert new["Длинные"] == 11
    # The pipeline and its other stages were made; the stage Bitrix24 would refuse was not attempted.
    assert set(stages(hook, "DEAL_STAGE_11")) == {"C11:NEW", "C11:WON", "C11:LOSE"}


@pytest.mark.parametrize(
    "argv",
    [("plan",), ("plan", "crm.yaml", "--portal", "http://127.0.0.1:1/rest/1/x/", "--bogus"), ("frobnicate",)],
)
def test_usage_errors_exit_1(capsys, argv):
    code, _, _ = run(capsys, *argv)
    assert code == 1


@pytest.mark.parametrize("what", ["plan --out", "export -o", "demo --template"])
def test_bad_output_or_input_paths_are_plain_errors(capsys, tmp_path, hook, what):
    missing = str(tmp_path / "no" / "such" / "dir" / "file")
    template = tmp_path / "crm.yaml"
    template.write_text("version: 1\nsources:\n  - {id: CALL, name: Входящий звонок}\n", encoding="utf-8")
    argv = {
        "plan --out": ("plan", str(template), "--portal", hook, "--out", missing),
        "export -o": ("export", "--portal", hook, "-o", missing),
        "demo --template": ("demo", "--template", missing),
    }[what]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "unexpected" not in err and "Please report" not in err, err
    assert "[Errno" not in err, err
