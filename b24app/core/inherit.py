"""Templates that extend a base: read the chain of files and merge it into one document.

A template whose first key is ``extends: base.yaml`` is the base with the template's changes
(README "Templates for many portals"). This module reads the chain (the template, its base, the
base's base, ...) through a *resolver* the caller gives — the core reads no file — and merges it
into one :class:`~b24app.core.yamlsource.Document`, remembering for every value the file and line
it comes from, so that the loader reports each problem where it was written.

Merge rules, applied from the farthest base down to the template:

- keys of the template (``version``, ``prune``) and whole lists the base does not have: the
  template's value wins;
- a list given in both (flat lists, ``deal_pipelines``, ``invoice_pipelines``, a pipeline's
  ``stages``, ``smart_processes``, a smart process's ``pipelines``) is merged item by item: an item
  that matches a base item (entries by ``id``; pipelines by ``key``, then ``default: true``, then
  ``name``; smart processes by ``code``, then ``title``) changes the fields it gives, in the base's
  place; ``remove: true`` drops the base's item; other items are new and come after the base's
  (a new process stage goes before the list's success and failure stages);
- a list's options (``prune`` in the ``{prune, entries}`` form) given by the template win.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from b24app.core.catalog import FLAT_LISTS, SPECS
from b24app.core.limits import MAX_CHAIN_BYTES, MAX_EXTENDS_DEPTH, MAX_NODES, megabytes, shown
from b24app.core.model import TemplateSource
from b24app.core.yamlsource import Document, Path, YamlIssue, YamlSyntaxError, parse_yaml

EXTENDS = "extends"
REMOVE = "remove"

# (reference as written after `extends:`, the source name of the file that wrote it)
#   -> (the base's source name, its text); raises BaseNotFound.
Resolver = Callable[[str, str], tuple[str, str]]


class BaseNotFound(Exception):
    """The resolver cannot give the base: ``message`` says what, ``hint`` how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass(frozen=True, slots=True)
class Located:
    """A problem found while reading or merging the chain, in the file it is about."""

    file: str
    issue: YamlIssue


@dataclass(slots=True)
class Chain:
    """The files read (the template first), the merged document, and the problems found."""

    sources: list[TemplateSource] = field(default_factory=list)
    document: Document | None = None
    problems: list[Located] = field(default_factory=list)


def source_file(name: str, text: str) -> TemplateSource:
    return TemplateSource(name, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())


def read_chain(text: str, source: str, resolver: Resolver | None) -> Chain:
    """The merged document of ``text`` and its bases. Problems in any file are in ``problems``;
    ``document`` is None when the chain cannot be read far enough to merge it."""
    chain = Chain()
    files: list[tuple[str, Document]] = []  # the template first
    size = 0
    while True:
        chain.sources.append(source_file(source, text))
        size += len(text.encode("utf-8", "surrogatepass"))
        try:
            document = parse_yaml(text)
        except YamlSyntaxError as err:
            chain.problems.append(Located(source, err.issue))
            return chain
        files.append((source, document))
        reference = _extends(document, source, chain)
        if reference is None:
            break
        found = _resolve(reference, files, size, resolver, chain)
        if found is None:
            return chain
        source, text = found
    if chain.problems:
        return chain
    if len(files) > 1:
        chain.document = _merge_chain(files, chain)
    else:
        chain.document = files[0][1]
    chain.problems += [Located(source, issue) for source, document in files for issue in document.issues]
    return chain


def _extends(document: Document, source: str, chain: Chain) -> str | None:
    """The reference after ``extends:``, or None (none, or unreadable: a problem is recorded)."""
    root = document.value
    if not isinstance(root, dict) or EXTENDS not in root:
        return None
    reference = root[EXTENDS]
    line = document.key_line((EXTENDS,))
    if not isinstance(reference, str) or not reference.strip():
        chain.problems.append(
            Located(
                source,
                YamlIssue((EXTENDS,), line, "must name a base template", "write e.g. 'extends: base.yaml'"),
            )
        )
        return None
    return reference.strip()


