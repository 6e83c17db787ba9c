"""Basic-scope methods (profile, user.admin, scope, server.time, app.info) and event.bind/get/unbind."""

from __future__ import annotations

import re

from b24app.sandbox.portal import OutEvent, Portal, now_iso
from b24app.sandbox.rest_common import CallContext, Handler, Reply, RestError, is_true, param, user_of

KNOWN_SCOPES = (
    "basic",
    "bizproc",
    "calendar",
    "catalog",
    "crm",
    "department",
    "disk",
    "entity",
    "im",
    "imbot",
    "imopenlines",
    "lists",
    "log",
    "placement",
    "sale",
    "task",
    "telephony",
    "user",
    "user_basic",
    "user_brief",
    "userfieldconfig",
)
# Names the sandbox accepts for event.bind: ON + a known event family + the rest of the code.
EVENT_NAME = re.compile(r"^ON(CRM|APP|USER|TASK|IM|CALENDAR|OFFLINE|SONET|DISK|LIST)[A-Z0-9_]*$")


def profile(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    user = user_of(portal, ctx)
    return Reply(
        {
            "ID": str(user.id),
            "ADMIN": user.admin,
            "NAME": user.name,
            "LAST_NAME": user.last_name,
            "PERSONAL_GENDER": "",
            "TIME_ZONE": "",
        }
    )


def user_admin(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    return Reply(user_of(portal, ctx).admin)


def user_access(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """`user.access`: whether the user is in any of the given access codes; always true for admins."""
    codes = param(params, "ACCESS")
    codes = list(codes.values()) if isinstance(codes, dict) else codes
    if not codes:
        raise RestError(400, "ERROR_ARGUMENT", "Parameter ACCESS is required")
    user = user_of(portal, ctx)
    if isinstance(codes, str):
        codes = [codes]
    return Reply(user.admin or bool({str(c).upper() for c in codes} & {"AU", "G2", f"U{user.id}"}))


FEATURES = {"rest_offline_extended": "Y", "rest_auth_connector": "N"}  # a cloud portal below Professional


def feature_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    code = str(param(params, "CODE") or "")
    if not code:
        raise RestError(400, "CODE_EMPTY", "Parameter CODE is empty")
    return Reply({"value": FEATURES.get(code, "N")})


def user_current(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    user = user_of(portal, ctx)
    return Reply(
        {
            "ID": str(user.id),
            "ACTIVE": True,
            "NAME": user.name,
            "LAST_NAME": user.last_name,
            "EMAIL": f"user{user.id}@{portal.domain}",
            "IS_ONLINE": "Y",
            "USER_TYPE": "employee",
        }
    )


def scope(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    if is_true(param(params, "full", False)):
        return Reply(list(KNOWN_SCOPES))
    return Reply(sorted(ctx.scopes))


def server_time(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    return Reply(now_iso(portal.lang))


def app_info(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    app = portal.apps.get(ctx.client_id or "") if ctx.auth_type == "oauth" else None
    if app is None:
        raise RestError(400, "ACCESS_DENIED", "Access denied! Application context required")
    local_id = list(portal.apps).index(ctx.client_id) + 1
    license_family = "project"
    return Reply(
        {
            "ID": local_id,
            "CODE": app.get("code", ""),
            "VERSION": app.get("version", 1),
            "STATUS": app.get("status", "L"),
            "INSTALLED": bool(app.get("installed", False)),
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": portal.lang,
            "LICENSE": f"{portal.lang}_{license_family}",
            "LICENSE_TYPE": license_family,
            "LICENSE_FAMILY": license_family,
        }
    )


# --- events --------------------------------------------------------------------------------------


def _require_app(ctx: CallContext) -> None:
    if ctx.auth_type != "oauth":
        raise RestError(403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")


def _event_args(portal: Portal, params: dict, ctx: CallContext) -> tuple[str, str, str, bool]:
    """(EVENT, handler, auth_type, offline) with admin-only options checked."""
    event = str(param(params, "event", "") or "").strip().upper()
    if not EVENT_NAME.match(event):
        raise RestError(400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    offline = str(param(params, "event_type", "online") or "online").lower() == "offline"
    handler = str(param(params, "handler", "") or "").strip()
    auth_type = str(param(params, "auth_type", "0") or "0")
    admin = user_of(portal, ctx).admin
    if offline and not admin:
        raise RestError(
            403, "ACCESS_DENIED", "Access denied! Offline events binding requires administrator access rights"
        )
    if auth_type not in ("0", str(ctx.user_id)) and not admin:
        raise RestError(
            403,
            "ACCESS_DENIED",
            "Access denied! Event binding with AUTH_TYPE requires administrator access rights",
        )
    return event, handler, auth_type, offline


def _same(
    binding: dict, event: str, handler: str, auth_type: str, offline: bool, client_id: str | None
) -> bool:
    return (
        binding["event"] == event
        and binding["handler"] == handler
        and binding["auth_type"] == auth_type
        and bool(binding["offline"]) == offline
        and binding["client_id"] == client_id
    )


def event_bind(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    _require_app(ctx)
    event, handler, auth_type, offline = _event_args(portal, params, ctx)
    if not offline and not handler:
        raise RestError(
            400, "ERROR_HANDLER_URL_MISMATCH", "Handler URL host doesn't match application domain"
        )
    if any(_same(b, event, handler, auth_type, offline, ctx.client_id) for b in portal.event_bindings):
        raise RestError(400, "ERROR_CORE", "Unable to set event handler: Handler already binded")
    portal.event_bindings.append(
        {
            "event": event,
            "handler": handler,
            "auth_type": auth_type,
            "offline": 1 if offline else 0,
            "client_id": ctx.client_id,
            "user_id": ctx.user_id,
        }
    )
    return Reply(True)


def event_get(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """The app's handlers; a non-admin sees only the handlers they bound (platform.md §3.3)."""
    _require_app(ctx)
    admin = user_of(portal, ctx).admin
    return Reply(
        [
            {
                "event": b["event"],
                "handler": b["handler"],
                "auth_type": b["auth_type"],
                "offline": b["offline"],
            }
            for b in portal.event_bindings
            if b["client_id"] == ctx.client_id and (admin or b.get("user_id") == ctx.user_id)
        ]
    )


def event_unbind(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    _require_app(ctx)
    event, handler, auth_type, offline = _event_args(portal, params, ctx)
    kept = [
        b for b in portal.event_bindings if not _same(b, event, handler, auth_type, offline, ctx.client_id)
    ]
    count = len(portal.event_bindings) - len(kept)
    portal.event_bindings[:] = kept
    return Reply({"count": count})


def event_test(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """Fires ONAPPTEST to the app's handlers bound to it, with the request's parameters in data[QUERY]."""
    _require_app(ctx)
    query = {k: v for k, v in params.items() if k != "auth"}
    portal.outbox.append(OutEvent("ONAPPTEST", {"QUERY": query}, ctx.user_id))
    return Reply(1)


# Event codes an app may bind (the families the sandbox can send; platform.md §3.5).
EVENT_CODES = (
    "ONAPPINSTALL",
    "ONAPPUPDATE",
    "ONAPPUNINSTALL",
    "ONAPPTEST",
    "ONOFFLINEEVENT",
    "ONCRMLEADADD",
    "ONCRMLEADUPDATE",
    "ONCRMLEADDELETE",
    "ONCRMDEALADD",
    "ONCRMDEALUPDATE",
    "ONCRMDEALDELETE",
    "ONCRMDEALMOVETOCATEGORY",
    "ONCRMCONTACTADD",
    "ONCRMCOMPANYADD",
    "ONCRMQUOTEADD",
    "ONCRMDYNAMICITEMADD",
    "ONCRMDYNAMICITEMUPDATE",
    "ONCRMDYNAMICITEMDELETE",
    "ONCRMTYPEADD",
    "ONCRMTYPEUPDATE",
    "ONCRMTYPEDELETE",
)


def events(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    """`events`: the event codes available (all with FULL, else those of the granted scopes)."""
    if is_true(param(params, "FULL", False)) or "crm" in ctx.scopes:
        return Reply(list(EVENT_CODES))
    return Reply([code for code in EVENT_CODES if code.startswith("ONAPP") or code == "ONOFFLINEEVENT"])


METHODS: dict[str, Handler] = {
    "profile": profile,
    "user.admin": user_admin,
    "user.access": user_access,
    "feature.get": feature_get,
    "scope": scope,
    "server.time": server_time,
    "app.info": app_info,
    "event.bind": event_bind,
    "event.get": event_get,
    "event.unbind": event_unbind,
    "event.test": event_test,
    "events": events,
}
USER_METHODS: dict[str, Handler] = {"user.current": user_current}
