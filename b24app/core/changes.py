"""What a plan is made of: where a change happens, the change itself, the options and the plan.

Small values with a JSON form and an order of execution; the renderers and the writer read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
        return bool(self.unsafe) and not self.forced

    def to_json(self) -> dict[str, object]:
        return {
            "portal": self.domain,
            "template": self.template,
            "checksum": self.checksum,
            "summary": self.summary,
            "unsafe": list(self.unsafe),
            "forced": self.forced,
            "conflicts": list(self.conflicts),
            "changes": [c.to_json() for c in self.changes],
        }
