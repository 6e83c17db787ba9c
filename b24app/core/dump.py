"""Template -> YAML text in the layout of DESIGN §2: one flow mapping per entry, block style around.

Written by hand rather than by ``yaml.dump`` so that every entry sits on one line and the keys keep
their order; scalars are quoted only where YAML would read them as something other than the text.
``load_template(dump_template(t), t.source) == t`` for every valid template ``t``.
"""

from __future__ import annotations

import json
import re

from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from b24app.core.catalog import VALUE_LISTS
from b24app.core.model import PROCESS, Entry, Pipeline, PipelineSet, RefList, SmartProcess, Template

_INDENT = "  "
_STR_TAG = "tag:yaml.org,2002:str"
# Characters never written as they are: YAML indicators and anything unprintable or a line break.
_SPECIAL = ",\\[\\]{}#&*!|>'\"%@`:\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff"
# Plain (unquoted) text: none of those, no leading '-', '?' or space, no trailing space.
_PLAIN = re.compile(f"[^-?\\s{_SPECIAL}][^{_SPECIAL}]*(?<! )")
# What a double-quoted scalar must escape beyond what JSON escapes.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_RESOLVER = Resolver()
_STAGE_SECTIONS = ("lead_stages", "deal_pipelines", "quote_stages", "invoice_pipelines", "document_stages")


def dump_template(template: Template, *, header: str | None = None) -> str:
    """The template as YAML; ``header`` (any number of lines) is written as a comment on top."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    lines += ["version: 1", f"prune: {_scalar(template.prune)}"]
    for key in _STAGE_SECTIONS:
        lines += _section(template, key)
    if template.smart_processes is not None:
        lines += _items("smart_processes", [_smart_process(p) for p in template.smart_processes], None, 0)
    for key in VALUE_LISTS:
        lines += _section(template, key)
    return "\n".join(lines) + "\n"


def _section(template: Template, key: str) -> list[str]:
    if key in template.lists:
        return _ref_list(key, template.lists[key], 0)
    pipelines = {"deal_pipelines": template.deal_pipelines, "invoice_pipelines": template.invoice_pipelines}
    if pipelines.get(key) is not None:
        return _pipeline_set(key, pipelines[key], 0)
    return []


def _ref_list(key: str, ref_list: RefList, depth: int) -> list[str]:
    return _items(key, [_entry(e) for e in ref_list.entries], ref_list.prune, depth)


def _items(key: str, items: list[str] | list[list[str]], prune: bool | None, depth: int) -> list[str]:
    """``key:`` with its items, in the plain-list form or the ``{prune, entries}`` form."""
    pad = _INDENT * depth
    if prune is not None:
        options = [f"{pad}{key}:", f"{pad}{_INDENT}prune: {_scalar(prune)}"]
        return options + _items("entries", items, None, depth + 1)
    if not items:
        return [f"{pad}{key}: []"]
    lines = [f"{pad}{key}:"]
    for item in items:
        if isinstance(item, str):
            lines.append(f"{pad}{_INDENT}- {item}")
        else:  # a block mapping: "- " before its first line, the rest indented under it
            lines.append(f"{pad}{_INDENT}- {item[0]}")
            lines += [f"{pad}{_INDENT * 2}{line}" for line in item[1:]]
    return lines


def _entry(entry: Entry) -> str:
    fields = [("id", entry.id), ("name", entry.name), ("sort", entry.sort)]
    if entry.color is not None:
        fields.append(("color", entry.color))
    if entry.semantics != PROCESS:
        fields.append(("semantics", entry.semantics))
    return "{" + ", ".join(f"{key}: {_scalar(value)}" for key, value in fields) + "}"


def _pipeline_set(key: str, pipelines: PipelineSet, depth: int) -> list[str]:
    return _items(key, [_pipeline(p) for p in pipelines.pipelines], pipelines.prune, depth)


def _pipeline(pipeline: Pipeline) -> list[str]:
    lines = [f"name: {_scalar(pipeline.name)}"]
    if pipeline.key is not None:
        lines.append(f"key: {_scalar(pipeline.key)}")
    if pipeline.previous_names:
        lines.append(f"previous_names: [{', '.join(_scalar(n) for n in pipeline.previous_names)}]")
    if pipeline.default:
        lines.append("default: true")
    if pipeline.sort is not None:
        lines.append(f"sort: {pipeline.sort}")
    if pipeline.stages.prune is not None:
        lines.append(f"prune: {_scalar(pipeline.stages.prune)}")
    return lines + _items("stages", [_entry(e) for e in pipeline.stages.entries], None, 0)


def _smart_process(process: SmartProcess) -> list[str]:
    lines = [f"title: {_scalar(process.title)}"]
    if process.code is not None:
        lines.append(f"code: {_scalar(process.code)}")
    return lines + _pipeline_set("pipelines", process.pipelines, 0)


def _scalar(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.fullmatch(value) and _RESOLVER.resolve(ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    quoted = json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)
