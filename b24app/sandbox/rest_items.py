"""CRM items: legacy crm.{lead,deal,contact,company,quote}.add/list and crm.item.add/list.

Items exist to make stage/pipeline deletion refusals observable; they carry only the fields that
reference lists and pipelines touch. Stored with upper-case keys (lead/quote stage in STATUS_ID,
everything else in STAGE_ID).
"""

from __future__ import annotations

from dataclasses import dataclass

from b24app.sandbox.portal import SMART_DOCUMENT, SMART_INVOICE, OutEvent, Portal, now_iso
from b24app.sandbox.rest_common import (
    CallContext,
    Handler,
    Reply,
    RestError,
    as_map,
    legacy_error,
    page_start,
    paginate,
    param,
    php_int,
    require_crm_reader,
    require_legacy_crm_access,
)

INT_FIELDS = frozenset({"ID", "CATEGORY_ID", "ASSIGNED_BY_ID"})
COMMON = ("TITLE", "ASSIGNED_BY_ID", "COMMENTS")
CAMEL = {
    "ID": "id",
    "TITLE": "title",
    "NAME": "name",
    "LAST_NAME": "lastName",
    "CATEGORY_ID": "categoryId",
    "STAGE_ID": "stageId",
    "SOURCE_ID": "sourceId",
    "TYPE_ID": "typeId",
    "INDUSTRY": "industry",
    "EMPLOYEES": "employees",
    "HONORIFIC": "honorific",
    "ASSIGNED_BY_ID": "assignedById",
    "COMMENTS": "comments",
    "DATE_CREATE": "createdTime",
}
OPERATORS = (">=", "<=", "!=", "!@", "=%", "%=", ">", "<", "=", "!", "@", "%")


@dataclass(frozen=True)
class Kind:
    entity_type_id: int
    fields: tuple[str, ...]  # writable upper-case fields
    stage_field: str | None = None
    event: str = "ONCRMDYNAMICITEMADD"

    def camel(self, upper: str) -> str:
        if upper == self.stage_field:
            return "stageId"
        if upper == "COMPANY_TYPE":
            return "typeId"
        return CAMEL[upper]

    def upper(self, camel: str) -> str | None:
        for field in ("ID", "DATE_CREATE", *self.fields):
            if self.camel(field) == camel:
                return field
        return None


LEGACY_KINDS = {
    "lead": Kind(
        1, (*COMMON, "NAME", "LAST_NAME", "STATUS_ID", "SOURCE_ID", "HONORIFIC"), "STATUS_ID", "ONCRMLEADADD"
    ),
    "deal": Kind(2, (*COMMON, "CATEGORY_ID", "STAGE_ID", "SOURCE_ID", "TYPE_ID"), "STAGE_ID", "ONCRMDEALADD"),
    "contact": Kind(
        3,
        ("ASSIGNED_BY_ID", "COMMENTS", "NAME", "LAST_NAME", "TYPE_ID", "SOURCE_ID", "HONORIFIC"),
        None,
        "ONCRMCONTACTADD",
    ),
    "company": Kind(4, (*COMMON, "COMPANY_TYPE", "INDUSTRY", "EMPLOYEES"), None, "ONCRMCOMPANYADD"),
    "quote": Kind(7, (*COMMON, "STATUS_ID"), "STATUS_ID", "ONCRMQUOTEADD"),
}
KIND_BY_TYPE = {kind.entity_type_id: kind for kind in LEGACY_KINDS.values()}
FACTORY_KIND_FIELDS = (*COMMON, "CATEGORY_ID", "STAGE_ID", "SOURCE_ID")


