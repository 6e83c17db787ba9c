"""batch: references, halt, limits, PHP-shaped sections."""

from __future__ import annotations

import pytest

from b24app.sandbox.phpform import php_json
from b24app.sandbox.portal import new_portal
from b24app.sandbox.rest import CallContext, RestError, call

ADMIN = CallContext(1, "webhook", frozenset({"crm", "user", "basic"}))


@pytest.fixture
def portal():
    return new_portal("batchy", "ru")


def test_named_commands_with_references(portal):
    cmd = {
        "cat": "crm.category.add?entityTypeId=2&fields[name]=Batch",
        "stages": "crm.status.entity.items?entityId=DEAL_STAGE_$result[cat][category][id]",
        "deal": "crm.deal.add?fields[TITLE]=x&fields[CATEGORY_ID]=$result[cat][category][id]",
        "list": "crm.deal.list?filter[ID]=$result[deal]&select[]=ID&select[]=STAGE_ID",
    }
    result = call(portal, "batch", {"cmd": cmd, "halt": 0}, ADMIN).result
    assert result["result"]["stages"][0]["STATUS_ID"] == "C1:NEW"
    assert result["result"]["list"] == [{"ID": "1", "STAGE_ID": "C1:NEW"}]
    assert result["result_error"] == [] and result["result_next"] == []
    assert result["result_total"] == {"list": 1}
    assert set(result["result_time"]["cat"]) == {
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
    }


def test_list_commands_give_positional_sections(portal):
    cmd = ["crm.status.list?filter[ENTITY_ID]=SOURCE", "crm.status.get?id=$result[0][1][ID]"]
    result = call(portal, "batch", {"cmd": cmd}, ADMIN).result
    assert isinstance(result["result"], list) and result["result"][1]["STATUS_ID"] == "EMAIL"
    assert result["result_total"] == [12]  # PHP array keyed 0 -> JSON list


def test_errors_halt_and_nested_batch(portal):
    cmd = {"0": "crm.status.get?id=0", "1": "batch?cmd[a]=scope", "2": "nope.method", "3": "scope"}
    result = call(portal, "batch", {"cmd": cmd, "halt": "0"}, ADMIN).result
    errors = result["result_error"]  # keys 0..2 -> a JSON list, like PHP
    assert errors[0] == {"error": "", "error_description": "ID is not defined or invalid."}
    assert errors[1]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert errors[2]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert result["result"] == {"3": ["basic", "crm", "user"]}
    halted = call(portal, "batch", {"cmd": cmd, "halt": True}, ADMIN).result
    assert len(halted["result_error"]) == 1 and halted["result"] == []


def test_sub_calls_respect_scopes(portal):
    ctx = CallContext(1, "webhook", frozenset({"user"}))
    result = call(portal, "batch", {"cmd": {"s": "crm.status.list", "p": "profile"}}, ctx).result
    assert result["result_error"]["s"]["error"] == "insufficient_scope"
    assert result["result"]["p"]["ID"] == "1"


def test_length_limit_and_paging_sections(portal):
    with pytest.raises(RestError) as info:
        call(portal, "batch", {"cmd": ["scope"] * 51}, ADMIN)
    assert (info.value.status, info.value.error) == (400, "ERROR_BATCH_LENGTH_EXCEEDED")
    for i in range(60):
        call(portal, "crm.lead.add", {"fields": {"TITLE": str(i)}}, ADMIN)
    result = call(portal, "batch", {"cmd": {"a": "crm.lead.list?start=0"}}, ADMIN).result
    assert result["result_next"] == {"a": 50} and result["result_total"] == {"a": 60}


def test_empty_sections_serialise_as_php_arrays(portal):
    result = call(portal, "batch", {"cmd": {"a": "server.time"}}, ADMIN).result
    text = php_json(result)
    assert '"result_error":[]' in text and '"result_total":[]' in text and '"result_next":[]' in text
