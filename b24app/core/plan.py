"""plan(template, portal state, options) -> Plan. Pure: no I/O.

The plan owns safety. Changes are small values (create / update / delete / blocked); a blocked
change says why and how to proceed. Deletions happen only with prune, never for system entries,
entries or pipelines in use, or default pipelines; a prune that would delete more than 30 % of a
list of 10 or more entries makes the plan unsafe unless forced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from . import catalog
from .changes import (
    BLOCKED,
    CREATE,
    DELETE,
    ENTRY,
    PIPELINE,
    PRUNE_MIN_SIZE,
    PRUNE_SHARE,
    SMART_PROCESS,
    UPDATE,
    Change,
    Plan,
    PlanOptions,
    Scope,
    UsageQuery,
)
from .checksum import checksum
from .fresh import only_default_extras
from .matching import KEY, Conflict, match_pipelines, match_smart_process
from .model import (
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
from .zones import guard_zones, zone_safe_order

__all__ = [
    "BLOCKED",
    "CREATE",
    "DELETE",
    "ENTRY",
    "PIPELINE",
    "SMART_PROCESS",
    "UPDATE",
    "Change",
    "Plan",
    "PlanOptions",
    "Scope",
    "UsageQuery",
    "checksum",
    "pipeline_usage",
    "plan",
    "with_usage",
]


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
        conflicts=tuple(planner.conflicts),
    )


class _Planner:
    def __init__(self, template: Template, state: PortalState, options: PlanOptions):
        self.template = template
        self.state = state
        self.options = options
        self.changes: list[Change] = []
        self.unsafe: list[str] = []
        self.needs_usage: list[UsageQuery] = []
        self.conflicts: list[str] = []

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
        actual, conflict = match_smart_process(desired, self.state.smart_processes)
        label = f'smart process "{desired.title}"'
        if conflict is not None:
            scope = Scope("smart_processes", label, smart_process=desired.title)
            self.conflict(scope, SMART_PROCESS, desired.title, _smart_process_conflict(conflict))
            return
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
        matched, conflicts = match_pipelines(desired.pipelines, actual.pipelines)
        noun = catalog.SECTION_TITLE[section]
        title = f'smart process "{process}", pipeline' if process else noun  # for headings
        next_id = max((p.id or 0 for p in actual.pipelines), default=0) + 1  # ids only grow
        for want in desired.pipelines:
            if want.name in conflicts:
                scope = Scope(
                    section,
                    f'{title} "{want.name}"',
                    entity_type_id=etid,
                    pipeline=want.name,
                    smart_process=process,
                )
                reason = _pipeline_conflict(conflicts[want.name], noun, want, section)
                self.conflict(scope, PIPELINE, want.name, reason)
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
            fresh = (etid, have.id) in self.options.created or self.left_fresh(section, want, have, etid)
            prune = self.prune_of(want.stages.prune)
            self.entries(scope, want.stages, stages, prune, fresh=fresh)
        unsure = {
            n
            for want in desired.pipelines
            if want.name in conflicts
            for n in (want.name, *want.previous_names)
        }
        in_conflict = {i for c in conflicts.values() for i in c.ids}
        self.pipeline_deletions(desired, actual, matched, etid, process, unsure, in_conflict)

    def conflict(self, scope: Scope, target: str, key: str, reason: str) -> None:
        self.conflicts.append(scope.label)
        self.changes.append(Change(BLOCKED, target, scope, key, reason=reason))

    def left_fresh(self, section: str, want: Pipeline, have: Pipeline, etid: int | None) -> bool:
        """A pipeline b24app made (it carries the mark) that still holds, beside the template's
        stages, only the untouched default stages Bitrix24 gave it, and no items: a run stopped
        right after creating it. It is finished as a new one. Never a pipeline without the mark."""
        if not have.made_by or not only_default_extras(section, have.stages, want.stages):
            return False
        count = self.state.usage.pipelines.get((etid or 0, have.id or 0))
        if count is None:
            self.needs_usage.append(pipeline_usage(etid, have.id))
            return False
        return count == 0

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
        in_conflict: set[int],
    ) -> None:
        """With prune, delete the portal's pipelines the template does not name (never one whose name
        the template gives to an ambiguous pipeline)."""
        kept = {id(p) for p in matched.values()}
        extra = [
            p
            for p in actual.pipelines
            if id(p) not in kept and p.name not in unsure and p.id not in in_conflict
        ]
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
            count = self.state.usage.pipelines.get((etid or 0, have.id or 0))
            if count is None:
                self.needs_usage.append(pipeline_usage(etid, have.id))
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
            changes = guard_zones(scope, desired, actual, changes)
        self.changes[first:] = zone_safe_order(changes)
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


_SINGULAR = {"leads and contacts": "lead or contact", "companies": "company", "CRM items": "CRM item"}


def _count_of(count: int, noun: str) -> str:
    """'1 deal', '3 deals' — the catalog's nouns are plural."""
    if count == 1:
        noun = _SINGULAR.get(noun, noun.removesuffix("s"))
    return f"{count} {noun}"


# -- small helpers ----------------------------------------------------------------------------------


def pipeline_usage(etid: int | None, category_id: int | None) -> UsageQuery:
    """The count of the items in one pipeline (it is empty when the answer is 0)."""
    field_name = "CATEGORY_ID" if etid == catalog.DEAL else "categoryId"
    return UsageQuery(("pipeline", etid, category_id), ((etid or 0, field_name, category_id),))


def _pipeline_conflict(conflict: Conflict, noun: str, want: Pipeline, section: str) -> str:
    ids = ", ".join(str(i) for i in conflict.ids)
    if conflict.by == KEY:
        return (
            f"conflict: {len(conflict.ids)} {noun}s on the portal have the key {want.key!r} (ids {ids}), "
            f"as two applies at once leave them; keep one (b24app keeps the lowest id) and delete the "
            "others in Bitrix24 once they are empty, then apply again"
        )
    return (
        f"conflict: {len(conflict.ids)} {noun}s on the portal have this name (ids {ids}); rename or "
        "delete all but one in Bitrix24" + (", or give this one a key" if section == "deal_pipelines" else "")
    )


def _smart_process_conflict(conflict: Conflict) -> str:
    ids = ", ".join(str(i) for i in conflict.ids)
    return (
        f"conflict: {len(conflict.ids)} smart processes on the portal have this {conflict.by} "
        f"(entityTypeIds {ids}); delete the empty duplicates or rename all but one in Bitrix24, then "
        "apply again"
    )


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
