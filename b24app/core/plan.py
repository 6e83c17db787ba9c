"""plan(template, portal state, options) -> Plan. Pure: no I/O.

The plan owns safety. Changes are small values (create / update / delete / blocked); a blocked
change says why and how to proceed. Deletions happen only with prune, never for system entries,
entries or pipelines in use, or default pipelines; a prune that would delete more than 30 % of a
list of 10 or more entries makes the plan unsafe unless forced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from . import catalog
from .model import (
    FAILURE,
    PROCESS,
    SUCCESS,
    Entry,
    Pipeline,
    PipelineSet,
    PortalState,
    RefList,
    SmartProcess,
    Template,
)

CREATE, UPDATE, DELETE, BLOCKED = "create", "update", "delete", "blocked"
ENTRY, PIPELINE, SMART_PROCESS = "entry", "pipeline", "smart_process"

PRUNE_SHARE = 0.30  # a prune deleting more than this share of a list ...
PRUNE_MIN_SIZE = 10  # ... of at least this many entries is unsafe without --force

_ORDER = {
    (SMART_PROCESS, CREATE): 0,
    (PIPELINE, CREATE): 1,
    (SMART_PROCESS, UPDATE): 2,
    (PIPELINE, UPDATE): 3,
    (ENTRY, UPDATE): 4,
    (ENTRY, CREATE): 5,
    (ENTRY, DELETE): 6,
    (PIPELINE, DELETE): 7,
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a change happens: one reference list, or one pipeline section."""

    kind: str  # catalog key of the list ("sources", "deal_stages", ...) or the section name
    label: str  # for people: 'sources (SOURCE)', 'deal pipeline "Аренда" (DEAL_STAGE_3)'
    entity_id: str | None = None  # ENTITY_ID on the portal; None while the pipeline does not exist
    prefix: str = ""
    entity_type_id: int | None = None  # owner of the pipeline (2, 31, dynamic)
    category_id: int | None = None
    pipeline: str | None = None  # pipeline name in the template
    smart_process: str | None = None  # smart-process title in the template

    def to_json(self) -> dict[str, object]:
        return {
            k: v
            for k, v in (
                ("list", self.kind),
                ("label", self.label),
                ("entity_id", self.entity_id),
                ("entity_type_id", self.entity_type_id),
                ("category_id", self.category_id),
                ("pipeline", self.pipeline),
                ("smart_process", self.smart_process),
            )
            if v is not None
        }


