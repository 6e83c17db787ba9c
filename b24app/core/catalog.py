"""The catalog of managed reference lists: what each template key means on a Bitrix24 portal.

Facts from shared/bitrix24/reference-lists.md (§1, §2.3, §3, §4.4). Pure data and small pure
functions; nothing here talks to a portal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# entityTypeIds of the CRM objects
LEAD, DEAL, CONTACT, COMPANY, QUOTE, SMART_INVOICE, SMART_DOCUMENT = 1, 2, 3, 4, 7, 31, 36


@dataclass(frozen=True, slots=True)
class StageRules:
    """The fixed stage ids of a stage list (without prefix)."""

    initial: str
    success: str
    failure: str
    system: frozenset[str]  # ids Bitrix24 marks SYSTEM=Y in the default set


@dataclass(frozen=True, slots=True)
class ListSpec:
    key: str  # template key (for pipeline stage lists: the kind, e.g. "deal_stages")
    title: str  # for people
    entity_id: str | None  # fixed ENTITY_ID for flat lists; None for per-pipeline lists
    stages: StageRules | None  # None = a value list (no semantics, no colours)
    strict_charset: bool  # only Latin letters, digits, "_" and "-" in ids
    usage_countable: bool = True  # Bitrix24 can count the items that use an entry over REST
    item_noun: str = "items"

    @property
    def is_stages(self) -> bool:
        return self.stages is not None


LEAD_RULES = StageRules("NEW", "CONVERTED", "JUNK", frozenset({"NEW", "CONVERTED", "JUNK"}))
DEAL_RULES = StageRules("NEW", "WON", "LOSE", frozenset({"NEW", "WON", "LOSE"}))
QUOTE_RULES = StageRules("DRAFT", "APPROVED", "DECLAINED", frozenset({"DRAFT", "APPROVED", "DECLAINED"}))
INVOICE_RULES = StageRules("N", "P", "D", frozenset({"N", "P", "D"}))
DOCUMENT_RULES = StageRules("DRAFT", "ARCHIVE", "NOTSIGNED", frozenset({"DRAFT", "NOTSIGNED"}))
DYNAMIC_RULES = StageRules("NEW", "SUCCESS", "FAIL", frozenset({"NEW", "SUCCESS", "FAIL"}))

# key, title, ENTITY_ID, stage rules, strict charset, usage countable, the items that use it
_SPECS = (
    ListSpec("lead_stages", "lead stages", "STATUS", LEAD_RULES, True, True, "leads"),
    ListSpec("quote_stages", "quote stages", "QUOTE_STATUS", QUOTE_RULES, True, True, "quotes"),
    ListSpec("document_stages", "document stages", None, DOCUMENT_RULES, False, True, "documents"),
    ListSpec("sources", "sources", "SOURCE", None, False, True, "CRM items"),
    ListSpec("contact_types", "contact types", "CONTACT_TYPE", None, False, True, "contacts"),
    ListSpec("company_types", "company types", "COMPANY_TYPE", None, False, True, "companies"),
    ListSpec("employees", "number of employees", "EMPLOYEES", None, False, True, "companies"),
    ListSpec("industries", "industries", "INDUSTRY", None, False, True, "companies"),
    ListSpec("deal_types", "deal types", "DEAL_TYPE", None, False, True, "deals"),
    ListSpec("honorifics", "honorifics", "HONORIFIC", None, False, True, "leads and contacts"),
    ListSpec("call_statuses", "call statuses", "CALL_LIST", None, False, False, "call lists"),
    # Per-pipeline stage lists (ENTITY_ID depends on the pipeline):
    ListSpec("deal_stages", "deal stages", None, DEAL_RULES, True, True, "deals"),
    ListSpec("invoice_stages", "invoice stages", None, INVOICE_RULES, False, True, "invoices"),
    ListSpec("smart_process_stages", "smart-process stages", None, DYNAMIC_RULES, False, True, "items"),
)

SPECS: dict[str, ListSpec] = {s.key: s for s in _SPECS}

# Flat lists in template order (the keys a template may give as plain lists).
FLAT_LISTS = (
    "lead_stages",
    "quote_stages",
    "document_stages",
    "sources",
    "contact_types",
    "company_types",
    "employees",
    "industries",
    "deal_types",
    "honorifics",
    "call_statuses",
)
PIPELINE_SECTIONS = ("deal_pipelines", "invoice_pipelines", "smart_processes")
VALUE_LISTS = tuple(k for k in FLAT_LISTS if SPECS[k].stages is None)

# Pipeline sections: stage kind and the entityTypeId that owns the pipelines.
SECTION_STAGE_KIND = {
    "deal_pipelines": "deal_stages",
    "invoice_pipelines": "invoice_stages",
    "smart_processes": "smart_process_stages",
}
SECTION_ENTITY_TYPE = {"deal_pipelines": DEAL, "invoice_pipelines": SMART_INVOICE, "smart_processes": None}
SECTION_TITLE = {
    "deal_pipelines": "deal pipeline",
    "invoice_pipelines": "invoice pipeline",
    "smart_processes": "smart-process pipeline",
}

_STRICT_ID = re.compile(r"^[0-9A-Za-z_-]+$")
_ENTITY_TO_KEY = {s.entity_id: s.key for s in _SPECS if s.entity_id}
_DEAL_STAGE_N = re.compile(r"^DEAL_STAGE_(\d+)$")
_INVOICE_STAGE_N = re.compile(r"^SMART_INVOICE_STAGE_(\d+)$")
_DOCUMENT_STAGE_N = re.compile(r"^SMART_DOCUMENT_STAGE_(\d+)$")
_DYNAMIC_STAGE = re.compile(r"^DYNAMIC_(\d+)_STAGE_(\d+)$")


def deal_stage_entity(category_id: int) -> tuple[str, str]:
    """(ENTITY_ID, prefix) of the stage list of deal pipeline ``category_id`` (0 = default)."""
    if category_id == 0:
        return "DEAL_STAGE", ""
    return f"DEAL_STAGE_{category_id}", f"C{category_id}"


def invoice_stage_entity(category_id: int) -> tuple[str, str]:
    return f"SMART_INVOICE_STAGE_{category_id}", f"DT{SMART_INVOICE}_{category_id}"


def document_stage_entity(category_id: int) -> tuple[str, str]:
    return f"SMART_DOCUMENT_STAGE_{category_id}", f"DT{SMART_DOCUMENT}_{category_id}"


def dynamic_stage_entity(entity_type_id: int, category_id: int) -> tuple[str, str]:
    return f"DYNAMIC_{entity_type_id}_STAGE_{category_id}", f"DT{entity_type_id}_{category_id}"


def pipeline_stage_entity(section: str, entity_type_id: int, category_id: int) -> tuple[str, str]:
    if section == "deal_pipelines":
        return deal_stage_entity(category_id)
    if section == "invoice_pipelines":
        return invoice_stage_entity(category_id)
    return dynamic_stage_entity(entity_type_id, category_id)


def key_for_entity(entity_id: str) -> str | None:
    """The catalog key of an ENTITY_ID, or None for lists b24app does not manage."""
    if entity_id in _ENTITY_TO_KEY:
        return _ENTITY_TO_KEY[entity_id]
    if entity_id == "DEAL_STAGE" or _DEAL_STAGE_N.match(entity_id):
        return "deal_stages"
    if _INVOICE_STAGE_N.match(entity_id):
        return "invoice_stages"
    if _DOCUMENT_STAGE_N.match(entity_id):
        return "document_stages"
    if _DYNAMIC_STAGE.match(entity_id):
        return "smart_process_stages"
    return None


def max_id_length(entity_id: str, prefix: str) -> int:
    """Longest STATUS_ID (without prefix) Bitrix24 accepts in this list (reference-lists.md §2.3)."""
    if entity_id == "STATUS":
        return 21
    if entity_id in ("QUOTE_STATUS", "DEAL_STAGE"):
        return 22
    if _DEAL_STAGE_N.match(entity_id):
        return 30 - len(prefix) - 1 - 8
    return 50 - (len(prefix) + 1 if prefix else 0)


# Limits a template can be checked against before the pipeline number is known: the longest id
# any portal could accept for that kind of list. The plan checks the exact limit per portal.
TEMPLATE_ID_LIMIT = {
    "lead_stages": 21,
    "quote_stages": 22,
    "deal_stages/default": 22,
    "deal_stages": 19,  # C1..C9 allow 19, C10..C99 18, C100+ 17
    "invoice_stages": 50 - len("DT31_1:"),
    "document_stages": 50 - len("DT36_1:"),
    "smart_process_stages": 50 - len("DT128_1:"),
}


def template_id_limit(kind: str, default_pipeline: bool = False) -> int:
    if kind == "deal_stages" and default_pipeline:
        return TEMPLATE_ID_LIMIT["deal_stages/default"]
    return TEMPLATE_ID_LIMIT.get(kind, 50)


def id_charset_problem(kind: str, entry_id: str) -> str | None:
    """Why Bitrix24 would refuse or mangle this id, or None."""
    if ":" in entry_id:
        return "contains ':' (Bitrix24 cuts everything up to the first ':')"
    if entry_id != entry_id.strip() or not entry_id:
        return "is empty or has leading/trailing spaces"
    if SPECS[kind].strict_charset and not _STRICT_ID.match(entry_id):
        return "may contain only Latin letters, digits, '_' and '-' in this list"
    return None
