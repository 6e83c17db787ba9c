"""Malformed templates: every problem is reported at once, with its line, its path and a way out."""

from __future__ import annotations

from textwrap import dedent

import pytest

from b24app.core.template import TemplateError, load_template

LEADS = """\
lead_stages:
  - {id: NEW, name: Новый}
  - {id: CONVERTED, name: Успех, semantics: success}
  - {id: JUNK, name: Провал, semantics: failure}
"""


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(TemplateError) as caught:
        load_template(dedent(text), "t.yaml")
    return [(p.path, p.line, f"{p.message} — {p.hint}") for p in caught.value.problems]


def assert_problems(text: str, *expected: tuple[str, int | None, str]) -> None:
    """Exactly the expected problems, in order: (path, line, a piece of "message — hint")."""
    found = problems(text)
    assert [(path, line) for path, line, _ in found] == [(path, line) for path, line, _ in expected], found
    for (_, _, said), (_, _, piece) in zip(found, expected, strict=True):
        assert piece in said


CASES = {
    "yaml syntax": ("version: 1\nsources:\n  - {id: A, name: [x}\n", [("", 3, "YAML syntax error")]),
    "not a mapping": (
        "- version: 1\n",
        [("", 1, "the template must be a mapping of sections — start it with 'version: 1'")],
    ),
    "empty document": ("# nothing yet\n", [("", None, "the template is empty")]),
    "key on a smart-process pipeline": (
        "version: 1\nsmart_processes:\n  - title: T\n    pipelines:\n      - name: P\n        default: true\n"
        "        key: p1\n        stages:\n          - {id: NEW, name: n}\n"
        "          - {id: SUCCESS, name: s, semantics: success}\n          - {id: FAIL, name: f, semantics: failure}\n",
        [("smart_processes[0].pipelines[0].key", 7, "a key is kept only for deal pipelines")],
    ),
    "control character in a name": (
        'version: 1\nsources:\n  - {id: A, name: "bell\\a"}\n',
        [("sources[0].name", 3, "contains a control character — remove it")],
    ),
    "version missing": ("sources: []\n", [("version", 1, "is missing — add 'version: 1'")]),
    "version wrong": ("version: 2\n", [("version", 1, "must be 1")]),
    "unknown top-level key": (
        "version: 1\nlead_stage: []\n",
        [("lead_stage", 2, "unknown key 'lead_stage' — did you mean 'lead_stages'?")],
    ),
    "unknown key without a close match": (
        "version: 1\nsources: [{id: A, name: a, zzz: 1}]\n",
        [("sources[0].zzz", 2, "unknown key 'zzz' — known keys here: id, name, sort")],
    ),
    "colour in a value list": (
        "version: 1\nsources:\n  - {id: A, name: a, color: '#FFFFFF'}\n",
        [("sources[0].color", 3, "'color' applies to stages only")],
    ),
    "semantics in a value list": (
        "version: 1\nsources:\n  - {id: A, name: a, semantics: success}\n",
        [("sources[0].semantics", 3, "'semantics' applies to stages only")],
    ),
    "string where a boolean belongs": (
        "version: 1\nprune: 'yes'\nsources: {prune: 1, entries: []}\n",
        [("prune", 2, "must be true or false"), ("sources.prune", 3, "must be true or false")],
    ),
    "sort not a whole number": (
        "version: 1\nsources:\n  - {id: A, name: a, sort: '10'}\n"
        "  - {id: B, name: b, sort: 1.5}\n  - {id: C, name: c, sort: 0}\n",
        [
            ("sources[0].sort", 3, "must be a whole number"),
            ("sources[1].sort", 4, "must be a whole number"),
            ("sources[2].sort", 5, "0 is out of range — use a number from 1 to 2147483647"),
        ],
    ),
    "names empty or too long": (
        f"version: 1\nsources:\n  - {{id: A, name: '   '}}\n  - {{id: B, name: {'я' * 101}}}\n"
        "  - {id: C}\n",
        [
            ("sources[0].name", 3, "is empty — write a name"),
            ("sources[1].name", 4, "is too long (101 > 100 characters)"),
            ("sources[2].name", 5, "is missing — add 'name: Звонок'"),
        ],
    ),
    "ids not text": (
        "version: 1\nsources:\n  - {id: 1, name: a}\n  - {id: no, name: b}\n",
        [("sources[0].id", 3, "must be text — quote it"), ("sources[1].id", 4, "must be text")],
    ),
    "bad colours": (
        "version: 1\nlead_stages:\n  - {id: NEW, name: a, color: red}\n"
        "  - {id: CONVERTED, name: b, semantics: success, color: '#12345'}\n"
        "  - id: JUNK\n    name: c\n    semantics: failure\n    color: #FF5752\n",
        [
            ("lead_stages[0].color", 3, "'red' is not a colour — write it as \"#RRGGBB\""),
            ("lead_stages[1].color", 4, "'#12345' is not a colour"),
            ("lead_stages[2].color", 8, "is empty — quote the colour"),
        ],
    ),
    "bad semantics": (
        "version: 1\n" + LEADS.replace("semantics: failure", "semantics: fail"),
        [("lead_stages[2].semantics", 5, "'fail' is not a semantics — use process, success or failure")],
    ),
    "duplicate ids": (
        "version: 1\nsources:\n  - {id: CALL, name: a}\n  - {id: WEB, name: b}\n"
        "  - {id: CALL, name: c}\n  - {id: web, name: d}\n",
        [
            ("sources[2].id", 5, "id 'CALL' is already used (line 3)"),
            (
                "sources[3].id",
                6,
                "id 'web' is already used (line 4) — give each entry its own id (Bitrix24 ignores case",
            ),
        ],
    ),
    "ids too long": (
        "version: 1\n" + LEADS + "  - {id: " + "L" * 22 + ", name: x, semantics: failure}\n"
        "quote_stages:\n  - {id: " + "D" * 23 + ", name: x}\n",
        [
            ("lead_stages[3].id", 6, "is too long (22 > 21) — use at most 21 characters"),
            ("quote_stages", 7, "has no APPROVED stage"),
            ("quote_stages", 7, "has no DECLAINED stage"),
            ("quote_stages[0].id", 8, "is too long (23 > 22)"),
            ("quote_stages[0].id", 8, "the first stage is 'DDDDDDDDDDDDDDDDDDDDDDD', but it must be DRAFT"),
        ],
    ),
    "id characters": (
        "version: 1\n" + LEADS + "  - {id: ОТКАЗ, name: x, semantics: failure}\n"
        "sources:\n  - {id: 'UTM:google', name: x}\n  - {id: ' WEB', name: y}\n",
        [
            ("lead_stages[3].id", 6, "may contain only Latin letters, digits, '_' and '-' in this list"),
            ("sources[0].id", 8, "contains ':'"),
            ("sources[1].id", 9, "has leading/trailing spaces"),
        ],
    ),
    "yaml duplicate keys": (
        "version: 1\nsources:\n  - id: A\n    name: a\n    name: b\n",
        [
            (
                "sources[0].name",
                5,
                "key 'name' appears twice in this mapping (first on line 4) — keep only one",
            )
        ],
    ),
    "entry not a mapping": (
        "version: 1\nsources:\n  - CALL\n",
        [("sources[0]", 3, "must be a mapping — write 'key: value' pairs, e.g. {id: CALL, name: Звонок}")],
    ),
    "list of the wrong type or empty": (
        "version: 1\nquote_stages: 5\nindustries:\nsmart_processes: {}\n",
        [
            ("quote_stages", 2, "must be a list or a mapping with 'entries'"),
            ("industries", 3, "is empty — list the entries under it, or remove the key"),
            ("smart_processes", 4, "must be a list"),
        ],
    ),
    "list options wrong": (
        "version: 1\nsources:\n  prun: true\n",
        [
            ("sources.entries", 3, "is missing — add 'entries: [...]'"),
            ("sources.prun", 3, "unknown key 'prun' — did you mean 'prune'?"),
        ],
    ),
    "first stage not the initial one": (
        "version: 1\n" + LEADS.replace("{id: NEW, name: Новый}", "{id: IN_PROCESS, name: В работе}"),
        [
            (
                "lead_stages[0].id",
                3,
                "the first stage is 'IN_PROCESS', but it must be NEW — NEW is this list's fixed "
                "initial stage: put it first",
            )
        ],
    ),
    "initial stage with semantics": (
        "version: 1\n" + LEADS.replace("Новый}", "Новый, semantics: failure}"),
        [
            ("lead_stages[0].semantics", 3, "the initial stage NEW must be a process stage"),
            ("lead_stages[1]", 4, "success stage 'CONVERTED' comes after failure stage 'NEW'"),
        ],
    ),
    "success stage with another id": (
        "version: 1\n" + LEADS.replace("CONVERTED", "DONE"),
        [
            ("lead_stages", 2, "has no CONVERTED stage — add {id: CONVERTED, name: …, semantics: success}"),
            ("lead_stages[1].semantics", 4, "only CONVERTED can be the success stage"),
        ],
    ),
    "two success stages": (
        "version: 1\n"
        + LEADS.replace("  - {id: JUNK", "  - {id: PAID, name: Оплачен, semantics: success}\n  - {id: JUNK"),
        [("lead_stages[2].semantics", 5, "only CONVERTED can be the success stage")],
    ),
    "fixed failure stage missing": (
        "version: 1\n" + LEADS.replace("JUNK", "SPAM"),
        [("lead_stages", 2, "has no JUNK stage — add {id: JUNK, name: …, semantics: failure}")],
    ),
    "fixed stages with the wrong semantics": (
        "version: 1\n" + LEADS.replace(", semantics: success", "").replace(", semantics: failure", ""),
        [
            (
                "lead_stages[1].semantics",
                4,
                "CONVERTED is this list's fixed success stage — write semantics: success",
            ),
            (
                "lead_stages[2].semantics",
                5,
                "JUNK is this list's fixed failure stage — write semantics: failure",
            ),
        ],
    ),
    "stages out of order": (
        "version: 1\n"
        + LEADS.replace(
            "  - {id: CONVERTED", "  - {id: JUNK_2, name: x, semantics: failure}\n  - {id: CONVERTED"
        ).replace("  - {id: JUNK,", "  - {id: LATE, name: y}\n  - {id: JUNK,"),
        [
            (
                "lead_stages[2]",
                5,
                "success stage 'CONVERTED' comes after failure stage 'JUNK_2' (line 4) — order the",
            ),
            ("lead_stages[3]", 6, "process stage 'LATE' comes after success stage 'CONVERTED' (line 5)"),
        ],
    ),
    "sorts that go down": (
        "version: 1\n"
        + LEADS.replace("Новый}", "Новый, sort: 10}")
        .replace("Успех,", "Успех, sort: 10,")
        .replace("  - {id: JUNK", "  - {id: MID, name: m, sort: 5, semantics: failure}\n  - {id: JUNK"),
        [
            ("lead_stages[2].sort", 5, "sort 5 is lower than the sort 10 of 'CONVERTED' (line 4)"),
        ],
    ),
    "explicit sort above a later default": (
        "version: 1\n" + LEADS.replace("Новый}", "Новый, sort: 100}"),
        [
            (
                "lead_stages[1].sort",
                4,
                "sort 20 (the default, position × 10) is lower than the sort 100 of 'NEW'",
            )
        ],
    ),
    "stage list empty": (
        "version: 1\nlead_stages: []\n",
        [
            (
                "lead_stages",
                2,
                "has no stages — list at least NEW, then CONVERTED (semantics: success) and JUNK",
            )
        ],
    ),
}

