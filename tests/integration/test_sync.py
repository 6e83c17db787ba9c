"""read -> plan -> apply -> verify -> export against sandbox portals over HTTP."""

from __future__ import annotations

import json

import requests

from b24app import sync
from b24app.core.changes import BLOCKED, PlanOptions
from b24app.core.dump import dump_template
from b24app.core.template import load_template

from .conftest import make_client


def test_fresh_portal_apply_converges_in_few_requests(client, example):
    reviewed, _ = sync.make_plan(client, example)
    assert reviewed.has_changes and reviewed.summary["blocked"] == 0
    before = client.requests_sent
    result = sync.apply(client, example)
    assert result.converged, [(c.key, str(e)) for c, e in result.failed]
    assert client.requests_sent - before <= 5
    again, _ = sync.make_plan(client, example)
    assert not again.has_changes and again.changes == ()


def test_apply_twice_changes_nothing_the_second_time(client, example):
    assert sync.apply(client, example).converged
    second = sync.apply(client, example)
    assert second.converged and second.applied == []


def test_new_pipelines_end_up_exactly_as_the_template_says(client, example):
    assert sync.apply(client, example).converged
    state = sync.make_plan(client, example)[1].state
    for want in example.deal_pipelines.pipelines:
        have = next(p for p in state.deal_pipelines.pipelines if p.name == want.name)
        assert [e.id for e in have.stages.entries] == [e.id for e in want.stages.entries]
        assert [e.name for e in have.stages.entries] == [e.name for e in want.stages.entries]
        if want.key:
            assert have.key == want.key


def test_export_round_trip_gives_an_empty_plan(client, example):
    assert sync.apply(client, example).converged
    template, _, _ = sync.export(client)
    reloaded = load_template(dump_template(template), source="export.yaml")
    again, _ = sync.make_plan(client, reloaded)
    assert again.changes == ()


def test_export_of_a_fresh_portal_is_valid_and_in_sync(client):
    template, state, _ = sync.export(client)
    assert set(template.lists) >= {"lead_stages", "sources", "honorifics", "call_statuses"}
    reloaded = load_template(dump_template(template), source="export.yaml")
    assert sync.make_plan(client, reloaded)[0].changes == ()


def add_deal(client, stage_id: str, category: int = 0) -> int:
    return int(
        client.call(
            "crm.deal.add", {"fields": {"TITLE": "t", "STAGE_ID": stage_id, "CATEGORY_ID": category}}
        ).result
    )


def test_prune_never_deletes_system_entries_or_entries_in_use(client, example):
    assert sync.apply(client, example).converged
    # a stage the template does not list, holding a deal, and an empty one
    client.call(
        "crm.status.add", {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "HELD", "NAME": "held", "SORT": 15}}
    )
    client.call(
        "crm.status.add", {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "EMPTY", "NAME": "e", "SORT": 16}}
    )
    client.call("crm.lead.add", {"fields": {"TITLE": "lead", "STATUS_ID": "HELD"}})
    plan, _ = sync.make_plan(client, example, PlanOptions(prune=True))
    lead = {c.key: c for c in plan.changes if c.scope.kind == "lead_stages"}
    assert lead["HELD"].action == BLOCKED and "1 lead uses it" in lead["HELD"].reason
    assert lead["EMPTY"].action == "delete"
    result = sync.apply(client, example, PlanOptions(prune=True))
    ids = {
        row["STATUS_ID"] for row in client.call("crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}}).result
    }
    assert "HELD" in ids and "EMPTY" not in ids
    assert {"NEW", "CONVERTED", "JUNK"} <= ids
    assert not result.verify.has_changes


def test_forced_is_never_sent(webhook, example):
    sent: list[str] = []

    class Recording(requests.Session):
        def request(self, method, url, **kw):
            sent.append(json.dumps(kw.get("json") or kw.get("data") or ""))
            return super().request(method, url, **kw)

    client = make_client(webhook, session=Recording())
    example_without_call = load_template(
        "version: 1\nsources:\n  prune: true\n  entries:\n    - {id: EMAIL, name: Почта}\n", "t.yaml"
    )
    result = sync.apply(client, example_without_call, PlanOptions(force=True))
    assert any(c.key == "CALL" and c.action == BLOCKED for c in result.plan.changes)
    assert sent and not any("FORCED" in body for body in sent)
    ids = {r["STATUS_ID"] for r in client.call("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}}).result}
    assert {"CALL", "WEBFORM", "CALLBACK", "RC_GENERATOR", "STORE"} <= ids


def test_deal_pipeline_in_use_is_not_deleted(client):
    created = client.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Старая"}}).result
    cid = int(created["category"]["id"])
    add_deal(client, f"C{cid}:NEW", cid)
    client.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Пустая"}})
    template = load_template(
        "version: 1\ndeal_pipelines:\n  prune: true\n  entries:\n    - name: Общая\n      default: true\n"
        "      stages:\n        - {id: NEW, name: Новая}\n        - {id: WON, name: Успех, semantics: success}\n"
        "        - {id: LOSE, name: Провал, semantics: failure}\n",
        "t.yaml",
    )
    result = sync.apply(client, template)
    pipes = {c.key: c for c in result.plan.changes if c.target == "pipeline"}
    assert pipes["Старая"].action == BLOCKED and "1 deal is in this pipeline" in pipes["Старая"].reason
    assert pipes["Пустая"].action == "delete"
    names = {c["name"] for c in client.call("crm.category.list", {"entityTypeId": 2}).result["categories"]}
    assert "Старая" in names and "Пустая" not in names


def test_lived_in_portal_legacy_ids_round_trip(client):
    cid = int(
        client.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Опт"}}).result["category"][
            "id"
        ]
    )
    for status_id, sort in ((f"C{cid}:UC_LAFJPE", 25), (f"C{cid}:1", 26)):
        client.call(
            "crm.status.add",
            {
                "fields": {
                    "ENTITY_ID": f"DEAL_STAGE_{cid}",
                    "STATUS_ID": status_id,
                    "NAME": f"legacy {status_id}",
                    "SORT": sort,
                }
            },
        )
    add_deal(client, f"C{cid}:UC_LAFJPE", cid)
    rows = client.call("crm.status.list", {"filter": {"ENTITY_ID": "STATUS", "STATUS_ID": "NEW"}}).result
    client.call("crm.status.update", {"id": rows[0]["ID"], "fields": {"NAME": "Свежий лид"}})
    template, _, _ = sync.export(client)
    text = dump_template(template)
    assert "UC_LAFJPE" in text and "Свежий лид" in text
    reloaded = load_template(text, source="export.yaml")
    assert sync.make_plan(client, reloaded)[0].changes == ()


def test_stages_added_without_sort_share_a_sort_and_still_round_trip(client):
    # crm.status.add without SORT stores 10, the sort of NEW: common on lived-in portals
    for status_id in ("CALLED", "MET"):
        client.call(
            "crm.status.add", {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": status_id, "NAME": status_id}}
        )
    template, state, _ = sync.export(client)
    lead = [e.id for e in state.lists["lead_stages"].entries]
    assert lead[:3] == ["NEW", "CALLED", "MET"]
    reloaded = load_template(dump_template(template), source="export.yaml")
    assert sync.make_plan(client, reloaded)[0].changes == ()
