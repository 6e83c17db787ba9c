"""b24app.snapshot: a PortalState as versioned JSON, back to the same state, refused when foreign."""

from __future__ import annotations

import json

import pytest

from b24app.core.model import Entry, Pipeline, PipelineSet, PortalState, RefList, SmartProcess, Usage
from b24app.snapshot import VERSION, SnapshotError, dump_state, load_state


def lived_in() -> PortalState:
    stages = RefList(
        "deal_stages",
        (Entry("NEW", "Новая", 10, "#39A8EF", system=True, name_init="Новая", row_id=7),),
        entity_id="DEAL_STAGE_3",
        prefix="C3",
        category_id=3,
    )
    install = Pipeline(
        "Монтаж", stages, key="install", sort=20, id=3, made_by="b24app:ab12", as_created=frozenset({"NEW"})
    )
    process = SmartProcess(
        "Закупки",
        PipelineSet(
            "smart_processes",
            (Pipeline("Основная", RefList("smart_process_stages", ()), default=True, id=9),),
            None,
            1032,
        ),
        code="purchases",
        type_id=4,
        entity_type_id=1032,
    )
    return PortalState(
        domain="example.bitrix24.ru",
        lists={"sources": RefList("sources", (Entry("CALL", "Звонок", 10),), entity_id="SOURCE")},
        deal_pipelines=PipelineSet("deal_pipelines", (install,), None, 2),
        invoice_pipelines=None,
        smart_processes=(process,),
        usage=Usage(entries={("SOURCE", "CALL"): 2}, pipelines={(2, 3): 0}),
    )


def test_a_state_survives_json_and_dumps_the_same_again():
    state = lived_in()
    data = json.loads(json.dumps(dump_state(state), ensure_ascii=False))
    assert load_state(data) == state
    assert json.dumps(dump_state(load_state(data)), sort_keys=True) == json.dumps(data, sort_keys=True)
    assert data["version"] == VERSION


def test_another_version_or_a_damaged_state_is_refused_with_a_message():
    data = dump_state(lived_in())
    with pytest.raises(SnapshotError, match="version 2; this b24app reads version 1"):
        load_state({**data, "version": 2})
    del data["lists"]
    with pytest.raises(SnapshotError, match="damaged"):
        load_state(data)
