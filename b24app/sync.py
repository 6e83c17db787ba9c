"""One portal: read -> plan -> apply -> verify; and export.

The decisions are in b24app.core (pure); the requests are in b24app.bitrix. This module only
orders them, reports progress, and keeps every request it can inside a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from b24app.bitrix import reader, writer
from b24app.bitrix.client import Client, Command
from b24app.bitrix.errors import AccessDenied, TransientError
from b24app.core.changes import BLOCKED, PIPELINE, SMART_PROCESS, Change, Plan, PlanOptions, Refusal
from b24app.core.export import export_warnings, template_from_state
from b24app.core.matching import match_pipelines, match_smart_process, survivor
from b24app.core.model import PipelineSet, PortalState, Template
from b24app.core.plan import plan, with_usage
from b24app.core.render import describe_refusal
from b24app.outcome import ApplyResult
from b24app.progress import (
    APPLYING,
    COUNTING,
    CREATING,
    HEALING,
    READING,
    VERIFYING,
    Progress,
    ProgressEvent,
    quiet,
)

__all__ = ["ApplyResult", "PlanChanged", "Progress", "ProgressEvent", "SyncError", "UnsafePlan", "apply"]

MAX_STRUCTURE_ROUNDS = 4


class SyncError(Exception):
    """A sync that must stop: the message says what happened and what to do."""


class PlanChanged(SyncError):
    """The portal or the template changed since the reviewed plan: nothing was written."""

    def __init__(self, expected: str, actual: str, plan: Plan) -> None:
        super().__init__(
            f"the portal or the template changed since the plan was made (plan {expected}, now {actual})"
        )
        self.expected = expected  # the checksum of the reviewed plan
        self.actual = actual  # the checksum of the plan made now
        self.plan = plan  # the plan made now


class UnsafePlan(SyncError):
    """The plan is refused unless forced (PlanOptions.force); ``refusals`` say why."""

    def __init__(self, refusals: tuple[Refusal, ...], *, after_creating: bool = False) -> None:
        when = "after creating pipelines the plan became unsafe" if after_creating else "the plan is unsafe"
        super().__init__(f"{when}: " + "; ".join(map(describe_refusal, refusals)))
        self.refusals = refusals
        self.after_creating = after_creating  # True: only new pipelines' stages made it so


def make_plan(
    client: Client, template: Template, options: PlanOptions | None = None, progress: Progress = quiet
) -> tuple[Plan, reader.PortalRead]:
    """Read the portal and plan, counting the items of whatever the plan would delete."""
    options = options or PlanOptions()
    progress(ProgressEvent(READING, detail={"portal": client.domain}))
    read = reader.read_portal(client, template)
    return _plan_with_usage(client, template, read, options, progress)


def _plan_with_usage(
    client: Client, template: Template, read: reader.PortalRead, options: PlanOptions, progress: Progress
) -> tuple[Plan, reader.PortalRead]:
    result = plan(template, read.state, options)
    if result.needs_usage:
        progress(ProgressEvent(COUNTING, total=len(result.needs_usage)))
        counts = reader.count_usage(client, result.needs_usage)
        read = replace(read, state=with_usage(read.state, counts))
        result = plan(template, read.state, options)
    return result, read


def apply(
    client: Client,
    template: Template,
    options: PlanOptions | None = None,
    *,
    expected_checksum: str | None = None,
    progress: Progress = quiet,
    on_plan: Callable[[Plan], None] | None = None,
) -> ApplyResult:
    options = options or PlanOptions()
    reviewed, read = make_plan(client, template, options, progress)
    if on_plan is not None:
        on_plan(reviewed)
    if expected_checksum is not None and reviewed.checksum != expected_checksum:
        raise PlanChanged(expected_checksum, reviewed.checksum, reviewed)
    if reviewed.refused:
        raise UnsafePlan(reviewed.refusals)
    result = ApplyResult(plan=reviewed, verify=reviewed)
    if not reviewed.has_changes:
        result.requests = client.requests_sent
        return result
    _check_write_access(client, read)
    read, created = _create_structure(client, template, options, reviewed, read, result, progress)
    current, read = _plan_with_usage(client, template, read, replace(options, created=created), progress)
    if current.refused:
        raise UnsafePlan(current.refusals, after_creating=True)
    structural = writer.structural(current.changes)
    entries = [c for c in current.changes if c.action != BLOCKED and c not in structural]
    if entries:
        progress(ProgressEvent(APPLYING, total=len(entries)))
        outcome = writer.write(
            client, entries, tail=reader.base_commands(), on_batch=_batches(APPLYING, progress)
        )
        result.applied += outcome.done
        result.failed += outcome.failed
        progress(ProgressEvent(VERIFYING))
        verify_read = reader.finish_read(client, outcome.tail, template)
    else:
        progress(ProgressEvent(VERIFYING))
        verify_read = reader.read_portal(client, template)
    result.verify, _ = _plan_with_usage(client, template, verify_read, replace(options, force=True), progress)
    result.requests = client.requests_sent
    return result


def _create_structure(
    client: Client,
    template: Template,
    options: PlanOptions,
    current: Plan,
    read: reader.PortalRead,
    result: ApplyResult,
    progress: Progress,
) -> tuple[reader.PortalRead, frozenset[tuple[int, int]]]:
    """Create the missing smart processes and pipelines, in rounds (a new smart process's own
    pipelines need its entityTypeId), each round re-reading the portal in the same batch.
    Returns the state after that and the pipelines this run created: the ones that carry its own
    mark, and the default pipelines of the smart processes that appeared meanwhile. After each
    round, what another run created at the same time is taken over (see _remove_own_duplicates)."""
    created: set[tuple[int, int]] = set()
    own_types: set[int] = set()  # entityTypeIds of the smart processes this run created
    mark = reader.new_run_mark()
    for _ in range(MAX_STRUCTURE_ROUNDS):
        todo = [c for c in writer.structural(current.changes) if _ready(c)]
        if not todo:
            break
        progress(ProgressEvent(CREATING, total=len(todo), detail=_count(todo)))
        types_before = {p.entity_type_id for p in read.state.smart_processes}
        try:
            outcome = writer.write(
                client,
                todo,
                tail=reader.base_commands(),
                idempotent=False,
                on_batch=_batches(CREATING, progress),
                mark=mark,
            )
        except TransientError as error:
            # The answer is lost but the pipelines may exist: re-read rather than create them twice.
            lost = str(error.description or error.code or error)
            progress(ProgressEvent(READING, detail={"portal": client.domain, "lost_answer": lost}))
            read = reader.read_portal(client, template)
        else:
            result.applied += outcome.done
            result.failed += outcome.failed
            own_types |= _created_types(todo, outcome)
            read = reader.finish_read(client, outcome.tail, template)
        created |= _pipeline_ids(read.state, mark, types_before)
        _mark_new_types_pipelines(client, read.state, mark, types_before)
        read = _remove_own_duplicates(client, template, read, frozenset(created), own_types, progress)
        opts = replace(options, created=frozenset(created), force=True)
        current, read = _plan_with_usage(client, template, read, opts, progress)
        if result.failed:
            break  # Bitrix24 refused a creation: report it rather than ask again
    return read, frozenset(created)


def export(client: Client, progress: Progress = quiet) -> tuple[Template, PortalState, list[str]]:
    """The portal as a template, and warnings about what a template cannot say as it is."""
    progress(ProgressEvent(READING, detail={"portal": client.domain}))
    read = reader.read_portal(client, None)
    return template_from_state(read.state), read.state, export_warnings(read.state)


def _ready(change: Change) -> bool:
    """A pipeline of a smart process that does not exist yet waits for the next round."""
    return change.target == SMART_PROCESS or change.scope.entity_type_id is not None


def _pipeline_ids(state: PortalState, mark: str, types_before: set[int | None]) -> set[tuple[int, int]]:
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


def _mark_new_types_pipelines(
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


def _created_types(todo: list[Change], outcome: writer.WriteResult) -> set[int]:
    """entityTypeIds of the smart processes this batch created, from Bitrix24's answers."""
    types = set()
    for n, change in enumerate(todo):
        answer = outcome.results.get(f"c{n}")
        if (
            change.target == SMART_PROCESS
            and isinstance(answer, dict)
            and isinstance(answer.get("type"), dict)
        ):
            types.add(int(answer["type"]["entityTypeId"]))
    return types


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


