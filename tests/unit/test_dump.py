"""Template -> YAML: readable, and loading it back gives the same template."""

from __future__ import annotations

import random
from pathlib import Path
from textwrap import dedent

import pytest

from b24app.core.catalog import SPECS, VALUE_LISTS
from b24app.core.dump import dump_template
from b24app.core.model import (
    FAILURE,
    PROCESS,
    SUCCESS,
    Entry,
    Pipeline,
    PipelineSet,
    RefList,
    SmartProcess,
    Template,
)
from b24app.core.template import load_template

DESIGN_EXAMPLE = (Path(__file__).parent / "templates" / "design.yaml").read_text("utf-8")

TRICKY = [
    "Звонок",
    "x, y",
    "a: b",
    "#hash",
    "- dash",
    "? q",
    "true",
    "null",
    "~",
    "123",
    "1.5",
    "0x1F",
    "2024-01-01",
    "yes",
    "On",
    "'quoted'",
    '"dq"',
    "[br]",
    "{br}",
    "a #b",
    "trailing:",
    "Cчёт на предоплату",
    "ракета 🚀",
    "tab\tinside",
    "line\nbreak",
    "back\\slash",
    "% pct",
    "@at",
    "`tick`",
    "&amp",
    "*star",
    "!bang",
    "|pipe",
    ">gt",
    "=",
    "<<",
    "a  b",
    "nel\x85in",
    "ls\u2028in",
    "del\x7fin",
    "50–250",
    "N",
    "-1",
    ".5",
    "1_000",
]
VALUE_IDS = ["CALL", "1", "010", "yes", "null", "Сайт", "a b", "#x", "x,y", "-", "1e3", "true"]
COLORS = [None, "#39A8EF", "#FF5752", "#000000"]


def round_trip(template: Template) -> Template:
    return load_template(dump_template(template), template.source)


def test_the_layout() -> None:
    template = Template(
        lists={
            "lead_stages": RefList(
                "lead_stages",
                (
                    Entry("NEW", "Новый", 10, "#39A8EF"),
                    Entry("CONVERTED", "Успех", 20, "#7BD500", SUCCESS),
                    Entry("JUNK", "Провал", 30, None, FAILURE),
                ),
            ),
            "sources": RefList(
                "sources", (Entry("CALL", "Звонок, входящий", 10), Entry("1", "true", 20)), prune=True
            ),
        },
        deal_pipelines=PipelineSet(
            "deal_pipelines",
            (
                Pipeline(
                    "Продажи",
                    RefList(
                        "deal_stages",
                        (
                            Entry("NEW", "Новая", 10),
                            Entry("WON", "Успех", 20, None, SUCCESS),
                            Entry("LOSE", "Провал", 30, None, FAILURE),
                        ),
                        prune=False,
                    ),
                    default=True,
                    sort=0,
                ),
                Pipeline(
                    "Монтаж: выезд",
                    RefList(
                        "deal_stages",
                        (
                            Entry("NEW", "Новая", 10),
                            Entry("WON", "Успех", 20, None, SUCCESS),
                            Entry("LOSE", "Провал", 30, None, FAILURE),
                        ),
                    ),
                    key="install",
                    previous_names=("Монтаж", "yes"),
                ),
            ),
            prune=True,
            entity_type_id=2,
        ),
        smart_processes=(
            SmartProcess(
                "Закупки",
                PipelineSet(
                    "smart_processes",
                    (
                        Pipeline(
                            "Основная",
                            RefList(
                                "smart_process_stages",
                                (
                                    Entry("NEW", "Начало", 10),
                                    Entry("SUCCESS", "Успех", 20, None, SUCCESS),
                                    Entry("FAIL", "Провал", 30, None, FAILURE),
                                ),
                            ),
                            default=True,
                        ),
                    ),
                ),
                code="purchases",
            ),
        ),
    )
    assert dump_template(template, header="Exported from example.bitrix24.ru\n\nby b24app") == dedent("""\
        # Exported from example.bitrix24.ru
        #
        # by b24app
        version: 1
        prune: false
        lead_stages:
          - {id: NEW, name: Новый, sort: 10, color: "#39A8EF"}
          - {id: CONVERTED, name: Успех, sort: 20, color: "#7BD500", semantics: success}
          - {id: JUNK, name: Провал, sort: 30, semantics: failure}
        deal_pipelines:
          prune: true
          entries:
            - name: Продажи
              default: true
              sort: 0
              prune: false
              stages:
                - {id: NEW, name: Новая, sort: 10}
                - {id: WON, name: Успех, sort: 20, semantics: success}
                - {id: LOSE, name: Провал, sort: 30, semantics: failure}
            - name: "Монтаж: выезд"
              key: install
              previous_names: [Монтаж, "yes"]
              stages:
                - {id: NEW, name: Новая, sort: 10}
                - {id: WON, name: Успех, sort: 20, semantics: success}
                - {id: LOSE, name: Провал, sort: 30, semantics: failure}
        smart_processes:
          - title: Закупки
            code: purchases
            pipelines:
              - name: Основная
                default: true
                stages:
                  - {id: NEW, name: Начало, sort: 10}
                  - {id: SUCCESS, name: Успех, sort: 20, semantics: success}
                  - {id: FAIL, name: Провал, sort: 30, semantics: failure}
        sources:
          prune: true
          entries:
            - {id: CALL, name: "Звонок, входящий", sort: 10}
            - {id: "1", name: "true", sort: 20}
        """)
    assert round_trip(template) == template


