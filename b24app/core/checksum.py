"""The checksum of a plan: a digest of the template, the managed portal state and the options."""

from __future__ import annotations

import hashlib
import json

from .changes import PlanOptions
from .model import PipelineSet, PortalState, RefList, Template


def checksum(template: Template, state: PortalState, options: PlanOptions) -> str:
    """A digest of what a plan is computed from: template, managed portal state and options."""
    digest = hashlib.sha256(state.domain.encode())
    digest.update(json.dumps(_template_form(template), ensure_ascii=False, sort_keys=True).encode())
    digest.update(json.dumps(_state_form(template, state), ensure_ascii=False, sort_keys=True).encode())
    digest.update(json.dumps({"prune": options.prune}).encode())
    return digest.hexdigest()[:16]


def _template_form(template: Template) -> dict[str, object]:
    def ref(lst: RefList) -> object:
        return [lst.prune, [(e.id, e.name, e.sort, e.color, e.semantics) for e in lst.entries]]

    def pipes(ps: PipelineSet | None) -> object:
        if ps is None:
            return None
        return [
            ps.prune,
            [(p.name, p.key, list(p.previous_names), p.default, p.sort, ref(p.stages)) for p in ps.pipelines],
        ]

    return {
        "prune": template.prune,
        "lists": {k: ref(v) for k, v in sorted(template.lists.items())},
        "deals": pipes(template.deal_pipelines),
        "invoices": pipes(template.invoice_pipelines),
        "smart": None
        if template.smart_processes is None
        else [(p.title, p.code, pipes(p.pipelines)) for p in template.smart_processes],
    }


def _state_form(template: Template, state: PortalState) -> dict[str, object]:
    def ref(lst: RefList) -> object:
        return [
            lst.entity_id,
            [(e.row_id, e.id, e.name, e.sort, e.color, e.semantics, e.system) for e in lst.entries],
        ]

    def pipes(ps: PipelineSet) -> object:
        return [(p.id, p.name, p.key, p.default, p.sort, ref(p.stages)) for p in ps.pipelines]

    form: dict[str, object] = {
        "lists": {k: ref(state.lists[k]) for k in sorted(template.lists) if k in state.lists}
    }
    if template.deal_pipelines is not None:
        form["deals"] = pipes(state.deal_pipelines)
    if template.invoice_pipelines is not None and state.invoice_pipelines is not None:
        form["invoices"] = pipes(state.invoice_pipelines)
    if template.smart_processes is not None:
        form["smart"] = [
            (p.type_id, p.entity_type_id, p.title, p.code, pipes(p.pipelines)) for p in state.smart_processes
        ]
    return form
