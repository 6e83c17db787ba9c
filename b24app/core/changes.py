"""What a plan is made of: where a change happens, the changes themselves, the options and the plan.

Each kind of change is its own small frozen value, in template terms (entry ids without the
pipeline prefix, pipelines by entityTypeId and category id); where the writer needs the portal's
own handle for a thing (a crm.status row id, a crm.type id) it rides along as the reader gave it.
Every change has an order of execution and a JSON form, ``{"action", "target", "key", "scope",
"old", "new", "reason"}``, which ``plan --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .model import PROCESS, Entry, Pipeline, SmartProcess

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

Values = dict[str, object]  # the JSON form of one side of a change


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
class FieldChange:
    """One field of an update: its name ("name", "sort", "color", "key", ...), the portal's value and
    the template's."""

    name: str
    old: object
    new: object


Fields = tuple[FieldChange, ...]


def field_change(fields: Fields, name: str) -> FieldChange | None:
    return next((f for f in fields if f.name == name), None)


def entry_values(entry: Entry) -> Values:
    """The compared values of an entry (colour and semantics only when they say something)."""
    data: Values = {"name": entry.name, "sort": entry.sort}
    if entry.color is not None:
        data["color"] = entry.color
    if entry.semantics != PROCESS:
        data["semantics"] = entry.semantics
    return data


@dataclass(frozen=True, slots=True)
class Change:
    """What every change has: where it happens and what the template calls the thing it changes
    (entry id without prefix, pipeline name or smart-process title)."""

    scope: Scope
    key: str

    action: ClassVar[str] = ""  # create | update | delete | blocked
    target: ClassVar[str] = ""  # entry | pipeline | smart_process

    @property
    def order(self) -> int:
        return _ORDER.get((self.target, self.action), 9)

    def old_values(self) -> Values | None:
        """The portal's side (updates: only the changed fields), as shown in the JSON form."""
        return None

    def new_values(self) -> Values | None:
        """The template's side (updates: only the changed fields), as shown in the JSON form."""
        return None

    @property
    def reason(self) -> str:
        """Why: a blocked change's reason, or a remark on an update; the kinds that have one override
        this with a field (declared with ``field()``, so that this property is not taken as its default)."""
        return ""

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "action": self.action,
            "target": self.target,
            "key": self.key,
            "scope": self.scope.to_json(),
        }
        old, new = self.old_values(), self.new_values()
        if old is not None:
            data["old"] = old
        if new is not None:
            data["new"] = new
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass(frozen=True, slots=True)
class FieldUpdate(Change):
    """An update of some fields; only those that differ are listed."""

    fields: Fields

    action: ClassVar[str] = UPDATE

    def old_values(self) -> Values:
        return {f.name: f.old for f in self.fields}

    def new_values(self) -> Values:
        return {f.name: f.new for f in self.fields}


# -- entries -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryCreate(Change):
    entry: Entry  # the template's entry

    action: ClassVar[str] = CREATE
    target: ClassVar[str] = ENTRY

    def new_values(self) -> Values:
        return entry_values(self.entry)


@dataclass(frozen=True, slots=True)
class EntryUpdate(FieldUpdate):
    row_id: int | None = None  # the portal's crm.status row
    reason: str = field(default="")  # why the planner added it ("kept after the success stage, ...")

    target: ClassVar[str] = ENTRY


@dataclass(frozen=True, slots=True)
class EntryDelete(Change):
    entry: Entry  # the portal's entry (with its row id)

    action: ClassVar[str] = DELETE
    target: ClassVar[str] = ENTRY

    def old_values(self) -> Values:
        return entry_values(self.entry)


# -- pipelines (the scope holds their entityTypeId and, once they exist, their category id) ----------


@dataclass(frozen=True, slots=True)
class PipelineCreate(Change):
    pipeline: Pipeline  # the template's pipeline

    action: ClassVar[str] = CREATE
    target: ClassVar[str] = PIPELINE

    def new_values(self) -> Values:
        want = self.pipeline
        return {
            "name": want.name,
            "sort": want.sort,
            "key": want.key,
            "default": want.default,
            "stages": len(want.stages.entries),
            "stage_ids": [e.id for e in want.stages.entries],
        }


@dataclass(frozen=True, slots=True)
class PipelineUpdate(FieldUpdate):
    target: ClassVar[str] = PIPELINE


