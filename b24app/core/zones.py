"""Stage order: process stages before the success stage, failure stages after it, at every step.

Bitrix24 orders a stage list process < success < failures by sort, and for leads, deals and quotes
derives a stage's semantics from that order (a stage sorted after the success stage counts as a
failure, one at its sort or before as in progress). So a sort change can be a semantics change in
disguise. The guard is made of small rules, each on its own below:

- :func:`zone_of` works out where every stage is now and where the planned changes would put it;
- :func:`keep_failures_after` moves failure stages the template does not list after the others
  when the success stage moves up to or past them;
- :func:`held_moves` holds back any other sort change that would carry a stage across (the success
  stage's own move first), and keeps a stage whose semantics change is blocked where it is;
- :func:`block_held` turns the held moves into blocked changes.

A stage already on the wrong side is left be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import catalog
from .changes import (
    ENTRY,
    Blocked,
    Change,
    EntryCreate,
    EntryDelete,
    EntryUpdate,
    FieldChange,
    Scope,
    field_change,
)
from .model import FAILURE, PROCESS, SUCCESS, RefList


@dataclass
class Zone:
    """The sorts of one stage list: now (``current``) and after the planned changes (``final``)."""

    current: dict[str, int]
    final: dict[str, int]
    semantics: dict[str, str]
    success: str
    moving: set[str] = field(default_factory=set)  # stages whose sort the plan changes

    def wrong_side(self, key: str, sort: int, success_sort: int) -> bool:
        return (self.semantics[key] == PROCESS and sort > success_sort) or (
            self.semantics[key] == FAILURE and sort <= success_sort
        )

    def newly_wrong(self, key: str) -> bool:
        """Whether the planned sorts put the stage on the wrong side of the success stage, where it
        is not now."""
        return self.wrong_side(key, self.final[key], self.final[self.success]) and not (
            key in self.current and self.wrong_side(key, self.current[key], self.current[self.success])
        )


def guard_zones(scope: Scope, desired: RefList, actual: RefList, changes: list[Change]) -> list[Change]:
    """Keep every stage on its side of the success stage: process stages before it, failures after."""
    zone = zone_of(desired.key, actual, changes)
    if zone is None:
        return changes
    listed = {e.id for e in desired.entries}
    rows = {e.id: e.row_id for e in actual.entries}
    changes = [*changes, *keep_failures_after(zone, listed, scope, rows)]
    held = held_moves(zone, changes)
    return block_held(changes, held) if held else changes


def zone_of(kind: str, actual: RefList, changes: list[Change]) -> Zone | None:
    """Where each stage of a list is and where the changes put it; None when the list has no success
    stage on the portal to keep the others apart."""
    rules = catalog.SPECS[kind].stages
    current = {e.id: e.sort for e in actual.entries}
    semantics = {e.id: e.semantics for e in actual.entries}
    final = dict(current)
    moving: set[str] = set()
    for change in changes:
        if isinstance(change, EntryDelete):
            final.pop(change.key, None)
        elif isinstance(change, EntryUpdate) and (sort := field_change(change.fields, "sort")):
            final[change.key] = int(sort.new)  # type: ignore[call-overload]
            moving.add(change.key)
        elif isinstance(change, EntryCreate):
            final[change.key] = change.entry.sort
            semantics[change.key] = change.entry.semantics
    success = rules.success if rules and semantics.get(rules.success) == SUCCESS else None
    success = success or next((k for k in final if semantics.get(k) == SUCCESS), None)
    if success is None or success not in current:
        return None
    return Zone(current, final, semantics, success, moving)


def keep_failures_after(
    zone: Zone, listed: set[str], scope: Scope, rows: dict[str, int | None]
) -> list[EntryUpdate]:
    """Unlisted failure stages the success stage would reach: move them after everything else."""
    stranded = sorted(
        (k for k in zone.final if k not in listed and zone.semantics[k] == FAILURE and zone.newly_wrong(k)),
        key=lambda k: zone.current[k],
    )
    moves = []
    for key in stranded:
        sort = max(zone.final.values()) + 10
        moves.append(
            EntryUpdate(
                scope,
                key,
                (FieldChange("sort", zone.current[key], sort),),
                rows[key],
                reason="kept after the success stage, as a failure stage",
            )
        )
        zone.final[key] = sort
        zone.moving.add(key)
    return moves


def held_moves(zone: Zone, changes: list[Change]) -> dict[str, str]:
    """The stages whose planned sort is held back, each with the reason."""
    held: dict[str, str] = {}
    for change in changes:  # a stage whose semantics change is blocked keeps its place too
        if _blocks_semantics(change) and change.key in zone.moving:
            held[change.key] = change.reason
            zone.final[change.key] = zone.current[change.key]
    success = zone.success
    for _ in range(len(zone.final) + 1):
        crossing = [key for key in zone.final if key != success and key not in held and zone.newly_wrong(key)]
        if not crossing:
            break
        if success in zone.moving and success not in held:
            names = ", ".join(crossing)
            held[success] = (
                f"moving it to sort {zone.final[success]} would leave {names} on the wrong side of it (process "
                "stages go before the success stage, failure stages after; for leads, deals and quotes that "
                "order decides a stage's semantics); list them in the template in their place, or prune them"
            )
            zone.final[success] = zone.current[success]
            continue
        held.update(_hold_crossing(zone, crossing, success in held))
    return held


def _hold_crossing(zone: Zone, crossing: list[str], success_held: bool) -> dict[str, str]:
    """Stages that would cross the success stage stay where they are."""
    success = zone.success
    because = f", which keeps its sort {zone.final[success]} (its move is blocked)" if success_held else ""
    held = {}
    for key in crossing:
        side = "after" if zone.semantics[key] == PROCESS else "before"
        held[key] = (
            f"sort {zone.final[key]} would put this {zone.semantics[key]} stage {side} the success stage "
            f"{success}{because or f' (sort {zone.final[success]})'}; keep it on its side"
        )
        if key in zone.current:
            zone.final[key] = zone.current[key]
        else:
            del zone.final[key]
    return held


def block_held(changes: list[Change], held: dict[str, str]) -> list[Change]:
    """The changes with each held move blocked: an update keeps its other fields, a create is
    blocked whole."""
    blocked = {c.key for c in changes if isinstance(c, Blocked)}
    result: list[Change] = []
    for change in changes:
        if change.key not in held or not isinstance(change, EntryUpdate | EntryCreate):
            result.append(change)
            continue
        reason = held[change.key]
        if isinstance(change, EntryCreate):
            result.append(Blocked(change.scope, change.key, ENTRY, reason, change))
            continue
        rest = tuple(f for f in change.fields if f.name != "sort")
        if rest:
            result.append(EntryUpdate(change.scope, change.key, rest, change.row_id, change.reason))
        if change.key not in blocked:
            sort = tuple(f for f in change.fields if f.name == "sort")
            refused = EntryUpdate(change.scope, change.key, sort, change.row_id)
            result.append(Blocked(change.scope, change.key, ENTRY, reason, refused))
    return result


def _blocks_semantics(change: Change) -> bool:
    return (
        isinstance(change, Blocked)
        and isinstance(change.refused, EntryUpdate)
        and field_change(change.refused.fields, "semantics") is not None
    )


def zone_safe_order(changes: list[Change]) -> list[Change]:
    """Order a list's updates so that every single step keeps process < success < failures by sort.

    Entries moving up go first, last of the list first; then entries moving down, first of the
    list first. (Bitrix24 checks the sort zones when adding; newer portals may check on update too.)
    """

    def moves_up(change: Change) -> bool:
        if not isinstance(change, EntryUpdate):
            return False
        sort = field_change(change.fields, "sort")
        return sort is not None and sort.new > sort.old  # type: ignore[operator]

    up = [c for c in changes if moves_up(c)]
    return up[::-1] + [c for c in changes if not moves_up(c)]
