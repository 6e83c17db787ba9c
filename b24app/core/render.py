"""Renderers of a plan: text for people (optionally coloured), JSON for machines, HTML for the web page.

They stand outside the plan so the command line and the in-portal page show the same thing.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping

from .changes import (
    BLOCKED,
    CREATE,
    DELETE,
    ENTRY,
    PIPELINE,
    SMART_PROCESS,
    UPDATE,
    Blocked,
    Change,
    EntryCreate,
    EntryDelete,
    FieldUpdate,
    PipelineCreate,
    PipelineDelete,
    Plan,
    Refusal,
    SmartProcessCreate,
)
from .model import PROCESS

_MARK = {CREATE: "+", UPDATE: "~", DELETE: "-", BLOCKED: "!"}
_ANSI = {CREATE: "\033[32m", UPDATE: "\033[33m", DELETE: "\033[31m", BLOCKED: "\033[35m"}
_RESET = "\033[0m"
_BOLD = "\033[1m"


PHRASES: dict[str, str] = {
    "nothing": "none",
    "blocked": "blocked: {reason}",
    "process_created": "{key} with {count} pipeline(s)",
    "pipeline_created": "{key} with {count} stages",
    "sort": "sort {value}",
    "semantics_success": "success",
    "semantics_failure": "failure",
    "key_pipeline": "pipeline",
    "key_type": "type",
    "refusal": "{label}: {deletions} of {size} would be deleted ({percent} %, more than {limit} %)",
}
"""The sentences of a plan's lines, in English; the page passes its language's (same keys and
placeholders). Field names are shown as ``field_<name>`` when the mapping has it, else as is."""


def _q(value: object, words: Mapping[str, str] = PHRASES) -> str:
    if value is None:
        return words["nothing"]
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _differences(change: FieldUpdate, words: Mapping[str, str]) -> str:
    text = ", ".join(
        f"{words.get('field_' + f.name, f.name)} {_q(f.old, words)} -> {_q(f.new, words)}"
        for f in change.fields
    )
    return f"{text} ({change.reason})" if change.reason else text


def _entry_created(change: EntryCreate, words: Mapping[str, str]) -> str:
    entry = change.entry
    extra = [words["sort"].format(value=entry.sort)]
    if entry.semantics != PROCESS:
        extra.append(words.get(f"semantics_{entry.semantics}", entry.semantics))
    if entry.color is not None:
        extra.append(entry.color)
    return f"{_q(entry.name)} ({', '.join(extra)})"


def _pipeline_created(change: PipelineCreate, words: Mapping[str, str]) -> str:
    stages = [e.id for e in change.pipeline.stages.entries]
    listed = f": {', '.join(stages)}" if stages else ""
    return words["pipeline_created"].format(key=_q(change.key), count=len(stages)) + listed


def describe(change: Change, words: Mapping[str, str] | None = None) -> str:
    """One line (without the mark and key) saying what the change does, in ``words``' language."""
    words = {**PHRASES, **(words or {})}
    if isinstance(change, Blocked):
        return words["blocked"].format(reason=change.reason)
    if isinstance(change, FieldUpdate):
        return _differences(change, words)
    if isinstance(change, SmartProcessCreate):
        return words["process_created"].format(
            key=_q(change.key), count=len(change.process.pipelines.pipelines)
        )
    if isinstance(change, PipelineCreate):
        return _pipeline_created(change, words)
    if isinstance(change, PipelineDelete):
        return _q(change.key)
    if isinstance(change, EntryCreate):
        return _entry_created(change, words)
    if isinstance(change, EntryDelete):
        return _q(change.entry.name)
    raise TypeError(f"no description for {type(change).__name__}")


def describe_refusal(refusal: Refusal, words: Mapping[str, str] | None = None) -> str:
    """'sources (SOURCE): 4 of 10 would be deleted (40 %, more than 30 %)'."""
    return {**PHRASES, **(words or {})}["refusal"].format(
        label=list_label(refusal.label, words),
        deletions=refusal.deletions,
        size=refusal.size,
        percent=refusal.percent,
        limit=round(refusal.share * 100),
    )


_QUOTED = re.compile(r'("[^"]*")')


def list_label(label: str, words: Mapping[str, str] | None = None) -> str:
    """A list's heading in ``words``' language: outside the quoted names (the template's and the
    portal's own), each English title of a ``title_<title with _ for spaces>`` key is replaced by its
    value, longest first, and "(new)" by ``new``."""
    if not words:
        return label
    titles = sorted(
        ((key[6:].replace("_", " "), value) for key, value in words.items() if key.startswith("title_")),
        key=lambda pair: -len(pair[0]),
    )
    parts = _QUOTED.split(label)
    for index in range(0, len(parts), 2):  # even parts are outside quotes
        part = parts[index]
        for english, translated in titles:
            pattern = rf"(?<![\w-]){re.escape(english)}(?![\w-])"
            part = re.sub(pattern, lambda _match, text=translated: text, part)
        if "new" in words:
            part = part.replace("(new)", f"({words['new']})")
        parts[index] = part
    return "".join(parts)


def _shown_key(change: Change, words: Mapping[str, str] = PHRASES) -> str:
    return {PIPELINE: words["key_pipeline"], SMART_PROCESS: words["key_type"]}.get(change.target, change.key)


