"""Hostile templates: each shape is refused with one clear problem (what, where, how to fix).

A template may come from a web form or a git repository, so a small text must not cost a lot.
Each bound of b24app.core.limits is tested on both sides: the largest accepted input and the
smallest refused one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from b24app.core.limits import (
    MAX_DEPTH,
    MAX_LIST_ENTRIES,
    MAX_MAPPING_KEYS,
    MAX_NODES,
    MAX_PIPELINES,
    MAX_PROBLEMS,
    MAX_SMART_PROCESSES,
    MAX_TEMPLATE_BYTES,
)
from b24app.core.template import Problem, TemplateError, load_template
from b24app.core.yamlsource import parse_yaml

DEAL_STAGES = (
    "[{id: NEW, name: Новая}, {id: WON, name: Успех, semantics: success}, "
    "{id: LOSE, name: Провал, semantics: failure}]"
)


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(TemplateError) as caught:
        load_template(text, "t.yaml")
    return caught.value.problems


def only_problem(text: str) -> Problem:
    found = problems_of(text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def billion_laughs(levels: int = 6) -> str:
    """Nested aliases: 9**levels values once expanded (531,441 for 6, just past the bound, so that
    a missing guard fails this test instead of exhausting the machine's memory)."""
    lines = ["version: 1", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def expanded_nodes(value: object) -> int:
    """The YAML nodes ``value`` stands for: a scalar 1, a list 1 + its items, a mapping 1 + keys + values."""
    if isinstance(value, list):
        return 1 + sum(expanded_nodes(item) for item in value)
    if isinstance(value, dict):
        return 1 + sum(1 + expanded_nodes(item) for item in value.values())
    return 1


# -- aliases ----------------------------------------------------------------------------------------


def test_billion_laughs_is_one_problem_at_the_alias_that_crosses_the_budget() -> None:
    problem = only_problem(billion_laughs())
    assert problem.line == 7  # l5: 9**6 = 531,441 values; l4 (59,049) still fit
    assert f"aliases make the template stand for more than {MAX_NODES:,} values (here, at *l4)" in str(
        problem
    )
    assert "copies of copies multiply" in problem.hint


def test_aliases_up_to_the_budget_are_expanded_and_one_more_value_is_refused() -> None:
    # A list of 99 copies of a 999-item list (1,000 values each), then a list of `tail` scalars:
    # 1 + 99 * 1,000 + 1 + tail values.
    def text(tail: int) -> str:
        shared = "[" + ", ".join(["x"] * 999) + "]"
        return "- &s " + shared + "\n" + "- *s\n" * 98 + "- [" + ", ".join(["y"] * tail) + "]\n"

    tail = MAX_NODES - 2 - 99 * 1_000
    document = parse_yaml(text(tail))
    assert expanded_nodes(document.value) == MAX_NODES
    assert document.value[98] == ["x"] * 999 and document.issues == ()
    problem = only_problem(text(tail + 1))
    assert (problem.line, problem.message) == (100, f"the template holds more than {MAX_NODES:,} values")


def test_aliases_through_merge_keys_count_every_copy() -> None:
    lines = [
        "version: 1",
        "m0: &m0 {" + ", ".join(f"k{i}: [a, b, c, d, e, f, g, h]" for i in range(90)) + "}",
    ]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}" for i in range(1, 6)]
    problem = only_problem("\n".join(lines) + "\n")
    assert problem.line == 5 and "aliases make the template stand for more than" in problem.message


def test_a_shared_stage_list_reused_by_many_pipelines_still_works() -> None:
    stages = ["      - {id: NEW, name: Новая, color: '#39A8EF'}"]
    stages += [f"      - {{id: S{i}, name: Стадия {i}, sort: {i * 10 + 10}}}" for i in range(1, 28)]
    stages += [
        "      - {id: WON, name: Успех, semantics: success}",
        "      - {id: LOSE, name: Провал, semantics: failure}",
    ]
    lines = ["version: 1", "deal_pipelines:", "  - name: Продажи", "    default: true", "    stages: &common"]
    lines += stages
    for p in range(1, 20):
        lines += [f"  - name: Воронка {p}", f"    key: funnel{p}", "    stages: *common"]
    template = load_template("\n".join(lines) + "\n", "t.yaml")
    pipelines = template.deal_pipelines.pipelines
    assert len(pipelines) == 20
    assert all(p.stages.entries == pipelines[0].stages.entries for p in pipelines)
    assert [e.id for e in pipelines[19].stages.entries][:3] == ["NEW", "S1", "S2"]


def test_an_alias_to_a_node_that_contains_it_is_one_problem_also_through_a_merge() -> None:
    problem = only_problem("version: 1\nsources: &s {entries: [], <<: *s}\n")
    assert (problem.path, problem.line) == ("sources.<<", 2)
    assert "refers to a node that contains it" in problem.message


def test_an_alias_without_its_anchor_is_named() -> None:
    problem = only_problem("version: 1\nsources: *nowhere\n")
    assert (problem.line, problem.message) == (2, "*nowhere refers to no anchor")
    assert "define &nowhere before this alias" in problem.hint


# -- nesting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version: 1\nsources: " + "[" * 10_000 + "]" * 10_000 + "\n", 2),
        ("version: 1\nsources: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", 2),
        ("version: 1\nsources:\n" + "- " * 5_000 + "x\n", 3),
        ("version: 1\nsources:\n" + "".join("  " * i + "a:\n" for i in range(1, 300)), MAX_DEPTH + 1),
    ],
    ids=["flow lists", "flow mappings", "block lists", "block mappings"],
)
def test_deep_nesting_is_one_problem_not_a_crash(text: str, line: int) -> None:
    problem = only_problem(text)
    assert (problem.line, problem.message) == (line, f"nested more than {MAX_DEPTH} levels deep")
    assert "unclosed brackets" in problem.hint


