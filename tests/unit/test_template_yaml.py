"""YAML with line numbers (b24app.core.yamlsource)."""

from __future__ import annotations

from textwrap import dedent

import pytest

from b24app.core.yamlsource import YamlSyntaxError, parse_yaml


def test_values_and_the_line_of_every_node() -> None:
    document = parse_yaml(
        dedent("""\
        version: 1
        deal_pipelines:
          - name: Продажи
            default: yes
            stages:
              - {id: NEW, name: Новая, sort: 10}
        empty:
        """)
    )
    assert document.value == {
        "version": 1,
        "deal_pipelines": [
            {"name": "Продажи", "default": True, "stages": [{"id": "NEW", "name": "Новая", "sort": 10}]}
        ],
        "empty": None,
    }
    assert document.lines[()] == 1
    assert document.lines[("deal_pipelines", 0)] == 3
    assert document.lines[("deal_pipelines", 0, "stages")] == 6  # a block list starts at its first item
    assert document.key_line(("deal_pipelines", 0, "stages")) == 5
    assert document.lines[("deal_pipelines", 0, "stages", 0, "sort")] == 6
    assert document.line(("deal_pipelines", 0, "stages", 0, "color")) == 6  # absent: its parent's line
    assert document.issues == () and document.unreadable == frozenset()


def test_duplicate_keys_are_reported_and_the_last_one_kept() -> None:
    document = parse_yaml("a: 1\nb: 2\na: 3\n")
    assert document.value == {"a": 3, "b": 2}
    (issue,) = document.issues
    assert (issue.path, issue.line) == (("a",), 3)
    assert "appears twice in this mapping (first on line 1)" in issue.message


def test_merge_keys_own_keys_win_and_earlier_sources_win() -> None:
    document = parse_yaml(
        dedent("""\
        a: &a {x: 1, y: 1}
        b: &b {x: 2, z: 2}
        c: {<<: [*a, *b], y: 3}
        d: {<<: 5}
        """)
    )
    assert document.value["c"] == {"x": 1, "y": 3, "z": 2}
    (issue,) = document.issues
    assert (issue.path, issue.line) == (("d", "<<"), 4)
    assert document.value["d"] == {}


def test_aliases_share_values_and_recursion_is_refused() -> None:
    document = parse_yaml("a: &x [1, 2]\nb: *x\nc: &r [*r]\n")
    assert document.value["a"] == document.value["b"] == [1, 2]
    assert document.value["c"] == [None]
    assert document.unreadable == {("c", 0)}


def test_unknown_tags_and_odd_keys_are_issues() -> None:
    document = parse_yaml("a: !!python/name:os.system x\nb: !custom {k: v}\n? [1]\n: 2\n~: 3\n")
    assert document.value == {"a": None, "b": None}
    assert [(i.path, i.line) for i in document.issues] == [(("a",), 1), (("b",), 2), ((), 3), ((), 5)]
    assert document.unreadable == {("a",), ("b",)}


def test_syntax_errors_carry_their_line() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n")
    assert caught.value.issue.line is not None and caught.value.issue.line >= 2
    assert caught.value.issue.message.startswith("YAML syntax error")


def test_an_empty_document_has_no_value() -> None:
    assert parse_yaml("# only a comment\n").value is None
