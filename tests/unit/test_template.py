"""Valid templates load into exactly the model they describe."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from b24app.core.model import FAILURE, SUCCESS, Entry, Pipeline, PipelineSet, RefList, SmartProcess, Template
from b24app.core.template import Problem, TemplateError, load_template

ROOT = Path(__file__).resolve().parents[2]
FRESH = json.loads((ROOT / "b24app" / "sandbox" / "data" / "fresh-portal-defaults.json").read_text("utf-8"))

DESIGN_EXAMPLE = (Path(__file__).parent / "templates" / "design.yaml").read_text("utf-8")  # DESIGN §2


def stage(entry_id: str, name: str, sort: int, semantics: str = "process", color: str | None = None) -> Entry:
    return Entry(entry_id, name, sort, color, semantics)


def test_the_design_example_loads_into_the_model() -> None:
    deal_stages = RefList(
        "deal_stages",
        (
            stage("NEW", "Новая", 10),
            stage("OFFER", "Отправка предложения", 20),
            stage("WON", "Сделка успешна", 30, SUCCESS),
            stage("LOSE", "Сделка провалена", 40, FAILURE),
        ),
    )
    rent_stages = RefList(
        "deal_stages",
        (
            stage("NEW", "Новая", 10),
            stage("WON", "Сделка успешна", 20, SUCCESS),
            stage("LOSE", "Сделка провалена", 30, FAILURE),
        ),
    )
    purchase_stages = RefList(
        "smart_process_stages",
        (
            stage("NEW", "Начало", 10),
            stage("SUCCESS", "Успех", 20, SUCCESS),
            stage("FAIL", "Провал", 30, FAILURE),
        ),
    )
    expected = Template(
        lists={
            "lead_stages": RefList(
                "lead_stages",
                (
                    stage("NEW", "Не обработан", 10, color="#39A8EF"),
                    stage("IN_PROCESS", "В работе", 20),
                    stage("CONVERTED", "Качественный лид", 30, SUCCESS),
                    stage("JUNK", "Некачественный лид", 40, FAILURE),
                ),
            ),
            "sources": RefList(
                "sources",
                (Entry("CALL", "Входящий звонок", 10), Entry("PARTNER_NET", "Партнёрская сеть", 20)),
                prune=True,
            ),
            "honorifics": RefList("honorifics", (Entry("HNR_RU_1", "господин", 10),)),
        },
        deal_pipelines=PipelineSet(
            "deal_pipelines",
            (
                Pipeline("Продажи", deal_stages, default=True),
                Pipeline("Аренда", rent_stages, key="rent", previous_names=("Прокат",)),
            ),
            None,
            2,
        ),
        smart_processes=(
            SmartProcess(
                "Закупки",
                PipelineSet(
                    "smart_processes", (Pipeline("Основная", purchase_stages, default=True),), None, None
                ),
            ),
        ),
        source="crm.yaml",
    )
    assert load_template(DESIGN_EXAMPLE, "crm.yaml") == expected


def test_defaults_and_normalisation() -> None:
    template = load_template(
        dedent("""\
        version: 1
        quote_stages:
          - {id: DRAFT, name: "  Новое  ", color: "#39a8ef"}
          - {id: SENT, name: Отправлено, sort: 25}
          - {id: APPROVED, name: Принято, semantics: success}
          - {id: DECLAINED, name: Отклонено, semantics: failure, sort: 100}
        """)
    )
    assert template.prune is False
    assert template.deal_pipelines is None and template.invoice_pipelines is None
    assert template.smart_processes is None
    assert list(template.lists) == ["quote_stages"]
    assert template.lists["quote_stages"] == RefList(
        "quote_stages",
        (
            stage("DRAFT", "Новое", 10, color="#39A8EF"),
            stage("SENT", "Отправлено", 25),
            stage("APPROVED", "Принято", 30, SUCCESS),
            stage("DECLAINED", "Отклонено", 100, FAILURE),
        ),
        prune=None,
    )


def test_prune_options_in_every_place() -> None:
    template = load_template(
        dedent("""\
        version: 1
        prune: true
        sources: {prune: false, entries: [{id: CALL, name: Звонок}]}
        industries: []
        invoice_pipelines:
          prune: true
          entries:
            - name: Счета
              default: true
              sort: 0
              prune: false
              stages:
                - {id: N, name: Новый}
                - {id: P, name: Оплачен, semantics: success}
                - {id: D, name: Не оплачен, semantics: failure}
        smart_processes:
          - title: Закупки
            code: purchases
            pipelines:
              prune: false
              entries:
                - name: Основная
                  default: true
                  stages:
                    prune: true
                    entries:
                      - {id: NEW, name: Начало}
                      - {id: SUCCESS, name: Успех, semantics: success}
                      - {id: FAIL, name: Провал, semantics: failure}
        """)
    )
    assert template.prune is True
    assert template.lists["sources"].prune is False
    assert template.lists["industries"] == RefList("industries", (), None)
    invoices = template.invoice_pipelines
    assert invoices is not None and invoices.prune is True and invoices.entity_type_id == 31
    assert invoices.pipelines[0].stages.prune is False
    assert invoices.pipelines[0].sort == 0
    assert [e.id for e in invoices.pipelines[0].stages.entries] == ["N", "P", "D"]
    (process,) = template.smart_processes or ()
    assert (process.title, process.code, process.pipelines.prune) == ("Закупки", "purchases", False)
    assert process.pipelines.pipelines[0].stages.prune is True
    assert process.pipelines.pipelines[0].stages.key == "smart_process_stages"


def test_yaml_anchors_and_merge_keys_are_followed() -> None:
    template = load_template(
        dedent("""\
        version: 1
        deal_pipelines:
          - name: Продажи
            default: true
            stages: &stages
              - {id: NEW, name: Новая}
              - {id: WON, name: Успех, semantics: success}
              - {id: LOSE, name: Провал, semantics: failure}
          - {name: Аренда, key: rent, stages: *stages}
        sources:
          - &call {id: CALL, name: Звонок}
          - {<<: *call, id: CALL_2}
        """)
    )
    pipelines = template.deal_pipelines.pipelines if template.deal_pipelines else ()
    assert pipelines[0].stages == pipelines[1].stages
    assert [(e.id, e.name) for e in template.lists["sources"].entries] == [
        ("CALL", "Звонок"),
        ("CALL_2", "Звонок"),
    ]


def test_the_longest_ids_each_list_accepts() -> None:
    template = load_template(
        dedent(f"""\
        version: 1
        lead_stages:
          - {{id: NEW, name: a}}
          - {{id: {"L" * 21}, name: b}}
          - {{id: CONVERTED, name: c, semantics: success}}
          - {{id: JUNK, name: d, semantics: failure}}
        deal_pipelines:
          - name: Продажи
            default: true
            stages:
              - {{id: NEW, name: a}}
              - {{id: {"D" * 22}, name: b}}
              - {{id: WON, name: c, semantics: success}}
              - {{id: LOSE, name: d, semantics: failure}}
          - name: Монтаж
            stages:
              - {{id: NEW, name: a}}
              - {{id: {"C" * 19}, name: b}}
              - {{id: WON, name: c, semantics: success}}
              - {{id: LOSE, name: d, semantics: failure}}
        sources:
          - {{id: {"S" * 50}, name: a}}
          - {{id: Сайт компании, name: b}}
        """)
    )
    assert template.lists["sources"].entries[1].id == "Сайт компании"  # value lists take any characters


def test_value_lists_may_repeat_sorts() -> None:
    template = load_template(
        "version: 1\nsources: [{id: A, name: a, sort: 10}, {id: B, name: b, sort: 10}]\n"
    )
    assert [e.sort for e in template.lists["sources"].entries] == [10, 10]


def test_problem_and_error_text() -> None:
    problem = Problem(
        "crm.yaml",
        14,
        "deal_pipelines[1].stages[3].id",
        "id 'X' is too long (23 > 19)",
        "use at most 19 characters",
    )
    assert str(problem) == (
        "crm.yaml:14: deal_pipelines[1].stages[3].id: id 'X' is too long (23 > 19)"
        " — use at most 19 characters"
    )
    assert str(Problem("a.yaml", None, "", "YAML syntax error: x", "")) == "a.yaml: YAML syntax error: x"
    error = TemplateError([problem, Problem("crm.yaml", 20, "sources", "is empty", "list entries")])
    assert str(error).splitlines() == [str(problem), "crm.yaml:20: sources: is empty — list entries"]


def test_an_id_too_long_reads_as_documented() -> None:
    text = DESIGN_EXAMPLE.replace(
        "semantics: failure}\nsmart_processes:",
        "semantics: failure}\n"
        "      - {id: THE_EXTRA_LONG_STAGE_ID, name: x, semantics: failure}\n"
        "smart_processes:",
    )
    with pytest.raises(TemplateError) as caught:
        load_template(text, "crm.yaml")
    assert str(caught.value) == (
        "crm.yaml:23: deal_pipelines[1].stages[3].id: id 'THE_EXTRA_LONG_STAGE_ID' "
        "is too long (23 > 19) — use at most 19 characters"
    )


# -- the bundled example ----------------------------------------------------------------------------


def test_the_example_validates_and_covers_every_section(example_path: Path) -> None:
    template = load_template(example_path.read_text("utf-8"), "crm.yaml")
    assert set(template.lists) == {
        "lead_stages",
        "quote_stages",
        "sources",
        "contact_types",
        "company_types",
        "employees",
        "industries",
        "deal_types",
        "honorifics",
        "call_statuses",
    }
    assert template.prune is False and template.smart_processes is None
    assert template.deal_pipelines is not None and template.invoice_pipelines is not None
    deals = template.deal_pipelines.pipelines
    assert [(p.name, p.key, p.default) for p in deals] == [
        ("Продажи", None, True),
        ("Монтаж", "install", False),
        ("Сервис", "service", False),
    ]
    assert [p.default for p in template.invoice_pipelines.pipelines] == [True]
    stage_lists = [template.lists["lead_stages"], template.lists["quote_stages"]]
    stage_lists += [p.stages for p in deals + template.invoice_pipelines.pipelines]
    assert all(e.color for stages in stage_lists for e in stages.entries)
    total = sum(len(r.entries) for r in template.lists.values()) + sum(
        len(r.entries) for r in stage_lists[2:]
    )
    assert 90 <= total <= 120


@pytest.mark.parametrize(
    ("key", "entity_id"),
    [
        ("lead_stages", "STATUS"),
        ("quote_stages", "QUOTE_STATUS"),
        ("sources", "SOURCE"),
        ("contact_types", "CONTACT_TYPE"),
        ("company_types", "COMPANY_TYPE"),
        ("employees", "EMPLOYEES"),
        ("industries", "INDUSTRY"),
        ("deal_types", "DEAL_TYPE"),
        ("honorifics", "HONORIFIC"),
        ("call_statuses", "CALL_LIST"),
        ("deal_pipelines", "DEAL_STAGE"),
        ("invoice_pipelines", "SMART_INVOICE_STAGE_{N}"),
    ],
)
def test_the_example_keeps_every_fresh_portal_entry(example_path: Path, key: str, entity_id: str) -> None:
    template = load_template(example_path.read_text("utf-8"))
    if key.endswith("_pipelines"):
        section = getattr(template, key)
        entries = next(p for p in section.pipelines if p.default).stages.entries
    else:
        entries = template.lists[key].entries
    fresh_ids = {row["STATUS_ID"].split(":")[-1] for row in FRESH[entity_id]}
    assert fresh_ids <= {e.id for e in entries}
