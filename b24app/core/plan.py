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
    ENTRY,
    PIPELINE,
    SMART_PROCESS,
    Blocked,
    Change,
    EntryChange,
    EntryCreate,
    EntryDelete,
    EntryUpdate,
    EntryUsage,
    FieldChange,
    PipelineCreate,
    PipelineDelete,
    PipelineUpdate,
    PipelineUsage,
    Plan,
    PlanOptions,
    Refusal,
    Scope,
    SmartProcessCreate,
    SmartProcessUpdate,
    UsageQuery,
    refusal_of,
)
from .checksum import checksum
from .matching import KEY, Conflict, match_pipelines, match_smart_process
from .model import (
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
        refusals=tuple(planner.refusals),
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
        self.refusals: list[Refusal] = []
        self.needs_usage: list[UsageQuery] = []
        self.conflicts: list[str] = []

    def block(
        self, target: str, scope: Scope, key: str, reason: str, refused: EntryChange | None = None
    ) -> None:
        self.changes.append(Blocked(scope, key, target, reason, refused))

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
                self.block(PIPELINE, scope, "*", reason + "; the section is skipped")
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
            self.block(ENTRY, scope, "*", reason + "; the list is skipped")
            return
        scope = Scope(
            key,
            f"{spec.title} ({actual.entity_id})",
            actual.entity_id,
            actual.prefix,
            category_id=actual.category_id,
        )
        self.entries(scope, desired, actual, self.prune_of(desired.prune), fresh=False)

    def smart_process(self, desired: SmartProcess) -> None:
        actual, conflict = match_smart_process(desired, self.state.smart_processes)
        label = f'smart process "{desired.title}"'
        if conflict is not None:
            scope = Scope("smart_processes", label, smart_process=desired.title)
            self.conflict(SMART_PROCESS, scope, desired.title, _smart_process_conflict(conflict))
            return
        if actual is None:
            scope = Scope("smart_processes", label, smart_process=desired.title)
            self.changes.append(SmartProcessCreate(scope, desired.title, desired))
            return
        scope = Scope(
            "smart_processes", label, entity_type_id=actual.entity_type_id, smart_process=desired.title
        )
        if actual.title != desired.title:
            title = FieldChange("title", actual.title, desired.title)
            self.changes.append(SmartProcessUpdate(scope, desired.title, (title,), actual.type_id))
        self.pipelines(desired.pipelines, actual.pipelines, desired.title, actual.entity_type_id)

    # -- pipelines -----------------------------------------------------------------------------

    def pipelines(
        self,
        desired: PipelineSet,
        actual: PipelineSet,
        process: str | None,
        entity_type_id: int | None = None,
    ) -> None:
        etid = entity_type_id if entity_type_id is not None else actual.entity_type_id
        section = _Section(desired.section, etid, process)
        matched, conflicts = match_pipelines(desired.pipelines, actual.pipelines)
        next_id = max((p.id or 0 for p in actual.pipelines), default=0) + 1  # ids only grow
        for want in desired.pipelines:
            if want.name in conflicts:
                self.pipeline_conflict(section, want, conflicts[want.name])
                continue
            have = matched.get(want.name)
            if have is None and section.name == "deal_pipelines":
                self.long_ids_of_new_deal_pipeline(want, next_id, etid, process)
                next_id += 1
            if have is None:
                self.changes.append(PipelineCreate(section.scope_of_new(want), want.name, want))
                continue
            self.existing_pipeline(section, want, have)
        unsure = {
            n
            for want in desired.pipelines
            if want.name in conflicts
            for n in (want.name, *want.previous_names)
        }
        in_conflict = {i for c in conflicts.values() for i in c.ids}
        self.pipeline_deletions(desired, actual, matched, section, unsure, in_conflict)

    def conflict(self, target: str, scope: Scope, key: str, reason: str) -> None:
        """Several portal pipelines or smart processes fit one template entry: blocked, and the plan
        (and so an apply's verification) is never in sync while it lasts."""
        self.conflicts.append(scope.label)
        self.block(target, scope, key, reason)

    def pipeline_conflict(self, section: _Section, want: Pipeline, conflict: Conflict) -> None:
        """A template pipeline that several of the portal's fit (same key or name): not guessed."""
        ids = ", ".join(str(i) for i in conflict.ids)
        if conflict.by == KEY:
            reason = (
                f"conflict: {len(conflict.ids)} {section.noun}s on the portal have the key {want.key!r} "
                f"(ids {ids}), as two applies at once leave them; keep one (b24app keeps the lowest id) "
                "and delete the others in Bitrix24 once they are empty, then apply again"
            )
        else:
            reason = (
                f"conflict: {len(conflict.ids)} {section.noun}s on the portal have this name (ids {ids}); "
                "rename or delete all but one in Bitrix24"
                + (", or give this one a key" if section.name == "deal_pipelines" else "")
            )
        self.conflict(PIPELINE, section.scope_of_new(want, new=False), want.name, reason)

    def existing_pipeline(self, section: _Section, want: Pipeline, have: Pipeline) -> None:
        """A pipeline both sides have: its own fields, then its stages."""
        scope = section.scope_of(have, want.name, have.stages.key)
        self.pipeline_fields(section.name, scope, want, have)
        fresh = (section.entity_type_id, have.id) in self.options.created or self.left_fresh(
            section, want, have
        )
        prune = self.prune_of(want.stages.prune)
        self.entries(scope, want.stages, have.stages, prune, fresh=fresh)

    def left_fresh(self, section: _Section, want: Pipeline, have: Pipeline) -> bool:
        """A pipeline b24app made (it carries the mark) that still holds, beside the template's
        stages, only the untouched default stages Bitrix24 gave it, and no items: a run stopped
        right after creating it. It is finished as a new one. Never a pipeline without the mark."""
        wanted = {e.id for e in want.stages.entries}
        extras = [e.id for e in have.stages.entries if e.id not in wanted]
        if not have.made_by or not extras or not have.as_created.issuperset(extras):
            return False
        etid, cid = section.entity_type_id or 0, have.id or 0
        count = self.state.usage.pipelines.get((etid, cid))
        if count is None:
            self.needs_usage.append(PipelineUsage(etid, cid))
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
                self.block(ENTRY, scope, entry.id, reason, EntryCreate(scope, entry.id, entry))

    def pipeline_fields(self, section: str, scope: Scope, want: Pipeline, have: Pipeline) -> None:
        fields: list[FieldChange] = []
        if have.name != want.name:
            fields.append(FieldChange("name", have.name, want.name))
        if want.sort is not None and have.sort != want.sort:
            fields.append(FieldChange("sort", have.sort, want.sort))
        if section == "deal_pipelines" and want.key and not want.default and have.key != want.key:
            fields.append(FieldChange("key", have.key, want.key))
        if want.default and not have.default:
            if section == "deal_pipelines":
                reason = "the default deal pipeline is fixed in Bitrix24 (id 0); mark that pipeline default instead"
                self.block(PIPELINE, scope, want.name, reason)
            else:
                fields.append(FieldChange("default", False, True))
        if fields:
            self.changes.append(PipelineUpdate(scope, want.name, tuple(fields)))

    def pipeline_deletions(
        self,
        desired: PipelineSet,
        actual: PipelineSet,
        matched: Mapping[str, Pipeline],
        section: _Section,
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
        deletions = sum(self.pipeline_deletion(section, have) for have in extra)
        self.check_share(section.name, f"{section.noun}s", deletions, len(actual.pipelines))

    def pipeline_deletion(self, section: _Section, have: Pipeline) -> bool:
        """Delete one pipeline the template does not name, unless it is the default or holds items.
        Returns whether it will go."""
        scope = section.scope_of(have, have.name, section.name)
        if have.default:
            reason = (
                "it is the default pipeline, which Bitrix24 cannot delete; rename it in the template instead"
            )
            self.block(PIPELINE, scope, have.name, reason)
            return False
        etid, cid = section.entity_type_id or 0, have.id or 0
        count = self.state.usage.pipelines.get((etid, cid))
        if count is None:
            self.needs_usage.append(PipelineUsage(etid, cid))
            return False
        if count:
            noun = catalog.SPECS[catalog.SECTION_STAGE_KIND[section.name]].item_noun
            verb, them = ("is", "it") if count == 1 else ("are", "them")
            reason = (
                f"{_count_of(count, noun)} {verb} in this pipeline; move {them} to another pipeline first, "
                "or add the pipeline to the template"
            )
            self.block(PIPELINE, scope, have.name, reason)
            return False
        self.changes.append(PipelineDelete(scope, have.name))
        return True

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
            self.check_share(desired.key, scope.label, deletions, len(actual.entries))

    def deletions(self, scope: Scope, desired: RefList, actual: RefList, fresh: bool) -> int:
        """Plan the deletion of portal entries the template lacks; returns how many will go."""
        wanted = {e.id for e in desired.entries}
        deletions = 0
        for have in actual.entries:
            if have.id in wanted:
                continue
            if have.system:
                if not fresh:
                    reason = "system entries cannot be deleted by b24app; keep it in the template (it may be renamed)"
                    self.block(ENTRY, scope, have.id, reason, EntryDelete(scope, have.id, have))
                continue
            if not fresh and not self.unused(scope, desired.key, actual, have):
                continue
            deletions += 1
            self.changes.append(EntryDelete(scope, have.id, have))
        return deletions

    def unused(self, scope: Scope, kind: str, actual: RefList, have: Entry) -> bool:
        """Whether no CRM item uses the entry; blocks its deletion, or asks for a count, otherwise."""
        spec = catalog.SPECS[kind]
        delete = EntryDelete(scope, have.id, have)
        if not spec.usage_countable:
            reason = (
                f"b24app cannot check whether {spec.item_noun} use it over REST, so it is not "
                "deleted; delete it in Bitrix24 if it is unused, or keep it in the template"
            )
            self.block(ENTRY, scope, have.id, reason, delete)
            return False
        count = self.state.usage.entries.get((actual.entity_id or "", have.id))
        if count is None:
            query = EntryUsage(kind, actual.entity_id or "", actual.prefix, scope.entity_type_id, have.id)
            self.needs_usage.append(query)
            return False
        if count:
            verb, them = ("uses", "it") if count == 1 else ("use", "them")
            reason = (
                f"{_count_of(count, spec.item_noun)} {verb} it; move {them} to another "
                f"{'stage' if spec.is_stages else 'value'} first, or keep it in the template"
            )
            self.block(ENTRY, scope, have.id, reason, delete)
            return False
        return True

    def create_entry(self, scope: Scope, want: Entry, success: Entry | None) -> None:
        create = EntryCreate(scope, want.id, want)
        if scope.entity_id is not None:
            limit = catalog.max_id_length(scope.entity_id, scope.prefix)
            if len(want.id) > limit:
                reason = (
                    f"id is {len(want.id)} characters; this list ({scope.entity_id}) takes at most {limit} "
                    "— shorten it in the template"
                )
                self.block(ENTRY, scope, want.id, reason, create)
                return
            if want.semantics == "success" and success is not None:
                reason = (
                    f"the list already has the success stage {success.id}; Bitrix24 allows only one — "
                    f"use {success.id} as the success stage in the template"
                )
                self.block(ENTRY, scope, want.id, reason, create)
                return
        self.changes.append(create)

    def update_entry(self, scope: Scope, want: Entry, have: Entry) -> None:
        fields: list[FieldChange] = []
        if want.name != have.name:
            fields.append(FieldChange("name", have.name, want.name))
        if want.sort != have.sort:
            fields.append(FieldChange("sort", have.sort, want.sort))
        if want.color is not None and want.color.upper() != (have.color or "").upper():
            fields.append(FieldChange("color", have.color, want.color))
        if want.semantics != have.semantics:
            reason = (
                f"semantics {have.semantics} -> {want.semantics} cannot change in Bitrix24; add a new "
                f"{want.semantics} stage and move the items there"
            )
            semantics = FieldChange("semantics", have.semantics, want.semantics)
            self.block(ENTRY, scope, want.id, reason, EntryUpdate(scope, want.id, (semantics,), have.row_id))
        if fields:
            self.changes.append(EntryUpdate(scope, want.id, tuple(fields), have.row_id))

    def check_share(self, list_key: str, label: str, deletions: int, size: int) -> None:
        refusal = refusal_of(list_key, label, deletions, size)
        if refusal is not None:
            self.refusals.append(refusal)


class _Section:
    """One pipeline section on the portal (deals, invoices or one smart process): the scopes of its
    pipelines."""

    def __init__(self, name: str, entity_type_id: int | None, process: str | None):
        self.name = name  # "deal_pipelines", "invoice_pipelines", "smart_processes"
        self.entity_type_id = entity_type_id
        self.process = process
        self.noun = catalog.SECTION_TITLE[name]
        self.title = f'smart process "{process}", pipeline' if process else self.noun  # for headings

    def scope_of_new(self, want: Pipeline, *, new: bool = True) -> Scope:
        """A template pipeline the portal lacks (or cannot tell apart)."""
        return Scope(
            self.name,
            f'{self.title} "{want.name}"' + (" (new)" if new else ""),
            entity_type_id=self.entity_type_id,
            pipeline=want.name,
            smart_process=self.process,
        )

    def scope_of(self, have: Pipeline, name: str, kind: str) -> Scope:
        """A pipeline on the portal, called ``name`` in the template; ``kind`` names the scope's list."""
        stages = have.stages
        return Scope(
            kind,
            f'{self.title} "{name}" ({stages.entity_id})',
            stages.entity_id,
            stages.prefix,
            self.entity_type_id,
            have.id,
            name,
            self.process,
        )


def _smart_process_conflict(conflict: Conflict) -> str:
    ids = ", ".join(str(i) for i in conflict.ids)
    return (
        f"conflict: {len(conflict.ids)} smart processes on the portal have this {conflict.by} "
        f"(entityTypeIds {ids}); delete the empty duplicates or rename all but one in Bitrix24, then "
        "apply again"
    )


_SINGULAR = {"leads and contacts": "lead or contact", "companies": "company", "CRM items": "CRM item"}


def _count_of(count: int, noun: str) -> str:
    """'1 deal', '3 deals' — the catalog's nouns are plural."""
    if count == 1:
        noun = _SINGULAR.get(noun, noun.removesuffix("s"))
    return f"{count} {noun}"


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
