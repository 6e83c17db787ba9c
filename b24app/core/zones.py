"""Stage order: process stages before the success stage, failure stages after it, at every step."""

from __future__ import annotations

from dataclasses import replace

from . import catalog
from .changes import BLOCKED, CREATE, DELETE, ENTRY, UPDATE, Change, Scope
from .model import FAILURE, PROCESS, SUCCESS, RefList


def guard_zones(scope: Scope, desired: RefList, actual: RefList, changes: list[Change]) -> list[Change]:
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


def zone_safe_order(changes: list[Change]) -> list[Change]:
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
