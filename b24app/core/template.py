"""Load a YAML template (DESIGN §2) into the model, reporting every problem at once.

``load_template(text, source)`` parses the YAML with line numbers (:mod:`.yamlsource`), checks each
mapping against its marshmallow schema (:mod:`.schema`), builds the model and checks the rules
that span entries or pipelines (:mod:`.rules`). Nothing is returned unless nothing is wrong.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

from marshmallow import Schema, ValidationError

from b24app.core import rules, schema
from b24app.core.catalog import FLAT_LISTS, SECTION_ENTITY_TYPE, SECTION_STAGE_KIND, SECTION_TITLE, SPECS
from b24app.core.inherit import Resolver, read_chain
from b24app.core.limits import MAX_PIPELINES, MAX_PROBLEMS, MAX_SMART_PROCESSES, shown
from b24app.core.model import PROCESS, Entry, Pipeline, PipelineSet, RefList, SmartProcess, Template
from b24app.core.yamlsource import Document, Path, YamlIssue

_TEMPLATE = schema.TemplateSchema()
_LIST_OPTIONS = schema.ListOptionsSchema()
_VALUE = schema.ValueSchema()
_STAGE = schema.StageSchema()
_PIPELINE = schema.PipelineSchema()
_SMART_PROCESS = schema.SmartProcessSchema()


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    path: str  # "deal_pipelines[1].stages[3].id"; "" for the document itself
    message: str
    hint: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text}{schema.HINT_SEPARATOR}{self.hint}" if self.hint else text


class TemplateError(Exception):
    """The template is not valid; ``problems`` lists everything found, in document order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_template(text: str, source: str = "<template>", resolver: Resolver | None = None) -> Template:
    """The template in ``text`` (named ``source`` in messages). A template that extends a base
    (``extends: base.yaml``) is merged with it; ``resolver`` gives the base's text (see
    :mod:`.inherit`; without one, ``extends`` is reported as a problem)."""
    chain = read_chain(text, source, resolver)
    problems = [_problem(found.file, found.issue) for found in chain.problems]
    if chain.document is None:
        raise TemplateError(problems)
    loader = _Loader(source, chain.document, problems)
    try:
        template = replace(loader.template(), sources=tuple(chain.sources))
    except _Enough:
        found = sorted(loader.problems, key=_order(source))[:MAX_PROBLEMS]
        stop = Problem(source, None, "", f"checking stopped after {MAX_PROBLEMS} problems", "fix these first")
        raise TemplateError([*found, stop]) from None
    if loader.problems:
        raise TemplateError(sorted(loader.problems, key=_order(source)))
    return template


def _order(source: str):
    """Problems in document order: the template's first, then each base's."""
    return lambda p: (p.file != source, p.file, p.line or 0)


