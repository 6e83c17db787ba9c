"""A portal's reference lists and pipelines as plain data, read over REST, for comparing end states.

Pipelines are keyed by name and their stage lists by pipeline, so two portals whose pipelines got
different ids compare equal when their content is the same."""

from __future__ import annotations

from b24app.bitrix.client import Client


def _stage_id(status_id: str) -> str:
    return status_id.split(":", 1)[1] if ":" in status_id else status_id


def portal_view(client: Client) -> dict:
    """{"lists": {ENTITY_ID: rows}, "deal": {name: pipeline}, "invoice": {name: pipeline}}."""
    rows = client.call("crm.status.list", {"order": {"SORT": "ASC"}}).result
    by_entity: dict[str, list] = {}
    for row in rows:
        by_entity.setdefault(row["ENTITY_ID"], []).append(
            (
                _stage_id(row["STATUS_ID"]),
                row["NAME"],
                int(row["SORT"]),
                (row.get("COLOR") or "").upper(),
                row.get("SEMANTICS") or "",
                row.get("SYSTEM"),
            )
        )
    view: dict = {"lists": {}, "deal": {}, "invoice": {}}
    pipeline_lists = set()
    for key, etid, entity in (("deal", 2, "DEAL_STAGE_{}"), ("invoice", 31, "SMART_INVOICE_STAGE_{}")):
        categories = client.call("crm.category.list", {"entityTypeId": etid}).result["categories"]
        for cat in categories:
            list_id = "DEAL_STAGE" if key == "deal" and int(cat["id"]) == 0 else entity.format(cat["id"])
            pipeline_lists.add(list_id)
            name = cat["name"]
            assert name not in view[key], f"two {key} pipelines are named {name!r}"
            view[key][name] = {
                "sort": int(cat["sort"]),
                "key": cat.get("originId") or None,
                "stages": sorted(by_entity.get(list_id, []), key=lambda r: (r[2], r[0])),
            }
    view["lists"] = {
        k: sorted(v, key=lambda r: (r[2], r[0])) for k, v in by_entity.items() if k not in pipeline_lists
    }
    return view