DEALS = """\
version: 1
deal_pipelines:
  - name: Продажи
    default: true
    stages: &stages
      - {id: NEW, name: Новая}
      - {id: WON, name: Успех, semantics: success}
      - {id: LOSE, name: Провал, semantics: failure}
"""

CASES |= {
    "two default pipelines": (
        DEALS + "  - {name: Монтаж, default: true, stages: *stages}\n",
        [
            (
                "deal_pipelines[1].default",
                9,
                "a second default deal pipeline (line 3 is default too) — mark only one",
            )
        ],
    ),
    "no default pipeline": (
        DEALS.replace("    default: true\n", ""),
        [
            (
                "deal_pipelines",
                2,
                "no deal pipeline is marked default — add default: true to the pipeline that stands "
                "for the portal's default one, e.g. 'Продажи'",
            )
        ],
    ),
    "no pipelines": ("version: 1\ninvoice_pipelines: []\n", [("invoice_pipelines", 2, "lists no pipelines")]),
    "pipeline names, previous names and keys clash": (
        DEALS + "  - {name: Монтаж, key: install, previous_names: [Продажи], stages: *stages}\n"
        "  - {name: Монтаж, key: install, stages: *stages}\n"
        "  - {name: Сервис, previous_names: [Сервис], stages: *stages}\n",
        [
            ("deal_pipelines[1].previous_names", 9, "'Продажи' already names a pipeline (line 3)"),
            ("deal_pipelines[2].name", 10, "'Монтаж' already names a pipeline (line 9)"),
            ("deal_pipelines[2].key", 10, "key 'install' is already used (line 9)"),
            ("deal_pipelines[3].previous_names", 11, "'Сервис' already names a pipeline (line 11)"),
        ],
    ),
    "pipeline fields wrong": (
        DEALS + "  - {key: 'my key', previous_names: Старое, sort: -1, default: 'no'}\n"
        "  - {name: '', previous_names: [''], stages: *stages}\n",
        [
            ("deal_pipelines[1].name", 9, "is missing — add 'name: Продажи'"),
            ("deal_pipelines[1].key", 9, "'my key' is not a valid key"),
            ("deal_pipelines[1].previous_names", 9, "must be a list of names"),
            ("deal_pipelines[1].default", 9, "must be true or false"),
            ("deal_pipelines[1].sort", 9, "-1 is out of range"),
            ("deal_pipelines[1].stages", 9, "is missing — add 'stages: [...]'"),
            ("deal_pipelines[2].name", 10, "is empty — write a name"),
            ("deal_pipelines[2].previous_names[0]", 10, "is empty"),
        ],
    ),
    "prune given twice": (
        DEALS.replace(
            "    stages: &stages\n", "    prune: true\n    stages:\n      prune: false\n      entries:\n"
        ).replace("      - {", "        - {"),
        [("deal_pipelines[0].prune", 5, "prune is given twice, here and under stages")],
    ),
    "deal stage id limits depend on the pipeline": (
        DEALS.replace(
            "{id: NEW, name: Новая}", "{id: NEW, name: Новая}\n      - {id: " + "A" * 23 + ", name: x}"
        )
        + "  - name: Монтаж\n    stages:\n      - {id: NEW, name: a}\n      - {id: "
        + "B" * 20
        + ", name: x}\n"
        "      - {id: WON, name: b, semantics: success}\n      - {id: LOSE, name: c, semantics: failure}\n",
        [
            ("deal_pipelines[0].stages[1].id", 7, "is too long (23 > 22)"),
            ("deal_pipelines[1].stages[1].id", 13, "is too long (20 > 19)"),
        ],
    ),
    "invoice fixed stages": (
        "version: 1\ninvoice_pipelines:\n  - name: Счета\n    default: true\n    stages:\n"
        "      - {id: NEW, name: a}\n      - {id: PAID, name: b, semantics: success}\n"
        "      - {id: D, name: c, semantics: failure}\n",
        [
            ("invoice_pipelines[0].stages", 5, "has no P stage"),
            ("invoice_pipelines[0].stages[0].id", 6, "must be N"),
            ("invoice_pipelines[0].stages[1].semantics", 7, "only P can be the success stage"),
        ],
    ),
    "smart processes": (
        "version: 1\nsmart_processes:\n"
        "  - title: Закупки\n    code: buy\n    pipelines:\n      - name: Основная\n        stages:\n"
        "          - {id: NEW, name: a}\n          - {id: SUCCESS, name: b, semantics: success}\n"
        "          - {id: FAIL, name: c, semantics: failure}\n"
        "  - {title: Закупки, code: buy, pipelines: []}\n  - {code: 'b u y'}\n",
        [
            (
                "smart_processes[0].pipelines",
                5,
                "no smart-process pipeline is marked default — add default: true "
                "to the pipeline that stands for the portal's default one, e.g. 'Основная'",
            ),
            ("smart_processes[1].pipelines", 11, "lists no pipelines"),
            ("smart_processes[1].title", 11, "title 'Закупки' is already used (line 3)"),
            ("smart_processes[1].code", 11, "code 'buy' is already used (line 3)"),
            ("smart_processes[2].title", 12, "is missing — add 'title: Закупки'"),
            ("smart_processes[2].code", 12, "'b u y' is not a valid key"),
            ("smart_processes[2].pipelines", 12, "is missing"),
        ],
    ),
    "document stages": (
        "version: 1\ndocument_stages:\n  - {id: DRAFT, name: a}\n"
        "  - {id: ARCHIVE, name: b, semantics: success}\n  - {id: DECLINED, name: c, semantics: failure}\n",
        [("document_stages", 2, "has no NOTSIGNED stage")],
    ),
    "unsupported tag and odd keys": (
        "version: 1\nsources: !!set {a, b}\n? [x]\n: y\n",
        [("sources", 2, "unsupported YAML tag !!set"), ("", 3, "a key must be a plain name")],
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_malformed_template(text: str, expected: list[tuple[str, int | None, str]]) -> None:
    assert_problems(text, *expected)


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = dedent("""\
        version: 1
        prunne: true
        lead_stages:
          - {id: NEW, name: Новый, colour: "#39A8EF"}
          - {id: CONVERTED, name: Успех, semantics: success}
          - {id: JUNK, name: Провал, semantics: failure}
        deal_pipelines:
          - name: Продажи
            stages:
              - {id: NEW, name: ''}
              - {id: WON, name: Успех, semantics: success}
              - {id: LOSE, name: Провал, semantics: failure, color: red}
        sources:
          - {id: CALL, name: Звонок}
          - {id: CALL, name: Звонок ещё раз}
        honorifics: {entries: [{id: HNR_RU_1, name: господин, sort: first}]}
        """)
    assert [(path, line) for path, line, _ in problems(text)] == [
        ("prunne", 2),
        ("lead_stages[0].colour", 4),
        ("deal_pipelines", 7),
        ("deal_pipelines[0].stages[0].name", 10),
        ("deal_pipelines[0].stages[2].color", 12),
        ("sources[1].id", 15),
        ("honorifics.entries[0].sort", 16),
    ]


def test_a_recursive_alias_is_refused() -> None:
    assert_problems("version: 1\nsources: &s [*s]\n", ("sources[0]", 2, "refers to a node that contains it"))
