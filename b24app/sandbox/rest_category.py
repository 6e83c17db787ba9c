"""crm.category.* (D7 controller) and the deprecated crm.dealcategory.* (legacy proxy)."""

from __future__ import annotations

from b24app.sandbox.portal import SMART_DOCUMENT, SMART_INVOICE, Category, Portal
from b24app.sandbox.rest_common import (
    CallContext,
    Handler,
    Reply,
    RestError,
    as_map,
    is_positive_int,
    legacy_error,
    param,
    php_int,
    require_config_write,
    require_crm_admin,
    require_crm_reader,
    require_legacy_crm_access,
    uncoded_error,
    yn,
)
from b24app.sandbox.rest_status import short_items

DEFAULT_ITEM_CATEGORY_SORT = 500
UNSUPPORTED_TYPE_NAMES = {1: "LEAD", 5: "INVOICE", 7: "QUOTE", 8: "REQUISITE", 14: "ORDER"}
NAME_MAX = 255


def not_found() -> RestError:
    return RestError(400, "NOT_FOUND", "Item was not found.")


def type_not_found() -> RestError:
    return RestError(400, "NOT_FOUND", "Smart Process Automation was not found")


def resolve_entity_type(portal: Portal, params: dict) -> int:
    """The entityTypeId of a crm.category call, or the controller's error."""
    etid = php_int(param(params, "entityTypeId"))
    if etid in (2, 3, 4, SMART_INVOICE) or (etid == SMART_DOCUMENT and portal.documents_enabled):
        return etid
    if etid >= 128 and portal.type_by_entity_type_id(etid) is not None:
        return etid
    if etid in UNSUPPORTED_TYPE_NAMES:
        raise RestError(
            400, "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {UNSUPPORTED_TYPE_NAMES[etid]} is not supported"
        )
    raise type_not_found()


def _require_categories_enabled(portal: Portal, etid: int) -> None:
    """A smart process made with isCategoriesEnabled N keeps its one default pipeline: crm.category.*
    serves such a type only while it has categories enabled (reference-lists.md §4.1), so adding one
    is refused."""
    dyn = portal.type_by_entity_type_id(etid) if etid >= 128 else None
    if dyn is not None and not dyn.flags.get("isCategoriesEnabled", False):
        raise RestError(400, "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type DYNAMIC_{etid} is not supported")


def render_category(cat: Category) -> dict:
    out: dict = {
        "id": cat.id,
        "name": cat.name,
        "sort": cat.sort,
        "entityTypeId": cat.entity_type_id,
        "isDefault": yn(cat.is_default),
    }
    if cat.entity_type_id == 2:
        if cat.id != 0:
            out.update(originId=cat.origin_id, originatorId=cat.originator_id)
    else:
        out.update(isSystem=yn(cat.is_system), code=cat.code)
    return out


def _fields_param(params: dict) -> dict:
    fields = as_map(param(params, "fields"))
    if fields is None:
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be array")
    return fields


def _category_or_404(portal: Portal, etid: int, params: dict) -> Category:
    cat = portal.find_category(etid, php_int(param(params, "id")))
    if cat is None:
        raise not_found()
    return cat


def _name(fields: dict, etid: int, *, required: bool) -> str | None:
    if "name" not in fields:
        if required:
            raise _name_required(etid)
        return None
    name = str(fields["name"] or "").strip()
    if not name:
        raise _name_required(etid)
    if len(name) > NAME_MAX:
        raise RestError(400, "BX_ERROR", f"Field 'NAME' must be no longer than {NAME_MAX} characters.")
    return name


def _name_required(etid: int) -> RestError:
    # Deal pipelines raise DealCategory's message with code 0 (docs); item categories fail ORM validation.
    message = "Field 'NAME' is required."
    return uncoded_error(message) if etid == 2 else RestError(400, "BX_ERROR", message)