def _resolve(
    reference: str, files: list[tuple[str, Document]], size: int, resolver: Resolver | None, chain: Chain
) -> tuple[str, str] | None:
    source, document = files[-1]
    line = document.key_line((EXTENDS,))

    def problem(message: str, hint: str) -> None:
        chain.problems.append(Located(source, YamlIssue((EXTENDS,), line, message, hint)))

    if resolver is None:
        problem(
            f"cannot read the base '{shown(reference)}' here",
            "give the template as a file (or a library name), so that its base can be found",
        )
        return None
    if len(files) > MAX_EXTENDS_DEPTH:
        problem(
            f"the chain of bases is too deep: {_arrow([name for name, _ in files], reference)}",
            f"a template may have at most {MAX_EXTENDS_DEPTH} bases above it: merge some of them",
        )
        return None
    try:
        name, text = resolver(reference, source)
    except BaseNotFound as missing:
        problem(missing.message, missing.hint)
        return None
    names = [name_ for name_, _ in files]
    if name in names:
        problem(
            f"the bases form a cycle: {_arrow(names, name)}",
            f"remove 'extends' from one of them; {name} cannot be its own base",
        )
        return None
    total = size + len(text.encode("utf-8", "surrogatepass"))
    if total > MAX_CHAIN_BYTES:
        problem(
            f"the template and its bases hold {megabytes(total)}; b24app reads at most "
            f"{megabytes(MAX_CHAIN_BYTES)} for one template with its bases",
            "make the bases smaller, or split the template",
        )
        return None
    return name, text


def _arrow(names: list[str], last: str) -> str:
    return " → ".join(shown(name) for name in [*names, last])


# -- the merge --------------------------------------------------------------------------------------


class _TooBig(Exception):
    pass


