"""Templates that extend a base: merge rules, removal, order, chains, cycles, depth, bounds.

The core reads no file: these tests give it a resolver over a dict of texts.
"""

from __future__ import annotations

import hashlib
from textwrap import dedent

import pytest

from b24app.core.inherit import BaseNotFound
from b24app.core.limits import MAX_CHAIN_BYTES, MAX_EXTENDS_DEPTH, MAX_NODES
from b24app.core.template import TemplateError, load_template

BASE = dedent(
    """\
    version: 1
    prune: false
    lead_stages:
      - {id: NEW, name: Новый}
      - {id: IN_PROCESS, name: В работе, color: "#2FC6F6"}
      - {id: CONVERTED, name: Качественный, semantics: success}
      - {id: JUNK, name: Некачественный, semantics: failure}
    sources:
      prune: true
      entries:
        - {id: CALL, name: Звонок}
        - {id: EMAIL, name: Почта}
        - {id: WEB, name: Сайт}
    deal_pipelines:
      - name: Продажи
        default: true
        stages:
          - {id: NEW, name: Новая}
          - {id: OFFER, name: Предложение}
          - {id: WON, name: Успех, semantics: success}
          - {id: LOSE, name: Провал, semantics: failure}
      - name: Аренда
        key: rent
        stages:
          - {id: NEW, name: Заявка}
          - {id: WON, name: Сдано, semantics: success}
          - {id: LOSE, name: Отказ, semantics: failure}
    smart_processes:
      - title: Закупки
        code: purchases
        pipelines:
          - name: Основная
            default: true
            stages:
              - {id: NEW, name: Новая}
              - {id: SUCCESS, name: Закуплено, semantics: success}
              - {id: FAIL, name: Отменено, semantics: failure}
    """
)


def resolver(files: dict[str, str]):
    def resolve(reference: str, from_source: str) -> tuple[str, str]:
        if reference not in files:
            raise BaseNotFound(f"the base '{reference}' is not found", "check the name after 'extends:'")
        return reference, files[reference]

    return resolve


def load(child: str, **files: str):
    return load_template(dedent(child), "child.yaml", resolver(files | {"child.yaml": dedent(child)}))


def problems(child: str, **files: str) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        load(child, **files)
    return [str(problem) for problem in caught.value.problems]


def test_an_override_changes_only_the_fields_it_gives_in_the_bases_place() -> None:
    merged = load(
        """\
        extends: base.yaml
        lead_stages:
          - {id: IN_PROCESS, name: Обрабатывается}
          - {id: WAITING, name: Ждём ответа}
        sources:
          - {id: EMAIL, name: Электронная почта, sort: 5}
          - {id: TELEGRAM, name: Telegram}
        """,
        **{"base.yaml": BASE},
    )
    expected = load_template(
        BASE.replace("{id: IN_PROCESS, name: В работе,", "{id: IN_PROCESS, name: Обрабатывается,")
        .replace("  - {id: CONVERTED", "  - {id: WAITING, name: Ждём ответа}\n  - {id: CONVERTED")
        .replace("{id: EMAIL, name: Почта}", "{id: EMAIL, name: Электронная почта, sort: 5}")
        .replace(
            "    - {id: WEB, name: Сайт}", "    - {id: WEB, name: Сайт}\n    - {id: TELEGRAM, name: Telegram}"
        ),
        "child.yaml",
    )
    assert merged == expected
    lead = {e.id: e for e in merged.lists["lead_stages"].entries}
    assert lead["IN_PROCESS"].color == "#2FC6F6"  # the base's colour is kept
    assert [e.id for e in merged.lists["lead_stages"].entries] == [
        "NEW",
        "IN_PROCESS",
        "WAITING",
        "CONVERTED",
        "JUNK",  # a new process stage: before success
    ]
    sources = merged.lists["sources"]
    assert [(e.id, e.sort) for e in sources.entries] == [
        ("CALL", 10),
        ("EMAIL", 5),
        ("WEB", 30),
        ("TELEGRAM", 40),
    ]
    assert sources.prune is True  # the base's list option is kept when the child gives a plain list


def test_remove_drops_a_base_entry_and_options_are_overridable() -> None:
    merged = load(
        """\
        extends: base.yaml
        prune: true
        sources:
          prune: false
          entries:
            - {id: WEB, remove: true}
        lead_stages:
          - {id: IN_PROCESS, remove: true}
        """,
        **{"base.yaml": BASE},
    )
    assert [e.id for e in merged.lists["sources"].entries] == ["CALL", "EMAIL"]
    assert merged.lists["sources"].prune is False
    assert merged.prune is True
    assert "IN_PROCESS" not in [e.id for e in merged.lists["lead_stages"].entries]