def _sort(fields: dict) -> int | None:
    """A given non-negative sort, else None (negative values are ignored)."""
    if "sort" not in fields:
        return None
    sort = php_int(fields["sort"])
    return sort if sort >= 0 else None


def _set_default(portal: Portal, cat: Category) -> None:
    for other in portal.categories_of(cat.entity_type_id):
        other.is_default = False
    cat.is_default = True


def category_fields(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    etid = resolve_entity_type(portal, params)

    def desc(ftype: str, title: str, *, required: bool = False, read_only: bool = False) -> dict:
        return {
            "type": ftype,
            "isRequired": required,
            "isReadOnly": read_only,
            "isImmutable": False,
            "isMultiple": False,
            "isDynamic": False,
            "title": title,
            "upperName": "",
        }

    fields = {
        "id": desc("integer", "ID", read_only=True),
        "name": desc("string", "Name", required=True),
        "sort": desc("integer", "Sort"),
        "entityTypeId": desc("integer", "Entity type", read_only=True),
        "isDefault": desc("boolean", "Default", read_only=etid == 2),
    }
    if etid == 2:
        fields.update(originId=desc("string", "Origin ID"), originatorId=desc("string", "Originator ID"))
    else:
        fields.update(isSystem=desc("boolean", "System", read_only=True), code=desc("string", "Code"))
    for key, value in fields.items():
        value["upperName"] = "".join("_" + c if c.isupper() else c.upper() for c in key)
    return Reply({"fields": fields})


def category_list(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """All categories in one response (not paginated), deal default pipeline id 0 included."""
    require_crm_reader(portal, ctx)
    etid = resolve_entity_type(portal, params)
    cats = portal.categories_of(etid)
    flt = as_map(param(params, "filter", {})) or {}
    if "code" in flt:
        cats = [c for c in cats if c.code == str(flt["code"])]
    return Reply({"categories": [render_category(c) for c in cats]}, total=len(cats))


def category_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_reader(portal, ctx)
    etid = resolve_entity_type(portal, params)
    return Reply({"category": render_category(_category_or_404(portal, etid, params))})


def category_add(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    etid = resolve_entity_type(portal, params)
    _require_categories_enabled(portal, etid)
    fields = _fields_param(params)
    if str(fields.get("isSystem", "N")).upper() == "Y":
        raise RestError(400, "ADDING_DISABLED", "Cannot add a system pipeline")
    name = _name(fields, etid, required=True)
    sort = _sort(fields)
    if etid == 2:
        cat = portal.add_deal_category(
            name,
            DEFAULT_ITEM_CATEGORY_SORT if sort is None else sort,
            str(fields.get("originId") or ""),
            str(fields.get("originatorId") or ""),
        )
    else:
        cat = portal.add_item_category(
            etid,
            name,
            DEFAULT_ITEM_CATEGORY_SORT if sort is None else sort,
            code=str(fields.get("code") or ""),
        )
        if str(fields.get("isDefault", "N")).upper() == "Y":
            _set_default(portal, cat)
    return Reply({"category": render_category(cat)})


def category_update(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    etid = resolve_entity_type(portal, params)
    cat = _category_or_404(portal, etid, params)
    fields = _fields_param(params)
    name, sort = _name(fields, etid, required=False), _sort(fields)
    if etid == 2 and cat.id == 0:
        # The default deal pipeline is virtual: its name and sort live in module options.
        if name is not None:
            portal.deal_default_name = name
        if sort is not None:
            portal.deal_default_sort = sort
        return Reply({"category": render_category(portal.deal_default_category())})
    if etid in (3, 4) and cat.id == 0:
        raise RestError(400, "BX_ERROR", "Default client category does not support updating")
    if name is not None:
        cat.name = name
    if sort is not None:
        cat.sort = sort
    if etid == 2:
        for key, attr in (("originId", "origin_id"), ("originatorId", "originator_id")):
            if key in fields:
                setattr(cat, attr, str(fields[key] or ""))
    else:
        if "code" in fields:
            cat.code = str(fields["code"] or "")
        # A default category cannot be made non-default (docs); "Y" moves the default flag here.
        if str(fields.get("isDefault", "")).upper() == "Y":
            _set_default(portal, cat)
    return Reply({"category": render_category(cat)})


def category_delete(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_crm_admin(portal, ctx)
    etid = resolve_entity_type(portal, params)
    cat = _category_or_404(portal, etid, params)
    if etid == 2:
        delete_deal_category(portal, cat, legacy=False)
        return Reply(None)
    if cat.id == 0:
        raise RestError(400, "REMOVING_DISABLED", "Cannot delete a system pipeline")
    items = portal.items_of(etid)
    if cat.is_default and items:  # quirk: the default category of a type without items can be deleted
        raise RestError(400, "BX_ERROR", "This is a default pipeline")
    if cat.is_system:
        raise RestError(400, "REMOVING_DISABLED", "Cannot delete a system pipeline")
    if any(item.get("CATEGORY_ID") == cat.id for item in items):
        raise RestError(400, "BX_ERROR", "There are items in this pipeline")
    stage_list = _stage_list_id(etid, cat.id)
    for row_id in [r.id for r in portal.statuses.values() if r.entity_id == stage_list]:
        del portal.statuses[row_id]
    del portal.item_categories[cat.id]
    return Reply(None)


def _stage_list_id(etid: int, category_id: int) -> str:
    if etid == SMART_INVOICE:
        return f"SMART_INVOICE_STAGE_{category_id}"
    if etid == SMART_DOCUMENT:
        return f"SMART_DOCUMENT_STAGE_{category_id}"
    return f"DYNAMIC_{etid}_STAGE_{category_id}"


def delete_deal_category(portal: Portal, cat: Category, *, legacy: bool) -> None:
    """DealCategory::delete; legacy proxy errors have an empty code, crm.category ones the number 0 (docs)."""

    def fail(message: str) -> RestError:
        return legacy_error(message) if legacy else uncoded_error(message)

    if cat.id == 0:
        raise fail("Default deal category can not be deleted")
    if any(item.get("CATEGORY_ID") == cat.id for item in portal.items_of(2)):
        raise fail(f'Found "{cat.name}" pipeline deals')
    entity_id = f"DEAL_STAGE_{cat.id}"
    for row_id in [r.id for r in portal.statuses.values() if r.entity_id == entity_id]:
        del portal.statuses[row_id]
    del portal.deal_categories[cat.id]


# --- crm.dealcategory.* (deprecated) -----------------------------------------------------------

DEALCATEGORY_FIELDS = {
    "ID": ("integer", False, True),
    "CREATED_DATE": ("date", False, True),
    "NAME": ("string", True, False),
    "SORT": ("integer", False, False),
    "IS_LOCKED": ("char", False, True),
}


def _legacy_deal_category_row(cat: Category) -> dict:
    return {
        "ID": str(cat.id),
        "CREATED_DATE": cat.created_date,
        "NAME": cat.name,
        "SORT": str(cat.sort),
        "IS_LOCKED": "N",
    }


def _legacy_id(params: dict) -> int:
    value = param(params, "id")
    if not is_positive_int(value):
        raise legacy_error("ID is not defined or invalid.")
    return int(value)  # type: ignore[arg-type]


def _legacy_fields(params: dict) -> dict:
    fields = as_map(param(params, "fields"))
    if fields is None:
        raise legacy_error("Parameter 'fields' must be array.")
    return fields


def dealcategory_fields(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    return Reply(
        {
            name: {
                "type": t,
                "isRequired": req,
                "isReadOnly": ro,
                "isImmutable": False,
                "isMultiple": False,
                "isDynamic": False,
                "title": name,
            }
            for name, (t, req, ro) in DEALCATEGORY_FIELDS.items()
        }
    )


def dealcategory_list(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    rows = [_legacy_deal_category_row(c) for c in sorted(portal.deal_categories.values(), key=lambda c: c.id)]
    flt = as_map(param(params, "filter", {})) or {}
    for key, value in flt.items():
        if key in DEALCATEGORY_FIELDS:
            rows = [r for r in rows if r[key] == str(value)]
    order = as_map(param(params, "order", {})) or {}
    for key, direction in reversed(list(order.items())):
        field = str(key).upper()
        if field in DEALCATEGORY_FIELDS:
            numeric = field in ("ID", "SORT")
            rows.sort(
                key=lambda r, f=field, n=numeric: php_int(r[f]) if n else r[f],
                reverse=str(direction).upper() != "ASC",
            )
    select = param(params, "select")
    if isinstance(select, list) and select and "*" not in select:
        rows = [{k: v for k, v in r.items() if k in select} for r in rows]
    return Reply(rows, total=len(rows))


def dealcategory_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    cat = portal.deal_categories.get(_legacy_id(params))
    if cat is None:
        raise legacy_error("Not found")
    return Reply(_legacy_deal_category_row(cat))


def dealcategory_add(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_config_write(portal, ctx)
    fields = _legacy_fields(params)
    name = str(fields.get("NAME") or "").strip()
    if not name:
        raise legacy_error("Field 'NAME' is required.")
    sort = max(php_int(fields.get("SORT", DEFAULT_ITEM_CATEGORY_SORT)), 0)
    return Reply(portal.add_deal_category(name, sort).id)


def dealcategory_update(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_config_write(portal, ctx)
    cat = portal.deal_categories.get(_legacy_id(params))
    fields = _legacy_fields(params)
    if cat is None:
        raise legacy_error("Not found.")
    name = str(fields.get("NAME") or "").strip()
    if name:
        cat.name = name
    if "SORT" in fields:
        cat.sort = max(php_int(fields["SORT"]), 0)
    return Reply(True)


def dealcategory_delete(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_config_write(portal, ctx)
    cat = portal.deal_categories.get(_legacy_id(params))
    if cat is None:
        raise legacy_error("Not found.")
    delete_deal_category(portal, cat, legacy=True)
    return Reply(True)


def dealcategory_default_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    return Reply({"ID": 0, "NAME": portal.deal_default_category().name})


def dealcategory_default_set(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_config_write(portal, ctx)
    name = param(params, "name")
    if name is None:
        fields = as_map(param(params, "fields")) or {}
        name = fields.get("NAME")
    portal.deal_default_name = str(name or "").strip() or None  # empty resets to the lang default
    return Reply(True)


def _legacy_category_id(params: dict) -> int:
    value = param(params, "id", 0)
    return php_int(value)


def dealcategory_status(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    category_id = _legacy_category_id(params)
    return Reply(f"DEAL_STAGE_{category_id}" if category_id > 0 else "DEAL_STAGE")


def dealcategory_stage_list(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    require_legacy_crm_access(portal, ctx)
    category_id = _legacy_category_id(params)
    return Reply(short_items(portal, f"DEAL_STAGE_{category_id}" if category_id > 0 else "DEAL_STAGE"))


METHODS: dict[str, Handler] = {
    "crm.category.fields": category_fields,
    "crm.category.list": category_list,
    "crm.category.get": category_get,
    "crm.category.add": category_add,
    "crm.category.update": category_update,
    "crm.category.delete": category_delete,
    "crm.dealcategory.fields": dealcategory_fields,
    "crm.dealcategory.list": dealcategory_list,
    "crm.dealcategory.get": dealcategory_get,
    "crm.dealcategory.add": dealcategory_add,
    "crm.dealcategory.update": dealcategory_update,
    "crm.dealcategory.delete": dealcategory_delete,
    "crm.dealcategory.default.get": dealcategory_default_get,
    "crm.dealcategory.default.set": dealcategory_default_set,
    "crm.dealcategory.status": dealcategory_status,
    "crm.dealcategory.stage.list": dealcategory_stage_list,
}