def test_empty_lists_and_sections() -> None:
    template = Template(
        lists={"industries": RefList("industries", ()), "sources": RefList("sources", (), prune=False)},
        smart_processes=(),
        prune=True,
    )
    assert dump_template(template) == (
        "version: 1\nprune: true\nsmart_processes: []\n"
        "sources:\n  prune: false\n  entries: []\nindustries: []\n"
    )
    assert round_trip(template) == template


def test_round_trip_of_the_design_example_and_the_bundled_example(example_path: Path) -> None:
    for text in (DESIGN_EXAMPLE, example_path.read_text("utf-8")):
        template = load_template(text, "crm.yaml")
        assert round_trip(template) == template


@pytest.mark.parametrize("name", TRICKY)
def test_round_trip_of_any_name(name: str) -> None:
    template = Template(
        lists={"sources": RefList("sources", (Entry("CALL", name, 10),))},
        deal_pipelines=PipelineSet(
            "deal_pipelines", (Pipeline(name, _stages("deal_stages", name), default=True),), None, 2
        ),
    )
    assert round_trip(template) == template


@pytest.mark.parametrize("seed", range(30))
def test_round_trip_of_random_templates(seed: int) -> None:
    rng = random.Random(seed)
    lists = {key: _values(rng, key) for key in rng.sample(VALUE_LISTS, 3)}
    lists["lead_stages"] = _stages("lead_stages", rng.choice(TRICKY), rng)
    pipelines = tuple(
        Pipeline(
            f"{rng.choice(TRICKY)} {i}",
            _stages("deal_stages", rng.choice(TRICKY), rng),
            default=i == 0,
            key=rng.choice([None, f"k.{i}"]) if i else None,  # the default deal pipeline takes no key
            previous_names=tuple(f"{n} old {i}" for n in rng.sample(TRICKY, 2)),
            sort=rng.choice([None, 0, 500]),
        )
        for i in range(rng.randint(1, 3))
    )
    template = Template(
        lists=lists,
        deal_pipelines=PipelineSet("deal_pipelines", pipelines, rng.choice([None, True]), 2),
        prune=rng.choice([True, False]),
        source="random.yaml",
    )
    assert round_trip(template) == template


def _values(rng: random.Random, key: str) -> RefList:
    ids = rng.sample(VALUE_IDS, rng.randint(0, 5))
    entries = tuple(Entry(entry_id, rng.choice(TRICKY), rng.randint(1, 100)) for entry_id in ids)
    return RefList(key, entries, rng.choice([None, True, False]))


def _stages(kind: str, name: str, rng: random.Random | None = None) -> RefList:
    rules = SPECS[kind].stages
    assert rules is not None
    ids = [rules.initial, "IN_WORK", "CHECK", rules.success, rules.failure, "LATE"]
    semantics = [PROCESS, PROCESS, PROCESS, SUCCESS, FAILURE, FAILURE]
    pick = rng or random.Random(0)
    sorts = [10]
    for _ in ids[1:]:
        sorts.append(sorts[-1] + pick.randint(1, 50))
    entries = tuple(
        Entry(entry_id, f"{name} {i}", sort, pick.choice(COLORS), sem)
        for i, (entry_id, sort, sem) in enumerate(zip(ids, sorts, semantics, strict=True))
    )
    return RefList(kind, entries, pick.choice([None, False]) if rng else None)