def test_pipelines_merge_by_key_then_default_then_name_and_stages_by_id() -> None:
    merged = load(
        """\
        extends: base.yaml
        deal_pipelines:
          - key: rent
            name: Прокат
            stages:
              - {id: WON, name: Сдано в прокат}
          - default: true
            stages:
              - {id: OFFER, remove: true}
          - name: Сервис
            stages:
              - {id: NEW, name: Новая}
              - {id: WON, name: Готово, semantics: success}
              - {id: LOSE, name: Отказ, semantics: failure}
        smart_processes:
          - code: purchases
            title: Снабжение
            pipelines:
              - name: Основная
                stages:
                  - {id: CHECK, name: Проверка}
        """,
        **{"base.yaml": BASE},
    )
    pipes = merged.deal_pipelines.pipelines
    assert [(p.name, p.key, p.default) for p in pipes] == [
        ("Продажи", None, True),
        ("Прокат", "rent", False),
        ("Сервис", None, False),
    ]
    assert [s.id for s in pipes[0].stages.entries] == ["NEW", "WON", "LOSE"]
    assert [s.name for s in pipes[1].stages.entries] == ["Заявка", "Сдано в прокат", "Отказ"]
    (process,) = merged.smart_processes
    assert (process.title, process.code) == ("Снабжение", "purchases")
    assert [s.id for s in process.pipelines.pipelines[0].stages.entries] == [
        "NEW",
        "CHECK",
        "SUCCESS",
        "FAIL",
    ]


def test_a_removed_pipeline_and_smart_process_are_gone() -> None:
    merged = load(
        """\
        extends: base.yaml
        deal_pipelines:
          - {key: rent, remove: true}
        smart_processes:
          - {title: Закупки, remove: true}
        """,
        **{"base.yaml": BASE},
    )
    assert [p.name for p in merged.deal_pipelines.pipelines] == ["Продажи"]
    assert merged.smart_processes == ()


def test_a_chain_of_bases_merges_from_the_farthest_and_records_every_file() -> None:
    middle = "extends: base.yaml\nsources:\n  - {id: CALL, name: Входящий звонок}\n"
    child = "extends: middle.yaml\nsources:\n  - {id: EMAIL, name: Письмо}\n"
    merged = load(child, **{"base.yaml": BASE, "middle.yaml": middle})
    assert [e.name for e in merged.lists["sources"].entries] == ["Входящий звонок", "Письмо", "Сайт"]
    assert [(s.name, s.sha256) for s in merged.sources] == [
        (name, hashlib.sha256(text.encode()).hexdigest())
        for name, text in (("child.yaml", child), ("middle.yaml", middle), ("base.yaml", BASE))
    ]


def test_a_template_without_extends_records_its_own_hash() -> None:
    template = load_template(BASE, "base.yaml")
    assert [(s.name, s.sha256) for s in template.sources] == [
        ("base.yaml", hashlib.sha256(BASE.encode()).hexdigest())
    ]


def test_problems_are_reported_in_the_file_and_line_they_are_written() -> None:
    base = BASE.replace("{id: OFFER, name: Предложение}", "{id: OFFER, name: Предложение, colour: red}")
    found = problems(
        """\
        extends: base.yaml
        sources:
          - {id: EMAIL, name: ""}
          - {id: NOPE, remove: true}
        """,
        **{"base.yaml": base},
    )
    assert found[0].startswith("child.yaml:3: sources[0].name: is empty")  # in the child's own form
    assert found[1].startswith("child.yaml:4: sources[1]: removes id 'NOPE', which the base does not list")
    offer_line = base.splitlines().index("      - {id: OFFER, name: Предложение, colour: red}") + 1
    assert found[2].startswith(f"base.yaml:{offer_line}: deal_pipelines[0].stages[1].colour: unknown key")
    assert len(found) == 3


def test_a_missing_base_is_reported_at_the_extends_line() -> None:
    found = problems("version: 1\nextends: nowhere.yaml\n")
    assert found == [
        "child.yaml:2: extends: the base 'nowhere.yaml' is not found — check the name after 'extends:'"
    ]


