"""Bitrix24's spelling of the core's terms: reading it (build_state) and writing it (command_for)."""

from __future__ import annotations

import pytest

from b24app.bitrix import wire
from b24app.bitrix.reader import build_state
from b24app.bitrix.writer import command_for
from b24app.core import catalog
from b24app.core.changes import (
    Blocked,
    EntryCreate,
    EntryDelete,
    EntryUpdate,
    EntryUsage,
    FieldChange,
    PipelineCreate,
    PipelineDelete,
    PipelineUpdate,
    PipelineUsage,
    Scope,
    SmartProcessCreate,
    SmartProcessUpdate,
)
from b24app.core.model import Entry, Pipeline, PipelineSet, RefList, SmartProcess

# -- usage probes -----------------------------------------------------------------------------------


def test_every_countable_list_names_the_item_fields_that_use_it():
    for key, spec in catalog.SPECS.items():
        assert bool(wire.USAGE_FIELDS[key]) == spec.usage_countable, key


def test_an_entry_is_counted_by_its_prefixed_id_in_every_kind_of_item_that_uses_it():
    sources = EntryUsage("sources", "SOURCE", "", None, "EMAIL")
    assert wire.usage_probes(sources) == (
        (1, "SOURCE_ID", "EMAIL"),
        (2, "SOURCE_ID", "EMAIL"),
        (3, "SOURCE_ID", "EMAIL"),
    )
    stage = EntryUsage("deal_stages", "DEAL_STAGE_3", "C3", 2, "OFFER")
    assert wire.usage_probes(stage) == ((2, "STAGE_ID", "C3:OFFER"),)
    dynamic = EntryUsage("smart_process_stages", "DYNAMIC_130_STAGE_9", "DT130_9", 130, "X")
    assert wire.usage_probes(dynamic) == ((130, "stageId", "DT130_9:X"),)


def test_a_pipeline_is_counted_by_the_category_field_of_its_items():
    assert wire.usage_probes(PipelineUsage(2, 3)) == ((2, "CATEGORY_ID", 3),)
    assert wire.usage_probes(PipelineUsage(31, 4)) == ((31, "categoryId", 4),)


def test_status_ids_and_numbers():
    assert wire.status_id("C3", "OFFER") == "C3:OFFER" and wire.status_id("", "NEW") == "NEW"
    assert wire.entry_id("DT31_2:P") == "P" and wire.entry_id("NEW") == "NEW"
    assert wire.category_of("SMART_DOCUMENT_STAGE_12") == 12
    assert [wire.as_int(v) for v in ("7", 7, "x", None, "")] == [7, 7, None, None, None]


# -- reading: the core model carries no wire spelling --------------------------------------------------


def state_with_documents():
    return build_state(
        "p.example",
        entity_types=[{"ID": "SMART_DOCUMENT_STAGE_3", "PREFIX": "DT36_3"}],
        statuses=[
            {"ID": "5", "ENTITY_ID": "SMART_DOCUMENT_STAGE_3", "STATUS_ID": "DT36_3:DRAFT", "SORT": "10"},
            {"ID": "6", "ENTITY_ID": "DEAL_STAGE_4", "STATUS_ID": "C4:WON", "SORT": "20", "SEMANTICS": "S"},
        ],
        deal_categories=[{"id": "4", "name": "Опт", "sort": "200"}],
        invoice_categories=None,
        smart_types=[],
        smart_categories={},
    )


def test_the_reader_gives_lists_their_pipeline_number_and_entries_without_prefix():
    state = state_with_documents()
    documents = state.lists["document_stages"]
    assert (documents.prefix, documents.category_id) == ("DT36_3", 3)
    assert [e.id for e in documents.entries] == ["DRAFT"]
    default, wholesale = state.deal_pipelines.pipelines  # the virtual default pipeline 0 is added
    assert (default.id, default.default, wholesale.id, wholesale.sort) == (0, True, 4, 200)
    assert wholesale.stages.category_id == 4
    assert [(e.id, e.semantics) for e in wholesale.stages.entries] == [("WON", "success")]


