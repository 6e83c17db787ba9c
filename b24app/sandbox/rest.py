"""Entry point of the emulated portal's REST API: method table, scope checks, dispatch.

The HTTP layer (server.py) turns requests into `call(portal, method, params, ctx)` and wraps the
`Reply` into Bitrix24's envelope; every method's behaviour lives in the rest_* modules.
"""

from __future__ import annotations

from b24app.sandbox import rest_basic, rest_category, rest_im, rest_items, rest_status, rest_type
from b24app.sandbox.portal import Portal
from b24app.sandbox.rest_batch import run_batch
from b24app.sandbox.rest_common import CallContext, Handler, Reply, RestError, is_true, param

__all__ = ["CallContext", "Reply", "RestError", "call", "METHOD_SCOPES"]


def _batch(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    return run_batch(call, portal, params, ctx)


def _methods(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    if is_true(param(params, "full", False)):
        return Reply(sorted(METHOD_SCOPES))
    wanted = param(params, "scope")
    if wanted:
        return Reply(sorted(m for m, s in METHOD_SCOPES.items() if s == str(wanted)))
    return Reply(sorted(m for m, s in METHOD_SCOPES.items() if s == "basic" or s in ctx.scopes))


def _method_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    name = str(param(params, "name", "") or "").lower()
    scope = METHOD_SCOPES.get(name)
    return Reply(
        {
            "isExisting": scope is not None,
            "isAvailable": scope is not None and (scope == "basic" or scope in ctx.scopes),
        }
    )


def _table() -> dict[str, tuple[str, Handler]]:
    table: dict[str, tuple[str, Handler]] = {}
    basic = {**rest_basic.METHODS, "batch": _batch, "methods": _methods, "method.get": _method_get}
    for scope, methods in (
        ("basic", basic),
        ("user", rest_basic.USER_METHODS),
        ("crm", rest_status.METHODS),
        ("crm", rest_category.METHODS),
        ("crm", rest_type.METHODS),
        ("crm", rest_items.METHODS),
        ("im", rest_im.METHODS),
    ):
        table.update({name: (scope, handler) for name, handler in methods.items()})
    return table


METHOD_TABLE = _table()
METHOD_SCOPES = {name: scope for name, (scope, _) in METHOD_TABLE.items()}


def call(portal: Portal, method: str, params: dict, ctx: CallContext) -> Reply:
    """Run one REST method on `portal` as `ctx`; raises RestError for every Bitrix24 error answer."""
    name = method.strip().lower().removesuffix(".json")
    entry = METHOD_TABLE.get(name)
    if entry is None:
        raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    scope, handler = entry
    if scope != "basic" and scope not in ctx.scopes:
        token = "webhook" if ctx.auth_type == "webhook" else "access"
        raise RestError(
            401,
            "insufficient_scope",
            f"The request requires higher privileges than provided by the {token} token",
        )
    with portal.lock:
        return handler(portal, params or {}, ctx)
