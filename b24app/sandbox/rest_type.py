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
    uncoded_error,
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
# crm.type.add docs: the user-field bindings a type can be shown in (all "N" unless asked for).
LINKED_USER_FIELDS = (
    "CALENDAR_EVENT|UF_CRM_CAL_EVENT",
    "TASKS_TASK|UF_CRM_TASK",
    "TASKS_TASK_TEMPLATE|UF_CRM_TASK",
)
CLIENT_TYPES = (3, 4)  # isClientEnabled = a predefined parent link to contacts and companies
NOT_FOUND_MESSAGE = "Smart Process Automation was not found"


def _valid_entity_type_id(etid: int) -> bool:
    return etid in LEGACY_RANGE or (etid >= 1030 and etid % 2 == 0)


def _out_of_range() -> RestError:
    return RestError(400, "INVALID_ARG_VALUE", "entityTypeId is out of allowed range")


def render_type(t: DynamicType, *, full: bool = True) -> dict:
    """A type as crm.type.get/add/update show it (`full`) or as one entry of crm.type.list."""
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
    if not full:
        out["isInitialized"] = "Y"
        return out
    out["relations"] = _render_relations(t)
    out["linkedUserFields"] = {key: yn(t.linked_user_fields.get(key, False)) for key in LINKED_USER_FIELDS}
    out["customSections"] = []
    return out


def _render_relations(t: DynamicType) -> dict:
    def entry(etid: int, children: bool, predefined: bool) -> dict:
        return {"entityTypeId": etid, "isChildrenListEnabled": yn(children), "isPredefined": yn(predefined)}

    client = t.flags.get("isClientEnabled", False)
    parent = [entry(etid, True, True) for etid in CLIENT_TYPES] if client else []
    for rel in t.relations["parent"]:
        if not (client and rel["entityTypeId"] in CLIENT_TYPES):
            parent.append(entry(rel["entityTypeId"], rel["isChildrenListEnabled"], False))
    child = [entry(rel["entityTypeId"], rel["isChildrenListEnabled"], False) for rel in t.relations["child"]]
    return {"parent": parent, "child": child}


def _js_true(value: object) -> bool:
    """Relation and user-field switches take "true"/"false"; "Y"/"N" do not work (crm.type.add docs)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return value is True or value == 1


def _relations_of(fields: dict, current: dict[str, list[dict]]) -> dict[str, list[dict]]:
    given = as_map(fields.get("relations"))
    if given is None:
        return current
    out: dict[str, list[dict]] = {}
    for side in ("parent", "child"):
        rows = as_map(given.get(side)) or {}
        out[side] = [
            {
                "entityTypeId": php_int(r.get("entityTypeId")),
                "isChildrenListEnabled": _js_true(r.get("isChildrenListEnabled")),
            }
            for r in (as_map(row) for row in rows.values())
            if r is not None and php_int(r.get("entityTypeId")) > 0
        ]
    return out


def _linked_user_fields_of(
    fields: dict, use_in_userfields: bool, current: dict[str, bool]
) -> dict[str, bool]:
    """Only considered when isUseInUserfieldEnabled is Y (crm.type.add docs)."""
    given = as_map(fields.get("linkedUserFields"))
    if given is None or not use_in_userfields:
        return current
    return {**current, **{key: _js_true(given[key]) for key in LINKED_USER_FIELDS if key in given}}


def _fields(params: dict) -> dict:
    fields = as_map(param(params, "fields"))
    if fields is None:
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be array")
    return fields


def _type_or_404(portal: Portal, params: dict) -> DynamicType:
    found = portal.types.get(php_int(param(params, "id")))
    if found is None:
        raise uncoded_error(NOT_FOUND_MESSAGE)
    return found


def _matches(t: DynamicType, key: str, value: object) -> bool:
    """Plain, '=', '!' and '@' filters over the rendered type."""
    rendered = render_type(t, full=False)
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
            key=lambda t, k=str(key): render_type(t, full=False).get(k) or 0,
            reverse=str(direction).upper() == "DESC",
        )
    page, total, nxt = paginate(types, page_start(params))
    return Reply({"types": [render_type(t, full=False) for t in page]}, total=total, next=nxt)


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
    """New smart process with its default category ("Общая"/"General") and that category's 5 stages,
    whatever isCategoriesEnabled says (reference-lists.md §4.2, §4.4); without that flag (its default is
    N) crm.category.add refuses further pipelines for the type (rest_category)."""
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
    dyn.relations = _relations_of(fields, dyn.relations)
    dyn.linked_user_fields = _linked_user_fields_of(
        fields, dyn.flags.get("isUseInUserfieldEnabled", False), dyn.linked_user_fields
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
    dyn.relations = _relations_of(fields, dyn.relations)
    dyn.linked_user_fields = _linked_user_fields_of(
        fields, dyn.flags.get("isUseInUserfieldEnabled", False), dyn.linked_user_fields
    )
    dyn.updated_by, dyn.updated_time = ctx.user_id, now_iso(portal.lang)
    portal.outbox.append(_type_event("ONCRMTYPEUPDATE", dyn, ctx))
    return Reply({"type": render_type(dyn)})


def type_delete(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    dyn = _type_or_404(portal, params)
    if portal.items_of(dyn.entity_type_id):
        raise RestError(400, "BX_ERROR", "You cannot delete an entity type that has elements")
    for cat in portal.categories_of(dyn.entity_type_id):
        entity_id = f"DYNAMIC_{dyn.entity_type_id}_STAGE_{cat.id}"
        for row_id in [r.id for r in portal.statuses.values() if r.entity_id == entity_id]:
            del portal.statuses[row_id]
        del portal.item_categories[cat.id]
    del portal.types[dyn.id]
    portal.outbox.append(_type_event("ONCRMTYPEDELETE", dyn, ctx))
    return Reply([])


METHODS: dict[str, Handler] = {
    "crm.type.list": type_list,
    "crm.type.get": type_get,
    "crm.type.add": type_add,
    "crm.type.update": type_update,
    "crm.type.delete": type_delete,
}
