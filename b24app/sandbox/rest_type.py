"""crm.type.* (smart processes): list/get/add/update/delete, CRM administrators only."""

from __future__ import annotations

from b24app.sandbox.portal import DynamicType, OutEvent, Portal, default_category_name, now_iso
from b24app.sandbox.rest_common import (
    CallContext,
    Handler,
    Reply,
    RestError,
    as_map,
    is_true,
    page_start,
    paginate,
    param,
    php_int,
    require_crm_admin,
    yn,
)

FLAGS = (
    "isCategoriesEnabled",
    "isStagesEnabled",
    "isBeginCloseDatesEnabled",
    "isClientEnabled",
    "isUseInUserfieldEnabled",
    "isLinkWithProductsEnabled",
    "isMycompanyEnabled",
    "isDocumentsEnabled",
    "isSourceEnabled",
    "isObserversEnabled",
    "isRecyclebinEnabled",
    "isAutomationEnabled",
    "isBizProcEnabled",
    "isSetOpenPermissions",
    "isPaymentsEnabled",
    "isCountersEnabled",
)
LEGACY_RANGE = range(128, 193)


def _valid_entity_type_id(etid: int) -> bool:
    return etid in LEGACY_RANGE or (etid >= 1030 and etid % 2 == 0)


def _out_of_range() -> RestError:
    return RestError(400, "INVALID_ARG_VALUE", "entityTypeId is out of allowed range")


def render_type(t: DynamicType) -> dict:
    out: dict = {
        "id": t.id,
        "title": t.title,
        "code": t.code,
        "createdBy": t.created_by,
        "entityTypeId": t.entity_type_id,
        "customSectionId": None,
    }
    out.update({flag: yn(t.flags.get(flag, False)) for flag in FLAGS})
    out.update(createdTime=t.created_time, updatedTime=t.updated_time, updatedBy=t.updated_by)
    return out


def _fields(params: dict) -> dict:
    fields = as_map(param(params, "fields"))
    if fields is None:
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be array")
    return fields


def _type_or_404(portal: Portal, params: dict) -> DynamicType:
    found = portal.types.get(php_int(param(params, "id")))
    if found is None:
        raise RestError(400, "NOT_FOUND", "Smart Process Automation was not found")
    return found


def _matches(t: DynamicType, key: str, value: object) -> bool:
    """Plain, '=', '!' and '@' filters over the rendered type."""
    rendered = render_type(t)
    op = next((p for p in ("!@", "@", "!=", "!", "=") if key.startswith(p)), "")
    field = key[len(op) :]
    if field not in rendered:
        raise RestError(400, "INVALID_ARG_VALUE", f"Unknown field {field}")
    current = str(rendered[field])
    if op in ("@", "!@"):
        hit = current in [str(v) for v in (value if isinstance(value, list) else [value])]
        return hit if op == "@" else not hit
    equal = current == str(value)
    return not equal if op in ("!", "!=") else equal


def type_list(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    types = sorted(portal.types.values(), key=lambda t: t.id)
    flt = as_map(param(params, "filter", {})) or {}
    types = [t for t in types if all(_matches(t, str(k), v) for k, v in flt.items())]
    order = as_map(param(params, "order", {})) or {}
    for key, direction in reversed(list(order.items())):
        types.sort(
            key=lambda t, k=str(key): render_type(t).get(k) or 0, reverse=str(direction).upper() == "DESC"
        )
    page, total, nxt = paginate(types, page_start(params))
    return Reply({"types": [render_type(t) for t in page]}, total=total, next=nxt)


def type_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    return Reply({"type": render_type(_type_or_404(portal, params))})


def _next_entity_type_id(portal: Portal) -> int:
    used = {t.entity_type_id for t in portal.types.values()}
    candidate = next((i for i in LEGACY_RANGE if i not in used), None)
    if candidate is None:
        candidate = 1030
        while candidate in used:
            candidate += 2
    return candidate


def type_add(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """New smart process with its default category ("Общая"/"General") and that category's 5 stages."""
    require_crm_admin(portal, ctx)
    fields = _fields(params)
    title = str(fields.get("title") or "").strip()
    if not title:
        raise RestError(400, "BX_ERROR", "Field 'TITLE' is required.")
    if "entityTypeId" in fields:
        etid = php_int(fields["entityTypeId"])
        if not _valid_entity_type_id(etid):
            raise _out_of_range()
        if portal.type_by_entity_type_id(etid) is not None:
            raise RestError(400, "INVALID_ARG_VALUE", "entityTypeId is already in use")
    else:
        etid = _next_entity_type_id(portal)
    stamp = now_iso(portal.lang)
    dyn = DynamicType(
        id=portal.next_type_id,
        entity_type_id=etid,
        title=title,
        code=str(fields.get("code") or ""),
        created_by=ctx.user_id,
        created_time=stamp,
        updated_by=ctx.user_id,
        updated_time=stamp,
        flags={flag: is_true(fields[flag]) for flag in FLAGS if flag in fields},
    )
    portal.types[dyn.id] = dyn
    portal.next_type_id += 1
    portal.add_item_category(etid, default_category_name(etid, portal.lang), 500, is_default=True)
    portal.outbox.append(_type_event("ONCRMTYPEADD", dyn, ctx))
    return Reply({"type": render_type(dyn)})


def _type_event(name: str, dyn: DynamicType, ctx: CallContext) -> OutEvent:
    return OutEvent(name, {"FIELDS": {"ID": str(dyn.id)}}, ctx.user_id)


def type_update(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    dyn = _type_or_404(portal, params)
    fields = _fields(params)
    if (
        "isCategoriesEnabled" in fields
        and not is_true(fields["isCategoriesEnabled"])
        and len(portal.categories_of(dyn.entity_type_id)) > 1
    ):
        raise RestError(400, "BX_ERROR", "You cannot disable pipelines if there more than one of them.")
    title = str(fields.get("title") or "").strip()
    if title:
        dyn.title = title
    if "code" in fields:
        dyn.code = str(fields["code"] or "")
    dyn.flags.update({flag: is_true(fields[flag]) for flag in FLAGS if flag in fields})
    dyn.updated_by, dyn.updated_time = ctx.user_id, now_iso(portal.lang)
    portal.outbox.append(_type_event("ONCRMTYPEUPDATE", dyn, ctx))
    return Reply({"type": render_type(dyn)})


def type_delete(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    dyn = _type_or_404(portal, params)
    if portal.items_of(dyn.entity_type_id):
        raise RestError(400, "BX_ERROR", "Cannot delete a smart process that has items.")
    for cat in portal.categories_of(dyn.entity_type_id):
        entity_id = f"DYNAMIC_{dyn.entity_type_id}_STAGE_{cat.id}"
        for row_id in [r.id for r in portal.statuses.values() if r.entity_id == entity_id]:
            del portal.statuses[row_id]
        del portal.item_categories[cat.id]
    del portal.types[dyn.id]
    portal.outbox.append(_type_event("ONCRMTYPEDELETE", dyn, ctx))
    return Reply(None)


METHODS: dict[str, Handler] = {
    "crm.type.list": type_list,
    "crm.type.get": type_get,
    "crm.type.add": type_add,
    "crm.type.update": type_update,
    "crm.type.delete": type_delete,
}
