"""Errors raised without a code: newer crm controllers answer the JSON number 0 as `error`.

Shapes from the Bitrix24 REST docs: crm.type.get/update "SPA not found" and crm.category.delete
"Default deal category can not be deleted" answer HTTP 400 with ``"error": 0``; crm.requisite.list
answers ``"error": 0`` with "Access denied.".
"""

import pytest
from portal_fakes import CODE, WEBHOOK, envelope

from b24app.bitrix.client import Command
from b24app.bitrix.errors import AccessDenied, RejectedError

NOT_FOUND = {"error": 0, "error_description": "Smart Process Automation was not found"}


def test_an_integer_zero_error_is_a_refusal_not_a_success(portal, client):
    portal.post(WEBHOOK + "crm.type.get", json=NOT_FOUND, status=400)

    with pytest.raises(RejectedError) as caught:
        client.call("crm.type.get", {"id": 999})

    error = caught.value
    assert (error.code, error.description, error.status) == ("0", NOT_FOUND["error_description"], 400)
    assert str(error) == "Bitrix24 crm.type.get: Smart Process Automation was not found (HTTP 400)"
    assert CODE not in str(error)


def test_the_default_deal_pipeline_refusal_keeps_its_words(portal, client):
    answer = {"error": 0, "error_description": "Default deal category can not be deleted"}
    portal.post(WEBHOOK + "crm.category.delete", json=answer, status=400)

    with pytest.raises(RejectedError, match="Default deal category can not be deleted"):
        client.call("crm.category.delete", {"entityTypeId": 2, "id": 0}, idempotent=False)


def test_an_integer_zero_access_denied_is_access_denied(portal, client):
    portal.post(
        WEBHOOK + "crm.requisite.list", json={"error": 0, "error_description": "Access denied."}, status=400
    )

    with pytest.raises(AccessDenied):
        client.call("crm.requisite.list")


def test_an_integer_zero_error_inside_a_batch_lands_in_its_errors(portal, client):
    sections = {"result": {"ok": {"types": []}}, "result_error": {"gone": NOT_FOUND}}
    answer = {
        name: sections.get(name, [])
        for name in ("result", "result_error", "result_total", "result_next", "result_time")
    }
    portal.post(WEBHOOK + "batch", json=envelope(answer))

    reply = client.batch({"ok": Command("crm.type.list", {}), "gone": Command("crm.type.get", {"id": 9})})

    assert set(reply.results) == {"ok"}
    assert isinstance(reply.errors["gone"], RejectedError) and reply.errors["gone"].code == "0"
