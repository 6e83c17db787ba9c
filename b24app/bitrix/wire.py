"""How Bitrix24 spells the core's terms on the wire: the one home of these facts.

SEMANTICS letters, prefixed STATUS_IDs, the pipeline number inside a list's ENTITY_ID, the item
fields that hold a list's values (to count the items that use an entry) and tolerant number
parsing. The reader turns wire data into the core's model with these; the writer turns changes
back into REST fields.
"""

from __future__ import annotations

from collections.abc import Mapping

from b24app.core import catalog
from b24app.core.changes import PipelineUsage, UsageQuery
from b24app.core.model import FAILURE, PROCESS, SUCCESS

# Bitrix24's one-letter SEMANTICS codes <-> ours. null, "" and "P" all mean "in progress".
SEMANTICS_FROM_BITRIX = {None: PROCESS, "": PROCESS, "P": PROCESS, "S": SUCCESS, "F": FAILURE}
SEMANTICS_TO_BITRIX = {PROCESS: "", SUCCESS: "S", FAILURE: "F"}
# Some portals put it, spelt out, into EXTRA.SEMANTICS instead.
EXTRA_SEMANTICS = {"success": SUCCESS, "failure": FAILURE, "apology": FAILURE}

# (entityTypeId, item field holding the value) of the items that use a list's entries; 0 stands
# for the smart process that owns the pipeline.
USAGE_FIELDS: Mapping[str, tuple[tuple[int, str], ...]] = {
    "lead_stages": ((catalog.LEAD, "STATUS_ID"),),
    "quote_stages": ((catalog.QUOTE, "STATUS_ID"),),
    "document_stages": ((catalog.SMART_DOCUMENT, "stageId"),),
    "sources": ((catalog.LEAD, "SOURCE_ID"), (catalog.DEAL, "SOURCE_ID"), (catalog.CONTACT, "SOURCE_ID")),
    "contact_types": ((catalog.CONTACT, "TYPE_ID"),),
    "company_types": ((catalog.COMPANY, "COMPANY_TYPE"),),
    "employees": ((catalog.COMPANY, "EMPLOYEES"),),
    "industries": ((catalog.COMPANY, "INDUSTRY"),),
    "deal_types": ((catalog.DEAL, "TYPE_ID"),),
    "honorifics": ((catalog.LEAD, "HONORIFIC"), (catalog.CONTACT, "HONORIFIC")),
    "call_statuses": (),  # call lists cannot be filtered by status over REST
    "deal_stages": ((catalog.DEAL, "STAGE_ID"),),
    "invoice_stages": ((catalog.SMART_INVOICE, "stageId"),),
    "smart_process_stages": ((0, "stageId"),),
}


def status_id(prefix: str, entry_id: str) -> str:
    """The STATUS_ID as stored on the portal: the entry id behind its list's prefix ("C3:OFFER")."""
    return f"{prefix}:{entry_id}" if prefix else entry_id


def entry_id(status_id: str) -> str:
    """The entry id of a STATUS_ID, without its list's prefix."""
    return status_id.split(":", 1)[1] if ":" in status_id else status_id


def category_of(entity_id: str) -> int:
    """The pipeline number at the end of a per-pipeline ENTITY_ID ("SMART_DOCUMENT_STAGE_3" -> 3)."""
    return int(entity_id.rsplit("_", 1)[1])


def category_field(entity_type_id: int) -> str:
    """The item field that holds the pipeline: the deal's legacy CATEGORY_ID, crm.item's categoryId."""
    return "CATEGORY_ID" if entity_type_id == catalog.DEAL else "categoryId"


def usage_probes(query: UsageQuery) -> tuple[tuple[int, str, object], ...]:
    """(entityTypeId, item field, value) filters whose item counts, summed, answer the query."""
    if isinstance(query, PipelineUsage):
        etid = query.entity_type_id
        return ((etid, category_field(etid), query.category_id),)
    value = status_id(query.prefix, query.entry_id)
    return tuple(
        (etid or query.entity_type_id or 0, field, value) for etid, field in USAGE_FIELDS[query.kind]
    )


def as_int(value: object) -> int | None:
    """A number as Bitrix24 sends it (often a string), or None for anything else."""
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
