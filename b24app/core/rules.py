"""Rules a template's lists and pipelines must satisfy beyond their shape (DESIGN §1, §2).

Pure functions over model objects. A position whose id (or pipeline name) could not be read is
``None`` and is skipped; the stage rules are only run on lists whose entries all could be read.
Each finding names the position (``index``) and key (``field``) it is about; ``where(i)`` gives the
caller's words for another position ("line 12"), used when a finding points at two places.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from b24app.core.catalog import StageRules, id_charset_problem, template_id_limit
from b24app.core.limits import shown
from b24app.core.model import FAILURE, PROCESS, SEMANTICS_RANK, SUCCESS, Entry, Pipeline, SmartProcess

Where = Callable[[int], str]

_ORDER_HINT = "order the stages: process stages first, then the success stage, then the failure stages"
_SORT_HINT = "stages are shown by sort: make it grow down the list, or leave sort out everywhere"


@dataclass(frozen=True, slots=True)
class Finding:
    index: int | None  # position in the list; None = the list itself
    field: str | None
    message: str
    hint: str


def check_ids(
    kind: str, ids: Sequence[str | None], where: Where, *, default_pipeline: bool = False
) -> list[Finding]:
    """Length and characters Bitrix24 accepts in this list; no id twice."""
    limit = template_id_limit(kind, default_pipeline)
    findings = []
    first_seen: dict[str, int] = {}
    for i, entry_id in enumerate(ids):
        if entry_id is None:
            continue
        problem = id_charset_problem(kind, entry_id)
        if problem:
            findings.append(
                Finding(
                    i,
                    "id",
                    f"id '{shown(entry_id)}' {problem}",
                    "choose an id of Latin letters, digits, '_' and '-'",
                )
            )
        elif len(entry_id) > limit:
            findings.append(
                Finding(
                    i,
                    "id",
                    f"id '{shown(entry_id)}' is too long ({len(entry_id):,} > {limit})",
                    f"use at most {limit} characters",
                )
            )
        folded = entry_id.upper()
        if folded in first_seen:
            findings.append(
                Finding(
                    i,
                    "id",
                    f"id '{shown(entry_id)}' is already used ({where(first_seen[folded])})",
                    "give each entry its own id (Bitrix24 ignores case in ids)",
                )
            )
        else:
            first_seen[folded] = i
    return findings


def check_stages(
    rules: StageRules, stages: Sequence[Entry], explicit_sort: Sequence[bool], where: Where
) -> list[Finding]:
    """Fixed initial, success and failure stages; process < success < failures by position and sort."""
    if not stages:
        return [
            Finding(
                None,
                None,
                "has no stages",
                f"list at least {rules.initial}, then {rules.success} (semantics: success) "
                f"and {rules.failure} (semantics: failure)",
            )
        ]
    return (
        _fixed_stage_findings(rules, stages)
        + _order_findings(stages, where)
        + _sort_findings(stages, explicit_sort, where)
    )


def _fixed_stage_findings(rules: StageRules, stages: Sequence[Entry]) -> list[Finding]:
    findings = []
    first = stages[0]
    if first.id != rules.initial:
        findings.append(
            Finding(
                0,
                "id",
                f"the first stage is '{first.id}', but it must be {rules.initial}",
                f"{rules.initial} is this list's fixed initial stage: put it first",
            )
        )
    elif first.semantics != PROCESS:
        findings.append(
            Finding(
                0,
                "semantics",
                f"the initial stage {rules.initial} must be a process stage",
                "remove its semantics",
            )
        )
    ids = {e.id: i for i, e in enumerate(stages)}
    for i, stage in enumerate(stages):
        if stage.semantics == SUCCESS and stage.id != rules.success:
            findings.append(
                Finding(
                    i,
                    "semantics",
                    f"only {rules.success} can be the success stage",
                    f"Bitrix24 fixes the success stage's id: give '{stage.id}' "
                    f"another semantics, or use {rules.success} as the success stage",
                )
            )
    for fixed, semantics in ((rules.success, SUCCESS), (rules.failure, FAILURE)):
        if fixed not in ids:
            findings.append(
                Finding(
                    None,
                    None,
                    f"has no {fixed} stage",
                    f"add {{id: {fixed}, name: …, semantics: {semantics}}}: "
                    f"it is this list's fixed {semantics} stage",
                )
            )
        elif stages[ids[fixed]].semantics != semantics:
            findings.append(
                Finding(
                    ids[fixed],
                    "semantics",
                    f"{fixed} is this list's fixed {semantics} stage",
                    f"write semantics: {semantics}",
                )
            )
    return findings


def _order_findings(stages: Sequence[Entry], where: Where) -> list[Finding]:
    findings = []
    for i in range(1, len(stages)):
        stage, previous = stages[i], stages[i - 1]
        if SEMANTICS_RANK[stage.semantics] < SEMANTICS_RANK[previous.semantics]:
            findings.append(
                Finding(
                    i,
                    None,
                    f"{stage.semantics} stage '{stage.id}' comes after "
                    f"{previous.semantics} stage '{previous.id}' ({where(i - 1)})",
                    _ORDER_HINT,
                )
            )
    return findings


def _sort_findings(stages: Sequence[Entry], explicit_sort: Sequence[bool], where: Where) -> list[Finding]:
    findings = []
    for i in range(1, len(stages)):
        sort, previous = stages[i].sort, stages[i - 1]
        if sort >= previous.sort:  # equal sorts exist on lived-in portals; Bitrix24 accepts them
            continue
        shown = f"sort {sort}" if explicit_sort[i] else f"sort {sort} (the default, position × 10)"
        findings.append(
            Finding(
                i,
                "sort",
                f"{shown} is lower than the sort {previous.sort} of '{previous.id}' ({where(i - 1)})",
                _SORT_HINT,
            )
        )
    return findings


def check_pipelines(
    section_title: str, pipelines: Sequence[Pipeline | None], where: Where, *, defaults_known: bool = True
) -> list[Finding]:
    """One default pipeline; names, previous names and keys unique in the section.

    ``defaults_known`` is False when some pipeline (or its ``default``) could not be read: then a
    missing default is not reported.
    """
    if not pipelines:
        return [
            Finding(
                None,
                None,
                "lists no pipelines",
                "add the default pipeline (default: true), or remove the key to leave them alone",
            )
        ]
    findings = _default_findings(section_title, pipelines, where, defaults_known)
    labels: dict[str, int] = {}
    keys: dict[str, int] = {}
    for i, pipeline in enumerate(pipelines):
        if pipeline is None:
            continue
        names = [("name", pipeline.name)] + [("previous_names", name) for name in pipeline.previous_names]
        for field, label in names:
            if label in labels:
                findings.append(
                    Finding(
                        i,
                        field,
                        f"'{label}' already names a pipeline ({where(labels[label])})",
                        "every name and previous name must be unique in the section",
                    )
                )
            labels.setdefault(label, i)
        key = pipeline.key
        if key is not None:
            if key in keys:
                findings.append(
                    Finding(
                        i,
                        "key",
                        f"key '{key}' is already used ({where(keys[key])})",
                        "give each pipeline its own key",
                    )
                )
            keys.setdefault(key, i)
    return findings


def _default_findings(
    section_title: str, pipelines: Sequence[Pipeline | None], where: Where, defaults_known: bool
) -> list[Finding]:
    defaults = [i for i, p in enumerate(pipelines) if p and p.default]
    if not defaults:
        if not defaults_known or pipelines[0] is None:
            return []
        return [
            Finding(
                None,
                None,
                f"no {section_title} is marked default",
                f"add default: true to the pipeline that stands for the portal's default one, "
                f"e.g. '{pipelines[0].name}'",
            )
        ]
    return [
        Finding(
            i,
            "default",
            f"a second default {section_title} ({where(defaults[0])} is default too)",
            "mark only one pipeline default: true",
        )
        for i in defaults[1:]
    ]


def check_smart_processes(processes: Sequence[SmartProcess | None], where: Where) -> list[Finding]:
    """Titles and codes unique."""
    findings = []
    seen: dict[tuple[str, str], int] = {}
    for i, process in enumerate(processes):
        if process is None:
            continue
        for field, value in (("title", process.title), ("code", process.code)):
            if value is None:
                continue
            if (field, value) in seen:
                findings.append(
                    Finding(
                        i,
                        field,
                        f"{field} '{value}' is already used ({where(seen[field, value])})",
                        f"give each smart process its own {field}",
                    )
                )
            seen.setdefault((field, value), i)
    return findings
