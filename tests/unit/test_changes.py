"""Each kind of change: its action and target, its order of execution and its JSON form (plan --json)."""

from __future__ import annotations

import pytest

from b24app.core.changes import (
    Blocked,
    EntryCreate,
    EntryDelete,
    EntryUpdate,
    FieldChange,
    PipelineCreate,
    PipelineDelete,
    PipelineUpdate,
    Plan,
    Scope,
    SmartProcessCreate,
    SmartProcessUpdate,
)
from b24app.core.model import Entry, Pipeline, PipelineSet, RefList, SmartProcess

LIST = Scope("sources", "sources (SOURCE)", "SOURCE")
PIPE = Scope("deal_stages", 'deal pipeline "Аренда" (DEAL_STAGE_3)', "DEAL_STAGE_3", "C3", 2, 3, "Аренда")
STAGES = RefList("deal_stages", (Entry("NEW", "Новая", 10), Entry("WON", "Успех", 20, None, "success")))
RENT = Pipeline("Аренда", STAGES, key="rent", sort=200)
PROCESS = SmartProcess("Закупки", PipelineSet("smart_processes", (RENT,)), code="buy")


CASES = [
    (
        EntryCreate(LIST, "TG", Entry("TG", "Telegram", 130, "#FF0000", "success")),
        ("create", "entry", 5),
        {"new": {"name": "Telegram", "sort": 130, "color": "#FF0000", "semantics": "success"}},
    ),
    (
        EntryUpdate(LIST, "CALL", (FieldChange("name", "Звонок", "Call"), FieldChange("sort", 10, 20)), 7),
        ("update", "entry", 4),
        {"old": {"name": "Звонок", "sort": 10}, "new": {"name": "Call", "sort": 20}},
    ),
    (
        EntryUpdate(LIST, "LATE", (FieldChange("sort", 50, 80),), 7, "kept after the success stage"),
        ("update", "entry", 4),
        {"old": {"sort": 50}, "new": {"sort": 80}, "reason": "kept after the success stage"},
    ),
    (
        EntryDelete(LIST, "OLD", Entry("OLD", "Старый", 40, row_id=9)),
        ("delete", "entry", 6),
        {"old": {"name": "Старый", "sort": 40}},
    ),
    (
        PipelineCreate(PIPE, "Аренда", RENT),
        ("create", "pipeline", 1),
        {
            "new": {
                "name": "Аренда",
                "sort": 200,
                "key": "rent",
                "default": False,
                "stages": 2,
                "stage_ids": ["NEW", "WON"],
            }
        },
    ),
    (
        PipelineUpdate(PIPE, "Аренда", (FieldChange("key", None, "rent"),)),
        ("update", "pipeline", 3),
        {"old": {"key": None}, "new": {"key": "rent"}},
    ),
    (PipelineDelete(PIPE, "Аренда"), ("delete", "pipeline", 7), {"old": {"name": "Аренда"}}),
    (
        SmartProcessCreate(LIST, "Закупки", PROCESS),
        ("create", "smart_process", 0),
        {"new": {"title": "Закупки", "code": "buy", "pipelines": 1}},
    ),
    (
        SmartProcessUpdate(LIST, "Закупки", (FieldChange("title", "Старое", "Закупки"),), 4),
        ("update", "smart_process", 2),
        {"old": {"title": "Старое"}, "new": {"title": "Закупки"}},
    ),
    (Blocked(PIPE, "Аренда", "pipeline", "in use"), ("blocked", "pipeline", 9), {"reason": "in use"}),
    (
        Blocked(LIST, "CALL", "entry", "system", EntryDelete(LIST, "CALL", Entry("CALL", "Звонок", 10))),
        ("blocked", "entry", 9),
        {"old": {"name": "Звонок", "sort": 10}, "reason": "system"},
    ),
]


@pytest.mark.parametrize("change,kind,values", CASES, ids=lambda c: type(c).__name__)
def test_each_kind_of_change_keeps_its_json_form(change, kind, values):
    assert (change.action, change.target, change.order) == kind
    data = change.to_json()
    assert list(data)[:4] == ["action", "target", "key", "scope"]
    assert {k: v for k, v in data.items() if k in ("old", "new", "reason")} == values
    assert (data["action"], data["target"], data["key"]) == (change.action, change.target, change.key)
    assert data["scope"] == change.scope.to_json()


def test_the_scope_says_where_in_template_terms_and_the_portal_list():
    assert PIPE.to_json() == {
        "list": "deal_stages",
        "label": 'deal pipeline "Аренда" (DEAL_STAGE_3)',
        "entity_id": "DEAL_STAGE_3",
        "entity_type_id": 2,
        "category_id": 3,
        "pipeline": "Аренда",
    }


def test_the_plan_json_counts_each_action():
    changes = tuple(c for c, _, _ in CASES)
    data = Plan("p.example", "crm.yaml", "abc", changes).to_json()
    assert data["summary"] == {"create": 3, "update": 4, "delete": 2, "blocked": 2}
    assert [set(data) >= {"portal", "checksum", "summary", "changes"}, data["portal"]] == [True, "p.example"]
    assert data["changes"] == [c.to_json() for c in changes]
