"""The reader against PHP-shaped answers (numbers as strings, [] for empty, odd portals), via responses."""

import pytest
from portal_fakes import WEBHOOK, envelope

from b24app.bitrix.errors import ProtocolError
from b24app.bitrix.reader import read_portal
from b24app.core.model import FAILURE, PROCESS, SUCCESS

BATCH = WEBHOOK + "batch"


def row(id_, entity, status, name, sort, semantics=None, system="N", extra=None, color=None):
    data = {
        "ID": str(id_),
        "ENTITY_ID": entity,
        "STATUS_ID": status,
        "NAME": name,
        "NAME_INIT": "",
        "SORT": str(sort),
        "SYSTEM": system,
        "CATEGORY_ID": None,
        "COLOR": color,
        "SEMANTICS": semantics,
    }
    if extra:
        data["EXTRA"] = {"SEMANTICS": extra, "COLOR": color or ""}
    return data


STATUSES = [
    row(1, "DEAL_STAGE", "NEW", "Новая", 10, system="Y", extra="process", color="#39a8ef"),
    row(2, "DEAL_STAGE", "WON", "Успех", 60, "S", "Y", "success"),
    row(3, "DEAL_STAGE", "LATE", "После успеха", 65, None, "N", "apology"),
    row(4, "DEAL_STAGE", "LOSE", "Провал", 70, "F", "Y", "failure"),
    row(5, "DEAL_STAGE_2", "C2:NEW", "Новая", "10", system="Y", extra="process"),
    row(6, "DEAL_STAGE_2", "C2:UC_LAFJPE", "Старая", 20, "P", extra="process"),
    row(7, "SOURCE", "CALL", "Звонок", 10, system="Y"),
    row(8, "DEAL_STATE", "PLANNED", "hidden", 10),  # not public: ignored
]
TYPES = [
    {"ID": "STATUS", "NAME": "Lead"},
    {"ID": "SOURCE", "NAME": "Sources"},
    {"ID": "DEAL_STAGE", "NAME": "Deals"},
    {"ID": "DEAL_STAGE_2", "NAME": "Deals 2", "PREFIX": "C2"},
]


def batch_answer(**overrides):
    results = {
        "admin": True,
        "types": TYPES,
        "statuses": STATUSES,
        # the default deal pipeline without isDefault, sorts as strings, a pipeline with an originId
        "deal_categories": {
            "categories": [
                {"id": 0, "name": "Общая", "sort": "0"},
                {"id": "2", "name": "Опт", "sort": "200", "isDefault": "N", "originId": "wholesale"},
            ]
        },
        "invoice_categories": {"categories": []},
        "smart_types": {"types": []},
    }
    results.update(overrides)
    return envelope(
        {
            "result": results,
            "result_error": [],
            "result_total": {"statuses": len(STATUSES)},
            "result_next": [],
            "result_time": [],
        }
    )


def test_php_shaped_answers_become_the_model(portal, client):
    portal.post(BATCH, json=batch_answer())
    read = read_portal(client)
    state = read.state
    assert read.is_admin is True
    assert set(state.lists) == {"lead_stages", "sources"}  # DEAL_STATE rows come too, but it is not public
    assert state.lists["lead_stages"].entries == ()  # STATUS is listed by entity.types, with no rows here
    default, wholesale = state.deal_pipelines.pipelines
    assert (default.id, default.default, default.sort) == (0, True, 0)
    assert (wholesale.id, wholesale.default, wholesale.key, wholesale.sort) == (2, False, "wholesale", 200)
    entries = {e.id: e for e in default.stages.entries}
    assert entries["NEW"].color == "#39A8EF" and entries["NEW"].system and entries["NEW"].row_id == 1
    assert (entries["WON"].semantics, entries["LATE"].semantics, entries["LOSE"].semantics) == (
        SUCCESS,
        FAILURE,
        FAILURE,
    )  # LATE sorts after WON: Bitrix24 counts it as failed ("apology")
    assert [e.id for e in wholesale.stages.entries] == ["NEW", "UC_LAFJPE"]
    assert wholesale.stages.entries[1].semantics == PROCESS and wholesale.stages.prefix == "C2"
    assert state.invoice_pipelines.pipelines == ()


def test_a_portal_without_smart_invoices(portal, client):
    answer = batch_answer()
    del answer["result"]["result"]["invoice_categories"]
    answer["result"]["result_error"] = {
        "invoice_categories": {"error": "NOT_FOUND", "error_description": "x"}
    }
    portal.post(BATCH, json=answer)
    assert read_portal(client).state.invoice_pipelines is None


@pytest.mark.parametrize(
    "garbage",
    [
        {"statuses": "oops"},
        {"statuses": [{"NAME": "no ids"}]},
        {"deal_categories": {"items": []}},
    ],
)
def test_garbage_in_the_answer_is_a_protocol_error(portal, client, garbage):
    portal.post(BATCH, json=batch_answer(**garbage))
    with pytest.raises(ProtocolError):
        read_portal(client)
