"""Which leftover default stages a rerun removes: only in pipelines b24app made (its mark), untouched
and empty. A pipeline a person made, or one whose default stages were edited or hold deals, keeps
them (prune is off in the example template)."""

from __future__ import annotations

import contextlib

import pytest

from b24app import sync
from b24app.bitrix.errors import BitrixError

from .conftest import make_client

DEFAULT_EXTRAS = {"PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "APOLOGY"}


def stage_ids(client, category_id: int) -> set[str]:
    rows = client.call("crm.status.list", {"filter": {"ENTITY_ID": f"DEAL_STAGE_{category_id}"}}).result
    return {r["STATUS_ID"].split(":", 1)[1] for r in rows}


def categories(client) -> dict[str, dict]:
    return {c["name"]: c for c in client.call("crm.category.list", {"entityTypeId": 2}).result["categories"]}


def crash_after_creating(sandbox, webhook, example) -> None:
    """A first apply that dies on the write batch right after it created the pipelines."""
    sandbox.set_faults(0, after=2, html=1)
    with contextlib.suppress(BitrixError):
        sync.apply(make_client(webhook, max_attempts=1), example)
    sandbox.clear_faults(0)


def test_a_rerun_finishes_the_pipelines_a_crashed_run_made(sandbox, webhook, example):
    crash_after_creating(sandbox, webhook, example)
    client = make_client(webhook)
    made = categories(client)["Монтаж"]
    assert made["originatorId"].startswith("b24app:")  # the mark b24app leaves at creation
    assert stage_ids(client, made["id"]) >= DEFAULT_EXTRAS
    assert sync.apply(client, example).converged
    assert not DEFAULT_EXTRAS & stage_ids(client, made["id"])


def test_a_pipeline_a_person_made_keeps_its_default_stages(sandbox, webhook, example):
    client = make_client(webhook)
    # Made in Bitrix24 by hand: the name the template uses, Bitrix24's default stages, no mark.
    made = client.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Монтаж"}}).result
    category_id = made["category"]["id"]
    for _ in range(2):  # the first run also gives it the template's key (originId): not a mark
        result = sync.apply(client, example)
        assert result.converged
        assert stage_ids(client, category_id) >= DEFAULT_EXTRAS
    assert categories(client)["Монтаж"]["originId"] == "install"


def test_edited_default_stages_are_kept(sandbox, webhook, example):
    crash_after_creating(sandbox, webhook, example)
    client = make_client(webhook)
    category_id = categories(client)["Монтаж"]["id"]
    row = next(
        r
        for r in client.call("crm.status.list", {"filter": {"ENTITY_ID": f"DEAL_STAGE_{category_id}"}}).result
        if r["STATUS_ID"].endswith(":EXECUTING")
    )
    client.call("crm.status.update", {"id": row["ID"], "fields": {"NAME": "Отгрузка"}})
    sync.apply(client, example)
    assert stage_ids(client, category_id) >= DEFAULT_EXTRAS
    assert DEFAULT_EXTRAS & stage_ids(client, categories(client)["Сервис"]["id"]) == set()


@pytest.mark.parametrize("stage", ["NEW", "EXECUTING"])
def test_a_pipeline_holding_deals_keeps_its_default_stages(sandbox, webhook, example, stage):
    crash_after_creating(sandbox, webhook, example)
    client = make_client(webhook)
    category_id = categories(client)["Монтаж"]["id"]
    fields = {"TITLE": "Кондиционер", "CATEGORY_ID": category_id, "STAGE_ID": f"C{category_id}:{stage}"}
    client.call("crm.deal.add", {"fields": fields})
    sync.apply(client, example)
    assert stage_ids(client, category_id) >= DEFAULT_EXTRAS