class _Merged:
    """The document being built: values with the file and line of each path."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.key_lines: dict[Path, int] = {}
        self.files: dict[Path, str] = {}
        self.paths: dict[Path, Path] = {}
        self.unreadable: set[Path] = set()
        self.count = 0

    def copy(self, value: Any, origin: _Origin, src: Path, dst: Path) -> Any:
        """``value`` (at ``src`` of ``origin``) placed at ``dst``, with its lines."""
        self.count += 1 + (len(value) if isinstance(value, dict) else 0)  # as YAML counts: keys too
        if self.count > MAX_NODES:
            raise _TooBig
        doc = origin.document
        if src in doc.lines:
            self.lines[dst] = doc.lines[src]
        if src in doc.key_lines:
            self.key_lines[dst] = doc.key_lines[src]
        if src in doc.unreadable:
            self.unreadable.add(dst)
        self.files[dst] = origin.source
        self.paths[dst] = src
        if isinstance(value, dict):
            return {key: self.copy(item, origin, (*src, key), (*dst, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.copy(item, origin, (*src, i), (*dst, i)) for i, item in enumerate(value)]
        return value


@dataclass(frozen=True, slots=True)
class _Origin:
    source: str
    document: Document


@dataclass(slots=True)
class _Item:
    """A value of the merged document not yet placed: where its parts come from."""

    value: Any
    origin: _Origin
    path: Path
    parts: dict[Any, _Item] | None = None  # a merged mapping: each key's own origin


def _merge_chain(files: list[tuple[str, Document]], chain: Chain) -> Document | None:
    for source, document in files[1:]:
        if not isinstance(document.value, dict):
            chain.problems.append(
                Located(
                    source,
                    YamlIssue(
                        (),
                        document.line(()),
                        "is not a template: a base must be a mapping of sections",
                        "check that 'extends' names a b24app template",
                    ),
                )
            )
            return None
    origins = [_Origin(source, document) for source, document in reversed(files)]  # farthest base first
    merged = _Item(origins[0].document.value, origins[0], ())
    for origin in origins[1:]:
        merged = _Merger(origin, chain).root(merged, _Item(origin.document.value, origin, ()))
    out = _Merged()
    try:
        value = _place(merged, (), out)
    except _TooBig:
        template, document = files[0]
        chain.problems.append(
            Located(
                template,
                YamlIssue(
                    (EXTENDS,),
                    document.key_line((EXTENDS,)),
                    f"the template merged with its bases holds more than {MAX_NODES:,} values",
                    "make the bases smaller, or split the template",
                ),
            )
        )
        return None
    if isinstance(value, dict):
        value.pop(EXTENDS, None)
    return Document(value, out.lines, out.key_lines, (), frozenset(out.unreadable), out.files, out.paths)


def _place(item: _Item, dst: Path, out: _Merged) -> Any:
    if item.parts is None:
        return out.copy(item.value, item.origin, item.path, dst)
    out.copy(None, item.origin, item.path, dst)  # the collection's own line and file
    if isinstance(item.value, list):
        return [_place(part, (*dst, i), out) for i, part in enumerate(item.parts.values())]
    return {key: _place(part, (*dst, key), out) for key, part in item.parts.items()}


def _members(item: _Item) -> dict[Any, _Item]:
    """The keys of a mapping item, each with its own origin."""
    if item.parts is not None:
        return dict(item.parts)
    return {key: _Item(value, item.origin, (*item.path, key)) for key, value in item.value.items()}


def _mapping(item: _Item, parts: dict[Any, _Item]) -> _Item:
    return _Item({key: part.value for key, part in parts.items()}, item.origin, item.path, parts)


def _sequence(item: _Item, items: list[_Item]) -> _Item:
    parts = dict(enumerate(items))
    return _Item([part.value for part in items], item.origin, item.path, parts)


# Lists merged by identity: (fields that identify an item, in order; nested lists merged too).
_ENTRY = (("id",), {})
_PIPELINE = (("key", "default", "name"), {"stages": "stages"})
_SMART_PROCESS = (("code", "title"), {"pipelines": "smart_pipelines"})
_SECTIONS: dict[str, str] = {
    **{key: "values" for key in FLAT_LISTS},
    "deal_pipelines": "pipelines",
    "invoice_pipelines": "pipelines",
    "smart_processes": "smart_processes",
}
_STAGE_LISTS = {key for key in FLAT_LISTS if SPECS[key].is_stages}


class _Merger:
    """Merges one template (``origin``) over its merged bases."""

    def __init__(self, origin: _Origin, chain: Chain) -> None:
        self.origin = origin
        self.chain = chain

    def root(self, base: _Item, child: _Item) -> _Item:
        if not isinstance(base.value, dict) or not isinstance(child.value, dict):
            return child  # not a mapping: the loader says so
        parts = _members(base)
        parts.pop(EXTENDS, None)
        for key, part in _members(child).items():
            kind = _SECTIONS.get(key)
            if kind is None or key not in parts:
                parts[key] = part
            else:
                stages = "stage" if key in _STAGE_LISTS else kind
                parts[key] = self.section(parts[key], part, stages)
        return _mapping(base, parts)

    def section(self, base: _Item, child: _Item, kind: str) -> _Item:
        """A list written as a list or as ``{prune, entries}`` (smart_processes: a list only)."""
        base_items, child_items = _items(base), _items(child)
        if base_items is None or child_items is None:
            return child  # unreadable: the loader reports the template's own form
        items = self.items(base_items, child_items, kind)
        if isinstance(base.value, list) and isinstance(child.value, list):
            return _sequence(child, items)
        options = _members(base) if isinstance(base.value, dict) else {}
        if isinstance(child.value, dict):
            options |= _members(child)
        entries_from = child if isinstance(child.value, dict) else base
        entries = _sequence(_Item(None, entries_from.origin, (*entries_from.path, "entries")), items)
        options["entries"] = entries
        return _mapping(child if isinstance(child.value, dict) else base, options)

    def items(self, base: list[_Item], child: list[_Item], kind: str) -> list[_Item]:
        fields_, nested = _IDENTITY[kind]
        merged = list(base)
        first_seen: dict[tuple[str, Any], int] = {}
        for item in child:
            ident = _identity(item.value, fields_)
            if ident is None:
                merged.append(item)  # no identity: new (the loader checks it)
                continue
            if ident in first_seen:
                self.problem(
                    item.path,
                    f"{ident[0]} '{shown(ident[1])}' appears twice in this list (first on line "
                    f"{self.origin.document.line(first_seen[ident])})",
                    "keep one of them",
                )
                continue
            first_seen[ident] = item.path
            at = _find(merged, item.value, fields_)
            removing = self.removing(item)
            if removing is None:
                continue
            if removing:
                if at is None:
                    self.problem(
                        item.path,
                        f"removes {ident[0]} '{shown(ident[1])}', which the base does not list",
                        "check the spelling against the base, or delete this line",
                    )
                else:
                    del merged[at]
            elif at is None:
                _insert(merged, item, kind)
            else:
                merged[at] = self.item(merged[at], item, nested)
        return merged

    def removing(self, item: _Item) -> bool | None:
        """Whether ``item`` says ``remove: true`` (None: ``remove`` is not true or false)."""
        value = item.value.get(REMOVE, False)
        if isinstance(value, bool):
            if REMOVE in item.value and not value:
                item.value = {k: v for k, v in item.value.items() if k != REMOVE}
                if item.parts is not None:
                    item.parts.pop(REMOVE, None)
            return value
        self.problem((*item.path, REMOVE), "must be true or false", "write 'remove: true' to drop this entry")
        return None

    def item(self, base: _Item, child: _Item, nested: dict[str, str]) -> _Item:
        """``child``'s fields over ``base``'s; nested lists merged."""
        if not isinstance(base.value, dict):
            return child
        parts = _members(base)
        for key, part in _members(child).items():
            if key in nested and key in parts:
                parts[key] = self.section(parts[key], part, nested[key])
            else:
                parts[key] = part
        return _mapping(base, parts)

    def problem(self, path: Path, message: str, hint: str) -> None:
        line = self.origin.document.line(path)
        self.chain.problems.append(Located(self.origin.source, YamlIssue(path, line, message, hint)))


_IDENTITY: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "values": _ENTRY,
    "stage": _ENTRY,
    "stages": _ENTRY,  # a pipeline's stages
    "pipelines": _PIPELINE,
    "smart_pipelines": _PIPELINE,
    "smart_processes": _SMART_PROCESS,
}


def _items(item: _Item) -> list[_Item] | None:
    value = item.value
    if isinstance(value, list):
        return [_Item(v, item.origin, (*item.path, i)) for i, v in enumerate(value)]
    if isinstance(value, dict) and isinstance(value.get("entries"), list):
        entries = _members(item)["entries"]
        if entries.parts is not None:
            return list(entries.parts.values())
        return [_Item(v, entries.origin, (*entries.path, i)) for i, v in enumerate(entries.value)]
    return None


def _identity(value: Any, fields_: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first identifying field ``value`` gives, as (field, value)."""
    if not isinstance(value, dict):
        return None
    for name in fields_:
        given = value.get(name)
        if name == "default":
            if given is True:
                return name, True
        elif isinstance(given, str):
            return name, given
    return None


def _find(merged: list[_Item], value: dict[str, Any], fields_: tuple[str, ...]) -> int | None:
    """The index of the base item that ``value`` changes: by its first field that matches."""
    for name in fields_:
        wanted = value.get(name)
        if wanted is None or (name == "default" and wanted is not True):
            continue
        for i, item in enumerate(merged):
            if isinstance(item.value, dict) and item.value.get(name) == wanted:
                return i
    return None


def _insert(merged: list[_Item], item: _Item, kind: str) -> None:
    """A new item goes last; a new process stage goes before the success and failure stages."""
    is_process = isinstance(item.value, dict) and item.value.get("semantics", "process") == "process"
    if kind in ("stage", "stages") and is_process:
        for i, other in enumerate(merged):
            if isinstance(other.value, dict) and other.value.get("semantics") in ("success", "failure"):
                merged.insert(i, item)
                return
    merged.append(item)
