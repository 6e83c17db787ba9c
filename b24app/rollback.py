"""Roll a portal back to the state before one of its runs, and list its journal.

The state before a run (b24app.snapshot, kept by b24app.runs) becomes a template, limited to the
lists that run's template managed. Entries and pipelines added since by someone else stay as they
are; only what that run created is pruned; what cannot come back is shown as blocked with the
reason. The plan is made and applied by the same engine and safety rules as any apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from b24app import runs, sync
from b24app.bitrix import reader
from b24app.bitrix.client import Client
from b24app.bitrix.secrets import redact
from b24app.core.changes import (
    CREATE,
    DELETE,
    ENTRY,
    PIPELINE,
    SMART_PROCESS,
    Blocked,
    Change,
    Plan,
    PlanOptions,
    Scope,
)
from b24app.core.dump import dump_template
from b24app.core.model import (
    SEMANTICS_RANK,
    Entry,
    Pipeline,
    PipelineSet,
    PortalState,
    RefList,
    SmartProcess,
    Template,
)
from b24app.outcome import ApplyResult
from b24app.portal_access import connect_installed
from b24app.snapshot import SnapshotError, load_state
from b24app.store import NotFound, Portal, Run, RunKind, RunOutcome, Settings, Store


class RollbackError(Exception):
    """A rollback that cannot be planned or was refused: one message for the user."""


@dataclass(frozen=True)
class Rollback:
    """A rollback as planned: the run it undoes, the template of the state before it, its plan."""

    run: Run
    portal: Portal
    template: Template
    options: PlanOptions
    plan: Plan


@dataclass(frozen=True)
class _Made:
    """What the run made or removed, from its recorded plan."""

    entries: frozenset[tuple[str, str]] = frozenset()  # (ENTITY_ID, entry id) it created
    pipelines: frozenset[tuple[int | None, str]] = frozenset()  # (entityTypeId, name) it created
    deleted_pipelines: frozenset[tuple[int | None, int]] = frozenset()  # (entityTypeId, category id)
    processes: frozenset[str] = frozenset()  # titles of the smart processes it created

    @classmethod
    def from_plan(cls, plan: dict[str, Any] | None) -> _Made:
        changes = (plan or {}).get("changes") or []

        def keys(action: str, target: str, key: Callable[[dict, dict], Any]) -> frozenset:
            found = (
                key(c, c.get("scope") or {})
                for c in changes
                if (c["action"], c["target"]) == (action, target)
            )
            return frozenset(k for k in found if k is not None)

        return cls(
            entries=keys(
                CREATE, ENTRY, lambda c, s: (s["entity_id"], c["key"]) if s.get("entity_id") else None
            ),
            pipelines=keys(CREATE, PIPELINE, lambda c, s: (s.get("entity_type_id"), c["key"])),
            deleted_pipelines=keys(
                DELETE, PIPELINE, lambda c, s: (s.get("entity_type_id"), s.get("category_id"))
            ),
            processes=keys(CREATE, SMART_PROCESS, lambda c, s: c["key"]),
        )


@dataclass
class _Builder:
    """Builds the rollback template; ``blocked`` collects what cannot come back."""

    made: _Made
    blocked: list[Change] = field(default_factory=list)

    def entries(self, before: RefList, now: RefList | None) -> RefList:
        """The entries before the run, plus those added since by someone else; prune what the run made."""
        wanted = list(before.entries)
        ids = {e.id for e in before.entries}
        prune = False
        for entry in now.entries if now is not None else ():
            if entry.id in ids:
                continue
            if (now.entity_id, entry.id) in self.made.entries:
                prune = True
            else:
                wanted.append(entry)  # added since by someone else: it stays as it is
        return RefList(before.key, _desired(before.key, wanted), prune=prune)

    def pipelines(self, before: PipelineSet, now: PipelineSet, process: str | None = None) -> PipelineSet:
        etid = now.entity_type_id
        current = {p.id: p for p in now.pipelines}
        wanted = []
        for pipeline in before.pipelines:
            have = current.get(pipeline.id)
            if have is not None:
                wanted.append(self.pipeline(pipeline, have))
            elif (etid, pipeline.id) in self.made.deleted_pipelines:
                wanted.append(self.pipeline(pipeline, None))  # the run deleted it empty: it is made again
            else:
                self.block_deleted(before.section, pipeline, process)
        known = {p.id for p in before.pipelines}
        prune = False
        for have in now.pipelines:
            if have.id in known:
                continue
            if (etid, have.name) in self.made.pipelines:
                prune = True  # the run created it: it goes when empty (the plan blocks it otherwise)
            else:
                wanted.append(self.pipeline(have, have))
        return PipelineSet(before.section, tuple(wanted), prune, etid)

    def pipeline(self, before: Pipeline, now: Pipeline | None) -> Pipeline:
        renamed = (now.name,) if now is not None and now.name != before.name else ()
        return Pipeline(
            name=before.name,
            stages=self.entries(before.stages, now.stages if now is not None else None),
            default=before.default,
            key=None if before.default else before.key,
            previous_names=renamed,
            sort=before.sort,
        )

    def block_deleted(self, section: str, pipeline: Pipeline, process: str | None) -> None:
        scope = Scope(
            section, f'pipeline "{pipeline.name}" (id {pipeline.id}, deleted)', smart_process=process
        )
        reason = (
            "this pipeline was deleted after the run; a new one would get a new id, and the links of the "
            "items it held are gone — create it again in Bitrix24 or in a template if you need it"
        )
        self.blocked.append(Blocked(scope, pipeline.name, PIPELINE, reason))

    def smart_process(self, before: SmartProcess, now: SmartProcess | None) -> SmartProcess | None:
        if now is None:
            scope = Scope(
                "smart_processes", f'smart process "{before.title}" (deleted)', smart_process=before.title
            )
            reason = (
                "this smart process was deleted after the run, with its items; b24app cannot bring it back"
            )
            self.blocked.append(Blocked(scope, before.title, SMART_PROCESS, reason))
            return None
        return SmartProcess(
            title=before.title if before.code else now.title,  # matched by code, else by its title now
            code=before.code,
            pipelines=self.pipelines(before.pipelines, now.pipelines, now.title),
        )

    def created_process(self, process: SmartProcess) -> None:
        scope = Scope("smart_processes", f'smart process "{process.title}"', smart_process=process.title)
        reason = "that run created this smart process; b24app never deletes smart processes — delete it in Bitrix24"
        self.blocked.append(Blocked(scope, process.title, SMART_PROCESS, reason))


def _desired(key: str, entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Entries as a template says them, in the order Bitrix24 shows them."""
    stages = key.endswith("stages")
    ordered = sorted(entries, key=lambda e: (e.sort, SEMANTICS_RANK[e.semantics] if stages else 0))
    return tuple(Entry(e.id, e.name, e.sort, e.color, e.semantics) for e in ordered)


