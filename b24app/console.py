"""What the command line and the demo say to a person at a terminal.

The engine hands over data (progress events, refusals, the result of an apply); this module words
it for a terminal user. The web page words the same data for a browser.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib import resources

from b24app.core.changes import Refusal
from b24app.core.render import describe_refusal
from b24app.outcome import ApplyResult, Outcome
from b24app.progress import APPLYING, COUNTING, CREATING, HEALING, READING, VERIFYING, ProgressEvent
from b24app.sync import PlanChanged, UnsafePlan

PROGRESS_MARK = "…"
_BATCH_NOUN = {CREATING: "creation(s)", APPLYING: "change(s)"}


def example_template_text() -> str:
    return resources.files("b24app").joinpath("examples/crm.yaml").read_text(encoding="utf-8")


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- progress ----------------------------------------------------------------------------------------


def progress_text(event: ProgressEvent) -> str:
    """One readable line (without the mark) for a progress event."""
    if event.done and event.phase in _BATCH_NOUN:
        return f"sent {event.done} of {event.total} {_BATCH_NOUN[event.phase]}"
    if event.phase == READING:
        return _reading_text(event.detail)
    if event.phase == COUNTING:
        return f"counting the items of {event.total} candidate deletion(s)"
    if event.phase == CREATING:
        return f"creating {_structure_text(event.detail)}"
    if event.phase == HEALING:
        if event.done:
            return f"removing this run's {event.done} duplicate(s); carrying on with the other run's"
        return f"another run created the same {_structure_text(event.detail)} at the same time"
    if event.phase == APPLYING:
        return f"applying {event.total} change(s)"
    if event.phase == VERIFYING:
        return "verifying"
    return event.phase


def _reading_text(detail: Mapping[str, object]) -> str:
    portal = detail.get("portal", "the portal")
    if "lost_answer" in detail:
        return f"no answer while creating ({detail['lost_answer']}); re-reading {portal} to see what was made"
    return f"reading {portal}"


def _structure_text(detail: Mapping[str, object]) -> str:
    nouns = {"smart_processes": "smart process(es)", "pipelines": "pipeline(s)"}
    return ", ".join(f"{detail[key]} {noun}" for key, noun in nouns.items() if detail.get(key))


# -- refusals and errors -----------------------------------------------------------------------------


def refusals_text(refusals: tuple[Refusal, ...]) -> str:
    return "; ".join(map(describe_refusal, refusals))


def unsafe_message(error: UnsafePlan) -> str:
    when = "after creating pipelines the plan became unsafe" if error.after_creating else "the plan is unsafe"
    return f"{when}: {refusals_text(error.refusals)}. Check the template, or add --force to accept"


def plan_changed_message(error: PlanChanged, saved_summary: object = None) -> str:
    text = (
        f"the portal or the template changed since the plan was made (plan {error.expected}, "
        f"now {error.actual}); run plan again and review it"
    )
    if isinstance(saved_summary, Mapping):
        text += f" (the saved plan: {summary_text(saved_summary)}; now: {summary_text(error.plan.summary)})"
    return text


def summary_text(summary: Mapping[str, object]) -> str:
    return ", ".join(f"{summary.get(k, 0)} to {k}" for k in ("create", "update", "delete")) + (
        f", {summary.get('blocked', 0)} blocked"
    )


# -- the result of an apply --------------------------------------------------------------------------


def failure_lines(result: ApplyResult) -> list[str]:
    """One line per command Bitrix24 refused (a note when the portal matches anyway)."""
    label = "note (the portal matches anyway)" if result.converged else "failed"
    return [f"{label}: {change.scope.label} {change.key}: {error}" for change, error in result.failed]


def late_blocked_lines(result: ApplyResult) -> list[str]:
    late = result.late_blocked
    if not late:
        return []
    head = "Blocked, found once new pipelines existed (left as they are):"
    return [head, *(f"  ! {c.scope.label} {c.key}: {c.reason}" for c in late)]


def outcome_lines(result: ApplyResult) -> list[str]:
    """What the apply came to, for the terminal (the exit code follows the outcome)."""
    s = result.summary()
    domain = result.plan.domain
    if s.outcome == Outcome.NOTHING_TO_DO:
        return [f"Nothing to apply: {domain} already matches the template. {s.requests} request(s)."]
    if s.outcome == Outcome.APPLIED_VERIFIED:
        more = (
            f" ({s.extra_created} more than planned: the stages of new pipelines, planned once they existed)"
            if s.extra_created
            else ""
        )
        note = f" ({s.blocked} blocked change(s) left as shown)" if s.blocked else ""
        return [
            f"Applied {s.applied} change(s){more}; verified: {domain} matches the template{note}. "
            f"{s.requests} request(s)."
        ]
    conflicts = result.verify.conflicts
    return [
        f"Not converged: {s.failed} change(s) failed; {s.remaining} difference(s) remain"
        + (f"; {len(conflicts)} conflict(s)" if conflicts else "")
        + ":",
        *(f"  {c.scope.label}: {c.action} {c.key}" for c in result.remaining),
        *(f"  {label}: conflict (several portal entries fit it; see the plan above)" for label in conflicts),
        "Fix what the messages say; running apply again is safe.",
    ]