@dataclass(frozen=True, slots=True)
class Change:
    action: str  # create | update | delete | blocked
    target: str  # entry | pipeline | smart_process
    scope: Scope
    key: str  # entry id (without prefix), pipeline name or smart-process title
    old: Mapping[str, object] | None = None  # the portal's values (updates: only the changed fields)
    new: Mapping[str, object] | None = None  # the template's values (updates: only the changed fields)
    reason: str = ""  # blocked: why, and what to do instead
    ref: Mapping[str, object] = field(default_factory=dict)  # portal identifiers the writer needs

    @property
    def order(self) -> int:
        return _ORDER.get((self.target, self.action), 9)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "action": self.action,
            "target": self.target,
            "key": self.key,
            "scope": self.scope.to_json(),
        }
        if self.old is not None:
            data["old"] = dict(self.old)
        if self.new is not None:
            data["new"] = dict(self.new)
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Items to count before something may be deleted; the reader answers with a number."""

    key: tuple  # ("entry", ENTITY_ID, STATUS_ID) or ("pipeline", entityTypeId, category id)
    probes: tuple[tuple[int, str, object], ...]  # (entityTypeId, item field, value): counts are summed


@dataclass(frozen=True, slots=True)
class PlanOptions:
    prune: bool | None = None  # True (--prune): prune every list that does not say prune: false itself
    force: bool = False  # accept a prune above the safety threshold
    created: frozenset[tuple[int, int]] = frozenset()  # (entityTypeId, category) b24app created in this run


@dataclass(frozen=True, slots=True)
class Plan:
    domain: str
    template: str
    checksum: str
    changes: tuple[Change, ...]
    unsafe: tuple[str, ...] = ()  # why the plan is refused unless forced
    needs_usage: tuple[UsageQuery, ...] = ()  # deletions whose usage was not counted yet
    forced: bool = False

    @property
    def summary(self) -> dict[str, int]:
        counts = {CREATE: 0, UPDATE: 0, DELETE: 0, BLOCKED: 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return any(c.action != BLOCKED for c in self.changes)

    @property
    def refused(self) -> bool:
        return bool(self.unsafe) and not self.forced

    def to_json(self) -> dict[str, object]:
        return {
            "portal": self.domain,
            "template": self.template,
            "checksum": self.checksum,
            "summary": self.summary,
            "unsafe": list(self.unsafe),
            "forced": self.forced,
            "changes": [c.to_json() for c in self.changes],
        }


def plan(template: Template, state: PortalState, options: PlanOptions | None = None) -> Plan:
    options = options or PlanOptions()
    planner = _Planner(template, state, options)
    planner.run()
    changes = tuple(sorted(planner.changes, key=lambda c: c.order))
    return Plan(
        domain=state.domain,
        template=template.source,
        checksum=checksum(template, state, options),
        changes=changes,
        unsafe=tuple(planner.unsafe),
        needs_usage=tuple(planner.needs_usage),
        forced=options.force,
    )


def checksum(template: Template, state: PortalState, options: PlanOptions) -> str:
    """A digest of what a plan is computed from: template, managed portal state and options."""
    digest = hashlib.sha256(state.domain.encode())
    digest.update(json.dumps(_template_form(template), ensure_ascii=False, sort_keys=True).encode())
    digest.update(json.dumps(_state_form(template, state), ensure_ascii=False, sort_keys=True).encode())
    digest.update(json.dumps({"prune": options.prune}).encode())
    return digest.hexdigest()[:16]


class _Planner:
    def __init__(self, template: Template, state: PortalState, options: PlanOptions):
        self.template = template
        self.state = state
        self.options = options
        self.changes: list[Change] = []
        self.unsafe: list[str] = []
        self.needs_usage: list[UsageQuery] = []

    # -- walking the template -------------------------------------------------------------------

    def run(self) -> None:
        for key in catalog.FLAT_LISTS:
            desired = self.template.lists.get(key)
            if desired is not None:
                self.flat_list(key, desired)
        if self.template.deal_pipelines is not None:
            self.pipelines(self.template.deal_pipelines, self.state.deal_pipelines, None)
        if self.template.invoice_pipelines is not None:
            if self.state.invoice_pipelines is None:
                reason = (
                    "this portal has no smart invoices (new invoices are off, or the user cannot read them)"
                )
                scope = Scope("invoice_pipelines", "invoice pipelines")
                self.changes.append(
                    Change(BLOCKED, PIPELINE, scope, "*", reason=reason + "; the section is skipped")
                )
            else:
                self.pipelines(self.template.invoice_pipelines, self.state.invoice_pipelines, None)
        for process in self.template.smart_processes or ():
            self.smart_process(process)

    def prune_of(self, own: bool | None) -> bool:
        """A list's own prune setting wins; else --prune; else the template's default."""
        if own is not None:
            return own
        return bool(self.options.prune) or self.template.prune

    def flat_list(self, key: str, desired: RefList) -> None:
        spec = catalog.SPECS[key]
        actual = self.state.lists.get(key)
        if actual is None:
            scope = Scope(key, spec.title)
            reason = "this portal does not have this list"
            if key == "document_stages":
                reason = "document signing is not enabled on this portal, so it has no document stages"
            self.changes.append(Change(BLOCKED, ENTRY, scope, "*", reason=reason + "; the list is skipped"))
            return
        scope = Scope(
            key,
            f"{spec.title} ({actual.entity_id})",
            actual.entity_id,
            actual.prefix,
            category_id=_category_of(actual),
        )
        self.entries(scope, desired, actual, self.prune_of(desired.prune), fresh=False)

    def smart_process(self, desired: SmartProcess) -> None:
        actual = _match_smart_process(desired, self.state.smart_processes)
        label = f'smart process "{desired.title}"'
        if actual is None:
            scope = Scope("smart_processes", label, smart_process=desired.title)
            new = {
                "title": desired.title,
                "code": desired.code,
                "pipelines": len(desired.pipelines.pipelines),
            }
            self.changes.append(Change(CREATE, SMART_PROCESS, scope, desired.title, new=new))
            return
        scope = Scope(
            "smart_processes", label, entity_type_id=actual.entity_type_id, smart_process=desired.title
        )
        if actual.title != desired.title:
            self.changes.append(
                Change(
                    UPDATE,
                    SMART_PROCESS,
                    scope,
                    desired.title,
                    old={"title": actual.title},
                    new={"title": desired.title},
                    ref={"type_id": actual.type_id},
                )
            )
        self.pipelines(desired.pipelines, actual.pipelines, desired.title, actual.entity_type_id)

    def pipelines(
        self,
        desired: PipelineSet,
        actual: PipelineSet,
        process: str | None,
        entity_type_id: int | None = None,
    ) -> None:
        section = desired.section
        etid = entity_type_id if entity_type_id is not None else actual.entity_type_id
        matched, ambiguous = _match_pipelines(desired.pipelines, actual.pipelines)
        noun = catalog.SECTION_TITLE[section]
        title = f'smart process "{process}", pipeline' if process else noun  # for headings
        next_id = max((p.id or 0 for p in actual.pipelines), default=0) + 1  # ids only grow
        for want in desired.pipelines:
            if want.name in ambiguous:
                scope = Scope(
                    section,
                    f'{title} "{want.name}"',
                    entity_type_id=etid,
                    pipeline=want.name,
                    smart_process=process,
                )
                reason = (
                    f"{ambiguous[want.name]} {noun}s on the portal have this name; rename all but one in "
                    "Bitrix24" + (", or give this one a key" if section == "deal_pipelines" else "")
                )
                self.changes.append(Change(BLOCKED, PIPELINE, scope, want.name, reason=reason))
                continue
            have = matched.get(want.name)
            if have is None and section == "deal_pipelines":
                self.long_ids_of_new_deal_pipeline(want, next_id, etid, process)
                next_id += 1
            if have is None:
                scope = Scope(
                    section,
                    f'{title} "{want.name}" (new)',
                    entity_type_id=etid,
                    pipeline=want.name,
                    smart_process=process,
                )
                new = {
                    "name": want.name,
                    "sort": want.sort,
                    "key": want.key,
                    "default": want.default,
                    "stages": len(want.stages.entries),
                    "stage_ids": [e.id for e in want.stages.entries],
                }
                self.changes.append(Change(CREATE, PIPELINE, scope, want.name, new=new))
                continue
            stages = have.stages
            scope = Scope(
                stages.key,
                f'{title} "{want.name}" ({stages.entity_id})',
                stages.entity_id,
                stages.prefix,
                etid,
                have.id,
                want.name,
                process,
            )
            self.pipeline_fields(section, scope, want, have)
            fresh = (etid, have.id) in self.options.created
            prune = self.prune_of(want.stages.prune)
            self.entries(scope, want.stages, stages, prune, fresh=fresh)
        unsure = {
            n
            for want in desired.pipelines
            if want.name in ambiguous
            for n in (want.name, *want.previous_names)
        }
        self.pipeline_deletions(desired, actual, matched, etid, process, unsure)

    def long_ids_of_new_deal_pipeline(
        self, want: Pipeline, number: int, etid: int | None, process: str | None
    ) -> None:
        """Stage ids a new deal pipeline cannot take: its number, not known before, sets the limit."""
        entity_id, prefix = catalog.deal_stage_entity(number)
        limit = catalog.max_id_length(entity_id, prefix)
        scope = Scope(
            "deal_stages",
            f'deal pipeline "{want.name}" (new)',
            entity_type_id=etid,
            pipeline=want.name,
            smart_process=process,
        )
        for entry in want.stages.entries:
            if len(entry.id) > limit:
                reason = (
                    f"id is {len(entry.id)} characters; the new pipeline will be C{number} or later, whose "
                    f"stages take at most {limit} — shorten it in the template"
                )
                self.changes.append(
                    Change(BLOCKED, ENTRY, scope, entry.id, new=_entry_json(entry), reason=reason)
                )

    def pipeline_fields(self, section: str, scope: Scope, want: Pipeline, have: Pipeline) -> None:
        old: dict[str, object] = {}
        new: dict[str, object] = {}
        if have.name != want.name:
            old["name"], new["name"] = have.name, want.name
        if want.sort is not None and have.sort != want.sort:
            old["sort"], new["sort"] = have.sort, want.sort
        if section == "deal_pipelines" and want.key and not want.default and have.key != want.key:
            old["key"], new["key"] = have.key, want.key
        if want.default and not have.default:
            if section == "deal_pipelines":
                reason = "the default deal pipeline is fixed in Bitrix24 (id 0); mark that pipeline default instead"
                self.changes.append(Change(BLOCKED, PIPELINE, scope, want.name, reason=reason))
            else:
                old["default"], new["default"] = False, True
        if new:
            self.changes.append(
                Change(
                    UPDATE,
                    PIPELINE,
                    scope,
                    want.name,
                    old=old,
                    new=new,
                    ref={"category_id": have.id, "entity_type_id": scope.entity_type_id},
                )
            )

    def pipeline_deletions(
        self,
        desired: PipelineSet,
        actual: PipelineSet,
        matched: Mapping[str, Pipeline],
        etid: int | None,
        process: str | None,
        unsure: set[str],
    ) -> None:
        """With prune, delete the portal's pipelines the template does not name (never one whose name
        the template gives to an ambiguous pipeline)."""
        kept = {id(p) for p in matched.values()}
        extra = [p for p in actual.pipelines if id(p) not in kept and p.name not in unsure]
        if not extra or not self.prune_of(desired.prune):
            return
        noun = catalog.SECTION_TITLE[desired.section]
        title = f'smart process "{process}", pipeline' if process else noun
        deletions = 0
        for have in extra:
            scope = Scope(
                desired.section,
                f'{title} "{have.name}" ({have.stages.entity_id})',
                have.stages.entity_id,
                have.stages.prefix,
                etid,
                have.id,
                have.name,
                process,
            )
            if have.default:
                reason = "it is the default pipeline, which Bitrix24 cannot delete; rename it in the template instead"
                self.changes.append(Change(BLOCKED, PIPELINE, scope, have.name, reason=reason))
                continue
            key = ("pipeline", etid, have.id)
            count = self.state.usage.pipelines.get((etid or 0, have.id or 0))
            if count is None:
                field_name = "CATEGORY_ID" if etid == catalog.DEAL else "categoryId"
                self.needs_usage.append(UsageQuery(key, ((etid or 0, field_name, have.id),)))
                continue
            if count:
                noun = catalog.SPECS[catalog.SECTION_STAGE_KIND[desired.section]].item_noun
                verb, them = ("is", "it") if count == 1 else ("are", "them")
                reason = (
                    f"{_count_of(count, noun)} {verb} in this pipeline; move {them} to another pipeline first, "
                    "or add the pipeline to the template"
                )
                self.changes.append(Change(BLOCKED, PIPELINE, scope, have.name, reason=reason))
                continue
            deletions += 1
            self.changes.append(
                Change(
                    DELETE,
                    PIPELINE,
                    scope,
                    have.name,
                    old={"name": have.name},
                    ref={"category_id": have.id, "entity_type_id": etid},
                )
            )
        self.check_share(f"{noun}s", deletions, len(actual.pipelines))

    # -- entries -------------------------------------------------------------------------------

    def entries(self, scope: Scope, desired: RefList, actual: RefList, prune: bool, *, fresh: bool) -> None:
        by_id = actual.by_id()
        success = next((e for e in actual.entries if e.semantics == SUCCESS), None)
        first = len(self.changes)
        for want in desired.entries:
            have = by_id.get(want.id)
            if have is None:
                self.create_entry(scope, want, success)
            else:
                self.update_entry(scope, want, have)
        deletions = self.deletions(scope, desired, actual, fresh) if prune or fresh else 0
        changes = self.changes[first:]
        if catalog.SPECS[desired.key].is_stages and not fresh:
            changes = _guard_zones(scope, desired, actual, changes)
        self.changes[first:] = _zone_safe(changes)
        if not fresh:
            self.check_share(scope.label, deletions, len(actual.entries))

    def deletions(self, scope: Scope, desired: RefList, actual: RefList, fresh: bool) -> int:
        """Plan the deletion of portal entries the template lacks; returns how many will go."""
        spec = catalog.SPECS[desired.key]
        wanted = {e.id for e in desired.entries}
        deletions = 0
        for have in actual.entries:
            if have.id in wanted:
                continue
            if have.system:
                if not fresh:
                    reason = "system entries cannot be deleted by b24app; keep it in the template (it may be renamed)"
                    self.changes.append(
                        Change(BLOCKED, ENTRY, scope, have.id, old=_entry_json(have), reason=reason)
                    )
                continue
            if not fresh:
                if not spec.usage_countable:
                    reason = (
                        f"b24app cannot check whether {spec.item_noun} use it over REST, so it is not "
                        "deleted; delete it in Bitrix24 if it is unused, or keep it in the template"
                    )
                    self.changes.append(
                        Change(BLOCKED, ENTRY, scope, have.id, old=_entry_json(have), reason=reason)
                    )
                    continue
                full_id = actual.full_id(have.id)
                count = self.state.usage.entries.get((actual.entity_id, full_id))
                if count is None:
                    probes = tuple(
                        (etid or scope.entity_type_id or 0, fld, full_id)
                        for etid, fld in catalog.usage_of(desired.key, scope.entity_type_id)
                    )
                    self.needs_usage.append(UsageQuery(("entry", actual.entity_id, full_id), probes))
                    continue
                if count:
                    verb, them = ("uses", "it") if count == 1 else ("use", "them")
                    reason = (
                        f"{_count_of(count, spec.item_noun)} {verb} it; move {them} to another "
                        f"{'stage' if spec.is_stages else 'value'} first, or keep it in the template"
                    )
                    self.changes.append(
                        Change(BLOCKED, ENTRY, scope, have.id, old=_entry_json(have), reason=reason)
                    )
                    continue
            deletions += 1
            self.changes.append(
                Change(DELETE, ENTRY, scope, have.id, old=_entry_json(have), ref={"row_id": have.row_id})
            )
        return deletions

    def create_entry(self, scope: Scope, want: Entry, success: Entry | None) -> None:
        new = _entry_json(want)
        if scope.entity_id is not None:
            limit = catalog.max_id_length(scope.entity_id, scope.prefix)
            if len(want.id) > limit:
                reason = (
                    f"id is {len(want.id)} characters; this list ({scope.entity_id}) takes at most {limit} "
                    "— shorten it in the template"
                )
                self.changes.append(Change(BLOCKED, ENTRY, scope, want.id, new=new, reason=reason))
                return
            if want.semantics == "success" and success is not None:
                reason = (
                    f"the list already has the success stage {success.id}; Bitrix24 allows only one — "
                    f"use {success.id} as the success stage in the template"
                )
                self.changes.append(Change(BLOCKED, ENTRY, scope, want.id, new=new, reason=reason))
                return
        ref = {
            "entity_id": scope.entity_id,
            "status_id": _full_id(scope.prefix, want.id),
            "category_id": scope.category_id,
        }
        self.changes.append(Change(CREATE, ENTRY, scope, want.id, new=new, ref=ref))

    def update_entry(self, scope: Scope, want: Entry, have: Entry) -> None:
        old: dict[str, object] = {}
        new: dict[str, object] = {}
        if want.name != have.name:
            old["name"], new["name"] = have.name, want.name
        if want.sort != have.sort:
            old["sort"], new["sort"] = have.sort, want.sort
        if want.color is not None and want.color.upper() != (have.color or "").upper():
            old["color"], new["color"] = have.color, want.color
        if want.semantics != have.semantics:
            reason = (
                f"semantics {have.semantics} -> {want.semantics} cannot change in Bitrix24; add a new "
                f"{want.semantics} stage and move the items there"
            )
            self.changes.append(
                Change(
                    BLOCKED,
                    ENTRY,
                    scope,
                    want.id,
                    old={"semantics": have.semantics},
                    new={"semantics": want.semantics},
                    reason=reason,
                )
            )
        if new:
            self.changes.append(
                Change(UPDATE, ENTRY, scope, want.id, old=old, new=new, ref={"row_id": have.row_id})
            )

    def check_share(self, label: str, deletions: int, size: int) -> None:
        if size >= PRUNE_MIN_SIZE and deletions > PRUNE_SHARE * size:
            share = round(100 * deletions / size)
            self.unsafe.append(
                f"{label}: {deletions} of {size} would be deleted ({share} %, more than "
                f"{round(PRUNE_SHARE * 100)} %)"
            )


def _guard_zones(scope: Scope, desired: RefList, actual: RefList, changes: list[Change]) -> list[Change]:
    """Keep every stage on its side of the success stage: process stages before it, failures after.

    Bitrix24 orders a stage list process < success < failures by sort, and for leads, deals and
    quotes derives a stage's semantics from that order (a stage sorted after the success stage
    counts as a failure, one at its sort or before as in progress). So a sort change can be a
    semantics change in disguise. Failure stages the template does not list are moved after the
    others when the success stage moves up to or past them; any other sort change that would carry a
    stage across is held back and blocked like a semantics change. A stage already on the wrong
    side is left be.
    """
    rules = catalog.SPECS[desired.key].stages
    listed = {e.id for e in desired.entries}
    by_id = actual.by_id()
    current = {e.id: e.sort for e in actual.entries}
    semantics = {e.id: e.semantics for e in actual.entries}
    final = dict(current)
    moving: set[str] = set()
    for change in changes:
        if change.action == DELETE:
            final.pop(change.key, None)
        elif change.action == UPDATE and "sort" in (change.new or {}):
            final[change.key] = int(change.new["sort"])
            moving.add(change.key)
        elif change.action == CREATE:
            final[change.key] = int(change.new["sort"])
            semantics[change.key] = str(change.new.get("semantics", PROCESS))
    success = rules.success if rules and semantics.get(rules.success) == SUCCESS else None
    success = success or next((k for k in final if semantics.get(k) == SUCCESS), None)
    if success is None or success not in current:
        return changes

    def wrong_side(key: str, sort: int, success_sort: int) -> bool:
        return (semantics[key] == PROCESS and sort > success_sort) or (
            semantics[key] == FAILURE and sort <= success_sort
        )

    def newly_wrong(key: str) -> bool:
        return wrong_side(key, final[key], final[success]) and not (
            key in current and wrong_side(key, current[key], current[success])
        )

    # Unlisted failure stages the success stage would reach: move them after everything else.
    stranded = sorted(
        (k for k in final if k not in listed and semantics[k] == FAILURE and newly_wrong(k)),
        key=lambda k: current[k],
    )
    changes = list(changes)
    for key in stranded:
        sort = max(final.values()) + 10
        changes.append(
            Change(
                UPDATE,
                ENTRY,
                scope,
                key,
                old={"sort": current[key]},
                new={"sort": sort},
                reason="kept after the success stage, as a failure stage",
                ref={"row_id": by_id[key].row_id},
            )
        )
        final[key] = sort
        moving.add(key)

    held: dict[str, str] = {}
    for change in changes:  # a stage whose semantics change is blocked keeps its place too
        if change.action == BLOCKED and "semantics" in (change.new or {}) and change.key in moving:
            held[change.key] = change.reason
            final[change.key] = current[change.key]
    for _ in range(len(final) + 1):
        crossing = [key for key in final if key != success and key not in held and newly_wrong(key)]
        if not crossing:
            break
        if success in moving and success not in held:
            names = ", ".join(crossing)
            held[success] = (
                f"moving it to sort {final[success]} would leave {names} on the wrong side of it (process "
                "stages go before the success stage, failure stages after; for leads, deals and quotes that "
                "order decides a stage's semantics); list them in the template in their place, or prune them"
            )
            final[success] = current[success]
            continue
        because = f", which keeps its sort {final[success]} (its move is blocked)" if success in held else ""
        for key in crossing:
            side = "after" if semantics[key] == PROCESS else "before"
            held[key] = (
                f"sort {final[key]} would put this {semantics[key]} stage {side} the success stage {success}"
                f"{because or f' (sort {final[success]})'}; keep it on its side"
            )
            if key in current:
                final[key] = current[key]
            else:
                del final[key]
    if not held:
        return changes
    blocked = {c.key for c in changes if c.action == BLOCKED}
    result: list[Change] = []
    for change in changes:
        if change.key not in held or change.action not in (UPDATE, CREATE):
            result.append(change)
            continue
        if change.action == UPDATE:
            rest = {k: v for k, v in change.new.items() if k != "sort"}
            if rest:
                result.append(replace(change, old={k: change.old[k] for k in rest}, new=rest))
            if change.key not in blocked:
                result.append(
                    Change(
                        BLOCKED,
                        ENTRY,
                        change.scope,
                        change.key,
                        old={"sort": change.old["sort"]},
                        new={"sort": change.new["sort"]},
                        reason=held[change.key],
                    )
                )
        else:
            result.append(
                Change(BLOCKED, ENTRY, change.scope, change.key, new=change.new, reason=held[change.key])
            )
    return result


_SINGULAR = {"leads and contacts": "lead or contact", "companies": "company", "CRM items": "CRM item"}


def _count_of(count: int, noun: str) -> str:
    """'1 deal', '3 deals' — the catalog's nouns are plural."""
    if count == 1:
        noun = _SINGULAR.get(noun, noun.removesuffix("s"))
    return f"{count} {noun}"