# -- writing --------------------------------------------------------------------------------------------


def test_a_new_entry_gets_its_lists_prefix_category_and_semantics_letter():
    documents = state_with_documents().lists["document_stages"]
    scope = Scope("document_stages", "document stages", documents.entity_id, documents.prefix, None, 3)
    command = command_for(EntryCreate(scope, "SENT", Entry("SENT", "Sent", 20, "#00FF00", "failure")))
    assert command.method == "crm.status.add"
    assert command.params == {
        "fields": {
            "ENTITY_ID": "SMART_DOCUMENT_STAGE_3",
            "STATUS_ID": "DT36_3:SENT",
            "NAME": "Sent",
            "SORT": 20,
            "COLOR": "#00FF00",
            "SEMANTICS": "F",
            "CATEGORY_ID": 3,
        }
    }
    plain = command_for(EntryCreate(Scope("sources", "sources", "SOURCE"), "TG", Entry("TG", "Telegram", 10)))
    assert plain.params == {
        "fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "TG", "NAME": "Telegram", "SORT": 10}
    }


DEALS = Scope("deal_stages", "deal pipeline", "DEAL_STAGE_3", "C3", 2, 3, "Аренда")
SMART = Scope("smart_process_stages", "pipeline", "DYNAMIC_130_STAGE_9", "DT130_9", 130, 9, "Основная")
STAGES = RefList("deal_stages", ())


@pytest.mark.parametrize(
    "change,method,params",
    [
        (
            EntryUpdate(
                DEALS, "X", (FieldChange("name", "a", "b"), FieldChange("color", None, "#FFFFFF")), 11
            ),
            "crm.status.update",
            {"id": 11, "fields": {"NAME": "b", "COLOR": "#FFFFFF"}},
        ),
        (EntryDelete(DEALS, "X", Entry("X", "x", 10, row_id=12)), "crm.status.delete", {"id": 12}),
        (
            PipelineCreate(DEALS, "Аренда", Pipeline("Аренда", STAGES, key="rent", sort=300)),
            "crm.category.add",
            {"entityTypeId": 2, "fields": {"name": "Аренда", "sort": 300, "originId": "rent"}},
        ),
        (
            PipelineCreate(SMART, "Срочные", Pipeline("Срочные", STAGES, key="main")),
            "crm.category.add",
            {"entityTypeId": 130, "fields": {"name": "Срочные"}},  # originId is for deals only
        ),
        (
            PipelineUpdate(DEALS, "Аренда", (FieldChange("sort", 1, 2), FieldChange("key", None, "rent"))),
            "crm.category.update",
            {"entityTypeId": 2, "id": 3, "fields": {"sort": 2, "originId": "rent"}},
        ),
        (
            PipelineUpdate(SMART, "Основная", (FieldChange("default", False, True),)),
            "crm.category.update",
            {"entityTypeId": 130, "id": 9, "fields": {"isDefault": "Y"}},
        ),
        (PipelineDelete(DEALS, "Аренда"), "crm.category.delete", {"entityTypeId": 2, "id": 3}),
        (
            SmartProcessCreate(
                SMART, "Закупки", SmartProcess("Закупки", PipelineSet("smart_processes", ()), "buy")
            ),
            "crm.type.add",
            {
                "fields": {
                    "title": "Закупки",
                    "isCategoriesEnabled": "Y",
                    "isStagesEnabled": "Y",
                    "code": "buy",
                }
            },
        ),
        (
            SmartProcessUpdate(SMART, "Закупки", (FieldChange("title", "Old", "Закупки"),), 4),
            "crm.type.update",
            {"id": 4, "fields": {"title": "Закупки"}},
        ),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str | dict) else "",
)
def test_each_kind_of_change_is_one_rest_command(change, method, params):
    command = command_for(change)
    assert (command.method, command.params) == (method, params)


def test_a_blocked_change_has_no_command():
    with pytest.raises(ValueError, match="no command for entry blocked"):
        command_for(Blocked(DEALS, "X", "entry", "why"))