def test_extends_without_a_resolver_says_how_to_give_the_base() -> None:
    with pytest.raises(TemplateError) as caught:
        load_template("extends: base.yaml\n", "pasted")
    assert "cannot read the base 'base.yaml' here" in str(caught.value)


def test_a_yaml_error_in_the_base_names_the_base() -> None:
    found = problems("extends: base.yaml\n", **{"base.yaml": "version: 1\nsources: [\n"})
    assert len(found) == 1 and found[0].startswith("base.yaml:") and "YAML syntax error" in found[0]


def test_a_cycle_is_refused_naming_the_chain() -> None:
    found = problems("extends: a.yaml\n", **{"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"})
    assert found == [
        "b.yaml:1: extends: the bases form a cycle: child.yaml → a.yaml → b.yaml → a.yaml"
        " — remove 'extends' from one of them; a.yaml cannot be its own base"
    ]


def test_a_template_extending_itself_is_a_cycle() -> None:
    found = problems("extends: child.yaml\n")
    assert "the bases form a cycle: child.yaml → child.yaml" in found[0]


def test_a_chain_deeper_than_the_bound_is_refused() -> None:
    files = {f"b{i}.yaml": f"extends: b{i + 1}.yaml\n" for i in range(MAX_EXTENDS_DEPTH + 1)}
    files[f"b{MAX_EXTENDS_DEPTH + 1}.yaml"] = BASE
    found = problems("extends: b0.yaml\n", **files)
    assert len(found) == 1 and "the chain of bases is too deep" in found[0]
    files = {f"b{i}.yaml": f"extends: b{i + 1}.yaml\n" for i in range(MAX_EXTENDS_DEPTH - 1)}
    files[f"b{MAX_EXTENDS_DEPTH - 1}.yaml"] = BASE
    assert load("extends: b0.yaml\n", **files).lists  # exactly at the bound: read


def test_the_chain_text_is_bounded_together() -> None:
    padding = "#" + "x" * (MAX_CHAIN_BYTES // 2) + "\n"
    found = problems("extends: base.yaml\n" + padding, **{"base.yaml": BASE + padding})
    assert len(found) == 1 and "the template and its bases hold" in found[0]


def test_the_merged_values_are_bounded() -> None:
    # Each file stands for about 61,000 values (aliases expanded), under MAX_NODES; merged, more.
    anchor = "x: &e [" + ", ".join(["{id: A, name: B}"] * 10) + "]\n"
    copies = "".join("  - *e\n" for _ in range(600))
    child = "extends: base.yaml\n" + anchor + "extra_a:\n" + copies + "extra_b:\n" + copies
    base = BASE + anchor + "extra_c:\n" + copies + "extra_d:\n" + copies
    found = problems(child, **{"base.yaml": base})
    assert found == [
        f"child.yaml:1: extends: the template merged with its bases holds more than {MAX_NODES:,} values"
        " — make the bases smaller, or split the template"
    ]


def test_remove_must_be_true_or_false() -> None:
    found = problems(
        "extends: base.yaml\nsources:\n  - {id: CALL, remove: yes please}\n", **{"base.yaml": BASE}
    )
    assert found[0].startswith("child.yaml:3: sources[0].remove: must be true or false")


def test_remove_outside_a_child_is_an_unknown_key() -> None:
    with pytest.raises(TemplateError) as caught:
        load_template("version: 1\nsources:\n  - {id: CALL, name: Звонок, remove: true}\n", "t.yaml")
    assert "unknown key 'remove'" in str(caught.value)


def test_an_id_given_twice_in_the_child_is_reported() -> None:
    found = problems(
        "extends: base.yaml\nsources:\n  - {id: CALL, name: A}\n  - {id: CALL, name: B}\n",
        **{"base.yaml": BASE},
    )
    assert found[0].startswith(
        "child.yaml:4: sources[1]: id 'CALL' appears twice in this list (first on line 3)"
    )


def test_an_alias_bomb_in_a_base_is_refused_in_the_base() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
    )
    found = problems("extends: base.yaml\n", **{"base.yaml": bomb})
    assert len(found) == 1 and found[0].startswith("base.yaml:") and "more than 100,000 values" in found[0]


def test_a_base_that_is_not_a_template_is_reported_in_the_base() -> None:
    found = problems("extends: passwd\nversion: 1\n", passwd="root:x:0:0:root:/root:/bin/bash\n")
    assert found == [
        "passwd:1: is not a template: a base must be a mapping of sections"
        " — check that 'extends' names a b24app template"
    ]