def rollback_template(
    before: PortalState,
    now: PortalState,
    managed: dict[str, Any],
    run_plan: dict[str, Any] | None,
    source: str,
) -> tuple[Template, list[Change]]:
    """The state ``before`` as a template over what ``managed`` names, against the portal ``now``;
    and the blocked changes of what cannot come back. Pure."""
    build = _Builder(_Made.from_plan(run_plan))
    lists = {
        key: build.entries(before.lists[key], now.lists.get(key))
        for key in managed.get("lists", ())
        if key in before.lists
    }
    deals = (
        build.pipelines(before.deal_pipelines, now.deal_pipelines) if managed.get("deal_pipelines") else None
    )
    invoices = None
    if managed.get("invoice_pipelines") and before.invoice_pipelines and now.invoice_pipelines:
        invoices = build.pipelines(before.invoice_pipelines, now.invoice_pipelines)
    processes = _processes(build, before, now, managed)
    template = Template(
        lists=lists,
        deal_pipelines=deals,
        invoice_pipelines=invoices,
        smart_processes=processes,
        prune=False,
        source=source,
    )
    return template, build.blocked


def _processes(
    build: _Builder, before: PortalState, now: PortalState, managed: dict[str, Any]
) -> tuple[SmartProcess, ...] | None:
    etids = set(managed.get("smart_processes", ()))
    current = {p.entity_type_id: p for p in now.smart_processes}
    wanted = [
        build.smart_process(p, current.get(p.entity_type_id))
        for p in before.smart_processes
        if p.entity_type_id in etids
    ]
    known = {p.entity_type_id for p in before.smart_processes}
    for process in now.smart_processes:
        if process.entity_type_id not in known and process.title in build.made.processes:
            build.created_process(process)
    kept = tuple(p for p in wanted if p is not None)
    return kept or None


