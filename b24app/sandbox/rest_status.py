"""crm.status.*: reference lists and stages (legacy proxy CCrmStatusRestProxy semantics)."""

from __future__ import annotations

import re

from b24app.sandbox.portal import Portal, StatusRow
from b24app.sandbox.rest_common import (
    CallContext,
    Handler,
    Reply,
    as_map,
    is_positive_int,
    legacy_error,
    param,
    php_int,
    require_config_write,
    require_legacy_crm_access,
)

DEFAULT_SORT = 10

# (start, success, failure) STATUS_IDs of the legacy stage lists, without pipeline prefix.
LEGACY_SEMANTICS = {
    "STATUS": ("NEW", "CONVERTED", "JUNK"),
    "DEAL_STAGE": ("NEW", "WON", "LOSE"),
    "QUOTE_STATUS": ("DRAFT", "APPROVED", "DECLAINED"),
}

PLAIN_NAMES = {
    "ru": {
        "STATUS": "Стадии лида",
        "SOURCE": "Источники",
        "CONTACT_TYPE": "Тип контакта",
        "COMPANY_TYPE": "Тип компании",
        "EMPLOYEES": "Кол-во сотрудников",
        "INDUSTRY": "Сфера деятельности",
        "DEAL_TYPE": "Тип сделки",
        "QUOTE_STATUS": "Стадии предложения",
        "HONORIFIC": "Обращения",
        "CALL_LIST": "Статусы обзвона",
        "DEAL_STAGE": "Стадии сделки",
        "DEAL_STAGE_CATEGORY": "Стадии сделки {0}",
        "SMART_INVOICE": "Стадии счёта",
        "INVOICES": "Счета",
        "SMART_DOCUMENT": "Стадии документа",
    },
    "en": {
        "STATUS": "Lead stages",
        "SOURCE": "Sources",
        "CONTACT_TYPE": "Contact Type",
        "COMPANY_TYPE": "Company Type",
        "EMPLOYEES": "Employees",
        "INDUSTRY": "Industry",
        "DEAL_TYPE": "Deal Type",
        "QUOTE_STATUS": "Estimate stages",
        "HONORIFIC": "Salutations",
        "CALL_LIST": "Call statuses",
        "DEAL_STAGE": "Deal Stage",
        "DEAL_STAGE_CATEGORY": "{0} deal stages",
        "SMART_INVOICE": "Invoice stages",
        "INVOICES": "Invoices",
        "SMART_DOCUMENT": "Document stages",
    },
}

FIELDS_INFO = {
    # field: (type, required, read-only, immutable, title)
    "ID": ("integer", False, True, False, "ID"),
    "ENTITY_ID": ("string", True, False, True, "Entity ID"),
    "STATUS_ID": ("string", True, False, True, "Status ID"),
    "SORT": ("integer", False, False, False, "Sort"),
    "NAME": ("string", True, False, False, "Name"),
    "NAME_INIT": ("string", False, True, False, "Default name"),
    "SYSTEM": ("char", False, True, False, "System"),
    "CATEGORY_ID": ("integer", False, False, True, "Pipeline"),
    "COLOR": ("string", False, False, False, "Color"),
    "SEMANTICS": ("char", False, False, True, "Semantics"),
    "EXTRA": ("crm_status_extra", False, False, False, "Extra"),
}
WRITABLE_ON_ADD = ("ENTITY_ID", "STATUS_ID", "SORT", "NAME", "CATEGORY_ID", "COLOR", "SEMANTICS", "EXTRA")
WRITABLE_ON_UPDATE = ("SORT", "NAME", "COLOR", "EXTRA")
FILTER_FIELDS = ("ID", "ENTITY_ID", "STATUS_ID", "NAME", "SORT", "SYSTEM", "CATEGORY_ID", "SEMANTICS")
ORDER_FIELDS = FILTER_FIELDS
STATUS_ID_CHARSET = re.compile(r"^[0-9A-Z_-]+$", re.IGNORECASE)

