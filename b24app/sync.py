"""One portal: read -> plan -> apply -> verify; and export.

The decisions are in b24app.core (pure); the requests are in b24app.bitrix. This module only
orders them, reports progress, and keeps every request it can inside a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from b24app import duplicates
from b24app.bitrix import reader, writer
from b24app.bitrix.client import Client, Command
from b24app.bitrix.errors import AccessDenied, TransientError
from b24app.core.changes import BLOCKED, PIPELINE, SMART_PROCESS, Change, Plan, PlanOptions, Refusal
from b24app.core.export import export_warnings, template_from_state
from b24app.core.model import PortalState, Template
from b24app.core.plan import plan, with_usage
from b24app.core.render import describe_refusal
from b24app.outcome import ApplyResult
from b24app.progress import (
    APPLYING,
    COUNTING,
    CREATING,
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
    on_state: Callable[[PortalState], None] | None = None,
) -> ApplyResult:
    """Plan, check, write, verify. ``on_state`` receives the portal state read before anything is
    written (the journal keeps it), ``on_plan`` the plan made from it."""
    options = options or PlanOptions()
    reviewed, read = make_plan(client, template, options, progress)
    if on_state is not None:
        on_state(read.state)
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
    round, what another run created at the same time is taken over (see duplicates.remove_own)."""
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
            own_types |= writer.created_types(todo, outcome)
            read = reader.finish_read(client, outcome.tail, template)
        created |= duplicates.made_by_run(read.state, mark, types_before)
        duplicates.mark_new_types_pipelines(client, read.state, mark, types_before)
        read = duplicates.remove_own(client, template, read, frozenset(created), own_types, progress)
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
