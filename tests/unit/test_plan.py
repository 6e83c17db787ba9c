"""The plan is pure: these tests build templates and portal states by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from b24app.core import catalog
from b24app.core.changes import (
    BLOCKED,
    CREATE,
    DELETE,
    ENTRY,
    UPDATE,
    Blocked,
    EntryCreate,
    EntryDelete,
    EntryUsage,
    FieldChange,
    PipelineCreate,
    PipelineUpdate,
    PlanOptions,
    SmartProcessUpdate,
)
from b24app.core.checksum import checksum
from b24app.core.model import (
    Entry,
    Pipeline,
    PipelineSet,
    PortalState,
    RefList,
    SmartProcess,
    Template,
    Usage,
)
from b24app.core.plan import plan, with_usage
from b24app.core.render import describe_refusal


def E(id, name, sort, semantics="process", color=None, system=False, row=None):  # noqa: N802 - a short builder
    return Entry(id, name, sort, color, semantics, system, "", row)


def sources_actual(*extra: Entry) -> RefList:
    base = (E("CALL", "Звонок", 10, system=True, row=1), E("EMAIL", "Почта", 20, row=2), *extra)
    return RefList("sources", base, entity_id="SOURCE")


def state(**lists) -> PortalState:
    return PortalState(domain="p.example", lists=lists)


def actions(result) -> list[tuple[str, str]]:
    return [(c.action, c.key) for c in result.changes]


def test_in_sync_plan_is_empty():
    desired = RefList("sources", (E("CALL", "Звонок", 10), E("EMAIL", "Почта", 20)))
    result = plan(Template(lists={"sources": desired}), state(sources=sources_actual()))
    assert result.changes == ()
    assert not result.has_changes


def test_update_carries_only_the_fields_that_differ():
    desired = RefList("sources", (E("CALL", "Входящий звонок", 10), E("EMAIL", "Почта", 20)))
    result = plan(Template(lists={"sources": desired}), state(sources=sources_actual()))
    (change,) = result.changes
    assert (change.action, change.key) == (UPDATE, "CALL")
    assert change.fields == (FieldChange("name", "Звонок", "Входящий звонок"),)
    assert change.row_id == 1
    assert (change.to_json()["old"], change.to_json()["new"]) == (
        {"name": "Звонок"},
        {"name": "Входящий звонок"},
    )


def test_missing_entries_are_kept_without_prune():
    desired = RefList("sources", (E("CALL", "Звонок", 10),))
    result = plan(Template(lists={"sources": desired}), state(sources=sources_actual()))
    assert result.changes == ()


def test_prune_deletes_unused_but_never_system_entries():
    desired = RefList("sources", (E("TELEGRAM", "Telegram", 10),), prune=True)
    usage = Usage(entries={("SOURCE", "EMAIL"): 0})
    st = replace(state(sources=sources_actual()), usage=usage)
    result = plan(Template(lists={"sources": desired}), st)
    assert sorted(actions(result)) == [(BLOCKED, "CALL"), (CREATE, "TELEGRAM"), (DELETE, "EMAIL")]
    blocked = next(c for c in result.changes if c.action == BLOCKED)
    assert "system" in blocked.reason


def test_prune_asks_for_usage_then_blocks_entries_in_use():
    desired = RefList("sources", (E("CALL", "Звонок", 10),), prune=True)
    first = plan(Template(lists={"sources": desired}), state(sources=sources_actual()))
    assert [q.key for q in first.needs_usage] == [("entry", "SOURCE", "EMAIL")]
    assert first.needs_usage == (EntryUsage("sources", "SOURCE", "", None, "EMAIL"),)
    counted = with_usage(state(sources=sources_actual()), {("entry", "SOURCE", "EMAIL"): 3})
    second = plan(Template(lists={"sources": desired}), counted)
    (change,) = second.changes
    assert change.action == BLOCKED and "3 CRM items use it" in change.reason
    assert not second.needs_usage


def test_template_prune_default_and_cli_override():
    desired = RefList("sources", (E("CALL", "Звонок", 10),))
    st = with_usage(state(sources=sources_actual()), {("entry", "SOURCE", "EMAIL"): 0})
    assert plan(Template(lists={"sources": desired}), st).changes == ()
    assert actions(plan(Template(lists={"sources": desired}, prune=True), st)) == [(DELETE, "EMAIL")]
    assert actions(plan(Template(lists={"sources": desired}), st, PlanOptions(prune=True))) == [
        (DELETE, "EMAIL")
    ]


def test_semantics_change_is_blocked_with_advice():
    actual = RefList(
        "lead_stages",
        (
            E("NEW", "Новый", 10, system=True, row=1),
            E("X", "X", 20, row=2),
            E("CONVERTED", "OK", 30, "success", system=True, row=3),
            E("JUNK", "No", 40, "failure", system=True, row=4),
        ),
        entity_id="STATUS",
    )
    desired = RefList(
        "lead_stages",
        (
            E("NEW", "Новый", 10),
            E("CONVERTED", "OK", 20, "success"),
            E("X", "X", 30, "failure"),
            E("JUNK", "No", 40, "failure"),
        ),
    )
    result = plan(Template(lists={"lead_stages": desired}), state(lead_stages=actual))
    blocked = [c for c in result.changes if c.action == BLOCKED]
    assert [c.key for c in blocked] == ["X"]
    assert "cannot change" in blocked[0].reason
    updates = {c.key: c.new_values() for c in result.changes if c.action == UPDATE}
    assert updates == {"CONVERTED": {"sort": 20}}  # X keeps its place: moving it would be the change


def test_prune_threshold_makes_the_plan_unsafe_unless_forced():
    entries = tuple(E(f"V{i}", f"v{i}", i * 10, row=i) for i in range(1, 11))
    actual = RefList("industries", entries, entity_id="INDUSTRY")
    desired = RefList("industries", entries[:6], prune=True)
    st = with_usage(state(industries=actual), {("entry", "INDUSTRY", f"V{i}"): 0 for i in range(7, 11)})
    result = plan(Template(lists={"industries": desired}), st)
    assert result.summary["delete"] == 4
    assert result.refused
    [refusal] = result.refusals
    assert (refusal.list, refusal.deletions, refusal.size, refusal.percent) == ("industries", 4, 10, 40)
    assert (refusal.share, refusal.min_size) == (0.30, 10) and "INDUSTRY" in refusal.label
    assert describe_refusal(refusal).endswith(": 4 of 10 would be deleted (40 %, more than 30 %)")
    forced = plan(Template(lists={"industries": desired}), st, PlanOptions(force=True))
    assert forced.refusals == result.refusals and not forced.refused
    # three of ten (30 %) is within the limit
    desired7 = RefList("industries", entries[:7], prune=True)
    assert not plan(Template(lists={"industries": desired7}), st).refusals


def test_threshold_does_not_apply_to_small_lists():
    entries = tuple(E(f"V{i}", f"v{i}", i * 10, row=i) for i in range(1, 6))
    actual = RefList("deal_types", entries, entity_id="DEAL_TYPE")
    st = with_usage(state(deal_types=actual), {("entry", "DEAL_TYPE", f"V{i}"): 0 for i in range(1, 6)})
    result = plan(Template(lists={"deal_types": RefList("deal_types", entries[:1], prune=True)}), st)
    assert result.summary["delete"] == 4 and not result.refusals


def test_uncountable_list_is_never_pruned():
    actual = RefList(
        "call_statuses",
        (E("IN_WORK", "В работе", 10, system=True, row=1), E("MINE", "m", 20, row=2)),
        entity_id="CALL_LIST",
    )
    desired = RefList("call_statuses", (E("IN_WORK", "В работе", 10),), prune=True)
    result = plan(Template(lists={"call_statuses": desired}), state(call_statuses=actual))
    (change,) = result.changes
    assert change.action == BLOCKED and "cannot check" in change.reason


def test_missing_list_is_blocked_not_attempted():
    desired = RefList("document_stages", (E("DRAFT", "Черновик", 10),))
    result = plan(Template(lists={"document_stages": desired}), state())
    (change,) = result.changes
    assert change.action == BLOCKED and "document signing" in change.reason


def deal_stages(cid: int, *entries: Entry) -> RefList:
    entity = "DEAL_STAGE" if cid == 0 else f"DEAL_STAGE_{cid}"
    return RefList("deal_stages", entries, entity_id=entity, prefix="" if cid == 0 else f"C{cid}")


def core_stages(row0=100):
    return (
        E("NEW", "Новая", 10, system=True, row=row0),
        E("WON", "Успех", 20, "success", system=True, row=row0 + 1),
        E("LOSE", "Провал", 30, "failure", system=True, row=row0 + 2),
    )


def deal_state(*pipelines: Pipeline, usage=None) -> PortalState:
    return PortalState(
        domain="p", deal_pipelines=PipelineSet("deal_pipelines", pipelines, None, 2), usage=usage or Usage()
    )


def want(name, *, default=False, key=None, previous=(), stages=None, prune=None):
    stages = stages or (
        E("NEW", "Новая", 10),
        E("WON", "Успех", 20, "success"),
        E("LOSE", "Провал", 30, "failure"),
    )
    return Pipeline(name, RefList("deal_stages", stages, prune=prune), default, key, tuple(previous))


def test_new_pipeline_is_created_and_existing_matched_by_default_flag():
    actual = deal_state(Pipeline("Общая", deal_stages(0, *core_stages()), True, id=0))
    template = Template(
        deal_pipelines=PipelineSet(
            "deal_pipelines", (want("Продажи", default=True), want("Аренда", key="rent")), None, 2
        )
    )
    result = plan(template, actual)
    assert [(c.action, c.target, c.key) for c in result.changes] == [
        (CREATE, "pipeline", "Аренда"),
        (UPDATE, "pipeline", "Продажи"),
    ]
    assert isinstance(result.changes[0], PipelineCreate) and result.changes[0].pipeline.key == "rent"
    assert result.changes[0].to_json()["new"]["key"] == "rent"
    assert isinstance(result.changes[1], PipelineUpdate)
    assert result.changes[1].fields == (FieldChange("name", "Общая", "Продажи"),)


def test_pipeline_matched_by_key_then_previous_names():
    actual = deal_state(
        Pipeline("Общая", deal_stages(0, *core_stages()), True, id=0),
        Pipeline("Прокат", deal_stages(3, *core_stages(200)), id=3),
        Pipeline("Старое", deal_stages(4, *core_stages(300)), key="svc", id=4),
    )
    template = Template(
        deal_pipelines=PipelineSet(
            "deal_pipelines",
            (want("Общая", default=True), want("Аренда", previous=["Прокат"]), want("Сервис", key="svc")),
            None,
            2,
        )
    )
    result = plan(template, actual)
    renames = {c.scope.category_id: c.new_values() for c in result.changes if c.action == UPDATE}
    assert renames == {3: {"name": "Аренда"}, 4: {"name": "Сервис"}}


def test_stage_ids_get_the_pipeline_prefix_and_length_limit():
    actual = deal_state(
        Pipeline("Общая", deal_stages(0, *core_stages()), True, id=0),
        Pipeline("Аренда", deal_stages(12, *core_stages(200)), id=12),
    )
    stages = (
        E("NEW", "Новая", 10),
        E("ABCDEFGHIJKLMNOPQRS", "long", 15),
        E("OFFER", "Offer", 16),
        E("WON", "Успех", 20, "success"),
        E("LOSE", "Провал", 30, "failure"),
    )
    template = Template(
        deal_pipelines=PipelineSet(
            "deal_pipelines", (want("Общая", default=True), want("Аренда", stages=stages)), None, 2
        )
    )
    result = plan(template, actual)
    by_key = {c.key: c for c in result.changes}
    assert by_key["OFFER"].action == CREATE
    offer = by_key["OFFER"]
    assert isinstance(offer, EntryCreate) and offer.entry.id == "OFFER"  # the id without its prefix
    assert (offer.scope.entity_id, offer.scope.prefix, offer.scope.category_id) == (
        "DEAL_STAGE_12",
        "C12",
        12,
    )
    assert by_key["ABCDEFGHIJKLMNOPQRS"].action == BLOCKED
    assert "at most 18" in by_key["ABCDEFGHIJKLMNOPQRS"].reason


def test_created_pipeline_loses_bitrix_default_stages_but_keeps_system_ones():
    made = deal_stages(
        5,
        E("NEW", "Новая", 10, system=True, row=1),
        E("PREPARATION", "Подготовка", 20, row=2),
        E("WON", "Успех", 60, "success", system=True, row=3),
        E("LOSE", "Провал", 70, "failure", system=True, row=4),
        E("APOLOGY", "Анализ", 80, "failure", row=5),
    )
    actual = deal_state(
        Pipeline("Общая", deal_stages(0, *core_stages()), True, id=0),
        Pipeline("Аренда", made, key="rent", id=5),
    )
    template = Template(
        deal_pipelines=PipelineSet(
            "deal_pipelines", (want("Общая", default=True), want("Аренда", key="rent")), None, 2
        )
    )
    fresh = plan(template, actual, PlanOptions(created=frozenset({(2, 5)})))
    assert sorted((c.action, c.key) for c in fresh.changes) == [
        (DELETE, "APOLOGY"),
        (DELETE, "PREPARATION"),
        (UPDATE, "LOSE"),
        (UPDATE, "WON"),
    ]
    assert not fresh.needs_usage  # b24app made them moments ago: nothing to count
    # the same pipeline, not created in this run: nothing is deleted without prune
    later = plan(template, actual)
    assert {c.action for c in later.changes} == {UPDATE}


def test_default_pipeline_never_deleted_and_pipelines_in_use_blocked():
    actual = deal_state(
        Pipeline("Общая", deal_stages(0, *core_stages()), True, id=0),
        Pipeline("Старая", deal_stages(3, *core_stages(200)), id=3),
        Pipeline("Пустая", deal_stages(4, *core_stages(300)), id=4),
    )
    template = Template(
        deal_pipelines=PipelineSet("deal_pipelines", (want("Новая общая", key="main"),), True, 2)
    )
    first = plan(template, actual)
    assert {q.key for q in first.needs_usage} == {("pipeline", 2, 3), ("pipeline", 2, 4)}
    counted = with_usage(actual, {("pipeline", 2, 3): 7, ("pipeline", 2, 4): 0})
    result = plan(template, counted)
    got = {(c.action, c.key) for c in result.changes if c.target == "pipeline"}
    assert (BLOCKED, "Общая") in got and (BLOCKED, "Старая") in got and (DELETE, "Пустая") in got
    assert any("7 deals are in this pipeline" in c.reason for c in result.changes)


def test_smart_process_created_when_missing_and_matched_by_code():
    sp = SmartProcess("Закупки", PipelineSet("smart_processes", (), None, None), code="purchases")
    result = plan(Template(smart_processes=(sp,)), PortalState(domain="p"))
    assert [(c.action, c.target) for c in result.changes] == [(CREATE, "smart_process")]
    existing = SmartProcess(
        "Старые закупки",
        PipelineSet("smart_processes", (), None, 130),
        code="purchases",
        type_id=4,
        entity_type_id=130,
    )
    result = plan(Template(smart_processes=(sp,)), PortalState(domain="p", smart_processes=(existing,)))
    (change,) = result.changes
    assert isinstance(change, SmartProcessUpdate) and change.type_id == 4
    assert change.fields == (FieldChange("title", "Старые закупки", "Закупки"),)


def test_checksum_tracks_template_state_and_options():
    desired = RefList("sources", (E("CALL", "Звонок", 10),))
    template = Template(lists={"sources": desired})
    st = state(sources=sources_actual())
    base = checksum(template, st, PlanOptions())
    assert base == checksum(template, st, PlanOptions())
    assert base != checksum(template, state(sources=sources_actual(E("X", "x", 30, row=9))), PlanOptions())
    assert base != checksum(
        Template(lists={"sources": RefList("sources", (E("CALL", "Call", 10),))}), st, PlanOptions()
    )
    assert base != checksum(template, st, PlanOptions(prune=True))


def test_plan_orders_updates_before_creates_before_deletes():
    desired = RefList("sources", (E("CALL", "Звонок!", 10), E("NEW1", "n", 20)), prune=True)
    st = with_usage(state(sources=sources_actual()), {("entry", "SOURCE", "EMAIL"): 0})
    result = plan(Template(lists={"sources": desired}), st)
    assert [c.action for c in result.changes] == [UPDATE, CREATE, DELETE]


@pytest.mark.parametrize(
    "color_have,color_want,changes",
    [("#39A8EF", "#39a8ef", 0), (None, None, 0), ("#39A8EF", "#FFFFFF", 1), (None, "#FFFFFF", 1)],
)
def test_colour_compared_case_insensitively_and_only_when_given(color_have, color_want, changes):
    actual = RefList(
        "quote_stages",
        (E("DRAFT", "Новое", 10, color=color_have, system=True, row=1),),
        entity_id="QUOTE_STATUS",
    )
    desired = RefList("quote_stages", (E("DRAFT", "Новое", 10, color=color_want),))
    assert len(plan(Template(lists={"quote_stages": desired}), state(quote_stages=actual)).changes) == changes


def test_sort_updates_keep_stage_zones_at_every_step():
    """Success moves from 30 to 50: the failure moves up first, then the success, then the process stage."""
    actual = RefList(
        "lead_stages",
        (
            E("NEW", "n", 10, system=True, row=1),
            E("A", "a", 20, row=2),
            E("CONVERTED", "c", 30, "success", system=True, row=3),
            E("JUNK", "j", 40, "failure", system=True, row=4),
            E("B", "b", 50, "failure", row=5),
        ),
        entity_id="STATUS",
    )
    desired = RefList(
        "lead_stages",
        (
            E("NEW", "n", 5),
            E("A", "a", 40),
            E("CONVERTED", "c", 50, "success"),
            E("JUNK", "j", 60, "failure"),
            E("B", "b", 55, "failure"),
        ),
    )
    result = plan(Template(lists={"lead_stages": desired}), state(lead_stages=actual))
    order = [c.key for c in result.changes]
    assert order == ["B", "JUNK", "CONVERTED", "A", "NEW"]
    sorts = {e.id: (e.sort, e.semantics) for e in actual.entries}
    for change in result.changes:  # replay: zones hold after each step
        sorts[change.key] = (change.new_values()["sort"], sorts[change.key][1])
        success = next(v for v, sem in sorts.values() if sem == "success")
        assert all(v < success for v, sem in sorts.values() if sem == "process")
        assert all(v > success for v, sem in sorts.values() if sem == "failure")


def test_invoice_pipelines_on_a_portal_without_smart_invoices_are_blocked():
    invoices = PipelineSet("invoice_pipelines", (want("Счета", default=True),), None, 31)
    result = plan(Template(invoice_pipelines=invoices), PortalState(domain="p", invoice_pipelines=None))
    (change,) = result.changes
    assert change.action == BLOCKED and "no smart invoices" in change.reason


def test_a_list_that_says_prune_false_is_not_pruned_by_the_flag():
    desired = RefList("sources", (E("CALL", "Звонок", 10),), prune=False)
    st = with_usage(state(sources=sources_actual()), {("entry", "SOURCE", "EMAIL"): 0})
    assert plan(Template(lists={"sources": desired}, prune=True), st, PlanOptions(prune=True)).changes == ()


def deal_default(*entries):
    return deal_state(Pipeline("Общая", deal_stages(0, *entries), True, id=0))


def test_moving_the_success_stage_over_unlisted_stages_is_blocked():
    """Without prune, stages the template does not list stay; WON may not jump over them (DESIGN §2 example)."""
    actual = deal_default(
        E("NEW", "Новая", 10, system=True, row=1),
        E("EXECUTING", "В работе", 40, row=2),
        E("WON", "Успех", 60, "success", system=True, row=3),
        E("LOSE", "Провал", 70, "failure", system=True, row=4),
    )
    stages = (
        E("NEW", "Новая", 10),
        E("OFFER", "Предложение", 20),
        E("WON", "Успех", 30, "success"),
        E("LOSE", "Провал", 40, "failure"),
    )
    template = Template(
        deal_pipelines=PipelineSet("deal_pipelines", (want("Общая", default=True, stages=stages),), None, 2)
    )
    result = plan(template, actual)
    got = {(c.action, c.key) for c in result.changes}
    assert got == {(CREATE, "OFFER"), (BLOCKED, "WON"), (BLOCKED, "LOSE")}
    won = next(c for c in result.changes if c.key == "WON")
    assert "EXECUTING" in won.reason and won.new_values() == {"sort": 30}
    # with the unlisted stage pruned, nothing stands in the way
    pruned = plan(
        template, with_usage(actual, {("entry", "DEAL_STAGE", "EXECUTING"): 0}), PlanOptions(prune=True)
    )
    assert {(c.action, c.key) for c in pruned.changes} == {
        (CREATE, "OFFER"),
        (UPDATE, "WON"),
        (UPDATE, "LOSE"),
        (DELETE, "EXECUTING"),
    }


def test_a_stage_already_on_the_wrong_side_is_left_be():
    actual = deal_default(
        E("NEW", "Новая", 10, system=True, row=1),
        E("WON", "Успех", 20, "success", system=True, row=3),
        E("ODD", "Странная", 25, row=2),
        E("LOSE", "Провал", 30, "failure", system=True, row=4),
    )
    stages = (E("NEW", "Новая", 10), E("WON", "Успех", 15, "success"), E("LOSE", "Провал", 30, "failure"))
    template = Template(
        deal_pipelines=PipelineSet("deal_pipelines", (want("Общая", default=True, stages=stages),), None, 2)
    )
    assert [(c.action, c.key) for c in plan(template, actual).changes] == [(UPDATE, "WON")]


def test_checksum_names_the_portal():
    template = Template(lists={"sources": RefList("sources", (E("CALL", "Звонок", 10),))})
    here = state(sources=sources_actual())
    there = PortalState(domain="other.example", lists=here.lists)
    assert checksum(template, here, PlanOptions()) != checksum(template, there, PlanOptions())


def test_a_name_that_fits_two_portal_pipelines_is_not_guessed():
    actual = deal_state(
        Pipeline("Общая", deal_stages(0, *core_stages()), True, id=0),
        Pipeline("Сервис", deal_stages(1, *core_stages(200)), id=1),
        Pipeline("Сервис", deal_stages(2, *core_stages(300)), id=2),
    )
    template = Template(
        deal_pipelines=PipelineSet("deal_pipelines", (want("Общая", default=True), want("Сервис")), True, 2)
    )
    result = plan(template, with_usage(actual, {("pipeline", 2, 1): 0, ("pipeline", 2, 2): 0}))
    (change,) = result.changes
    assert (change.action, change.key) == (BLOCKED, "Сервис") and "2 deal pipelines" in change.reason
    assert not result.needs_usage  # neither of them is a deletion candidate


def _blocked_deletion(key: str, entries: tuple, counts: dict) -> Blocked:
    """The one change of pruning ``entries[1:]`` off the list ``key`` (the template keeps entries[0])."""
    actual = RefList(key, entries, entity_id=catalog.SPECS[key].entity_id)
    desired = RefList(key, entries[:1], prune=True)
    first = plan(Template(lists={key: desired}), state(**{key: actual}))
    assert not [c for c in first.changes if c.action == DELETE]  # never deleted before it is counted
    (change,) = plan(Template(lists={key: desired}), with_usage(state(**{key: actual}), counts)).changes
    return change


@pytest.mark.parametrize(
    ("key", "counts", "reason"),
    [
        (
            "sources",
            {("entry", "SOURCE", "EMAIL"): 3},
            "3 CRM items use it; move them to another value first, or keep it in the template",
        ),
        (
            "sources",
            {("entry", "SOURCE", "EMAIL"): 1},
            "1 CRM item uses it; move it to another value first, or keep it in the template",
        ),
        (
            "call_statuses",
            {},
            "b24app cannot check whether call lists use it over REST, so it is not deleted; "
            "delete it in Bitrix24 if it is unused, or keep it in the template",
        ),
    ],
)
def test_an_entry_kept_back_from_a_prune_is_blocked_with_the_deletion_it_stands_for(key, counts, reason):
    email = E("EMAIL", "Почта", 20, row=2)
    change = _blocked_deletion(key, (E("CALL", "Звонок", 10, row=1), email), counts)
    assert isinstance(change, Blocked) and change.kind == ENTRY and change.key == "EMAIL"
    assert change.scope.kind == key and change.reason == reason
    assert change.refused == EntryDelete(change.scope, "EMAIL", email)


def test_a_stage_kept_back_from_a_prune_names_another_stage():
    extra = E("PROCESSED", "Обработан", 20, row=2)
    change = _blocked_deletion(
        "lead_stages", (E("NEW", "Новый", 10, row=1), extra), {("entry", "STATUS", "PROCESSED"): 2}
    )
    assert change.reason == "2 leads use it; move them to another stage first, or keep it in the template"


def test_a_list_without_entity_id_is_counted_and_pruned_under_an_empty_one():
    """Document stages have no ENTITY_ID: the usage query and its count both go by ""."""
    actual = RefList("document_stages", (E("NEW", "Новый", 10, row=1), E("OLD", "Старый", 20, row=2)))
    desired = RefList("document_stages", actual.entries[:1], prune=True)
    first = plan(Template(lists={"document_stages": desired}), state(document_stages=actual))
    assert [q.key for q in first.needs_usage] == [("entry", "", "OLD")]
    counted = with_usage(state(document_stages=actual), {("entry", "", "OLD"): 0})
    assert actions(plan(Template(lists={"document_stages": desired}), counted)) == [(DELETE, "OLD")]