def kind_of(portal: Portal, entity_type_id: int) -> Kind:
    if entity_type_id in KIND_BY_TYPE:
        return KIND_BY_TYPE[entity_type_id]
    if entity_type_id in (SMART_INVOICE, SMART_DOCUMENT) and (
        entity_type_id == SMART_INVOICE or portal.documents_enabled
    ):
        return Kind(entity_type_id, FACTORY_KIND_FIELDS, "STAGE_ID")
    if entity_type_id >= 128 and portal.type_by_entity_type_id(entity_type_id) is not None:
        return Kind(entity_type_id, FACTORY_KIND_FIELDS, "STAGE_ID")
    raise RestError(400, "NOT_FOUND", "Smart Process Automation was not found")


def stage_list_of(entity_type_id: int, category_id: int) -> str:
    if entity_type_id == 1:
        return "STATUS"
    if entity_type_id == 7:
        return "QUOTE_STATUS"
    if entity_type_id == 2:
        return f"DEAL_STAGE_{category_id}" if category_id else "DEAL_STAGE"
    if entity_type_id == SMART_INVOICE:
        return f"SMART_INVOICE_STAGE_{category_id}"
    if entity_type_id == SMART_DOCUMENT:
        return f"SMART_DOCUMENT_STAGE_{category_id}"
    return f"DYNAMIC_{entity_type_id}_STAGE_{category_id}"


def create_item(portal: Portal, kind: Kind, fields: dict, ctx: CallContext) -> dict:
    """Store an item: unknown fields dropped, unknown pipeline -> default, unknown stage -> first stage."""
    values = {k: fields[k] for k in kind.fields if k in fields}
    for key in INT_FIELDS & values.keys():
        values[key] = php_int(values[key])
    values.setdefault("ASSIGNED_BY_ID", ctx.user_id)
    if "CATEGORY_ID" in kind.fields:
        cats = portal.categories_of(kind.entity_type_id)
        wanted = values.get("CATEGORY_ID")
        if not any(c.id == wanted for c in cats):
            default = next((c for c in cats if c.is_default), cats[0] if cats else None)
            values["CATEGORY_ID"] = default.id if default else 0
    if kind.stage_field is not None:
        stages = portal.rows_of(stage_list_of(kind.entity_type_id, values.get("CATEGORY_ID", 0)))
        if not any(r.status_id == values.get(kind.stage_field) for r in stages):
            values[kind.stage_field] = stages[0].status_id if stages else ""
    values["DATE_CREATE"] = now_iso(portal.lang)
    item = portal.add_item(kind.entity_type_id, values)
    if kind.event == "ONCRMDYNAMICITEMADD":
        data = {"FIELDS": {"ID": str(item["ID"]), "ENTITY_TYPE_ID": str(kind.entity_type_id)}}
        portal.outbox.append(OutEvent("ONCRMDYNAMICITEMADD", data, ctx.user_id))
        portal.outbox.append(OutEvent(f"ONCRMDYNAMICITEMADD_{kind.entity_type_id}", data, ctx.user_id))
    else:
        portal.outbox.append(OutEvent(kind.event, {"FIELDS": {"ID": str(item["ID"])}}, ctx.user_id))
    return item


# --- filtering / ordering ------------------------------------------------------------------------


def _split_operator(key: str) -> tuple[str, str]:
    op = next((p for p in OPERATORS if key.startswith(p)), "")
    return op, key[len(op) :]


def _matches(current: object, op: str, value: object, numeric: bool) -> bool:
    def norm(v: object) -> object:
        return php_int(v) if numeric else ("" if v is None else str(v).lower())

    if op in ("@", "!@"):
        pool = (
            value if isinstance(value, list) else list(as_map(value).values()) if as_map(value) else [value]
        )
        hit = norm(current) in [norm(v) for v in pool]
        return hit if op == "@" else not hit
    if op in ("%", "=%", "%="):
        return str(value).lower() in str(current or "").lower()
    a, b = norm(current), norm(value)
    if op in (">", ">=", "<", "<="):
        try:
            return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]  # type: ignore[operator]
        except TypeError:
            return False
    return a != b if op in ("!", "!=") else a == b