# -- planning and applying ---------------------------------------------------------------------------


def _recorded(store: Store, run_id: int) -> tuple[Run, PortalState, dict[str, Any]]:
    try:
        run = store.runs.get(run_id)
    except NotFound:
        raise RollbackError(
            f"there is no run {run_id}; 'b24app journal PORTAL' lists a portal's runs and their ids"
        ) from None
    recorded = run.state_before or {}
    if "state" not in recorded or not recorded.get("managed"):
        raise RollbackError(
            f"run {run_id} ({run.kind.value}, {run.outcome.value}) has no recorded portal state before it "
            "(it failed before reading the portal, or an older b24app made it); pick another run "
            "with 'b24app journal PORTAL'"
        )
    try:
        return run, load_state(recorded["state"]), recorded["managed"]
    except SnapshotError as error:
        raise RollbackError(f"run {run_id}: {error}") from None


def prepare(store: Store, client: Client, run_id: int, *, force: bool = False) -> Rollback:
    """Read the portal and plan the rollback of ``run_id`` on it (``client`` is the run's portal)."""
    run, before, managed = _recorded(store, run_id)
    portal = store.portals.by_id(run.portal_id)
    now = reader.read_portal(client, None).state
    source = f"state before run {run.id}"
    template, blocked = rollback_template(before, now, managed, run.plan, source)
    options = PlanOptions(force=force)
    plan, _ = sync.make_plan(client, template, options)
    return Rollback(run, portal, template, options, replace(plan, changes=plan.changes + tuple(blocked)))


def plan_rollback(
    store: Store, settings: Settings, run_id: int, *, force: bool = False
) -> tuple[Plan, Template]:
    """The plan (and template) of rolling the run's portal back to the state before ``run_id``."""
    run, _, _ = _recorded(store, run_id)
    client = connect_installed(store, settings, run.portal_id)
    rollback = prepare(store, client, run_id, force=force)
    return rollback.plan, rollback.template


def apply_rollback(
    store: Store, client: Client, rollback: Rollback, *, user_name: str | None, progress: sync.Progress
) -> tuple[int, ApplyResult]:
    """Apply exactly the reviewed rollback, under the portal's lock, journaled as a run of kind
    rollback linked to the run it undoes. Returns the new run's id and the result."""
    text = dump_template(rollback.template)
    with store.lock(f"portal:{rollback.portal.id}", timeout=3600.0):
        run_id = store.runs.start(
            rollback.portal.id,
            RunKind.ROLLBACK,
            user_name=user_name,
            template_name=rollback.template.source,
            template_hash=runs.template_hash(text),
            rollback_of=rollback.run.id,
        ).id
        states: list[PortalState] = []
        try:
            result = sync.apply(
                client,
                rollback.template,
                rollback.options,
                expected_checksum=rollback.plan.checksum,
                progress=progress,
                on_state=states.append,
            )
        except (sync.PlanChanged, sync.UnsafePlan) as error:
            store.runs.finish(run_id, RunOutcome.REFUSED, **runs.refused(error, client.requests_sent))
            raise
        except BaseException as error:
            store.runs.finish(run_id, RunOutcome.FAILED, error=redact(str(error)) or type(error).__name__)
            raise
        outcome, details = runs.applied(result, states[0] if states else None, rollback.template)
        store.runs.finish(run_id, outcome, **details)
    return run_id, result


