"""One emulated portal on its own port: the REST endpoint, `/oauth/authorize/`, the app frame page."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from urllib.parse import parse_qs, urlencode

from . import rest
from .apps import AppSender
from .bucket import CallerMeter, LeakyBucket, Limits, OperatingBudget
from .clock import time_block
from .faults import Faults
from .frame import BX24_JS, FrameLaunch, render_frame_page
from .oauth import ACCESS_LIFETIME, OAuthError, OAuthServer
from .portal import Portal
from .rest import CallContext, RestError
from .web import BadBody, Request, Response, html_page, json_response, not_found, redirect

CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
}
MAX_SESSIONS = 1000  # frame renders remembered for BX24.installFinish()
FAULT_ANSWERS = {
    "error500": (500, "INTERNAL_SERVER_ERROR", "Internal server error"),
    "rate_storm": (503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
    "operation_limit": (429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
}


def rest_error(status: int, error: str | int, description: str, **extra: object) -> Response:
    return json_response({"error": error, "error_description": description, **extra}, status, CORS)


class PortalHandle:
    """A portal, its address and everything that sits between HTTP and the REST model."""

    def __init__(
        self, portal: Portal, *, oauth: OAuthServer, sender: AppSender, limits: Limits, fault_seed: int
    ) -> None:
        self.portal = portal
        self.base_url = ""  # "http://127.0.0.1:8025/" once bound
        self._oauth = oauth
        self._sender = sender
        self.bucket = LeakyBucket(limits, oauth.clock)
        self.budget = OperatingBudget(limits, oauth.clock)
        self.faults = Faults(fault_seed)
        self._sessions: OrderedDict[str, tuple[str, int]] = OrderedDict()  # APP_SID -> (client_id, user_id)
        self._sessions_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.portal.name

    @property
    def domain(self) -> str:
        return self.portal.domain

    @property
    def member_id(self) -> str:
        return self.portal.member_id

    @property
    def limits(self) -> Limits:
        return self.bucket.limits

    @property
    def webhook_url(self) -> str:
        """The admin's incoming webhook (the first webhook of user 1)."""
        with self.portal.lock:
            hook = next(h for h in self.portal.webhooks.values() if h.user_id == 1)
        return f"{self.base_url}rest/{hook.user_id}/{hook.code}/"

    def bind(self, base_url: str, domain: str) -> None:
        self.base_url = base_url
        self.portal.domain = domain

    # -- routing ----------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/rest/"):
            if request.method == "OPTIONS":
                return Response(200, b"", headers=PREFLIGHT)
            return self._rest(request)
        if path in ("/oauth/authorize/", "/oauth/authorize"):
            return self._authorize(request)
        if path.startswith("/marketplace/app/"):
            return self._frame_page(request, path.removeprefix("/marketplace/app/").strip("/"))
        if path == "/bx24/install-finish" and request.method == "POST":
            return self._install_finish(request)
        if path == "/bitrix/js/rest/bx24.js":
            return Response(200, BX24_JS.encode(), "application/javascript; charset=utf-8")
        return not_found()

    # -- REST -------------------------------------------------------------------------------------------
    def _rest(self, request: Request) -> Response:
        started, tick = self._oauth.clock.now(), time.perf_counter()
        if self.faults.latency:
            time.sleep(self.faults.latency)
        fault = self.faults.draw()
        if fault and fault != "drop":
            return self._fault(fault)
        parts = request.path.removeprefix("/rest/").strip("/").split("/")
        if len(parts) not in (1, 3) or not parts[-1] or (len(parts) == 3 and not parts[0].isdigit()):
            return not_found()
        method = parts[-1].lower().removesuffix(".json")
        try:
            params = request.params()
        except BadBody as exc:
            return rest_error(400, "INVALID_REQUEST", str(exc))
        delay = self.faults.delay_for(_called_methods(method, params))
        if delay:
            time.sleep(delay)
        response = self._rest_call(parts, method, params, started, tick)
        return self._fault(fault) if fault else response

    def _rest_call(
        self, parts: list[str], method: str, params: dict, started: float, tick: float
    ) -> Response:
        if not self.bucket.take():
            return rest_error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        token = params.pop("auth", None)
        try:
            ctx = self._webhook_context(parts) if len(parts) == 3 else self._oauth_context(token)
        except RestError as exc:
            return rest_error(exc.status, exc.error, exc.description, **exc.extra)
        # The operating budget is per method and per app or webhook; batch itself is not metered,
        # each call inside it is (platform.md §5, §4.5).
        meter = CallerMeter(self.budget, ctx.client_id or f"hook:{parts[1] if len(parts) == 3 else ''}")
        ctx = replace(ctx, meter=meter)
        if method != "batch":
            try:
                meter.check(method)
            except RestError as exc:
                return rest_error(exc.status, exc.error, exc.description)
        with self.portal.lock:
            try:
                reply = rest.call(self.portal, method, params, ctx)
            except RestError as exc:
                reply = exc
            finally:
                events = list(self.portal.outbox)
                self.portal.outbox.clear()
        if events:
            self._sender.dispatch(self, events)
        if isinstance(reply, RestError):
            return rest_error(reply.status, reply.error, reply.description, **reply.extra)
        processing = time.perf_counter() - tick
        operating, reset_at = meter.record(method, processing) if method != "batch" else (None, None)
        body: dict = {"result": reply.result}
        if reply.next is not None:
            body["next"] = reply.next
        if reply.total is not None:
            body["total"] = reply.total
        body["time"] = time_block(
            started, processing, self.portal.lang, operating=operating, operating_reset_at=reset_at
        )
        return json_response(body, 200, CORS)

    def _fault(self, fault: str) -> Response:
        if fault == "timeout":
            return Response(504, hang=self.faults.hang)
        if fault in ("html", "drop"):
            return html_page(502, "502 Bad Gateway", "nginx")
        return rest_error(*FAULT_ANSWERS[fault])

    def _webhook_context(self, parts: list[str]) -> CallContext:
        # Docs list INVALID_CREDENTIALS as 403; the SDK's live tests see 401 — we follow the live behaviour.
        with self.portal.lock:
            hook = self.portal.webhooks.get(parts[1])
        if hook is None or hook.user_id != int(parts[0]):
            raise RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
        return CallContext(user_id=hook.user_id, auth_type="webhook", scopes=frozenset(hook.scopes))

    def _oauth_context(self, token: object) -> CallContext:
        if not token or not isinstance(token, str):
            raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
        try:
            app, grant = self._oauth.check_access(token, self.name)
        except OAuthError as exc:
            raise RestError(exc.status, exc.error, exc.description) from None
        return CallContext(
            user_id=grant.user_id,
            auth_type="oauth",
            scopes=frozenset(app.scopes),
            client_id=app.client_id,
            access_token=token,
        )

    # -- OAuth step 1 -----------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        """The logged-in browser user is the portal admin (user 1)."""
        query = {k: v[0] for k, v in parse_qs(request.query).items()}
        app = self._oauth.live_app(self.name, query.get("client_id", ""))
        if app is None:
            return html_page(200, "Error", "The application is not found or not installed on this portal.")
        params = {"code": self._oauth.new_code(app, 1)}
        if "state" in query:
            params["state"] = query["state"]
        params.update(
            domain=self.domain, member_id=self.member_id, scope=app.scope, server_domain=self._oauth.host
        )
        sep = "&" if "?" in app.handler_url else "?"
        return redirect(app.handler_url + sep + urlencode(params))

    # -- app frame --------------------------------------------------------------------------------------
    def launch(self, client_id: str, user_id: int) -> FrameLaunch | str:
        """Prepares one render of the app page; returns an error text when it cannot be opened."""
        app = self._oauth.live_app(self.name, client_id)
        with self.portal.lock:
            record = self.portal.apps.get(client_id)
            user = self.portal.users.get(user_id)
        if app is None or record is None:
            return "The application was not found."
        if user is None:
            return "The user was not found."
        installer = not record.get("installed")
        if installer and not user.admin:
            return "The application is not fully installed. Contact your administrator."
        app_sid = secrets.token_hex(16)
        with self._sessions_lock:
            self._sessions[app_sid] = (client_id, user_id)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        tokens = self._oauth.issue(app, user_id)
        return FrameLaunch(
            app_sid=app_sid,
            target=app.install_url if installer and app.install_url else app.handler_url,
            query={"DOMAIN": self.domain, "PROTOCOL": "0", "LANG": self.portal.lang, "APP_SID": app_sid},
            fields={
                "AUTH_ID": tokens["access_token"],
                "AUTH_EXPIRES": str(ACCESS_LIFETIME),
                "REFRESH_ID": tokens["refresh_token"],
                "SERVER_ENDPOINT": self._oauth.base_url + "rest/",
                "APPLICATION_TOKEN": app.application_token,
                "APPLICATION_SCOPE": app.scope,
                "member_id": self.member_id,
                "status": "L",
                "PLACEMENT": "DEFAULT",
                "PLACEMENT_OPTIONS": "[]",
            },
            client_endpoint=self.base_url + "rest/",
        )

    def _frame_page(self, request: Request, client_id: str) -> Response:
        """Sandbox-only `?user_id=N` picks the browser user (default: the admin)."""
        user = parse_qs(request.query).get("user_id", ["1"])[0]
        launch = self.launch(client_id, int(user) if user.isdigit() else 0)
        if isinstance(launch, str):
            return html_page(404 if "not found" in launch else 200, "Application", launch)
        return Response(200, render_frame_page(launch, self.name), headers={"Cache-Control": "no-store"})

    def finish_install(self, app_sid: str) -> bool:
        """BX24.installFinish(): the admin's installer frame marks the app installed."""
        with self._sessions_lock:
            session = self._sessions.get(app_sid)
        if session is None:
            return False
        client_id, user_id = session
        with self.portal.lock:
            record = self.portal.apps.get(client_id)
            user = self.portal.users.get(user_id)
            if record is None or user is None or not user.admin:
                return False
            record["installed"] = True
        return True

    def _install_finish(self, request: Request) -> Response:
        try:
            app_sid = request.params().get("APP_SID", "")
        except BadBody:
            app_sid = ""
        if not self.finish_install(str(app_sid)):
            return rest_error(400, "ERROR_INSTALL", "Unknown frame session")
        return json_response({"result": True}, 200, CORS)


def _called_methods(method: str, params: dict) -> list[str]:
    """The method of a request and, for a batch, the methods of its commands."""
    if method != "batch":
        return [method]
    cmd = params.get("cmd")
    commands = cmd.values() if isinstance(cmd, dict) else cmd if isinstance(cmd, list) else ()
    return [method, *(str(c).partition("?")[0].strip().lower() for c in commands)]