@dataclass(frozen=True, slots=True)
class PipelineDelete(Change):
    action: ClassVar[str] = DELETE
    target: ClassVar[str] = PIPELINE

    def old_values(self) -> Values:
        return {"name": self.key}


# -- smart processes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmartProcessCreate(Change):
    process: SmartProcess  # the template's smart process

    action: ClassVar[str] = CREATE
    target: ClassVar[str] = SMART_PROCESS

    def new_values(self) -> Values:
        return {
            "title": self.process.title,
            "code": self.process.code,
            "pipelines": len(self.process.pipelines.pipelines),
        }


@dataclass(frozen=True, slots=True)
class SmartProcessUpdate(FieldUpdate):
    type_id: int | None = None  # the portal's crm.type id (not its entityTypeId)

    target: ClassVar[str] = SMART_PROCESS


# -- blocked -----------------------------------------------------------------------------------------

EntryChange = EntryCreate | EntryUpdate | EntryDelete


@dataclass(frozen=True, slots=True)
class Blocked(Change):
    """A change that cannot be made safely: why, and what to do instead. Never attempted."""

    kind: str  # what it would have changed: entry | pipeline | smart_process
    reason: str = field()
    refused: EntryChange | None = None  # the entry change it stands for, shown as old / new

    action: ClassVar[str] = BLOCKED

    @property
    def target(self) -> str:  # type: ignore[override]
        return self.kind

    def old_values(self) -> Values | None:
        return None if self.refused is None else self.refused.old_values()

    def new_values(self) -> Values | None:
        return None if self.refused is None else self.refused.new_values()


@dataclass(frozen=True, slots=True)
class EntryUsage:
    """Items to count before an entry may be deleted: those in this stage or with this value."""

    kind: str  # catalog key of the list ("sources", "deal_stages", ...)
    entity_id: str  # the list on the portal, as the reader named it
    prefix: str  # the list's prefix on the portal, as the reader gave it
    entity_type_id: int | None  # owner of a pipeline's stage list
    entry_id: str  # without prefix

    @property
    def key(self) -> tuple:
        return ("entry", self.entity_id, self.entry_id)


@dataclass(frozen=True, slots=True)
class PipelineUsage:
    """Items to count before a pipeline may be deleted: those in this pipeline."""

    entity_type_id: int
    category_id: int

    @property
    def key(self) -> tuple:
        return ("pipeline", self.entity_type_id, self.category_id)


UsageQuery = EntryUsage | PipelineUsage  # the reader answers each with a count, keyed by .key


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a plan is refused unless forced: a prune deleting too large a share of one list.

    Data, not words: each front end says it for its own user (the CLI: "add --force")."""

    list: str  # catalog key of the list, or the pipeline section ("deal_pipelines", ...)
    label: str  # the list or section for people: 'sources (SOURCE)', 'deal pipelines'
    deletions: int  # how many entries or pipelines the prune would delete
    size: int  # of how many the portal has
    share: float = PRUNE_SHARE  # the threshold share ...
    min_size: int = PRUNE_MIN_SIZE  # ... for lists of at least this many

    @property
    def percent(self) -> int:
        return round(100 * self.deletions / self.size) if self.size else 0

    def to_json(self) -> dict[str, object]:
        return {
            "list": self.list,
            "label": self.label,
            "deletions": self.deletions,
            "size": self.size,
            "share": self.share,
            "min_size": self.min_size,
        }


def refusal_of(list_key: str, label: str, deletions: int, size: int) -> Refusal | None:
    """The refusal of a prune deleting more than PRUNE_SHARE of a list of PRUNE_MIN_SIZE or more."""
    if size >= PRUNE_MIN_SIZE and deletions > PRUNE_SHARE * size:
        return Refusal(list_key, label, deletions, size)
    return None


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
    refusals: tuple[Refusal, ...] = ()  # why the plan is refused unless forced
    needs_usage: tuple[UsageQuery, ...] = ()  # deletions whose usage was not counted yet
    forced: bool = False
    # template entries that several portal pipelines / smart processes fit: never "in sync"
    conflicts: tuple[str, ...] = ()

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
        return bool(self.refusals) and not self.forced

    def to_json(self) -> dict[str, object]:
        return {
            "portal": self.domain,
            "template": self.template,
            "checksum": self.checksum,
            "summary": self.summary,
            "refusals": [r.to_json() for r in self.refusals],
            "forced": self.forced,
            "conflicts": list(self.conflicts),
            "changes": [c.to_json() for c in self.changes],
        }