def format_path(path: Path) -> str:
    """``("deal_pipelines", 1, "stages", 3, "id")`` -> ``"deal_pipelines[1].stages[3].id"``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{shown(part)}" if text else shown(part)
    return text


def _problem(source: str, issue: YamlIssue) -> Problem:
    return Problem(source, issue.line, format_path(issue.path), issue.message, issue.hint)


class _Enough(Exception):
    """``MAX_PROBLEMS`` problems are found: the rest of the template is not checked."""


class _Loader:
    """One pass over a parsed document: builds the model and collects problems."""

    def __init__(self, source: str, document: Document, problems: list[Problem]) -> None:
        self.source = source
        self.doc = document
        self.problems = problems

    def template(self) -> Template:
        if len(self.problems) >= MAX_PROBLEMS:
            raise _Enough
        root = self.doc.value
        if not isinstance(root, dict):
            what = "is empty" if root is None else "must be a mapping of sections"
            self._add((), f"the template {what}", "start it with 'version: 1' and list the sections under it")
            return Template(source=self.source)
        data = self._load(_TEMPLATE, root, ())
        lists = {key: self._ref_list(key, data[key], (key,)) for key in FLAT_LISTS if key in data}
        return Template(
            lists=lists,
            deal_pipelines=self._section("deal_pipelines", data, ()),
            invoice_pipelines=self._section("invoice_pipelines", data, ()),
            smart_processes=self._smart_processes(data.get("smart_processes")),
            prune=data.get("prune", False),
            source=self.source,
        )

    # -- lists --------------------------------------------------------------------------------------

    def _ref_list(self, kind: str, raw: Any, path: Path, *, default_pipeline: bool = False) -> RefList:
        items, items_path, prune = self._items(raw, path)
        if items is None:
            return RefList(kind, (), prune)
        item_schema = _STAGE if SPECS[kind].is_stages else _VALUE
        rows = [self._load_item(item_schema, item, (*items_path, i)) for i, item in enumerate(items)]
        entries = [_entry(data, i) for i, (data, _) in enumerate(rows)]
        where = self._where(items_path)
        findings = rules.check_ids(
            kind, [data.get("id") for data, _ in rows], where, default_pipeline=default_pipeline
        )
        stage_rules = SPECS[kind].stages
        if stage_rules and all("id" in data and not failed & {"sort", "semantics"} for data, failed in rows):
            explicit_sort = [("sort" in data) for data, _ in rows]
            findings += rules.check_stages(stage_rules, entries, explicit_sort, where)
        self._findings(items_path, findings)
        return RefList(kind, tuple(entries), prune)

    def _items(self, raw: Any, path: Path) -> tuple[list[Any] | None, Path, bool | None]:
        """The items (None: unreadable) of a list written as a list or as ``{prune, entries}``."""
        if isinstance(raw, list):
            return raw, path, None
        data = self._load(_LIST_OPTIONS, raw, path)
        return data.get("entries"), (*path, "entries"), data.get("prune")

    def _bounded(self, items: list[Any] | None, path: Path, limit: int, noun: str) -> list[Any] | None:
        """``items``, or None (with one problem) when there are more than ``limit``: none is read then.

        (Every YAML list is bounded as it is read, by :mod:`.yamlcompose`; these bounds are lower.)
        """
        if items is None or len(items) <= limit:
            return items
        self._add(
            path,
            f"lists {len(items):,} {noun}; b24app manages at most {limit:,} {noun} here",
            f"keep at most {limit:,} (a list this long is almost always generated by mistake)",
            on_key=True,
        )
        return None

    # -- pipelines ----------------------------------------------------------------------------------

    def _section(self, section: str, data: dict[str, Any], path: Path) -> PipelineSet | None:
        if section not in data:
            return None
        return self._pipeline_set(section, data[section], (*path, section))

    def _pipeline_set(self, section: str, raw: Any, path: Path) -> PipelineSet:
        items, items_path, prune = self._items(raw, path)
        items = self._bounded(items, items_path, MAX_PIPELINES, "pipelines")
        pipelines: list[Pipeline] = []
        readable: list[Pipeline | None] = []  # None: the name could not be read
        defaults_known = True
        for i, item in enumerate(items or ()):
            data, failed = self._load_item(_PIPELINE, item, (*items_path, i))
            pipelines.append(self._pipeline(section, data, (*items_path, i)))
            readable.append(pipelines[-1] if "name" in data else None)
            defaults_known = defaults_known and "name" in data and "default" not in failed
        if items is not None:
            findings = rules.check_pipelines(
                SECTION_TITLE[section], readable, self._where(items_path), defaults_known=defaults_known
            )
            self._findings(items_path, findings)
        return PipelineSet(section, tuple(pipelines), prune, SECTION_ENTITY_TYPE[section])

    def _pipeline(self, section: str, data: dict[str, Any], path: Path) -> Pipeline:
        default = data.get("default", False)
        kind = SECTION_STAGE_KIND[section]
        stages = RefList(kind, ())
        if "stages" in data:
            stages = self._ref_list(
                kind,
                data["stages"],
                (*path, "stages"),
                default_pipeline=default and section == "deal_pipelines",
            )
        if "key" in data and section != "deal_pipelines":
            self._add(
                (*path, "key"),
                "a key is kept only for deal pipelines (Bitrix24 stores it as originId)",
                "remove it; to rename this pipeline, list its old name in previous_names",
                on_key=True,
            )
        if default and "key" in data and section == "deal_pipelines":
            self._add(
                (*path, "key"),
                "the default deal pipeline takes no key (it is always pipeline 0)",
                "remove the key; the default pipeline is matched as the default",
                on_key=True,
            )
        if "prune" in data:  # a pipeline's prune is its stages' prune
            if stages.prune is not None:
                self._add((*path, "prune"), "prune is given twice, here and under stages", "keep one of them")
            stages = replace(stages, prune=data["prune"])
        return Pipeline(
            name=data.get("name", ""),
            stages=stages,
            default=default,
            key=data.get("key"),
            previous_names=tuple(data.get("previous_names", ())),
            sort=data.get("sort"),
        )

    def _smart_processes(self, raw: list[Any] | None) -> tuple[SmartProcess, ...] | None:
        if raw is None:
            return None
        path: Path = ("smart_processes",)
        processes: list[SmartProcess] = []
        readable: list[SmartProcess | None] = []  # None: the title could not be read
        for i, item in enumerate(self._bounded(raw, path, MAX_SMART_PROCESSES, "smart processes") or ()):
            data, _ = self._load_item(_SMART_PROCESS, item, (*path, i))
            pipelines = PipelineSet("smart_processes", ())
            if "pipelines" in data:
                pipelines = self._pipeline_set("smart_processes", data["pipelines"], (*path, i, "pipelines"))
            processes.append(SmartProcess(data.get("title", ""), pipelines, data.get("code")))
            readable.append(processes[-1] if "title" in data else None)
        self._findings(path, rules.check_smart_processes(readable, self._where(path)))
        return tuple(processes)

    # -- schema checks and problems ------------------------------------------------------------------

    def _load(self, item_schema: Schema, raw: Any, path: Path) -> dict[str, Any]:
        """The valid part of a mapping checked by ``item_schema``; problems are recorded."""
        return self._load_item(item_schema, raw, path)[0]

    def _load_item(self, item_schema: Schema, raw: Any, path: Path) -> tuple[dict[str, Any], set[str]]:
        """(valid keys of the mapping, keys that were wrong)."""
        if not isinstance(raw, dict):
            example = ", ".join(f.metadata["example"] for f in item_schema.fields.values() if f.required)
            self._add(path, "must be a mapping", f"write 'key: value' pairs, e.g. {{{example}}}")
            return {}, set()
        try:
            return item_schema.load(raw), set()
        except ValidationError as err:
            errors = err.normalized_messages()
            for key, messages in errors.items():
                self._schema_problems(item_schema, (*path, key), messages)
            return err.valid_data or {}, set(errors)

    def _schema_problems(self, item_schema: Schema, path: Path, messages: Any) -> None:
        if isinstance(messages, dict):  # a list field: {index: [messages]}
            for index, inner in messages.items():
                self._schema_problems(item_schema, (*path, index), inner)
            return
        key = path[-1]
        for message in messages:
            if message == schema.UNKNOWN:
                self._add(
                    path, f"unknown key '{shown(key)}'", _unknown_key_hint(item_schema, key), on_key=True
                )
            elif message == schema.MISSING:
                self._add(path, "is missing", f"add '{item_schema.fields[key].metadata['example']}'")
            else:
                what, _, how = message.partition(schema.HINT_SEPARATOR)
                self._add(path, what, how)

    def _findings(self, path: Path, findings: list[rules.Finding]) -> None:
        for finding in findings:
            if finding.index is None:  # about the list itself: point at its key
                self._add(path, finding.message, finding.hint, on_key=True)
                continue
            at = (*path, finding.index)
            self._add(at if finding.field is None else (*at, finding.field), finding.message, finding.hint)

    def _where(self, items_path: Path) -> rules.Where:
        def where(index: int) -> str:
            path = (*items_path, index)
            file = self.doc.file(path, self.source)
            line = f"line {self.doc.line(path)}"
            return line if file == self.source else f"{line} of {file}"

        return where

    def _add(self, path: Path, message: str, hint: str, *, on_key: bool = False) -> None:
        if path in self.doc.unreadable:  # already reported as a YAML problem
            return
        line = self.doc.key_line(path) if on_key else self.doc.line(path)
        file = self.doc.file(path, self.source)
        self.problems.append(Problem(file, line, format_path(self.doc.path_in_file(path)), message, hint))
        if len(self.problems) >= MAX_PROBLEMS:
            raise _Enough


def _entry(data: dict[str, Any], index: int) -> Entry:
    """The entry read from ``data``; what could not be read is left empty (and was reported)."""
    return Entry(
        id=data.get("id", ""),
        name=data.get("name", ""),
        sort=data.get("sort", (index + 1) * 10),
        color=data.get("color"),
        semantics=data.get("semantics", PROCESS),
    )


def _unknown_key_hint(item_schema: Schema, key: Any) -> str:
    known = list(item_schema.fields)
    if item_schema is _VALUE and key in _STAGE.fields:
        return f"'{key}' applies to stages only: remove it"
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"did you mean '{close[0]}'?" if close else f"known keys here: {', '.join(known)}"