def applied_in_job(
    store: Store,
    settings: Settings,
    portal_id: int,
    run_id: int,
    expected_checksum: str,
    progress: sync.Progress,
) -> tuple[RunOutcome, dict[str, Any]]:
    """A rollback job's work (b24app.jobs runs it under the portal's lock, in a run it journals):
    plan the rollback of ``run_id`` again and apply it only if its checksum is still the one the
    admin saw. Returns the outcome and the run's fields (template hash and plan included)."""
    try:
        if store.runs.get(run_id).portal_id != portal_id:
            raise RollbackError(f"run {run_id} is not a run of this portal")
        _recorded(store, run_id)
    except (RollbackError, NotFound) as error:
        return RunOutcome.FAILED, {"error": str(error)}
    client = connect_installed(store, settings, portal_id)
    rollback = prepare(store, client, run_id)
    fields = {"template_hash": runs.template_hash(dump_template(rollback.template))}
    states: list[PortalState] = []
    try:
        result = sync.apply(
            client,
            rollback.template,
            rollback.options,
            expected_checksum=expected_checksum,
            progress=progress,
            on_state=states.append,
        )
    except (sync.PlanChanged, sync.UnsafePlan) as error:
        return RunOutcome.REFUSED, {**runs.refused(error, client.requests_sent), **fields}
    outcome, details = runs.applied(result, states[0] if states else None, rollback.template)
    return outcome, details | fields


# -- the journal -------------------------------------------------------------------------------------


def journal_rows(store: Store, ref: str, limit: int) -> tuple[Portal, list[dict[str, Any]]]:
    """The portal (domain or member_id) and its runs, newest first, as plain values."""
    try:
        portal = store.portals.find(ref)
    except NotFound as error:
        raise RollbackError(str(error)) from None
    return portal, [_row(run) for run in store.runs.list(portal.id, limit=limit)]


def _row(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "started_at": run.started_at.isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "who": run.user_name,
        "kind": run.kind.value,
        "template": run.template_name,
        "template_hash": run.template_hash,
        "summary": run.summary,
        "outcome": run.outcome.value,
        "requests": run.requests_used,
        "rollback_of": run.rollback_of,
        "can_roll_back": bool((run.state_before or {}).get("managed")),
        "error": run.error,
        "checked": run.checked,  # resync plans that found the same (b24app.resync keeps one row for them)
        "last_checked_at": None if run.last_checked_at is None else run.last_checked_at.isoformat(),
    }


def journal_lines(portal: Portal, rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return [f"{portal.domain}: no runs yet"]
    table = [("RUN", "WHEN (UTC)", "WHO", "KIND", "TEMPLATE", "SUMMARY", "OUTCOME", "REQUESTS")]
    for row in rows:
        kind = row["kind"] + (f" of {row['rollback_of']}" if row["rollback_of"] else "")
        template = row["template"] or "-"
        if row["template_hash"]:
            template += f" {row['template_hash'][:12]}"
        table.append(
            (
                str(row["id"]),
                row["started_at"][:16].replace("T", " "),
                row["who"] or "-",
                kind,
                template,
                _summary(row["summary"]),
                row["outcome"] + _checked(row),
                "-" if row["requests"] is None else str(row["requests"]),
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]


def _checked(row: dict[str, Any]) -> str:
    """``, checked 5 times, last 2026-12-02 04:00`` for a run resyncs found again; else nothing."""
    if row["checked"] <= 1 or not row["last_checked_at"]:
        return ""
    return f", checked {row['checked']} times, last {row['last_checked_at'][:16].replace('T', ' ')}"


def _summary(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    return ", ".join(f"{summary.get(k, 0)} {k}" for k in ("create", "update", "delete", "blocked"))
