"""The stage-zone rules, each on its own: where stages end up, stranded failures, held moves, blocking."""

from __future__ import annotations

from b24app.core.changes import (
    Blocked,
    EntryCreate,
    EntryDelete,
    EntryUpdate,
    FieldChange,
    Scope,
)
from b24app.core.model import Entry, PortalState, RefList, Template
from b24app.core.plan import plan
from b24app.core.zones import Zone, block_held, held_moves, keep_failures_after, zone_of, zone_safe_order

SCOPE = Scope("lead_stages", "lead stages (STATUS)", "STATUS")


def E(id, sort, semantics="process", row=None):  # noqa: N802 - a short builder
    return Entry(id, id.lower(), sort, None, semantics, False, "", row)


def leads(*entries: Entry) -> RefList:
    return RefList("lead_stages", entries, entity_id="STATUS")


PORTAL = leads(
    E("NEW", 10, row=1),
    E("A", 20, row=2),
    E("CONVERTED", 30, "success", row=3),
    E("JUNK", 40, "failure", row=4),
    E("LATE", 50, "failure", row=5),
)


def sort_update(key: str, old: int, new: int, row: int | None = None) -> EntryUpdate:
    return EntryUpdate(SCOPE, key, (FieldChange("sort", old, new),), row)


def zone(final: dict[str, int] | None = None, moving: set[str] | None = None) -> Zone:
    current = {e.id: e.sort for e in PORTAL.entries}
    semantics = {e.id: e.semantics for e in PORTAL.entries}
    return Zone(current, {**current, **(final or {})}, semantics, "CONVERTED", set(moving or ()))


# -- zone_of ------------------------------------------------------------------------------------------


def test_zone_of_applies_creates_updates_and_deletes_to_the_sorts():
    changes = [
        sort_update("A", 20, 35),
        EntryCreate(SCOPE, "B", E("B", 45, "failure")),
        EntryDelete(SCOPE, "LATE", E("LATE", 50, "failure", row=5)),
        EntryUpdate(SCOPE, "NEW", (FieldChange("name", "new", "Новый"),), 1),  # no sort: not moving
    ]
    got = zone_of("lead_stages", PORTAL, changes)
    assert got is not None and got.success == "CONVERTED"
    assert got.final == {"NEW": 10, "A": 35, "CONVERTED": 30, "JUNK": 40, "B": 45}
    assert got.current["A"] == 20 and got.semantics["B"] == "failure"
    assert got.moving == {"A"}


def test_zone_of_is_none_without_a_success_stage_on_the_portal():
    portal = leads(E("NEW", 10, row=1), E("JUNK", 40, "failure", row=4))
    created = EntryCreate(SCOPE, "CONVERTED", E("CONVERTED", 30, "success"))
    assert zone_of("lead_stages", portal, [created]) is None


def test_newly_wrong_ignores_a_stage_that_is_already_on_the_wrong_side():
    odd = Zone({"S": 20, "P": 25}, {"S": 20, "P": 25}, {"S": "success", "P": "process"}, "S")
    assert not odd.newly_wrong("P")
    moved = Zone({"S": 20, "P": 10}, {"S": 20, "P": 25}, {"S": "success", "P": "process"}, "S")
    assert moved.newly_wrong("P")


# -- keep_failures_after ------------------------------------------------------------------------------


def test_unlisted_failure_stages_the_success_stage_reaches_move_after_everything():
    z = zone({"CONVERTED": 60}, {"CONVERTED"})
    listed = {"NEW", "A", "CONVERTED", "JUNK"}  # LATE is not in the template
    rows = {e.id: e.row_id for e in PORTAL.entries}
    z.final["JUNK"] = 70  # the template moves JUNK itself
    (move,) = keep_failures_after(z, listed, SCOPE, rows)
    assert (move.key, move.fields, move.row_id) == ("LATE", (FieldChange("sort", 50, 80),), 5)
    assert move.reason == "kept after the success stage, as a failure stage"
    assert z.final["LATE"] == 80 and "LATE" in z.moving


