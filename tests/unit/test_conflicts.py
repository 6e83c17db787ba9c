"""Two portal pipelines or smart processes that fit one template entry; leftover default stages."""

from __future__ import annotations

import pytest

from b24app.core.changes import BLOCKED, DELETE, PlanOptions
from b24app.core.matching import survivor
from b24app.core.model import Entry, Pipeline, PipelineSet, PortalState, RefList, SmartProcess, Template
from b24app.core.plan import plan, with_usage


def stages(prefix: str, *entries: Entry) -> RefList:
    return RefList("deal_stages", entries, entity_id=f"DEAL_STAGE_{prefix[1:]}", prefix=prefix)


NEW = Entry("NEW", "Новая", 10, "#39A8EF", system=True)
WON = Entry("WON", "Сделка успешна", 60, "#7BD500", "success", system=True)
LOSE = Entry("LOSE", "Сделка провалена", 70, "#FF5752", "failure", system=True)
WANT = RefList("deal_stages", (NEW, WON, LOSE))


def portal_pipeline(cid: int, name: str, key: str | None, *extra: Entry, made_by: str | None = None):
    """A portal pipeline whose extra stages are still as Bitrix24 created them (as the reader says)."""
    as_created = frozenset(e.id for e in extra)
    return Pipeline(
        name,
        stages(f"C{cid}", NEW, *extra, WON, LOSE),
        key=key,
        id=cid,
        made_by=made_by,
        as_created=as_created,
    )


def deal_state(*pipelines: Pipeline) -> PortalState:
    default = Pipeline("Общая", RefList("deal_stages", (), entity_id="DEAL_STAGE"), default=True, id=0)
    return PortalState(
        "p.example", deal_pipelines=PipelineSet("deal_pipelines", (default, *pipelines), None, 2)
    )


def deals(*pipelines: Pipeline, prune: bool | None = None) -> Template:
    return Template(deal_pipelines=PipelineSet("deal_pipelines", pipelines, prune))


def test_two_pipelines_with_one_key_are_a_conflict_not_a_match():
    template = deals(Pipeline("Монтаж", WANT, key="install"))
    state = deal_state(
        portal_pipeline(3, "Монтаж", "install"), portal_pipeline(5, "Монтаж (копия)", "install")
    )
    result = plan(template, state, PlanOptions(prune=True))
    (change,) = [c for c in result.changes if c.key != "Общая"]  # the default pipeline: blocked anyway
    assert change.action == BLOCKED and "key 'install'" in change.reason and "ids 3, 5" in change.reason
    assert result.conflicts == ('deal pipeline "Монтаж"',)
    assert not result.has_changes and not result.needs_usage  # neither is deleted, even with prune


def test_two_pipelines_with_one_name_are_a_conflict():
    state = deal_state(portal_pipeline(3, "Монтаж", None), portal_pipeline(5, "Монтаж", None))
    result = plan(deals(Pipeline("Монтаж", WANT)), state)
    assert result.conflicts and "this name" in result.changes[0].reason


def test_one_pipeline_with_the_key_is_no_conflict():
    state = deal_state(portal_pipeline(3, "Монтаж", "install"), portal_pipeline(5, "Монтаж старый", None))
    result = plan(deals(Pipeline("Монтаж", WANT, key="install")), state)
    assert result.conflicts == () and result.changes == ()


def test_two_smart_processes_with_one_title_are_a_conflict():
    def process(etid: int) -> SmartProcess:
        return SmartProcess("Закупки", PipelineSet("smart_processes", (), None, etid), entity_type_id=etid)

    template = Template(smart_processes=(SmartProcess("Закупки", PipelineSet("smart_processes", ())),))
    result = plan(template, PortalState("p.example", smart_processes=(process(130), process(128))))
    assert result.conflicts == ('smart process "Закупки"',)
    assert "128, 130" in result.changes[0].reason


def test_every_run_keeps_the_lowest_id():
    assert survivor((7, 3, 5)) == 3


PREPARATION = Entry("PREPARATION", "Подготовка документов", 20, "#2FC6F6")


def test_leftover_default_stages_are_removed_only_from_b24apps_empty_pipelines():
    template = deals(Pipeline("Монтаж", WANT, key="install"))
    marked = portal_pipeline(3, "Монтаж", "install", PREPARATION, made_by="b24app:1a2b3c4d")
    first = plan(template, deal_state(marked))
    assert [q.key for q in first.needs_usage] == [("pipeline", 2, 3)]  # count its items first
    assert first.changes == ()  # uncounted: nothing assumed
    counted = deal_state(marked)
    result = plan(template, with_usage(counted, {("pipeline", 2, 3): 0}))
    assert [(c.action, c.key) for c in result.changes] == [(DELETE, "PREPARATION")]
    used = plan(template, with_usage(counted, {("pipeline", 2, 3): 1}))
    assert used.changes == ()
    unmarked = portal_pipeline(3, "Монтаж", "install", PREPARATION)
    assert plan(template, with_usage(deal_state(unmarked), {("pipeline", 2, 3): 0})).changes == ()


def test_an_edited_leftover_stage_keeps_the_pipeline_as_it_is():
    template = deals(Pipeline("Монтаж", WANT, key="install"))
    marked = portal_pipeline(3, "Монтаж", "install", PREPARATION, made_by="b24app:1a2b3c4d")
    edited = Entry("EXECUTING", "Отгрузка", 40, "#47E4C2")  # not among as_created
    pipeline = Pipeline(
        "Монтаж",
        stages("C3", NEW, PREPARATION, edited, WON, LOSE),
        key="install",
        id=3,
        made_by=marked.made_by,
        as_created=marked.as_created,
    )
    assert plan(template, with_usage(deal_state(pipeline), {("pipeline", 2, 3): 0})).changes == ()


def test_a_name_conflict_of_deal_pipelines_suggests_a_key():
    state = deal_state(portal_pipeline(3, "Монтаж", None), portal_pipeline(5, "Монтаж", None))
    reason = plan(deals(Pipeline("Монтаж", WANT)), state).changes[0].reason
    assert reason.endswith("rename or delete all but one in Bitrix24, or give this one a key")


@pytest.mark.parametrize("last_count", [None, 2], ids=["uncounted", "holds-items"])
def test_pipelines_kept_back_do_not_count_towards_the_prune_share(last_count):
    """Ten pipelines, the template names five: the default (never deleted), three empty ones and one
    uncounted or holding items are left. Only the three empty ones go: 3 of 10 is within the share,
    so the plan is not refused; counting the kept-back ones as going (5 of 10) would refuse it."""
    portal = [portal_pipeline(cid, f"P{cid}", None) for cid in range(1, 10)]
    template = deals(*(Pipeline(f"P{cid}", WANT) for cid in range(1, 6)), prune=True)
    counts = {("pipeline", 2, cid): 0 for cid in (6, 7, 8)}
    if last_count is not None:
        counts[("pipeline", 2, 9)] = last_count
    result = plan(template, with_usage(deal_state(*portal), counts))
    deleted = sorted(c.key for c in result.changes if c.action == DELETE)
    assert deleted == ["P6", "P7", "P8"]
    assert result.refusals == ()
