"""Read a portal's reference lists into the core model, in as few requests as possible.

One batch reads every list (crm.status.list returns all rows of all lists in one answer), the
pipelines of deals and invoices, the smart-process types and whether the user is an administrator;
a second batch reads the pipelines of smart processes, only when the template manages them.
Usage counts are read only for what a plan would delete.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from b24app.core import catalog
from b24app.core.changes import UsageQuery
from b24app.core.model import (
    COLOR,
    PROCESS,
    Entry,
    Pipeline,
    PipelineSet,
    PortalState,
    RefList,
    SmartProcess,
    Template,
)

from .client import BatchReply, Client, Command
from .errors import ProtocolError
from .new_pipeline import as_created
from .wire import EXTRA_SEMANTICS, SEMANTICS_FROM_BITRIX, as_int, category_of, entry_id, usage_probes

# b24app marks the pipelines it creates: deals in originatorId (originId holds the template key),
# invoices and smart processes in the category's code (reference-lists.md §4.1).
MARK_PREFIX = "b24app:"

# Legacy list methods for the CRM objects; everything else is counted with crm.item.list.
_LIST_METHOD = {
    catalog.LEAD: "crm.lead.list",
    catalog.DEAL: "crm.deal.list",
    catalog.CONTACT: "crm.contact.list",
    catalog.COMPANY: "crm.company.list",
    catalog.QUOTE: "crm.quote.list",
}


@dataclass(frozen=True, slots=True)
class PortalRead:
    state: PortalState
    is_admin: bool | None  # the webhook's / token's user, per user.admin


def base_commands() -> dict[str, Command]:
    """The commands of one full read (smart-process pipelines excepted)."""
    return {
        "admin": Command("user.admin"),
        "types": Command("crm.status.entity.types"),
        "statuses": Command("crm.status.list", {"order": {"SORT": "ASC"}}),
        "deal_categories": Command("crm.category.list", {"entityTypeId": catalog.DEAL}),
        "invoice_categories": Command("crm.category.list", {"entityTypeId": catalog.SMART_INVOICE}),
        "smart_types": Command("crm.type.list", {"order": {"id": "ASC"}}),
    }


def smart_category_commands(types: Iterable[Mapping]) -> dict[str, Command]:
    return {
        f"smart_categories_{t['entityTypeId']}": Command(
            "crm.category.list", {"entityTypeId": t["entityTypeId"]}
        )
        for t in types
    }


def read_portal(client: Client, template: Template | None = None) -> PortalRead:
    """Read everything the template can touch (everything, without a template)."""
    reply = client.batch(base_commands())
    return finish_read(client, reply, template)


def finish_read(client: Client, reply: BatchReply, template: Template | None) -> PortalRead:
    """Build the state from a batch holding base_commands() (it may hold other commands too)."""
    for key in ("types", "statuses", "deal_categories"):
        if key in reply.errors:
            raise reply.errors[key]
    statuses = _as_list(reply.results.get("statuses"), "crm.status.list")
    if "statuses" in reply.nexts:  # Bitrix24 does not page crm.status.list, but follow it if it ever does
        statuses += client.list_all(
            "crm.status.list", {"order": {"SORT": "ASC"}, "start": reply.nexts["statuses"]}
        )
    types = _smart_types(client, reply, template)
    categories: dict[int, list] = {}
    if types:
        more = client.batch_all(smart_category_commands(types))
        for t in types:
            etid = int(t["entityTypeId"])
            key = f"smart_categories_{etid}"
            if key in more.errors:
                raise more.errors[key]
            categories[etid] = _wrapped(more.results.get(key), "categories", "crm.category.list")
    state = build_state(
        client.domain,
        entity_types=_as_list(reply.results.get("types"), "crm.status.entity.types"),
        statuses=statuses,
        deal_categories=_wrapped(reply.results.get("deal_categories"), "categories", "crm.category.list"),
        invoice_categories=(
            None
            if "invoice_categories" in reply.errors
            else _wrapped(reply.results.get("invoice_categories"), "categories", "crm.category.list")
        ),
        smart_types=types,
        smart_categories=categories,
    )
    admin = reply.results.get("admin")
    return PortalRead(state, None if "admin" in reply.errors else _truthy(admin))


def _smart_types(client: Client, reply: BatchReply, template: Template | None) -> list[dict]:
    if template is not None and template.smart_processes is None:
        return []
    if "smart_types" in reply.errors:
        error = reply.errors["smart_types"]
        if template is None:
            return []  # an export can go without smart processes when the user may not read them
        raise error
    types = _wrapped(reply.results.get("smart_types"), "types", "crm.type.list")
    if "smart_types" in reply.nexts:
        types += client.list_all(
            "crm.type.list", {"order": {"id": "ASC"}, "start": reply.nexts["smart_types"]}, key="types"
        )
    return types


def build_state(
    domain: str,
    *,
    entity_types: list,
    statuses: list,
    deal_categories: list,
    invoice_categories: list | None,
    smart_types: list,
    smart_categories: Mapping[int, list],
) -> PortalState:
    """Pure conversion of Bitrix24 answers into the core model."""
    lists = _Lists(statuses, entity_types)
    return PortalState(
        domain=domain,
        lists=lists.flat(),
        deal_pipelines=lists.pipelines(
            "deal_pipelines", catalog.DEAL, _with_default_deal_pipeline(deal_categories)
        ),
        invoice_pipelines=(
            None
            if invoice_categories is None
            else lists.pipelines("invoice_pipelines", catalog.SMART_INVOICE, invoice_categories)
        ),
        smart_processes=tuple(_smart_process(t, lists, smart_categories) for t in smart_types),
    )


class _Lists:
    """The rows of crm.status.list by ENTITY_ID, and the lists the portal has (crm.status.entity.types)."""

    def __init__(self, statuses: list, entity_types: list):
        self.rows: dict[str, list] = {}
        for row in statuses:
            if not isinstance(row, Mapping) or "ENTITY_ID" not in row or "STATUS_ID" not in row:
                raise ProtocolError(
                    "unexpected row in the answer to crm.status.list", method="crm.status.list"
                )
            self.rows.setdefault(str(row["ENTITY_ID"]), []).append(row)
        self.known = {str(t.get("ID")): t for t in entity_types if isinstance(t, Mapping)}

    def ref_list(self, key: str, entity_id: str, prefix: str, category_id: int | None = None) -> RefList:
        entries = sorted(
            (_entry(r) for r in self.rows.get(entity_id, ())), key=lambda e: (e.sort, e.row_id or 0)
        )
        return RefList(key, tuple(entries), entity_id=entity_id, prefix=prefix, category_id=category_id)

    def flat(self) -> dict[str, RefList]:
        """The flat lists the portal has; document stages are those of its first document pipeline."""
        lists: dict[str, RefList] = {}
        for key in catalog.FLAT_LISTS:
            entity_id = catalog.SPECS[key].entity_id
            if entity_id is not None and entity_id in self.known:
                lists[key] = self.ref_list(key, entity_id, "")
        documents = sorted(e for e in self.known if catalog.key_for_entity(e) == "document_stages")
        if documents:
            entity_id = documents[0]
            category = category_of(entity_id)
            prefix = str(self.known[entity_id].get("PREFIX") or catalog.document_stage_entity(category)[1])
            lists["document_stages"] = self.ref_list("document_stages", entity_id, prefix, category)
        return lists

    def pipelines(self, section: str, etid: int, categories: list) -> PipelineSet:
        return PipelineSet(
            section, tuple(self.pipeline(section, etid, cat) for cat in categories), None, etid
        )

    def pipeline(self, section: str, etid: int, category: Mapping) -> Pipeline:
        cid = int(category.get("id", 0))
        entity_id, prefix = catalog.pipeline_stage_entity(section, etid, cid)
        stages = self.ref_list(catalog.SECTION_STAGE_KIND[section], entity_id, prefix, cid)
        return Pipeline(
            name=str(category.get("name") or ""),
            stages=stages,
            # the deal pipeline 0 is the default one, whatever isDefault says
            default=_truthy(category.get("isDefault")) or (section == "deal_pipelines" and cid == 0),
            key=str(category["originId"]) if category.get("originId") else None,
            sort=as_int(category.get("sort")),
            id=cid,
            made_by=_mark_of(category, section),
            as_created=as_created(section, stages),
        )


def new_run_mark() -> str:
    """The mark one apply leaves on the pipelines it creates: its own, so it can tell them apart."""
    return MARK_PREFIX + secrets.token_hex(4)


def _mark_of(category: Mapping, section: str) -> str | None:
    value = category.get("originatorId" if section == "deal_pipelines" else "code")
    return str(value) if value and str(value).startswith(MARK_PREFIX) else None


def _smart_process(smart_type: Mapping, lists: _Lists, categories: Mapping[int, list]) -> SmartProcess:
    etid = int(smart_type["entityTypeId"])
    return SmartProcess(
        title=str(smart_type.get("title") or ""),
        code=str(smart_type["code"]) if smart_type.get("code") else None,
        type_id=as_int(smart_type.get("id")),
        entity_type_id=etid,
        pipelines=lists.pipelines("smart_processes", etid, categories.get(etid, [])),
    )


def _with_default_deal_pipeline(categories: list) -> list:
    """The default deal pipeline (id 0) is virtual; should a portal leave it out, it still exists."""
    if any(as_int(c.get("id")) == 0 for c in categories if isinstance(c, Mapping)):
        return categories
    return [{"id": 0, "name": "", "sort": 0, "isDefault": "Y"}, *categories]


def count_usage(client: Client, queries: Iterable[UsageQuery]) -> dict[tuple, int]:
    """How many items use each queried entry or pipeline (one batch per 50 probes)."""
    commands: dict[str, Command] = {}
    owners: dict[str, tuple] = {}
    for n, query in enumerate(queries):
        for m, (etid, field, value) in enumerate(usage_probes(query)):
            name = f"u{n}_{m}"
            commands[name] = _count_command(etid, field, value)
            owners[name] = query.key
    counts: dict[tuple, int] = {key: 0 for key in owners.values()}
    if not commands:
        return counts
    reply = client.batch_all(commands)
    for name, key in owners.items():
        if name in reply.errors:
            raise reply.errors[name]
        counts[key] += int(reply.totals.get(name, 0) or 0)
    return counts


def _count_command(etid: int, field: str, value: object) -> Command:
    method = _LIST_METHOD.get(etid)
    if method is not None:
        return Command(method, {"filter": {field: value}, "select": ["ID"]})
    return Command("crm.item.list", {"entityTypeId": etid, "filter": {field: value}, "select": ["id"]})


# -- tolerant parsing of PHP-encoded answers --------------------------------------------------------


def _entry(row: Mapping) -> Entry:
    semantics = SEMANTICS_FROM_BITRIX.get(row.get("SEMANTICS"), PROCESS)
    extra = row.get("EXTRA")
    if semantics == PROCESS and isinstance(extra, Mapping):
        semantics = EXTRA_SEMANTICS.get(str(extra.get("SEMANTICS")), PROCESS)
    color = row.get("COLOR") or (extra.get("COLOR") if isinstance(extra, Mapping) else None) or None
    return Entry(
        id=entry_id(str(row["STATUS_ID"])),
        name=str(row.get("NAME") or ""),
        sort=as_int(row.get("SORT")) or 0,
        color=str(color).upper() if color and COLOR.match(str(color)) else None,
        semantics=semantics,
        system=row.get("SYSTEM") == "Y",
        name_init=str(row.get("NAME_INIT") or ""),
        row_id=as_int(row.get("ID")),
    )


def _as_list(value: object, method: str) -> list:
    if value is None:
        raise ProtocolError(f"the portal gave no answer to {method}", method=method)
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):  # PHP arrays with numeric keys may arrive as objects
        return list(value.values())
    raise ProtocolError(f"unexpected answer to {method}", method=method)


def _wrapped(value: object, key: str, method: str) -> list:
    if isinstance(value, Mapping) and key in value:
        return _as_list(value[key], method)
    if value == []:
        return []
    raise ProtocolError(f"unexpected answer to {method}: no '{key}'", method=method)


def _truthy(value: object) -> bool:
    return value is True or str(value).upper() in ("Y", "1", "TRUE")


__all__ = [
    "PortalRead",
    "read_portal",
    "finish_read",
    "base_commands",
    "build_state",
    "count_usage",
]