def test_failure_stages_the_success_stage_does_not_reach_stay():
    z = zone({"CONVERTED": 35}, {"CONVERTED"})
    assert keep_failures_after(z, {"NEW", "CONVERTED"}, SCOPE, {}) == []


# -- held_moves ----------------------------------------------------------------------------------------


def test_the_success_stage_may_not_jump_over_a_stage_that_stays():
    z = zone({"CONVERTED": 55, "JUNK": 60}, {"CONVERTED", "JUNK"})  # LATE (50) stays, before it
    held = held_moves(z, [])
    assert list(held) == ["CONVERTED"] and "LATE" in held["CONVERTED"]
    assert z.final["CONVERTED"] == 30  # back where it is


def test_a_stage_moving_across_a_success_stage_that_stays_is_held():
    z = zone({"A": 35}, {"A"})
    held = held_moves(z, [])
    assert list(held) == ["A"]
    assert held["A"] == (
        "sort 35 would put this process stage after the success stage CONVERTED (sort 30); keep it on its side"
    )
    assert z.final["A"] == 20


def test_when_the_success_move_is_held_the_others_say_so():
    # the success stage moves to 15; A (20) moves to 25 and would then be after it
    z = zone({"CONVERTED": 15, "A": 25, "NEW": 5}, {"CONVERTED", "A", "NEW"})
    held = held_moves(z, [])
    assert "CONVERTED" in held
    assert "A" not in held  # with the success stage kept at 30, A at 25 stays on its side
    z2 = zone({"CONVERTED": 15, "A": 35}, {"CONVERTED", "A"})
    held2 = held_moves(z2, [])
    assert set(held2) == {"CONVERTED", "A"}
    assert "which keeps its sort 30 (its move is blocked)" in held2["A"]


def test_a_stage_whose_semantics_change_is_blocked_keeps_its_place():
    semantics = EntryUpdate(SCOPE, "A", (FieldChange("semantics", "process", "failure"),), 2)
    blocked = Blocked(SCOPE, "A", "entry", "semantics cannot change", semantics)
    z = zone({"A": 45}, {"A"})
    held = held_moves(z, [blocked])
    assert held == {"A": "semantics cannot change"}
    assert z.final["A"] == 20


# -- block_held ---------------------------------------------------------------------------------------


def test_a_held_update_keeps_its_other_fields_and_its_sort_is_blocked():
    update = EntryUpdate(SCOPE, "A", (FieldChange("name", "a", "Б"), FieldChange("sort", 20, 35)), 2)
    untouched = sort_update("NEW", 10, 5, 1)
    result = block_held([update, untouched], {"A": "why"})
    assert result == [
        EntryUpdate(SCOPE, "A", (FieldChange("name", "a", "Б"),), 2),
        Blocked(SCOPE, "A", "entry", "why", EntryUpdate(SCOPE, "A", (FieldChange("sort", 20, 35),), 2)),
        untouched,
    ]
    assert result[1].to_json()["old"] == {"sort": 20} and result[1].to_json()["new"] == {"sort": 35}


def test_a_held_create_is_blocked_whole_and_a_stage_already_blocked_is_not_blocked_twice():
    create = EntryCreate(SCOPE, "B", E("B", 35))
    semantics = Blocked(SCOPE, "A", "entry", "semantics", None)
    move = sort_update("A", 20, 35, 2)
    result = block_held([create, semantics, move], {"B": "why B", "A": "semantics"})
    assert result == [Blocked(SCOPE, "B", "entry", "why B", create), semantics]


# -- zone_safe_order ----------------------------------------------------------------------------------


def test_moves_up_go_first_last_of_the_list_first():
    down = sort_update("NEW", 10, 5)
    up1, up2 = sort_update("A", 20, 25), sort_update("JUNK", 40, 60)
    create = EntryCreate(SCOPE, "B", E("B", 45, "failure"))
    assert zone_safe_order([down, up1, create, up2]) == [up2, up1, down, create]


# -- what the mutation run of zones.py found untested (README, "Mutation testing") --------------------


