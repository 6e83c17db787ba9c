"""CRM items: legacy crm.{lead,deal,contact,company,quote}.add/get/list/update/delete and crm.item.*.

Items exist to make stage/pipeline deletion refusals observable and to let tests move and delete
them; they carry only the fields that reference lists and pipelines touch. Stored with upper-case
keys (lead/quote stage in STATUS_ID, everything else in STAGE_ID). Legacy methods answer upper-case
rows with string values, crm.item.* camelCase with `{"item": ...}` (crm.item.* docs).
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
    is_positive_int,
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
    # legacy proxies word "not found" differently per type and method (crm.{type}.update/delete docs)
    update_missing: str = "Not found"
    delete_missing: tuple[str, str] = ("", "Not found")

    @property
    def event_prefix(self) -> str:
        return self.event.removesuffix("ADD")

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
        "Contact is not found",
        ("ERROR_CORE", "Element not found"),
    ),
    "company": Kind(
        4,
        (*COMMON, "COMPANY_TYPE", "INDUSTRY", "EMPLOYEES"),
        None,
        "ONCRMCOMPANYADD",
        "Company is not found",
        ("", "Company is not found"),
    ),
    "quote": Kind(
        7,
        (*COMMON, "STATUS_ID"),
        "STATUS_ID",
        "ONCRMQUOTEADD",
        "Quote is not found",
        ("ERROR_CORE", "Element not found"),
    ),
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
    values = _plain_values(kind, fields)
    values.setdefault("ASSIGNED_BY_ID", ctx.user_id)
    if "CATEGORY_ID" in kind.fields:
        cats = portal.categories_of(kind.entity_type_id)
        wanted = php_int(fields.get("CATEGORY_ID"))
        if not any(c.id == wanted for c in cats):
            default = next((c for c in cats if c.is_default), cats[0] if cats else None)
            wanted = default.id if default else 0
        values["CATEGORY_ID"] = wanted
    if kind.stage_field is not None:
        stages = _stage_ids(portal, kind, values.get("CATEGORY_ID", 0))
        wanted_stage = fields.get(kind.stage_field)
        values[kind.stage_field] = wanted_stage if wanted_stage in stages else (stages[0] if stages else "")
    values["DATE_CREATE"] = now_iso(portal.lang)
    item = portal.add_item(kind.entity_type_id, values)
    _queue_event(portal, kind, "ADD", item["ID"], ctx)
    return item


def update_item(
    portal: Portal, kind: Kind, item: dict, fields: dict, ctx: CallContext, *, strict: bool
) -> None:
    """Change an item in place.

    `strict` (crm.item.update) moves the item to another pipeline when asked and refuses a stage or
    pipeline the item cannot have; the legacy crm.{type}.update ignores CATEGORY_ID (its docs send
    pipeline moves to crm.item.update) and keeps the current stage when given one of another pipeline.
    Moving to another pipeline without a stage puts the item on that pipeline's first stage.
    """
    values = _plain_values(kind, fields)
    category = item.get("CATEGORY_ID", 0)
    if strict and "CATEGORY_ID" in kind.fields and "CATEGORY_ID" in fields:
        wanted = php_int(fields["CATEGORY_ID"])
        if portal.find_category(kind.entity_type_id, wanted) is None:
            raise _invalid_value("Pipeline")
        values["CATEGORY_ID"] = category = wanted
    moved = category != item.get("CATEGORY_ID", 0)
    if kind.stage_field is not None:
        values[kind.stage_field] = _next_stage(portal, kind, item, fields, category, strict=strict)
    item.update(values)
    if moved and kind.entity_type_id == 2:
        # A pipeline move fires its own event and no ONCRMDEALUPDATE (platform.md §3).
        data = {"FIELDS": {"ID": str(item["ID"]), "CATEGORY_ID": str(category), "STAGE_ID": item["STAGE_ID"]}}
        portal.outbox.append(OutEvent("ONCRMDEALMOVETOCATEGORY", data, ctx.user_id))
    else:
        _queue_event(portal, kind, "UPDATE", item["ID"], ctx)


def delete_item(portal: Portal, kind: Kind, item: dict, ctx: CallContext) -> None:
    del portal.items[kind.entity_type_id][item["ID"]]
    _queue_event(portal, kind, "DELETE", item["ID"], ctx)


def _plain_values(kind: Kind, fields: dict) -> dict:
    """The given writable fields other than pipeline and stage, integers cast like PHP does."""
    values = {k: fields[k] for k in kind.fields if k in fields and k not in ("CATEGORY_ID", kind.stage_field)}
    for key in INT_FIELDS & values.keys():
        values[key] = php_int(values[key])
    return values


def _stage_ids(portal: Portal, kind: Kind, category_id: int) -> list[str]:
    return [row.status_id for row in portal.rows_of(stage_list_of(kind.entity_type_id, category_id))]


def _next_stage(portal: Portal, kind: Kind, item: dict, fields: dict, category: int, *, strict: bool) -> str:
    """The requested stage when it belongs to `category`, else the current one when it still does
    (stage ids carry their pipeline's prefix), else the pipeline's first stage."""
    stages = _stage_ids(portal, kind, category)
    field = kind.stage_field or ""
    if field in fields:
        if fields[field] in stages:
            return str(fields[field])
        if strict:
            raise _invalid_value("Stage")
    if item.get(field) in stages:
        return str(item[field])
    return stages[0] if stages else ""


def _invalid_value(title: str) -> RestError:
    return RestError(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", f'Invalid value for field "{title}"')


def _queue_event(portal: Portal, kind: Kind, action: str, item_id: int, ctx: CallContext) -> None:
    if kind.event == "ONCRMDYNAMICITEMADD":
        data = {"FIELDS": {"ID": str(item_id), "ENTITY_TYPE_ID": str(kind.entity_type_id)}}
        name = f"ONCRMDYNAMICITEM{action}"
        portal.outbox.append(OutEvent(name, data, ctx.user_id))
        portal.outbox.append(OutEvent(f"{name}_{kind.entity_type_id}", data, ctx.user_id))
    else:
        data = {"FIELDS": {"ID": str(item_id)}}
        portal.outbox.append(OutEvent(f"{kind.event_prefix}{action}", data, ctx.user_id))


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


def _legacy_item(portal: Portal, kind: Kind, params: dict, missing: tuple[str, str]) -> dict:
    """The item named by `id`: a positive integer, else "ID is not defined or invalid."."""
    value = param(params, "id")
    if not is_positive_int(value):
        raise legacy_error("ID is not defined or invalid.")
    item = portal.items.get(kind.entity_type_id, {}).get(int(value))  # type: ignore[arg-type]
    if item is None:
        raise RestError(400, *missing)
    return item


def _legacy_get(kind: Kind) -> Handler:
    def handler(portal: Portal, params: dict, ctx: CallContext) -> Reply:
        require_legacy_crm_access(portal, ctx)
        return Reply(_legacy_row(kind, _legacy_item(portal, kind, params, ("", "Not found")), None))

    return handler


def _legacy_update(kind: Kind) -> Handler:
    def handler(portal: Portal, params: dict, ctx: CallContext) -> Reply:
        require_legacy_crm_access(portal, ctx)
        item = _legacy_item(portal, kind, params, ("", kind.update_missing))
        fields = as_map(param(params, "fields"))
        if fields is None:
            raise legacy_error("Parameter 'fields' must be array.")
        update_item(portal, kind, item, fields, ctx, strict=False)
        return Reply(True)

    return handler


def _legacy_delete(kind: Kind) -> Handler:
    def handler(portal: Portal, params: dict, ctx: CallContext) -> Reply:
        require_legacy_crm_access(portal, ctx)
        delete_item(portal, kind, _legacy_item(portal, kind, params, kind.delete_missing), ctx)
        return Reply(True)

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


def _item_fields(kind: Kind, params: dict) -> dict:
    """`fields` of a crm.item call translated to upper-case names (unknown names dropped)."""
    fields = as_map(param(params, "fields"))
    if fields is None:
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be array")
    upper = {}
    for key, value in fields.items():
        field = kind.upper(str(key))
        if field is not None:
            upper[field] = value
    return upper


def _item_or_404(portal: Portal, kind: Kind, params: dict) -> dict:
    item = portal.items.get(kind.entity_type_id, {}).get(php_int(param(params, "id")))
    if item is None:
        raise RestError(400, "NOT_FOUND", "Item was not found.")
    return item


def item_add(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    kind = kind_of(portal, php_int(param(params, "entityTypeId")))
    item = create_item(portal, kind, _item_fields(kind, params), ctx)
    return Reply({"item": render_item(kind, item)})


def item_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    kind = kind_of(portal, php_int(param(params, "entityTypeId")))
    return Reply({"item": render_item(kind, _item_or_404(portal, kind, params))})


def item_update(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    kind = kind_of(portal, php_int(param(params, "entityTypeId")))
    item = _item_or_404(portal, kind, params)
    update_item(portal, kind, item, _item_fields(kind, params), ctx, strict=True)
    return Reply({"item": render_item(kind, item)})


def item_delete(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """Success answers an empty array (crm.item.delete docs)."""
    require_crm_reader(portal, ctx)
    kind = kind_of(portal, php_int(param(params, "entityTypeId")))
    delete_item(portal, kind, _item_or_404(portal, kind, params), ctx)
    return Reply([])


def item_list(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    kind = kind_of(portal, php_int(param(params, "entityTypeId")))
    items = select_items(portal.items_of(kind.entity_type_id), params, kind.upper)
    page, total, nxt = paginate(items, page_start(params))
    select = _selected(params)
    return Reply({"items": [render_item(kind, i, select) for i in page]}, total=total, next=nxt)


METHODS: dict[str, Handler] = {
    "crm.item.add": item_add,
    "crm.item.get": item_get,
    "crm.item.list": item_list,
    "crm.item.update": item_update,
    "crm.item.delete": item_delete,
}
for _name, _kind in LEGACY_KINDS.items():
    METHODS[f"crm.{_name}.add"] = _legacy_add(_kind)
    METHODS[f"crm.{_name}.get"] = _legacy_get(_kind)
    METHODS[f"crm.{_name}.list"] = _legacy_list(_kind)
    METHODS[f"crm.{_name}.update"] = _legacy_update(_kind)
    METHODS[f"crm.{_name}.delete"] = _legacy_delete(_kind)