MSG_SORT_AFTER_SUCCESS = (
    "Cannot create more stages after the final stage because the final successful stage already exists. "
    "Try using sort order values less than that of the final stage."
)
MSG_FAIL_BEFORE_SUCCESS = "Cannot add semantics with the specified sort order"
# English text of CRM_STATUS_STAGE_WITH_ITEMS_ERROR is unknown (reference-lists.md §9): a stand-in.
MSG_STAGE_WITH_ITEMS = "There are items in this stage."


# --- entity types ------------------------------------------------------------------------------


def entity_types(portal: Portal) -> list[dict]:
    """`crm.status.entity.types` in core emission order, with exactly the keys real portals send."""
    names = PLAIN_NAMES["ru" if portal.lang == "ru" else "en"]
    out = [
        {"ID": eid, "NAME": names[eid]}
        for eid in ("STATUS", "SOURCE", "CONTACT_TYPE", "COMPANY_TYPE", "EMPLOYEES", "INDUSTRY", "DEAL_TYPE")
    ]
    out[0].update(SEMANTIC_INFO=_semantic_info("STATUS", ""), ENTITY_TYPE_ID=1)
    invoice_cats = portal.categories_of(31)
    for cat in invoice_cats:
        name = names["SMART_INVOICE"] if len(invoice_cats) == 1 else f"{names['INVOICES']} ({cat.name})"
        out.append(_factory_type(f"SMART_INVOICE_STAGE_{cat.id}", name, 31, cat.id, True))
    out.extend(_deal_stage_types(portal, names))
    out.append(
        {
            "ID": "QUOTE_STATUS",
            "NAME": names["QUOTE_STATUS"],
            "SEMANTIC_INFO": _semantic_info("QUOTE_STATUS", ""),
            "ENTITY_TYPE_ID": 7,
        }
    )
    out.append({"ID": "HONORIFIC", "NAME": names["HONORIFIC"]})
    out.append({"ID": "CALL_LIST", "NAME": names["CALL_LIST"]})
    if portal.documents_enabled:
        default_doc = next((c for c in portal.categories_of(36) if c.is_default), None)
        if default_doc is not None:
            out.append(
                _factory_type(
                    f"SMART_DOCUMENT_STAGE_{default_doc.id}",
                    names["SMART_DOCUMENT"],
                    36,
                    default_doc.id,
                    True,
                )
            )
    for dyn in sorted(portal.types.values(), key=lambda t: t.id):
        for cat in portal.categories_of(dyn.entity_type_id):
            entity_id = f"DYNAMIC_{dyn.entity_type_id}_STAGE_{cat.id}"
            entry = _factory_type(
                entity_id,
                f"{dyn.title} ({cat.name})",
                dyn.entity_type_id,
                cat.id,
                dyn.flags.get("isStagesEnabled", False),
            )
            # Only smart-process lists name their pipeline (crm.status.entity.types docs example).
            entry.update(CATEGORY_NAME=cat.name, CATEGORY_SORT=cat.sort, IS_DEFAULT_CATEGORY=cat.is_default)
            out.append(entry)
    return out


def _semantic_info(base: str, prefix: str) -> dict:
    start, success, failure = LEGACY_SEMANTICS[base]
    return {
        "START_FIELD": prefix + start,
        "FINAL_SUCCESS_FIELD": prefix + success,
        "FINAL_UNSUCCESS_FIELD": prefix + failure,
        "FINAL_SORT": 0,
    }


def _factory_type(entity_id: str, name: str, entity_type_id: int, category_id: int, enabled: bool) -> dict:
    return {
        "ID": entity_id,
        "NAME": name,
        "SEMANTIC_INFO": [],
        "ENTITY_TYPE_ID": entity_type_id,
        "PREFIX": f"DT{entity_type_id}_{category_id}",
        "FIELD_ATTRIBUTE_SCOPE": f"category_{category_id}",
        "IS_ENABLED": enabled,
        "CATEGORY_ID": category_id,
    }