def _position(change: Change) -> tuple[int, int]:
    """Where a change is shown in its list: pipeline changes first, then entries by sort."""
    if change.target != ENTRY:
        return (0, 0)
    for values in (change.new_values(), change.old_values()):
        if values and isinstance(values.get("sort"), int):
            return (1, values["sort"])  # type: ignore[return-value]
    return (1, 0)


def _groups(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    """Changes by list, in the order of the plan's lists, each list's changes as people read it."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.scope.label, []).append(change)
    return [(label, sorted(group, key=_position)) for label, group in groups.items()]


def render_text(plan: Plan, *, color: bool = False, apply_hint: str | None = None) -> str:
    def paint(action: str, text: str) -> str:
        return f"{_ANSI[action]}{text}{_RESET}" if color else text

    title = f"Portal {plan.domain} — template {plan.template}"
    lines = [f"{_BOLD}{title}{_RESET}" if color else title]
    width = max((len(c.key) for c in plan.changes if c.target == ENTRY), default=10)
    width = min(max(width, 10), 24)
    for label, changes in _groups(plan.changes):
        lines.append(f"  {label}")
        for change in changes:
            key = _shown_key(change)
            body = describe(change)
            lines.append(paint(change.action, f"    {_MARK[change.action]} {key:<{width}} {body}"))
    if not plan.changes:
        lines.append("  No differences: the portal matches the template.")
    s = plan.summary
    lines.append(
        f"Plan: {s[CREATE]} to create, {s[UPDATE]} to update, {s[DELETE]} to delete, {s[BLOCKED]} blocked."
    )
    for reason in map(describe_refusal, plan.refusals):
        if plan.forced:
            lines.append(paint(BLOCKED, f"Forced past the safety limit: {reason}"))
        else:
            lines.append(paint(BLOCKED, f"Unsafe: {reason}; check the template, or add --force to accept"))
    if apply_hint and plan.has_changes:
        lines.append(f"Apply with: {apply_hint}")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), ensure_ascii=False, indent=2) + "\n"


HTML_TEXT = {
    "portal": "Portal {domain}",
    "summary": "Plan: {create} to create, {update} to update, {delete} to delete, {blocked} blocked.",
    "none": "No differences: the portal matches the template.",
    "unsafe": "Unsafe: {reason}",
    "forced": "Forced past the safety limit: {reason}",
    "colour": "colour {value}",
}
_HEX_COLOUR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")


def swatch(value: object, label: str = "colour {value}") -> str:
    """A colour as a small square (an SVG ``fill``, which a strict Content-Security-Policy allows),
    or nothing when ``value`` is not a ``#RGB``/``#RRGGBB`` colour."""
    if not isinstance(value, str) or not _HEX_COLOUR.fullmatch(value):
        return ""
    title = html.escape(label.format(value=value))
    return (
        f'<svg class="swatch" width="12" height="12" role="img" aria-label="{title}">'
        f'<rect width="12" height="12" fill="{value}"/></svg>'
    )


def _swatches(change: Change, label: str) -> str:
    """Swatches of the colours a change sets: a new entry's colour, or an update's old -> new colour."""
    if isinstance(change, EntryCreate):
        return swatch(change.entry.color, label)
    if isinstance(change, FieldUpdate):
        for field in change.fields:
            if field.name == "color":
                old, new = swatch(field.old, label), swatch(field.new, label)
                return f"{old} &rarr; {new}" if old and new else old or new
    return ""


def render_html(plan: Plan, text: Mapping[str, str] | None = None) -> str:
    """A fragment for the in-portal page: one table per list (grouped like :func:`render_text`),
    colours as swatches, a summary line. ``text`` overrides the sentences of :data:`HTML_TEXT`
    (the page's language); every value from the plan is escaped."""
    words = {**PHRASES, **HTML_TEXT, **(text or {})}
    out = [
        f'<section class="plan" data-checksum="{html.escape(plan.checksum)}">',
        f"<h2>{html.escape(words['portal'].format(domain=plan.domain))}</h2>",
    ]
    for label, changes in _groups(plan.changes):
        out.append(f"<h3>{html.escape(list_label(label, words))}</h3><table>")
        for change in changes:
            key = _shown_key(change, words)
            out.append(
                f'<tr class="{change.action}"><td class="mark">{_MARK[change.action]}</td>'
                f"<td>{html.escape(key)}</td><td>{html.escape(describe(change, words))}"
                f" {_swatches(change, words['colour'])}</td></tr>"
            )
        out.append("</table>")
    if not plan.changes:
        out.append(f'<p class="none">{html.escape(words["none"])}</p>')
    s = plan.summary
    summary = words["summary"].format(
        create=s[CREATE], update=s[UPDATE], delete=s[DELETE], blocked=s[BLOCKED]
    )
    out.append(f'<p class="summary">{html.escape(summary)}</p>')
    for reason in (describe_refusal(refusal, words) for refusal in plan.refusals):
        line = words["forced" if plan.forced else "unsafe"].format(reason=reason)
        out.append(f'<p class="unsafe">{html.escape(line)}</p>')
    out.append("</section>")
    return "\n".join(out)
