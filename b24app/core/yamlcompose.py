"""YAML text -> a tree of nodes, within bounds (:mod:`.limits`), without recursion.

PyYAML's own composer is recursive and expands nothing, so a tree it returns can stand for
billions of values (nested aliases) or nest deeper than the Python stack. This composer reads
PyYAML's event stream (with the C parser when it is available) and stops, with the line, as
soon as the text is seen to stand for more than ``MAX_NODES`` values or ``MAX_DEPTH`` levels once
its aliases are expanded: every alias counts as a full copy of its anchor. Anything that walks
the tree afterwards, expanding aliases, stays within those bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from b24app.core.limits import MAX_DEPTH, MAX_NODES, shown

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STR, MAP, SEQ, MERGE = (f"tag:yaml.org,2002:{t}" for t in ("str", "map", "seq", "merge"))
_NON_SPECIFIC = (None, "!")


@dataclass(slots=True, eq=False)
class Scalar:
    tag: str
    value: str
    line: int  # 1-based


@dataclass(slots=True, eq=False)
class Seq:
    tag: str
    line: int
    value: list[Node] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Map:
    tag: str
    line: int
    value: list[tuple[Node, Node]] = field(default_factory=list)


Node = Scalar | Seq | Map


class Refused(Exception):
    """The text cannot be composed: it is beyond a bound, or refers to what is not there."""

    def __init__(self, line: int | None, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.message, self.hint = line, message, hint


@dataclass(slots=True, eq=False)
class _Size:
    """What a node stands for once expanded: how many nodes, how many levels (1 for a scalar)."""

    weight: int = 1
    height: int = 1
    complete: bool = False  # False while the node is still being read (an alias to it is a loop)


@dataclass(slots=True, eq=False)
class _Open:
    node: Seq | Map
    size: _Size
    first: int  # nodes counted before this one
    key: Node | None = None  # a mapping's key waiting for its value


def compose(text: str) -> Node | None:
    """The root node of the single YAML document in ``text`` (None when there is none).

    Raises :class:`Refused` past a bound, and PyYAML's ``YAMLError`` for a syntax error.
    """
    return _Composer().run(text)


class _Composer:
    def __init__(self) -> None:
        self.resolver = Resolver()
        self.anchors: dict[str, tuple[Node, _Size]] = {}
        self.open: list[_Open] = []
        self.count = 0  # nodes so far, aliases expanded
        self.root: Node | None = None
        self.documents = 0

    def run(self, text: str) -> Node | None:
        for event in yaml.parse(text, Loader=_Parser):
            self.event(event)
        return self.root

    def event(self, event: Event) -> None:
        line = event.start_mark.line + 1
        if isinstance(event, ScalarEvent):
            tag = event.tag
            if tag in _NON_SPECIFIC:
                tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
            self.add(Scalar(tag, event.value, line), event.anchor, _Size(complete=True))
        elif isinstance(event, SequenceStartEvent | MappingStartEvent):
            self.start(event, line)
        elif isinstance(event, CollectionEndEvent):
            self.end()
        elif isinstance(event, AliasEvent):
            self.alias(event.anchor, line)
        elif isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise Refused(
                    line,
                    "a second YAML document starts here ('---')",
                    "a template is one document: remove this '---' and what follows, or merge them",
                )

    def start(self, event: SequenceStartEvent | MappingStartEvent, line: int) -> None:
        is_map = isinstance(event, MappingStartEvent)
        tag = (MAP if is_map else SEQ) if event.tag in _NON_SPECIFIC else event.tag
        node = Map(tag, line) if is_map else Seq(tag, line)
        size = _Size()
        first = self.count
        self.add(node, event.anchor, size)
        self.open.append(_Open(node, size, first))

    def end(self) -> None:
        done = self.open.pop()
        done.size.weight = self.count - done.first
        done.size.complete = True
        self.attach(done.node, done.size.height)

    def alias(self, name: str, line: int) -> None:
        if name not in self.anchors:
            raise Refused(
                line,
                f"*{shown(name)} refers to no anchor",
                f"define &{shown(name)} before this alias (an anchor comes before its aliases)",
            )
        node, size = self.anchors[name]
        if size.complete:
            self.check(size.weight, size.height, line, name)
        else:  # an alias to a node still open is a loop: the walker reports it
            self.check(1, 1, line, None)
        self.attach(node, size.height)

    def add(self, node: Node, anchor: str | None, size: _Size) -> None:
        self.check(1, 1, node.line, None)
        if anchor is not None:
            self.anchors[anchor] = (node, size)
        if isinstance(node, Scalar):
            self.attach(node, 1)

    def check(self, weight: int, height: int, line: int, alias: str | None) -> None:
        """Count ``weight`` more nodes at the current depth; refuse past a bound."""
        self.count += weight
        if self.count > MAX_NODES:
            raise Refused(line, *_too_many(alias))
        if len(self.open) + height > MAX_DEPTH:
            raise Refused(line, *_too_deep(alias))

    def attach(self, node: Node, height: int) -> None:
        if not self.open:
            self.root = node
            return
        parent = self.open[-1]
        parent.size.height = max(parent.size.height, height + 1)
        if isinstance(parent.node, Seq):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None


def _too_many(alias: str | None) -> tuple[str, str]:
    if alias is None:
        return (
            f"the template holds more than {MAX_NODES:,} values",
            "split it, or remove what is not a reference list (20,000 entries hold about 150,000 values)",
        )
    return (
        f"aliases make the template stand for more than {MAX_NODES:,} values (here, at *{shown(alias)})",
        "each *name is a full copy of its &name, and copies of copies multiply: "
        "use aliases for shared lists such as stages, not nested in one another",
    )


def _too_deep(alias: str | None) -> tuple[str, str]:
    if alias is None:
        return (
            f"nested more than {MAX_DEPTH} levels deep",
            "a template needs about 10 levels: look for unclosed brackets or stray '- '",
        )
    return (
        f"*{shown(alias)} nests the template more than {MAX_DEPTH} levels deep once expanded",
        "an alias is a full copy of its anchor: do not put an anchor's aliases inside one another",
    )


def as_pyyaml(node: Scalar) -> ScalarNode:
    """``node`` as PyYAML's constructors take it."""
    return ScalarNode(node.tag, node.value)
