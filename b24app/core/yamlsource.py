"""YAML text -> plain Python values, with the line of every node.

:mod:`.yamlcompose` turns the text into a tree of nodes, refusing text beyond the bounds of
:mod:`.limits`; this module turns the tree into dicts, lists and scalars and records, for every
path in the document, the 1-based line of its node (and of its key, for mapping members).
Duplicate keys, keys that are not plain values, unknown tags, unreadable scalars and recursive
aliases are collected as issues instead of being silently resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from b24app.core.limits import MAX_TEMPLATE_BYTES, megabytes, shown
from b24app.core.yamlcompose import (
    MAP,
    MERGE,
    SEQ,
    STR,
    Map,
    Node,
    Refused,
    Scalar,
    Seq,
    as_pyyaml,
    compose,
    too_deep,
)

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class YamlIssue:
    """Something in the YAML itself (not in the template's meaning) that has to be fixed."""

    path: Path
    line: int | None
    message: str
    hint: str


class YamlSyntaxError(Exception):
    """The text is not (single-document) YAML, or is beyond a bound of :mod:`.limits`: nothing else
    can be checked."""

    def __init__(self, issue: YamlIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


@dataclass(frozen=True, slots=True)
class Document:
    value: Any
    lines: Mapping[Path, int]  # line of each node
    key_lines: Mapping[Path, int]  # line of the key of each mapping member
    issues: tuple[YamlIssue, ...]
    unreadable: frozenset[Path]  # nodes replaced by None because of an issue
    files: Mapping[Path, str] = field(default_factory=dict)  # a merged chain: the file of each node
    paths: Mapping[Path, Path] = field(default_factory=dict)  # ... and its path in that file

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the document."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def file(self, path: Path, default: str) -> str:
        """The file ``path`` was written in (templates that extend a base), else ``default``."""
        while path not in self.files and path:
            path = path[:-1]
        return self.files.get(path, default)

    def path_in_file(self, path: Path) -> Path:
        """Where ``path`` of a merged chain is written in its own file (itself otherwise)."""
        rest: Path = ()
        while path not in self.paths and path:
            path, rest = path[:-1], (path[-1], *rest)
        return (*self.paths[path], *rest) if path in self.paths else (*path, *rest)

    def key_line(self, path: Path) -> int | None:
        return self.key_lines.get(path) or self.line(path)


def parse_yaml(text: str) -> Document:
    """Parse ``text``; raise :class:`YamlSyntaxError` when it is not (single-document) YAML or is
    beyond the bounds of :mod:`.limits`."""
    _check_size(text)
    try:
        root = compose(text)
    except Refused as refused:
        raise YamlSyntaxError(YamlIssue((), refused.line, refused.message, refused.hint)) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        if "maximum nesting depth" in str(err.problem):  # libyaml's own bound, reached while scanning ahead
            raise YamlSyntaxError(YamlIssue((), mark and mark.line + 1, *too_deep(None))) from None
        detail = ", ".join(str(part) for part in (err.problem, err.context) if part)
        line = mark.line + 1 if mark else None
        hint = "check the indentation, quotes and brackets around this line"
        raise YamlSyntaxError(YamlIssue((), line, f"YAML syntax error: {detail}", hint)) from None
    except yaml.YAMLError as err:
        raise YamlSyntaxError(
            YamlIssue(
                (),
                None,
                f"YAML syntax error: {err}",
                "save the file as UTF-8 text without control characters",
            )
        ) from None
    builder = _Builder()
    value = builder.value(root, ()) if root is not None else None
    issues, unreadable = tuple(builder.issues), frozenset(builder.unreadable)
    return Document(value, builder.lines, builder.key_lines, issues, unreadable)


def _check_size(text: str) -> None:
    """Refuse a text over ``MAX_TEMPLATE_BYTES`` (UTF-8) before reading any of it."""
    size = len(text) if len(text) > MAX_TEMPLATE_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        raise YamlSyntaxError(
            YamlIssue(
                (),
                None,
                f"the template is {megabytes(size)}; b24app reads templates of up to "
                f"{megabytes(MAX_TEMPLATE_BYTES)}",
                "split it, or remove what is not a reference list (10,000 entries take about 0.7 MB)",
            )
        )


_STANDARD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {  # the tags a scalar may have (and what a value of the tag is, for people)
    f"{_STANDARD}{tag}": what
    for tag, what in (
        ("null", "nothing"),
        ("bool", "true or false"),
        ("int", "a whole number"),
        ("float", "a number"),
        ("timestamp", "a date"),
    )
}


def _tag(tag: str) -> str:
    """A tag as people write it: ``!!int`` for ``tag:yaml.org,2002:int``."""
    return shown(f"!!{tag.removeprefix(_STANDARD)}" if tag.startswith(_STANDARD) else tag)


class _Builder:
    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.key_lines: dict[Path, int] = {}
        self.issues: list[YamlIssue] = []
        self.unreadable: set[Path] = set()
        self._constructor = SafeConstructor()
        self._open: set[int] = set()  # collection nodes being built (to stop recursive aliases)

    def value(self, node: Node, path: Path) -> Any:
        line = node.line
        self.lines[path] = line
        if isinstance(node, Scalar):
            return node.value if node.tag == STR else self._scalar(node, path, line)
        if id(node) in self._open:
            return self._unreadable(
                path,
                line,
                "this alias refers to a node that contains it",
                "YAML aliases (*name) may not refer to their own ancestors",
            )
        if node.tag not in (MAP, SEQ):
            return self._unreadable(path, line, f"unsupported YAML tag {_tag(node.tag)}", "remove the tag")
        self._open.add(id(node))
        try:
            if isinstance(node, Seq):
                return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: Scalar, path: Path, line: int) -> Any:
        if node.tag not in _SCALAR_TAGS:
            return self._unreadable(
                path,
                line,
                f"cannot read this value: unsupported YAML tag {_tag(node.tag)}",
                "write plain text, a number or true/false",
            )
        try:
            return self._construct(node)
        except (ConstructorError, ValueError, OverflowError):
            return self._unreadable(
                path,
                line,
                f"cannot read '{shown(node.value)}' as {_SCALAR_TAGS[node.tag]}",
                "correct it, or quote it if it is meant as text",
            )

    def _construct(self, node: Scalar) -> Any:
        """The value of a scalar of a tag in ``_SCALAR_TAGS``, by PyYAML's safe constructor."""
        return SafeConstructor.yaml_constructors[node.tag](self._constructor, as_pyyaml(node))

    def _mapping(self, node: Map, path: Path) -> dict[Any, Any]:
        own: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.line
            if key_node.tag == MERGE:
                merged = self._merge_source(value_node, (*path, "<<"))
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first_line:
                self._issue(
                    (*path, key),
                    key_line,
                    f"key '{shown(key)}' appears twice in this mapping (first on line {first_line[key]})",
                    "keep only one of them",
                )
            first_line[key] = key_line
            self.key_lines[(*path, key)] = key_line
            own[key] = self.value(value_node, (*path, key))
        return merged | own if merged else own

    def _merge_source(self, node: Node, path: Path) -> dict[Any, Any]:
        """The mapping a YAML merge key (``<<: *defaults``) brings in; earlier sources win."""
        value = self.value(node, path)
        if path in self.unreadable:  # already reported
            return {}
        merged: dict[Any, Any] = {}
        for source in reversed(value if isinstance(value, list) else [value]):
            if not isinstance(source, dict):
                self._unreadable(
                    path,
                    node.line,
                    "'<<' takes a mapping or a list of mappings",
                    "merge an anchored mapping, e.g. <<: *defaults",
                )
                return {}
            merged |= source
        return merged

    def _key(self, node: Node, path: Path) -> Any:
        if isinstance(node, Scalar) and node.tag == STR:
            return node.value
        try:
            plain = isinstance(node, Scalar) and node.tag in _SCALAR_TAGS
            key = self._construct(node) if plain else None
        except (ConstructorError, ValueError, OverflowError):
            key = None
        if key is None:
            self._issue(path, node.line, "a key must be a plain name", "write the key as text")
        return key

    def _issue(self, path: Path, line: int | None, message: str, hint: str) -> None:
        self.issues.append(YamlIssue(path, line, message, hint))

    def _unreadable(self, path: Path, line: int, message: str, hint: str) -> None:
        self._issue(path, line, message, hint)
        self.unreadable.add(path)
