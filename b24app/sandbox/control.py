"""The site on the sandbox's own port: the OAuth server (`/oauth/token/`, `/rest/app.info/`), the BX24
script (`/api/v1/`) and the control API (`/control/...`, plain JSON in and out)."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from .clock import time_block
from .frame import BX24_JS
from .web import JSON_TYPE, BadBody, Request, Response, json_response, not_found

if TYPE_CHECKING:
    from .endpoint import PortalHandle
    from .server import Sandbox

PORTAL_ROUTE = re.compile(r"^/control/portals/(?P<portal>[^/]+)(?:/(?P<rest>.*?))?/?$")
APP_ACTION = re.compile(r"^apps/(?P<client_id>[^/]+)/(?P<action>install|open|finish|uninstall)$")


def _json(obj: object, status: int = 200) -> Response:
    return Response(status, json.dumps(obj, ensure_ascii=False).encode(), JSON_TYPE)


def portal_info(handle: PortalHandle) -> dict:
    return {
        "name": handle.name,
        "base_url": handle.base_url,
        "webhook_url": handle.webhook_url,
        "member_id": handle.member_id,
        "domain": handle.domain,
        "lang": handle.portal.lang,
    }


class ControlSite:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def handle(self, request: Request) -> Response:
        path = request.path
        try:
            if path in ("/oauth/token/", "/oauth/token"):
                status, body = self._sandbox.oauth.token(request.params())
                return json_response(body, status)
            if path.removesuffix("/").removesuffix(".json") == "/rest/app.info":
                return self._app_info(request)
            if path in ("/api/v1/", "/api/v1"):
                return Response(200, BX24_JS.encode(), "application/javascript; charset=utf-8")
            if path.startswith("/control/"):
                return self._control(request)
        except BadBody as exc:
            return _json({"error": str(exc)}, 400)
        return not_found()

    def _app_info(self, request: Request) -> Response:
        oauth = self._sandbox.oauth

        def installed(app: object) -> bool:
            record = self._sandbox.portal(app.portal).portal.apps.get(app.client_id) or {}
            return bool(record.get("installed"))

        started = time.time()
        status, body = oauth.app_info(request.params().get("auth"), installed)
        if status == 200:
            body["time"] = time_block(started, time.time() - started, "en")
        return json_response(body, status)

    def _control(self, request: Request) -> Response:
        sandbox = self._sandbox
        path, method = request.path, request.method
        if path.rstrip("/") == "/control/portals" and method == "GET":
            return _json({"portals": [portal_info(h) for h in sandbox.portals]})
        if path.rstrip("/") == "/control/clock":
            if method == "POST":
                sandbox.advance_clock(float(request.params().get("advance", 0)))
            return _json({"now": sandbox.clock.now(), "offset": sandbox.clock.offset})
        if path.rstrip("/") == "/control/wait" and method == "POST":
            timeout = min(float(request.params().get("timeout", 5)), 60)
            return _json({"idle": sandbox.wait_deliveries(timeout)})
        match = PORTAL_ROUTE.match(path)
        if not match:
            return _json({"error": "unknown control path"}, 404)
        try:
            handle = sandbox.portal(match["portal"])
            return self._portal_action(handle, match["rest"] or "", method, request.params())
        except KeyError as exc:
            return _json({"error": exc.args[0]}, 404)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)

    def _portal_action(self, handle: PortalHandle, action: str, method: str, params: dict) -> Response:
        sandbox, name = self._sandbox, handle.name
        if action == "" and method == "GET":
            return _json(portal_info(handle))
        if action == "faults":
            if method == "POST":
                return _json({"faults": sandbox.set_faults(name, **params)})
            if method == "DELETE":
                return _json({"faults": sandbox.clear_faults(name)})
            return _json({"faults": handle.faults.to_json()})
        if action == "limits":
            if method == "POST":
                return _json({"limits": sandbox.set_limits(name, **params)})
            return _json({"limits": handle.limits.to_json()})
        if action == "apps" and method == "POST":
            return _json(
                sandbox.register_app(
                    name,
                    handler_url=_required(params, "handler_url"),
                    install_url=params.get("install_url", ""),
                    scopes=_scopes(params.get("scopes", ["crm"])),
                    client_id=params.get("client_id"),
                    client_secret=params.get("client_secret"),
                ),
                201,
            )
        if action == "apps" and method == "GET":
            with handle.portal.lock:
                apps = [
                    {k: v for k, v in rec.items() if k != "application_token"}
                    for rec in handle.portal.apps.values()
                ]
            return _json({"apps": apps})
        app_action = APP_ACTION.match(action)
        if app_action and method == "POST":
            return _json(self._app_action(name, app_action["client_id"], app_action["action"], params))
        if action == "events" and method == "POST":
            user_id = params.get("user_id")
            queued = sandbox.send_event(
                name,
                _required(params, "event"),
                params.get("data") or {},
                user_id=int(user_id) if user_id else None,
            )
            return _json({"queued": queued})
        if action == "webhooks" and method == "POST":
            scopes = _scopes(params.get("scopes", ["crm"]))
            url = sandbox.add_webhook(name, int(params.get("user_id", 1)), scopes)
            return _json({"url": url}, 201)
        if action == "deliveries" and method == "GET":
            return _json({"deliveries": sandbox.deliveries(name)})
        if action == "notifications" and method == "GET":
            user_id = params.get("user_id")
            return _json(
                {
                    "notifications": sandbox.notifications(name, int(user_id) if user_id else None),
                    "sent": sandbox.notifications_sent(name),
                }
            )
        return _json({"error": f"unknown control action {method} {action!r}"}, 404)

    def _app_action(self, portal: str, client_id: str, action: str, params: dict) -> dict:
        sandbox = self._sandbox
        user_id = int(params.get("user_id", 1))
        if action == "install":
            return sandbox.install_app(portal, client_id, user_id=user_id)
        if action == "open":
            post = str(params.get("post", True)).lower() not in ("0", "false", "n")
            return sandbox.open_app(portal, client_id, user_id=user_id, post=post)
        if action == "finish":
            return {"installed": sandbox.finish_install(portal, str(params.get("app_sid", "")))}
        clean = str(params.get("clean", False)).lower() in ("1", "true", "y")
        return sandbox.uninstall_app(portal, client_id, clean=clean)


def _required(params: dict, name: str) -> str:
    value = params.get(name)
    if not value or not isinstance(value, str):
        raise ValueError(f"{name!r} is required")
    return value


def _scopes(value: object) -> list[str]:
    """Scopes as a JSON list or a comma-separated string."""
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    if isinstance(value, dict):  # a form-encoded list arrives as {"0": ..., "1": ...}
        return [str(v) for v in value.values()]
    return [str(v) for v in value]
