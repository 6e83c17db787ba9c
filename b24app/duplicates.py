"""Two applies to one portal at once: what this run made, and the duplicates it removes.

Each run marks the pipelines it creates (reader.new_run_mark). When a re-read shows that another
run created the same pipeline or smart process meanwhile, the run deletes its own new one and
carries on with the other; every run keeps the same one (matching.survivor: the lowest id), so
two racing runs agree whichever arrives first. Nothing this run did not create is deleted here.
"""

from __future__ import annotations

from b24app.bitrix import reader, writer
from b24app.bitrix.client import Client
from b24app.core.matching import match_pipelines, match_smart_process, survivor
from b24app.core.model import PipelineSet, PortalState, Template
from b24app.progress import HEALING, Progress, ProgressEvent


def made_by_run(state: PortalState, mark: str, types_before: set[int | None]) -> set[tuple[int, int]]:
    """(entityTypeId, category id) of the pipelines this run made: those with its mark, and those
    of smart processes that were not there before."""
    sets = [state.deal_pipelines, state.invoice_pipelines, *(p.pipelines for p in state.smart_processes)]
    marked = {
        (ps.entity_type_id or 0, p.id or 0)
        for ps in sets
        if ps is not None
        for p in ps.pipelines
        if p.made_by == mark
    }
    new_types = {
        (sp.entity_type_id or 0, p.id or 0)
        for sp in state.smart_processes
        if sp.entity_type_id not in types_before
        for p in sp.pipelines.pipelines
    }
    return marked | new_types


def mark_new_types_pipelines(
    client: Client, state: PortalState, mark: str, types_before: set[int | None]
) -> None:
    """Bitrix24 makes a new smart process's default pipeline itself: mark it as this run's too, so
    that a rerun after a crash recognises it (the returned state is not re-read: the mark is only
    read by later runs)."""
    pipelines = [
        (sp.entity_type_id or 0, p.id or 0)
        for sp in state.smart_processes
        if sp.entity_type_id not in types_before
        for p in sp.pipelines.pipelines
        if p.made_by is None
    ]
    if pipelines:
        writer.mark_pipelines(client, pipelines, mark)


def _pipeline_pairs(template: Template, state: PortalState) -> list[tuple[PipelineSet, PipelineSet]]:
    """(template pipelines, portal pipelines) of each section the template manages."""
    pairs = []
    if template.deal_pipelines is not None:
        pairs.append((template.deal_pipelines, state.deal_pipelines))
    if template.invoice_pipelines is not None and state.invoice_pipelines is not None:
        pairs.append((template.invoice_pipelines, state.invoice_pipelines))
    for process in template.smart_processes or ():
        actual, _ = match_smart_process(process, state.smart_processes)
        if actual is not None:
            pairs.append((process.pipelines, actual.pipelines))
    return pairs


def own_duplicate_types(template: Template, state: PortalState, own_types: set[int]) -> list[int]:
    """crm.type ids of the smart processes this run made that another one now doubles (the same
    code or title) and that are not the one every run keeps (the lowest entityTypeId)."""
    type_ids = {p.entity_type_id: p.type_id for p in state.smart_processes}
    drop = []
    for process in template.smart_processes or ():
        _, conflict = match_smart_process(process, state.smart_processes)
        if conflict is not None:
            keep = survivor(conflict.ids)
            drop += [type_ids[e] for e in conflict.ids if e != keep and e in own_types and type_ids.get(e)]
    return drop


def own_duplicates(
    template: Template, state: PortalState, created: frozenset[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The pipelines this run made that another pipeline now doubles (the same key or name: a run
    at the same time made it too) and that are not the one every run keeps (the lowest id)."""
    drop = []
    for desired, actual in _pipeline_pairs(template, state):
        etid = actual.entity_type_id or 0
        _, conflicts = match_pipelines(desired.pipelines, actual.pipelines)
        for conflict in conflicts.values():
            keep = survivor(conflict.ids)
            drop += [(etid, cid) for cid in conflict.ids if cid != keep and (etid, cid) in created]
    return drop


def remove_own(
    client: Client,
    template: Template,
    read: reader.PortalRead,
    created: frozenset[tuple[int, int]],
    own_types: set[int],
    progress: Progress,
) -> reader.PortalRead:
    """Heal a race with another run: delete this run's new smart processes and pipelines that
    another run's one doubles, and carry on with that one. Nothing else is ever deleted here."""
    types = own_duplicate_types(template, read.state, own_types)
    pipelines = own_duplicates(template, read.state, created)
    if not types and not pipelines:
        return read
    total = len(types) + len(pipelines)
    detail = {"smart_processes": len(types), "pipelines": len(pipelines)}
    progress(ProgressEvent(HEALING, total=total, detail=detail))
    # Bitrix24 refuses to delete a pipeline or smart process that holds items (reference-lists.md
    # §4.3, §5): one that got items meanwhile stays, and the re-read shows the conflict.
    progress(ProgressEvent(HEALING, done=total, total=total, detail=detail))
    reply = writer.delete_duplicates(client, pipelines, types, tail=reader.base_commands())
    return reader.finish_read(client, reply, template)