def _remove_own_duplicates(
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


def _count(changes: list[Change]) -> dict[str, int]:
    """How many smart processes and pipelines the changes create."""
    kinds = {SMART_PROCESS: "smart_processes", PIPELINE: "pipelines"}
    return {name: sum(1 for c in changes if c.target == target) for target, name in kinds.items()}


def _batches(phase: str, progress: Progress) -> Callable[[int, int], None]:
    """A writer's per-batch callback that reports (done, total) commands as progress."""
    return lambda done, total: progress(ProgressEvent(phase, done=done, total=total))


def _check_write_access(client: Client, read: reader.PortalRead) -> None:
    """Tell a user without the right to change CRM settings so, before anything is written."""
    if read.is_admin:
        return
    row = next((e for lst in read.state.lists.values() for e in lst.entries if e.row_id), None)
    if row is None:
        return
    # A no-op update: Bitrix24 checks the settings permission first, then ignores the immutable field.
    probe = Command("crm.status.update", {"id": row.row_id, "fields": {"STATUS_ID": row.id}})
    try:
        client.call(probe.method, probe.params)
    except AccessDenied as error:
        raise SyncError(
            "the portal user behind this webhook or token may not change CRM settings (Bitrix24 said: "
            f"{error.description or error.code}); use an administrator's webhook, or give the user the "
            "CRM permission to modify settings"
        ) from error
