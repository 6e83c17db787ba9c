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
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from b24app.core.limits import MAX_DEPTH, MAX_LIST_ENTRIES, MAX_MAPPING_KEYS, MAX_NODES, shown

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


_LEAF = _Size(1, 1, True)


@dataclass(slots=True, eq=False)
class _Open:
    """A collection being read."""

    node: Seq | Map
    size: _Size
    first: int  # nodes counted before this one
    items: int = 0
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
        self.handlers = {
            ScalarEvent: self.scalar,
            SequenceStartEvent: self.start,
            MappingStartEvent: self.start,
            SequenceEndEvent: self.end,
            MappingEndEvent: self.end,
            AliasEvent: self.alias,
            DocumentStartEvent: self.document,
        }

    def run(self, text: str) -> Node | None:
        handlers = self.handlers
        for event in yaml.parse(text, Loader=_Parser):
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
        return self.root

    def scalar(self, event: ScalarEvent) -> None:
        tag = event.tag
        if tag in _NON_SPECIFIC:
            tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
        node = Scalar(tag, event.value, event.start_mark.line + 1)
        self.count_nodes(_LEAF, node.line, None)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, _LEAF)
        self.attach(node, 1)

    def start(self, event: SequenceStartEvent | MappingStartEvent) -> None:
        line = event.start_mark.line + 1
        if isinstance(event, MappingStartEvent):
            node: Seq | Map = Map(MAP if event.tag in _NON_SPECIFIC else event.tag, line)
        else:
            node = Seq(SEQ if event.tag in _NON_SPECIFIC else event.tag, line)
        size = _Size()
        self.count_nodes(size, line, None)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, size)
        self.open.append(_Open(node, size, self.count - 1))

    def end(self, event: CollectionEndEvent) -> None:
        done = self.open.pop()
        done.size.weight = self.count - done.first
        done.size.complete = True
        self.attach(done.node, done.size.height)

    def alias(self, event: AliasEvent) -> None:
        name, line = event.anchor, event.start_mark.line + 1
        if name not in self.anchors:
            raise Refused(
                line,
                f"*{shown(name)} refers to no anchor",
                f"define &{shown(name)} before this alias (an anchor comes before its aliases)",
            )
        node, size = self.anchors[name]
        if size.complete:
            self.count_nodes(size, line, name)
        else:  # an alias to a node still open is a loop: the walker reports it
            self.count_nodes(_LEAF, line, None)
        self.attach(node, size.height)

    def document(self, event: DocumentStartEvent) -> None:
        self.documents += 1
        if self.documents > 1:
            raise Refused(
                event.start_mark.line + 1,
                "a second YAML document starts here ('---')",
                "a template is one document: remove this '---' and what follows, or merge them",
            )

    def count_nodes(self, size: _Size, line: int, alias: str | None) -> None:
        """Count a node (expanded: ``size``) placed at the current depth; refuse past a bound."""
        self.count += size.weight
        if self.count > MAX_NODES:
            raise Refused(line, *_too_many(alias))
        if len(self.open) + size.height > MAX_DEPTH:
            raise Refused(line, *too_deep(alias))

    def attach(self, node: Node, height: int) -> None:
        if not self.open:
            self.root = node
            return
        parent = self.open[-1]
        if parent.size.height <= height:
            parent.size.height = height + 1
        if isinstance(parent.node, Seq):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
            return
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None
        parent.items += 1
        if parent.items > (MAX_LIST_ENTRIES if isinstance(parent.node, Seq) else MAX_MAPPING_KEYS):
            raise Refused(parent.node.line, *_too_long(parent.node))


def _too_long(node: Seq | Map) -> tuple[str, str]:
    if isinstance(node, Seq):
        return (
            f"this list has more than {MAX_LIST_ENTRIES:,} items; b24app manages at most "
            f"{MAX_LIST_ENTRIES:,} entries in one list",
            "keep it shorter (a list this long is almost always generated by mistake)",
        )
    return (
        f"this mapping has more than {MAX_MAPPING_KEYS} keys",
        "a template's mappings have a few keys each: look for a missing '- ' or a wrong indentation",
    )


def _too_many(alias: str | None) -> tuple[str, str]:
    if alias is None:
        return (
            f"the template holds more than {MAX_NODES:,} values",
            "split it, or remove what is not a reference list (10,000 entries hold 50,000 to 110,000 values)",
        )
    return (
        f"aliases make the template stand for more than {MAX_NODES:,} values (here, at *{shown(alias)})",
        "each *name is a full copy of its &name, and copies of copies multiply: "
        "use aliases for shared lists such as stages, not nested in one another",
    )


def too_deep(alias: str | None) -> tuple[str, str]:
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