def test_stranded_failure_stages_keep_their_order_when_moved_after_everything():
    portal = leads(E("NEW", 10, row=1), E("CONVERTED", 30, "success", row=3))
    current = {"NEW": 10, "CONVERTED": 30, "ZZZ": 40, "AAA": 50}  # names sort against their order
    semantics = {**{e.id: e.semantics for e in portal.entries}, "ZZZ": "failure", "AAA": "failure"}
    z = Zone(current, {**current, "CONVERTED": 60}, semantics, "CONVERTED", {"CONVERTED"})
    moves = keep_failures_after(z, {"NEW", "CONVERTED"}, SCOPE, {"ZZZ": 7, "AAA": 8})
    assert [(m.key, m.fields[0].new) for m in moves] == [("ZZZ", 70), ("AAA", 80)]


def test_the_held_success_move_names_the_stages_it_would_strand():
    z = zone({"CONVERTED": 55, "JUNK": 60, "A": 58}, {"CONVERTED", "JUNK", "A"})
    held = held_moves(z, [])
    assert held["CONVERTED"] == (
        "moving it to sort 55 would leave A, LATE on the wrong side of it (process stages go before the "
        "success stage, failure stages after; for leads, deals and quotes that order decides a stage's "
        "semantics); list them in the template in their place, or prune them"
    )


def test_a_failure_stage_moving_before_the_success_stage_is_held_and_said_so():
    z = zone({"JUNK": 25}, {"JUNK"})
    assert held_moves(z, []) == {
        "JUNK": "sort 25 would put this failure stage before the success stage CONVERTED (sort 30); "
        "keep it on its side"
    }


def test_a_stage_still_crossing_once_the_success_move_is_held_is_held_too():
    # two stages only: the rounds of held_moves must reach the stage after holding the success move
    z = Zone({"P": 10, "S": 20}, {"P": 25, "S": 5}, {"P": "process", "S": "success"}, "S", {"P", "S"})
    held = held_moves(z, [])
    assert set(held) == {"S", "P"} and z.final == {"P": 10, "S": 20}


def test_a_held_update_keeps_the_reason_of_its_other_fields():
    update = EntryUpdate(SCOPE, "A", (FieldChange("name", "a", "Б"), FieldChange("sort", 20, 35)), 2, "why")
    (rest, _) = block_held([update], {"A": "held"})
    assert rest == EntryUpdate(SCOPE, "A", (FieldChange("name", "a", "Б"),), 2, "why")


def test_a_new_stage_that_would_cross_the_held_success_stage_is_not_created():
    # the success stage may not move down to 15 past A (unlisted, kept): it stays at 30, and the new
    # failure stage LOST at 17 would then sit before it
    desired = leads(
        E("NEW", 10), E("CONVERTED", 15, "success"), E("LOST", 17, "failure"), E("JUNK", 40, "failure")
    )
    result = plan(
        Template(lists={"lead_stages": desired}), PortalState("p.example", lists={"lead_stages": PORTAL})
    )
    blocked = {c.key: c for c in result.changes if isinstance(c, Blocked)}
    assert set(blocked) == {"CONVERTED", "LOST"}
    assert blocked["LOST"].refused == EntryCreate(blocked["LOST"].scope, "LOST", E("LOST", 17, "failure"))
    assert blocked["LOST"].reason == (
        "sort 17 would put this failure stage before the success stage CONVERTED, which keeps its sort 30 "
        "(its move is blocked); keep it on its side"
    )
    assert not [c for c in result.changes if isinstance(c, EntryCreate | EntryUpdate)]


def test_zone_of_finds_a_success_stage_that_is_not_the_lists_fixed_one():
    # the fixed success id was deleted (FORCED) and another stage made the success stage
    portal = leads(E("NEW", 10, row=1), E("DONE", 30, "success", row=3), E("JUNK", 40, "failure", row=4))
    got = zone_of("lead_stages", portal, [sort_update("NEW", 10, 35, 1)])
    assert got is not None and got.success == "DONE" and got.newly_wrong("NEW")