def select_items(items: list[dict], params: dict, to_upper) -> list[dict]:
    """Apply filter and order (field names translated by `to_upper`; unknown fields ignored)."""
    flt = as_map(param(params, "filter", {})) or {}
    for key, value in flt.items():
        op, name = _split_operator(str(key))
        field = to_upper(name)
        if field is not None:
            items = [i for i in items if _matches(i.get(field), op, value, field in INT_FIELDS)]
    order = as_map(param(params, "order", {})) or {}
    for key, direction in reversed(list(order.items())):
        field = to_upper(str(key))
        if field is None:
            continue
        numeric = field in INT_FIELDS
        items.sort(
            key=lambda i, f=field, n=numeric: php_int(i.get(f)) if n else str(i.get(f) or ""),
            reverse=str(direction).upper() == "DESC",
        )
    return items


def _selected(params: dict) -> list[str] | None:
    select = param(params, "select")
    values = list(select.values()) if isinstance(select, dict) else select
    if not isinstance(values, list) or not values or "*" in values:
        return None
    return [str(v) for v in values]


# --- legacy methods ------------------------------------------------------------------------------


def _legacy_row(kind: Kind, item: dict, select: list[str] | None) -> dict:
    row = {}
    for field in ("ID", *kind.fields, "DATE_CREATE"):
        if select is not None and field not in select:
            continue
        value = item.get(field)
        row[field] = None if value is None else str(value)
    return row


def _legacy_add(kind: Kind) -> Handler:
    def handler(portal: Portal, params: dict, ctx: CallContext) -> Reply:
        require_legacy_crm_access(portal, ctx)
        fields = as_map(param(params, "fields"))
        if fields is None:
            raise legacy_error("Parameter 'fields' must be array.")
        return Reply(create_item(portal, kind, fields, ctx)["ID"])

    return handler


def _legacy_list(kind: Kind) -> Handler:
    def to_upper(name: str) -> str | None:
        return name if name in ("ID", "DATE_CREATE", *kind.fields) else None

    def handler(portal: Portal, params: dict, ctx: CallContext) -> Reply:
        require_legacy_crm_access(portal, ctx)
        items = select_items(portal.items_of(kind.entity_type_id), params, to_upper)
        page, total, nxt = paginate(items, page_start(params))
        select = _selected(params)
        return Reply([_legacy_row(kind, i, select) for i in page], total=total, next=nxt)

    return handler


# --- crm.item.* ----------------------------------------------------------------------------------


def render_item(kind: Kind, item: dict, select: list[str] | None = None) -> dict:
    out: dict = {}
    for field in ("ID", *kind.fields, "DATE_CREATE"):
        name = kind.camel(field)
        if select is None or name in select or field == "ID":
            out[name] = item.get(field)
    out["entityTypeId"] = kind.entity_type_id
    return out


def item_add(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    kind = kind_of(portal, php_int(param(params, "entityTypeId")))
    fields = as_map(param(params, "fields"))
    if fields is None:
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be array")
    upper = {}
    for key, value in fields.items():
        field = kind.upper(str(key))
        if field is not None:
            upper[field] = value
    return Reply({"item": render_item(kind, create_item(portal, kind, upper, ctx))})


def item_list(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    kind = kind_of(portal, php_int(param(params, "entityTypeId")))
    items = select_items(portal.items_of(kind.entity_type_id), params, kind.upper)
    page, total, nxt = paginate(items, page_start(params))
    select = _selected(params)
    return Reply({"items": [render_item(kind, i, select) for i in page]}, total=total, next=nxt)


METHODS: dict[str, Handler] = {"crm.item.add": item_add, "crm.item.list": item_list}
for _name, _kind in LEGACY_KINDS.items():
    METHODS[f"crm.{_name}.add"] = _legacy_add(_kind)
    METHODS[f"crm.{_name}.list"] = _legacy_list(_kind)