def _zone_safe(changes: list[Change]) -> list[Change]:
    """Order a list's updates so that every single step keeps process < success < failures by sort.

    Entries moving up go first, last of the list first; then entries moving down, first of the
    list first. (Bitrix24 checks the sort zones when adding; newer portals may check on update too.)
    """

    def moves_up(change: Change) -> bool:
        return (
            change.action == UPDATE
            and "sort" in (change.new or {})
            and change.new["sort"] > change.old["sort"]
        )

    up = [c for c in changes if moves_up(c)]
    return up[::-1] + [c for c in changes if not moves_up(c)]


# -- matching ---------------------------------------------------------------------------------------


def _match_pipelines(
    desired: Iterable[Pipeline], actual: tuple[Pipeline, ...]
) -> tuple[dict[str, Pipeline], dict[str, int]]:
    """Template pipeline name -> portal pipeline: by key, then default, then name / previous names.

    Also returns the template pipelines whose name fits several portal pipelines (Bitrix24 allows
    equal names): those are not guessed."""
    result: dict[str, Pipeline] = {}
    ambiguous: dict[str, int] = {}
    taken: set[int] = set()
    pending = list(desired)

    def claim(want: Pipeline, have: Pipeline) -> None:
        result[want.name] = have
        taken.add(id(have))
        pending.remove(want)

    for want in list(pending):
        have = next((p for p in actual if want.key and p.key == want.key and id(p) not in taken), None)
        if have is not None:
            claim(want, have)
    for want in list(pending):
        if want.default:
            have = next((p for p in actual if p.default and id(p) not in taken), None)
            if have is not None:
                claim(want, have)
    for names in (lambda w: (w.name,), lambda w: w.previous_names):
        for want in list(pending):
            fits = [
                p
                for p in actual
                if p.name in names(want) and id(p) not in taken and (want.default or not p.default)
            ]
            if len(fits) == 1:
                claim(want, fits[0])
            elif len(fits) > 1:
                ambiguous[want.name] = len(fits)
                pending.remove(want)
    return result, ambiguous