def test_nesting_up_to_the_bound_is_read_and_one_level_more_is_refused() -> None:
    def nested(levels: int) -> str:  # the document itself is the first level
        return "[" * (levels - 1) + "x" + "]" * (levels - 1) + "\n"

    assert parse_yaml(nested(MAX_DEPTH)).issues == ()
    assert only_problem(nested(MAX_DEPTH + 1)).message == f"nested more than {MAX_DEPTH} levels deep"


def test_an_alias_that_nests_too_deep_once_expanded_is_refused() -> None:
    half = MAX_DEPTH // 2 + 1
    text = "a: &deep " + "[" * half + "x" + "]" * half + "\nb: " + "[" * half + "*deep" + "]" * half + "\n"
    problem = only_problem(text)
    assert problem.line == 2
    assert problem.message == f"*deep nests the template more than {MAX_DEPTH} levels deep once expanded"


# -- size -------------------------------------------------------------------------------------------


def padded(text: str, size: int, filler: str = "#") -> str:
    """``text`` and a comment line, ``size`` bytes of UTF-8 in all."""
    rest = size - len(text.encode()) - 1
    return text + filler * (rest // len(filler.encode())) + "\n"


def test_a_template_up_to_the_size_limit_is_read_and_one_byte_more_is_refused() -> None:
    head = "version: 1\nsources: [{id: A, name: a}]\n"
    assert len(padded(head, MAX_TEMPLATE_BYTES).encode()) == MAX_TEMPLATE_BYTES
    assert load_template(padded(head, MAX_TEMPLATE_BYTES)).lists["sources"].entries[0].id == "A"
    problem = only_problem(padded(head, MAX_TEMPLATE_BYTES + 1))
    assert (problem.line, problem.path) == (None, "")
    assert problem.message == "the template is 2.0 MB; b24app reads templates of up to 2.0 MB"
    assert "split it" in problem.hint


def test_the_size_limit_counts_bytes_not_characters() -> None:
    text = padded("version: 1\n#", MAX_TEMPLATE_BYTES + 2, "ж")  # fewer characters than bytes
    assert len(text) < MAX_TEMPLATE_BYTES
    assert "b24app reads templates of up to 2.0 MB" in only_problem(text).message


def test_a_huge_single_value_is_one_short_problem() -> None:
    problem = only_problem('version: 1\nsources:\n  - {id: A, name: "' + "x" * 1_900_000 + '"}\n')
    assert (problem.path, problem.line) == ("sources[0].name", 3)
    assert problem.message == "is too long (1,900,000 > 100 characters)"


# -- counts -----------------------------------------------------------------------------------------


def value_list(count: int) -> str:
    return "version: 1\nsources:\n" + "".join(f"  - {{id: V{i}, name: Значение {i}}}\n" for i in range(count))


def test_a_list_up_to_the_bound_is_read_and_one_entry_more_is_refused() -> None:
    assert len(load_template(value_list(MAX_LIST_ENTRIES)).lists["sources"].entries) == MAX_LIST_ENTRIES
    problem = only_problem(value_list(MAX_LIST_ENTRIES + 1))
    assert problem.line == 3  # where the list starts
    assert problem.message == (
        f"this list has more than {MAX_LIST_ENTRIES:,} items; b24app manages at most "
        f"{MAX_LIST_ENTRIES:,} entries in one list"
    )


def test_a_list_far_beyond_the_bound_is_refused_as_it_is_read() -> None:
    problem = only_problem("version: 1\nsources: [" + ", ".join(["a"] * 90_000) + "]\n")
    assert problem.line == 2 and "more than 1,000 items" in problem.message


def test_a_mapping_with_too_many_keys_is_refused() -> None:
    def entry(keys: int) -> str:
        return "version: 1\nsources:\n  - {" + ", ".join(f"k{i}: 1" for i in range(keys)) + "}\n"

    found = problems_of(entry(MAX_MAPPING_KEYS))  # read: its keys are wrong, not too many
    assert len(found) == MAX_PROBLEMS + 1 and "unknown key 'k0'" in [p.message for p in found]
    problem = only_problem(entry(MAX_MAPPING_KEYS + 1))
    assert (problem.line, problem.message) == (3, f"this mapping has more than {MAX_MAPPING_KEYS} keys")


def test_duplicate_keys_by_the_thousand_are_one_problem() -> None:
    problem = only_problem("version: 1\nsources:\n  - {" + ", ".join(["id: A"] * 50_000) + "}\n")
    assert problem.message == f"this mapping has more than {MAX_MAPPING_KEYS} keys"


def deal_pipelines(count: int) -> str:
    lines = ["version: 1", "deal_pipelines:", f"  - {{name: P0, default: true, stages: {DEAL_STAGES}}}"]
    lines += [f"  - {{name: P{i}, key: p{i}, stages: {DEAL_STAGES}}}" for i in range(1, count)]
    return "\n".join(lines) + "\n"


def test_pipelines_up_to_the_bound_are_read_and_one_more_is_refused() -> None:
    assert len(load_template(deal_pipelines(MAX_PIPELINES)).deal_pipelines.pipelines) == MAX_PIPELINES
    problem = only_problem(deal_pipelines(MAX_PIPELINES + 1))
    assert (problem.path, problem.line) == ("deal_pipelines", 2)
    assert (
        problem.message
        == f"lists {MAX_PIPELINES + 1} pipelines; b24app manages at most {MAX_PIPELINES} pipelines here"
    )


def smart_processes(count: int) -> str:
    stages = "[{id: NEW, name: n}, {id: SUCCESS, name: s, semantics: success}, {id: FAIL, name: f, semantics: failure}]"
    lines = ["version: 1", "smart_processes:"]
    lines += [
        f"  - {{title: T{i}, pipelines: [{{name: P, default: true, stages: {stages}}}]}}"
        for i in range(count)
    ]
    return "\n".join(lines) + "\n"


def test_smart_processes_up_to_the_bound_are_read_and_one_more_is_refused() -> None:
    assert len(load_template(smart_processes(MAX_SMART_PROCESSES)).smart_processes) == MAX_SMART_PROCESSES
    problem = only_problem(smart_processes(MAX_SMART_PROCESSES + 1))
    assert (problem.path, problem.line) == ("smart_processes", 2)
    assert problem.message.startswith(
        f"lists {MAX_SMART_PROCESSES + 1} smart processes; b24app manages at most"
    )


def test_problems_stop_at_the_bound_with_a_last_line_that_says_so() -> None:
    text = "version: 1\n" + "".join(
        f"{key}:\n" + "".join(f"  - {{idd: V{i}, nam: x}}\n" for i in range(900))
        for key in ("sources", "industries", "employees")
    )
    found = problems_of(text)
    assert len(found) == MAX_PROBLEMS + 1
    assert [p.line for p in found[:3]] == [3, 3, 3]  # the first ones, in document order
    assert str(found[-1]) == f"t.yaml: checking stopped after {MAX_PROBLEMS} problems — fix these first"


def test_yaml_problems_alone_stop_at_the_bound_too() -> None:
    text = "version: 1\nsources:\n" + "".join(f"  - {{id: V{i}, name: a, name: b}}\n" for i in range(150))
    found = problems_of(text)
    assert len(found) == MAX_PROBLEMS + 1
    assert found[0].message == "key 'name' appears twice in this mapping (first on line 3)"
    assert found[-1].message == f"checking stopped after {MAX_PROBLEMS} problems"


# -- names and ids beyond Bitrix24's limits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            "version: 1\nsources: [{id: A, name: " + "я" * 101 + "}]\n",
            "sources[0].name",
            "is too long (101 > 100 characters)",
        ),
        (
            "version: 1\nlead_stages:\n  - {id: NEW, name: n}\n  - {id: " + "A" * 22 + ", name: a}\n"
            "  - {id: CONVERTED, name: c, semantics: success}\n  - {id: JUNK, name: j, semantics: failure}\n",
            "lead_stages[1].id",
            f"id '{'A' * 22}' is too long (22 > 21)",
        ),
        (
            "version: 1\nsources: [{id: " + "A" * 51 + ", name: a}]\n",
            "sources[0].id",
            "is too long (51 > 50)",
        ),
        (
            "version: 1\ndeal_pipelines:\n  - {name: "
            + "P" * 256
            + f", default: true, stages: {DEAL_STAGES}}}\n",
            "deal_pipelines[0].name",
            "is too long (256 > 255 characters)",
        ),
        (
            "version: 1\ndeal_pipelines:\n  - {name: P, default: true, previous_names: [" + "O" * 256 + "], "
            f"stages: {DEAL_STAGES}}}\n",
            "deal_pipelines[0].previous_names[0]",
            "is too long (256 > 255 characters)",
        ),
        (
            "version: 1\ndeal_pipelines:\n  - {name: P, default: true, stages: " + DEAL_STAGES + "}\n"
            "  - {name: Q, key: " + "k" * 101 + ", stages: " + DEAL_STAGES + "}\n",
            "deal_pipelines[1].key",
            "is not a valid key",
        ),
        (
            "version: 1\nsmart_processes:\n  - {title: " + "T" * 256 + ", pipelines: []}\n",
            "smart_processes[0].title",
            "is too long (256 > 255 characters)",
        ),
        (
            "version: 1\nsources: [{id: A, name: a, sort: 2147483648}]\n",
            "sources[0].sort",
            "2147483648 is out of range",
        ),
    ],
    ids=["entry name", "lead stage id", "value id", "pipeline name", "previous name", "key", "title", "sort"],
)
def test_names_and_ids_beyond_bitrix24_limits_are_reported(text: str, path: str, message: str) -> None:
    found = [p for p in problems_of(text) if p.path == path]
    assert len(found) == 1 and message in found[0].message, [str(p) for p in problems_of(text)]


