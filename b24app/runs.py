"""What the journal keeps of a plan or an apply, worked out once for the CLI and the job queue.

Each function returns the keyword fields of ``store.runs.record``/``finish``; no secret is in them
(plans, summaries and states hold reference-list entries only).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from b24app import console
from b24app.core.changes import Plan
from b24app.core.dump import dump_template
from b24app.core.export import template_from_state
from b24app.core.matching import match_smart_process
from b24app.core.model import PortalState, Template
from b24app.outcome import ApplyResult
from b24app.snapshot import dump_state
from b24app.store import RunOutcome
from b24app.sync import PlanChanged, Progress, UnsafePlan
from b24app.sync import apply as apply_plan


def template_hash(text: str) -> str:
    """The SHA-256 of a template's text: which version of a template a run used."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_sources(template: Template) -> list[dict[str, str]]:
    """Every file the template was read from (itself, then the bases it extends), by name and SHA-256."""
    return [{"name": source.name, "sha256": source.sha256} for source in template.sources]


def state_digest(snapshot: dict[str, Any]) -> str:
    """The SHA-256 of a state snapshot (b24app.snapshot) as canonical JSON: equal states, equal digests."""
    text = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def in_sync(plan: Plan) -> bool:
    """Nothing to do and nothing in the way: no change (blocked ones included), refusal or conflict."""
    return not (plan.changes or plan.refusals or plan.conflicts or plan.needs_usage)


def state_before(state: PortalState, template: Template | None = None) -> dict[str, Any]:
    """The portal as read before the run: the complete state (b24app.snapshot, what a rollback plans
    from), the same as a template for people, and which lists the run's template managed."""
    return {
        "domain": state.domain,
        "template": dump_template(template_from_state(state)),
        "state": dump_state(state),
        "managed": None if template is None else managed(template, state),
    }


def managed(template: Template, state: PortalState) -> dict[str, Any]:
    """What a template manages: its flat lists, its pipeline sections, and its smart processes (the
    entityTypeIds of those the portal had, the titles of all)."""
    found = (match_smart_process(p, state.smart_processes)[0] for p in template.smart_processes or ())
    return {
        "lists": sorted(template.lists),
        "deal_pipelines": template.deal_pipelines is not None,
        "invoice_pipelines": template.invoice_pipelines is not None,
        "smart_processes": sorted(p.entity_type_id for p in found if p is not None and p.entity_type_id),
        "smart_process_titles": sorted(p.title for p in template.smart_processes or ()),
    }


def planned(
    plan: Plan, requests: int, state: PortalState | None = None, template: Template | None = None
) -> dict[str, Any]:
    details = {
        "plan": plan.to_json(),
        "checksum": plan.checksum,
        "summary": dict(plan.summary),
        "requests_used": requests,
        "result": plan.to_json(),
    }
    if state is not None:
        details["state_before"] = state_before(state, template)
    return details


def applied(
    result: ApplyResult, state: PortalState | None, template: Template | None = None
) -> tuple[RunOutcome, dict[str, Any]]:
    outcome = RunOutcome.APPLIED if result.summary().ok else RunOutcome.NOT_CONVERGED
    return outcome, {
        "plan": result.plan.to_json(),
        "checksum": result.plan.checksum,
        "summary": dict(result.plan.summary),
        "requests_used": result.requests,
        "state_before": None if state is None else state_before(state, template),
        "result": result.to_json(),
    }


def refused(error: PlanChanged | UnsafePlan, requests: int) -> dict[str, Any]:
    """A refused apply: nothing was written; a changed plan is kept so it can be shown."""
    if isinstance(error, PlanChanged):
        message = console.plan_changed_message(error)
        result = {
            "refused": "plan_changed",
            "expected_checksum": error.expected,
            "checksum": error.actual,
            "plan": error.plan.to_json(),
        }
        return {
            "error": message,
            "plan": error.plan.to_json(),
            "checksum": error.actual,
            "summary": dict(error.plan.summary),
            "requests_used": requests,
            "result": result,
        }
    return {
        "error": console.unsafe_message(error),
        "requests_used": requests,
        "result": {"refused": "unsafe", "reasons": [console.refusals_text(error.refusals)]},
    }


def apply_reviewed(
    client: Any, template: Template, checksum: str, progress: Progress
) -> tuple[RunOutcome, dict[str, Any]]:
    """Apply exactly the reviewed plan (``checksum``) and say how to journal it: refused, with nothing
    written, when the portal or the template changed since or the plan is unsafe; else applied or
    not converged, with the portal's state read before it."""
    state: list[PortalState] = []
    sources = {"template_sources": template_sources(template)}
    try:
        result = apply_plan(
            client, template, expected_checksum=checksum, progress=progress, on_state=state.append
        )
    except (PlanChanged, UnsafePlan) as error:
        return RunOutcome.REFUSED, {**refused(error, client.requests_sent), **sources}
    outcome, details = applied(result, state[0] if state else None, template)
    return outcome, details | sources