def _deal_stage_types(portal: Portal, names: dict) -> list[dict]:
    if not portal.deal_categories:
        return [
            {
                "ID": "DEAL_STAGE",
                "NAME": names["DEAL_STAGE"],
                "SEMANTIC_INFO": _semantic_info("DEAL_STAGE", ""),
                "ENTITY_TYPE_ID": 2,
                "FIELD_ATTRIBUTE_SCOPE": "",
                "CATEGORY_ID": 0,
            }
        ]
    out = []
    for cat in portal.categories_of(2):
        name = names["DEAL_STAGE_CATEGORY"].format(cat.name)
        if cat.id == 0:
            out.append(
                {
                    "ID": "DEAL_STAGE",
                    "NAME": name,
                    "SEMANTIC_INFO": _semantic_info("DEAL_STAGE", ""),
                    "ENTITY_TYPE_ID": 2,
                    "FIELD_ATTRIBUTE_SCOPE": "",
                    "CATEGORY_ID": 0,
                }
            )
        else:
            prefix = f"C{cat.id}"
            out.append(
                {
                    "ID": f"DEAL_STAGE_{cat.id}",
                    "NAME": name,
                    "SEMANTIC_INFO": _semantic_info("DEAL_STAGE", prefix + ":"),
                    "ENTITY_TYPE_ID": 2,
                    "PREFIX": prefix,
                    "FIELD_ATTRIBUTE_SCOPE": f"category_{cat.id}",
                    "CATEGORY_ID": str(cat.id),
                    "PARENT_ID": "DEAL_STAGE",
                }
            )
    return out


def _legacy_base(entity_id: str) -> str | None:
    """STATUS / QUOTE_STATUS / DEAL_STAGE for the legacy stage lists (incl. DEAL_STAGE_{N}), else None."""
    if entity_id.startswith("DEAL_STAGE"):
        return "DEAL_STAGE"
    return entity_id if entity_id in ("STATUS", "QUOTE_STATUS") else None


def is_stage_list(entity_id: str) -> bool:
    return _legacy_base(entity_id) is not None or entity_id.startswith(
        ("SMART_INVOICE_STAGE_", "SMART_DOCUMENT_STAGE_", "DYNAMIC_", "SMART_B2E_DOC_STAGE_")
    )


# --- row rendering -----------------------------------------------------------------------------


def _extra(row: StatusRow, rows_of_list: list[StatusRow]) -> dict:
    base = _legacy_base(row.entity_id)
    _, success, failure = LEGACY_SEMANTICS[base]  # type: ignore[index]
    prefix = row.entity_id.removeprefix("DEAL_STAGE_")
    prefix = f"C{prefix}:" if row.entity_id.startswith("DEAL_STAGE_") else ""
    success_row = next((r for r in rows_of_list if r.status_id == prefix + success), None)
    if row.status_id == prefix + success:
        semantics = "success"
    elif row.status_id == prefix + failure:
        semantics = "failure"
    elif success_row is not None and row.sort > success_row.sort:
        semantics = "apology"
    else:
        semantics = "process"
    return {"SEMANTICS": semantics, "COLOR": row.color or ""}


def render_row(portal: Portal, row: StatusRow, list_cache: dict[str, list[StatusRow]] | None = None) -> dict:
    out = {
        "ID": str(row.id),
        "ENTITY_ID": row.entity_id,
        "STATUS_ID": row.status_id,
        "NAME": row.name,
        "NAME_INIT": row.name_init,
        "SORT": str(row.sort),
        "SYSTEM": row.system,
        "CATEGORY_ID": None if row.category_id is None else str(row.category_id),
        "COLOR": row.color,
        "SEMANTICS": row.semantics,
    }
    if _legacy_base(row.entity_id) is not None:
        cache = list_cache if list_cache is not None else {}
        if row.entity_id not in cache:
            cache[row.entity_id] = portal.rows_of(row.entity_id)
        out["EXTRA"] = _extra(row, cache[row.entity_id])
    return out