def test_a_huge_id_is_quoted_short_in_its_problem() -> None:
    problem = only_problem("version: 1\nsources: [{id: " + "A" * 1_000_000 + ", name: a}]\n")
    assert problem.message == f"id '{'A' * 40}… (1,000,000 characters)' is too long (1,000,000 > 50)"


def test_control_characters_of_an_unknown_key_are_shown_escaped() -> None:
    problem = only_problem('version: 1\nsources: [{id: A, name: a, "\\e[2Jx": 1}]\n')
    assert problem.message == "unknown key '\\x1b[2Jx'" and "\x1b" not in str(problem)


# -- tags and values PyYAML cannot construct ---------------------------------------------------------


def test_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    problem = only_problem(f'version: 1\nsources: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert problem.message == "unsupported YAML tag !!python/object/apply:os.system"
    assert not marker.exists()
    problem = only_problem("version: 1\nsources: [{id: A, name: !!python/name:os.system x}]\n")
    assert problem.message.startswith("cannot read this value: unsupported YAML tag")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1" * 5_000, f"cannot read '{'1' * 40}… (5,000 characters)' as a whole number"),
        ("2001-02-30", "cannot read '2001-02-30' as a date"),
        ("!!int abc", "cannot read 'abc' as a whole number"),
        ("!!binary aGVsbG8=", "cannot read this value: unsupported YAML tag !!binary"),
    ],
    ids=["5,000-digit number", "31 February", "!!int on text", "!!binary"],
)
def test_values_pyyaml_cannot_construct_are_one_problem(value: str, message: str) -> None:
    problem = only_problem(f"version: 1\nsources: [{{id: A, name: {value}}}]\n")
    assert (problem.path, problem.message) == ("sources[0].name", message)


def test_a_second_document_is_refused_where_it_starts() -> None:
    problem = only_problem("version: 1\n---\n" + billion_laughs())
    assert (problem.line, problem.message) == (2, "a second YAML document starts here ('---')")