def _match_smart_process(desired: SmartProcess, actual: Iterable[SmartProcess]) -> SmartProcess | None:
    candidates = list(actual)
    if desired.code:
        by_code = next((p for p in candidates if p.code == desired.code), None)
        if by_code is not None:
            return by_code
    return next((p for p in candidates if p.title == desired.title), None)


# -- small helpers ----------------------------------------------------------------------------------


def _full_id(prefix: str, entry_id: str) -> str:
    return f"{prefix}:{entry_id}" if prefix else entry_id


def _category_of(actual: RefList) -> int | None:
    if not actual.prefix:
        return None
    return int(actual.prefix.rsplit("_", 1)[-1].lstrip("C"))


def _entry_json(entry: Entry) -> dict[str, object]:
    data: dict[str, object] = {"name": entry.name, "sort": entry.sort}
    if entry.color is not None:
        data["color"] = entry.color
    if entry.semantics != PROCESS:
        data["semantics"] = entry.semantics
    return data


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


def with_usage(state: PortalState, counts: Mapping[tuple, int]) -> PortalState:
    """The state with usage counts (keyed like UsageQuery.key) added."""
    entries = dict(state.usage.entries)
    pipelines = dict(state.usage.pipelines)
    for key, count in counts.items():
        if key[0] == "entry":
            entries[(key[1], key[2])] = count
        else:
            pipelines[(key[1] or 0, key[2] or 0)] = count
    return replace(state, usage=replace(state.usage, entries=entries, pipelines=pipelines))