# --- read methods ------------------------------------------------------------------------------


def status_fields(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    return Reply(
        {
            name: {
                "type": ftype,
                "isRequired": req,
                "isReadOnly": ro,
                "isImmutable": imm,
                "isMultiple": False,
                "isDynamic": False,
                "title": title,
            }
            for name, (ftype, req, ro, imm, title) in FIELDS_INFO.items()
        }
    )


def status_extra_fields(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    return Reply(
        {
            "SEMANTICS": {"TYPE": "string", "ATTRIBUTES": ["R/O"]},
            "COLOR": {"TYPE": "string"},
        }
    )


def status_entity_types(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    return Reply(entity_types(portal))


def short_items(portal: Portal, entity_id: str) -> list[dict]:
    return [{"NAME": r.name, "SORT": r.sort, "STATUS_ID": r.status_id} for r in portal.rows_of(entity_id)]


def status_entity_items(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    entity_id = ""
    for alias in ("entityId", "entityID", "entity_id", "ENTITY_ID"):
        value = params.get(alias)
        if isinstance(value, (str, int)) and str(value) != "":
            entity_id = str(value)
            break
    if not entity_id:
        raise legacy_error("The parameter entityId is not defined or invalid.")
    return Reply(short_items(portal, entity_id.upper()))


def _row_id(params: dict) -> int:
    value = param(params, "id")
    if not is_positive_int(value):
        raise legacy_error("ID is not defined or invalid.")
    return int(value)  # type: ignore[arg-type]


def status_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    row = portal.statuses.get(_row_id(params))
    if row is None:
        raise legacy_error("CRM Status is not found.")
    return Reply(render_row(portal, row))


def _filter_match(row: StatusRow, key: str, value: object) -> bool:
    values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if key == "NAME":
        return any(v.lower() in row.name.lower() for v in values)
    if key == "SYSTEM":
        return row.system in ["Y" if v == "Y" else "N" for v in values]
    if key in ("ID", "SORT", "CATEGORY_ID"):
        current = {"ID": row.id, "SORT": row.sort, "CATEGORY_ID": row.category_id}[key]
        return current is not None and current in [php_int(v) for v in values]
    current = {"ENTITY_ID": row.entity_id, "STATUS_ID": row.status_id, "SEMANTICS": row.semantics}[key]
    return current is not None and current.lower() in [v.lower() for v in values]


def _sort_value(row: StatusRow, key: str) -> tuple:
    value = {
        "ID": row.id,
        "ENTITY_ID": row.entity_id,
        "STATUS_ID": row.status_id,
        "NAME": row.name,
        "SORT": row.sort,
        "SYSTEM": row.system,
        "CATEGORY_ID": row.category_id,
        "SEMANTICS": row.semantics,
    }[key]
    if isinstance(value, str):
        value = value.lower()
    return (value is not None, value if value is not None else 0)


def status_list(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """Whole result in one response: `total`, never `next`; `start` and `select` ignored."""
    require_legacy_crm_access(portal, ctx)
    order = param(params, "order", {})
    flt = param(params, "filter", {})
    order_map, filter_map = as_map(order), as_map(flt)
    if order_map is None:
        raise legacy_error("Parameter 'order' must be array.")
    if filter_map is None:
        raise legacy_error("Parameter 'filter' must be array.")
    conditions = {k: v for k, v in filter_map.items() if k in FILTER_FIELDS and v != "" and v is not None}
    if isinstance(conditions.get("ENTITY_ID"), (list, dict)):
        raise legacy_error("Filter by ENTITY_ID must be a string")
    rows = [r for r in portal.statuses.values() if all(_filter_match(r, k, v) for k, v in conditions.items())]
    keys = [(str(k).upper(), str(v).upper() == "ASC") for k, v in order_map.items()]
    known = [(k, asc) for k, asc in keys if k in ORDER_FIELDS]
    if not keys:
        known = [("SORT", True)]
    elif not known:
        known = [("ID", False)]
    for key, asc in reversed(known):
        rows.sort(key=lambda r, k=key: _sort_value(r, k), reverse=not asc)
    cache: dict[str, list[StatusRow]] = {}
    return Reply([render_row(portal, r, cache) for r in rows], total=len(rows))


# --- write methods -----------------------------------------------------------------------------


def _fields(params: dict) -> dict:
    fields = as_map(param(params, "fields"))
    if fields is None:
        raise legacy_error("Parameter 'fields' must be array.")
    return fields


def _color(fields: dict) -> str | None:
    """COLOR, else EXTRA.COLOR; '#' prepended when missing. None when neither is given."""
    color = fields.get("COLOR")
    if color is None:
        extra = as_map(fields.get("EXTRA"))
        color = extra.get("COLOR") if extra else None
    if color is None:
        return None
    color = str(color)
    return "#" + color if color and not color.startswith("#") else color


def _max_status_id_len(entity_id: str, prefix: str) -> int:
    if entity_id == "STATUS":
        return 21
    if entity_id in ("QUOTE_STATUS", "DEAL_STAGE"):
        return 22
    if entity_id.startswith("DEAL_STAGE_"):
        return 30 - len(prefix) - 8
    return 50 - len(prefix)


def status_add(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_config_write(portal, ctx)
    raw = _fields(params)
    fields = {k: v for k, v in raw.items() if k in WRITABLE_ON_ADD}
    entity_id = str(fields.get("ENTITY_ID") or "")
    raw_status_id = str(fields.get("STATUS_ID") or "")
    missing = [
        f"The field {name} is required."
        for name, value in (("ENTITY_ID", entity_id), ("STATUS_ID", raw_status_id))
        if not value
    ]
    if missing:
        raise legacy_error("\n".join(missing))
    info = next((t for t in entity_types(portal) if t["ID"] == entity_id), None)
    if info is None:
        raise legacy_error("Specified entity type is not supported.")

    prefix = f"{info['PREFIX']}:" if "PREFIX" in info else ""
    short_id = raw_status_id.split(":", 1)[1] if ":" in raw_status_id else raw_status_id
    max_len = _max_status_id_len(entity_id, prefix)
    if len(short_id) > max_len:
        raise legacy_error(f"Exceeded maximum length of status ID: {max_len}.")
    if _legacy_base(entity_id) is not None and not STATUS_ID_CHARSET.match(short_id):
        raise legacy_error(
            "Status ID may include Latin characters, numbers, minus and underscore characters only"
        )
    status_id = prefix + short_id
    siblings = portal.rows_of(entity_id)
    if any(r.status_id.lower() == status_id.lower() for r in siblings):
        # Docs name the code ERROR_CORE; core raises a plain RestException (empty code): we follow core.
        raise legacy_error("The specified status ID already exists.")

    sort = php_int(fields.get("SORT"))
    sort = sort if sort > 0 else DEFAULT_SORT
    name = str(fields.get("NAME") or "").strip()
    if not name:
        raise legacy_error("The field Title is required.")
    if len(name) > 100:
        raise legacy_error("Error on creating status.")
    semantics_raw = str(fields.get("SEMANTICS") or "")
    if semantics_raw not in ("", "P", "S", "F"):
        raise legacy_error("Invalid value of the field SEMANTICS.")
    # Newest CCrmStatus::Add stores 'P' for REST-added rows without SEMANTICS (defaults keep NULL).
    semantics = semantics_raw or "P"
    if semantics == "S" and any(r.semantics == "S" for r in siblings):
        raise legacy_error("Only one success status can exist for any one type")
    if is_stage_list(entity_id):
        _check_sort_zone(siblings, semantics, sort)
    if "CATEGORY_ID" in fields:
        category_id = php_int(fields["CATEGORY_ID"])
    elif entity_id.startswith("DEAL_STAGE_"):
        category_id = php_int(entity_id.removeprefix("DEAL_STAGE_"))
    else:
        category_id = 0
    row = portal.add_status(
        entity_id,
        status_id,
        name,
        sort,
        name_init="",
        system="N",
        category_id=category_id,
        color=_color(fields) or "",
        semantics=semantics,
    )
    return Reply(row.id)


def _check_sort_zone(siblings: list[StatusRow], semantics: str, sort: int) -> None:
    success = next((r for r in siblings if r.semantics == "S"), None)
    if success is None:
        return
    if semantics == "P" and sort > success.sort:
        raise legacy_error(MSG_SORT_AFTER_SUCCESS)
    if semantics == "F" and sort < success.sort:
        raise legacy_error(MSG_FAIL_BEFORE_SUCCESS)


def status_update(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_config_write(portal, ctx)
    row_id = _row_id(params)
    fields = {k: v for k, v in _fields(params).items() if k in WRITABLE_ON_UPDATE}
    row = portal.statuses.get(row_id)
    if row is None:
        raise legacy_error("Status is not found.")
    if not fields:
        return Reply(True)
    sort = php_int(fields["SORT"]) if "SORT" in fields else row.sort
    name = str(fields.get("NAME") or "").strip() or row.name
    color = _color(fields)
    # ORM failures are swallowed by CCrmStatus::Update: REST still answers true.
    if len(name) > 100 or (color is not None and len(color) > 10):
        return Reply(True)
    row.sort = sort if sort > 0 else DEFAULT_SORT
    row.name = name
    if color is not None:
        row.color = color
    return Reply(True)


def status_delete(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_config_write(portal, ctx)
    row_id = _row_id(params)
    options = param(params, "params")
    options_map = {} if options is None else as_map(options)
    if options_map is None:
        raise legacy_error("Parameter 'params' must be array.")
    row = portal.statuses.get(row_id)
    if row is None:
        raise legacy_error("Status is not found.")
    if row.system == "Y" and options_map.get("FORCED") != "Y":
        raise legacy_error(
            'CRM System Status can be deleted only if parameter FORCED is specified and equal to "Y".'
        )
    if _legacy_base(row.entity_id) is not None or row.entity_id == "INVOICE_STATUS":
        if stage_in_use(portal, row):
            raise legacy_error("There are active items in this status.")
    elif is_stage_list(row.entity_id) and stage_in_use(portal, row):
        raise legacy_error(MSG_STAGE_WITH_ITEMS)
    del portal.statuses[row.id]
    return Reply(True)


def stage_in_use(portal: Portal, row: StatusRow) -> bool:
    """Whether any item sits in the stage `row` (values like SOURCE are never protected)."""
    entity_id = row.entity_id
    if entity_id == "STATUS":
        pairs = [(1, "STATUS_ID")]
    elif entity_id == "QUOTE_STATUS":
        pairs = [(7, "STATUS_ID")]
    elif entity_id.startswith("DEAL_STAGE"):
        pairs = [(2, "STAGE_ID")]
    elif entity_id.startswith("SMART_INVOICE_STAGE_"):
        pairs = [(31, "STAGE_ID")]
    elif entity_id.startswith("SMART_DOCUMENT_STAGE_"):
        pairs = [(36, "STAGE_ID")]
    elif entity_id.startswith("DYNAMIC_"):
        pairs = [(php_int(entity_id.split("_")[1]), "STAGE_ID")]
    else:
        return False
    return any(item.get(key) == row.status_id for etid, key in pairs for item in portal.items_of(etid))


METHODS: dict[str, Handler] = {
    "crm.status.fields": status_fields,
    "crm.status.extra.fields": status_extra_fields,
    "crm.status.entity.types": status_entity_types,
    "crm.status.entity.items": status_entity_items,
    "crm.status.get": status_get,
    "crm.status.list": status_list,
    "crm.status.add": status_add,
    "crm.status.update": status_update,
    "crm.status.delete": status_delete,
}
