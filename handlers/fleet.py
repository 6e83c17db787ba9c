"""The fleet view: every portal of this server at a glance, for the integrator, behind its own login.

It lives outside the portals (``/fleet/``) and is off unless ``B24APP_FLEET_PASSWORD`` is set (every
URL then answers 404 saying so). One account: user name ``admin`` (or none) and that password,
compared in constant time. A signed session cookie (Flask's, under a key of its own derived from the
store's secret key) keeps the login for at most :data:`SESSION_LIFETIME`; it is HttpOnly,
SameSite=Strict, Secure when the server's public URL is https, scoped to ``/fleet``, and void as
soon as the password changes. Every POST carries the session's CSRF token and comes from our own
site; failed logins are throttled per client address. Nothing here is ever framed
(``frame-ancestors 'none'``), cached or sniffed; every value a portal gave (its domain, names,
errors) is escaped by Jinja.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from b24app.store import NotFound, Portal, PortalState, Resync, Run, RunKind, Settings, Store
from handlers.security import PageRefused, check_same_origin

bp = Blueprint("fleet", __name__, url_prefix="/fleet", template_folder="templates")
STATIC = Path(__file__).resolve().parent / "static"

USERNAME = "admin"
SESSION_LIFETIME = timedelta(hours=8)
COOKIE = "b24app_fleet"
MAX_FAILURES = 5  # failed logins of one client address within FAILURE_WINDOW, then 429
FAILURE_WINDOW = 60.0  # seconds
MAX_FORM_BYTES = 16 * 1024  # the fleet's forms are a few short fields
MAX_FIELD = 256  # characters of a user name or password read at all
PORTALS_PER_PAGE = 100
RUNS_SHOWN = 100
POLICIES = ("report", "apply")
OFF = (
    "the fleet view is off: set B24APP_FLEET_PASSWORD (and restart b24app serve) to turn it on; "
    "see the README, section 'The fleet view'"
)
THROTTLE = "b24app.fleet.throttle"
_CONTEXT = b"b24app: the key of the fleet view's session cookie"
_SALT = "b24app.fleet-session.v1"


# -- wiring --------------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Register the fleet view and its session cookie on the app."""
    app.session_interface = FleetSessions()
    app.permanent_session_lifetime = SESSION_LIFETIME
    app.extensions[THROTTLE] = LoginThrottle()
    app.register_blueprint(bp)


def _store() -> Store:
    return current_app.extensions["b24app.store"]


def _settings() -> Settings:
    return current_app.extensions["b24app.settings"]


def _throttle() -> LoginThrottle:
    return current_app.extensions[THROTTLE]


class FleetSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, used by the fleet view only, under a key of its own.

    Requests outside ``/fleet`` get an empty session that is never saved: the in-portal page stays
    stateless (it cannot rely on cookies inside a portal's frame).
    """

    salt = _SALT

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        store = app.extensions.get("b24app.store")
        if store is None:
            return None
        key = hmac.new(store.cipher.keys[0], _CONTEXT, hashlib.sha256).digest()
        return URLSafeTimedSerializer(
            key,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )

    def open_session(self, app, request):
        if not _in_fleet(request.path):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response) -> None:
        if _in_fleet(request.path):
            super().save_session(app, session, response)

    def get_cookie_name(self, app) -> str:
        return COOKIE

    def get_cookie_path(self, app) -> str:
        return "/fleet"

    def get_cookie_domain(self, app) -> None:
        return None

    def get_cookie_httponly(self, app) -> bool:
        return True

    def get_cookie_samesite(self, app) -> str:
        return "Strict"

    def get_cookie_secure(self, app) -> bool:
        public_url = app.extensions["b24app.settings"].public_url or ""
        return public_url.lower().startswith("https://")


def _in_fleet(path: str) -> bool:
    return path == "/fleet" or path.startswith("/fleet/")


# -- the login throttle --------------------------------------------------------------------------


class LoginThrottle:
    """At most ``limit`` failed logins per client address within ``window`` seconds (in this process).

    Bounded: at most ``max_clients`` addresses are remembered; past that the stalest are forgotten.
    """

    def __init__(
        self,
        limit: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.limit, self.window, self.clock, self.max_clients = limit, window, clock, max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before trying again (0: it may try now)."""
        with self._lock:
            failures = self._recent(client)
            if len(failures) < self.limit:
                return 0.0
            return max(1.0, failures[0] + self.window - self.clock())

    def failed(self, client: str) -> None:
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.max_clients:
                self._forget_stalest()
            self._failures.setdefault(client, deque(maxlen=self.limit)).append(self.clock())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] <= self.clock() - self.window:
            failures.popleft()
        return failures

    def _forget_stalest(self) -> None:
        cutoff = self.clock() - self.window
        for address in [a for a, f in self._failures.items() if not f or f[-1] <= cutoff]:
            del self._failures[address]
        while len(self._failures) >= self.max_clients:
            stalest = min(self._failures, key=lambda a: self._failures[a][-1])
            del self._failures[stalest]


# -- the gate: on, signed in, same site, CSRF ----------------------------------------------------


@bp.before_request
def _gate():
    """Every fleet request: the view must be on; then a session for all but the login and its CSS;
    every POST from our own site with the session's CSRF token."""
    if not _settings().fleet_password:
        abort(404, description=OFF)
    request.max_content_length = MAX_FORM_BYTES
    request.max_form_memory_size = MAX_FORM_BYTES
    if request.endpoint == "fleet.style":
        return None
    if request.endpoint not in ("fleet.login_form", "fleet.login") and not _signed_in():
        session.clear()
        if request.method == "GET":
            return redirect(url_for("fleet.login_form"))
        return _plain("Not signed in: sign in to the fleet view at /fleet/login.", 401)
    if request.method == "POST":
        return _check_post()
    return None


def _check_post() -> Response | None:
    own = _settings().public_url or request.host_url
    try:
        check_same_origin(request.headers.get("Origin"), request.headers.get("Referer"), own)
    except PageRefused:
        return _plain("Refused: the form was sent from another site.", 403)
    expected = session.get("csrf")
    given = request.form.get("csrf", "")
    if not expected or not given or not hmac.compare_digest(_digest(given), _digest(expected)):
        return _plain(
            "Refused: the form's CSRF token is missing or wrong; reload the page and try again.", 403
        )
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.update(fleet_headers())
    return response


def fleet_headers() -> dict[str, str]:
    """Headers of every fleet response: never framed, cached or sniffed; no script at all."""
    policy = "; ".join(
        (
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _signed_in() -> bool:
    if session.get("user") != USERNAME or session.get("password") != _password_mark():
        return False
    at = session.get("at")
    return isinstance(at, int | float) and 0 <= time.time() - at < SESSION_LIFETIME.total_seconds()


def _password_mark() -> str:
    """A mark of the current password in the session: a changed password ends every session."""
    key = hmac.new(_store().cipher.keys[0], _CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, (_settings().fleet_password or "").encode(), hashlib.sha256).hexdigest()[:32]


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _csrf() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _plain(message: str, status: int, **headers: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain", headers=headers)


# -- login and logout ----------------------------------------------------------------------------


@bp.get("/style.css")
def style():
    return send_from_directory(STATIC, "page.css", max_age=3600)


@bp.get("/login")
def login_form():
    if _signed_in():
        return redirect(url_for("fleet.portals"))
    return _render("fleet/login.html")


@bp.post("/login")
def login():
    client = request.remote_addr or "unknown"
    wait = _throttle().wait(client)
    if wait:
        message = f"Too many failed logins from this address: try again in {int(wait) + 1} s."
        return _plain(message, 429, **{"Retry-After": str(int(wait) + 1)})
    user = request.form.get("user", "")[:MAX_FIELD].strip()
    password = request.form.get("password", "")[:MAX_FIELD]
    if not _credentials_match(user, password):
        _throttle().failed(client)
        current_app.logger.warning("fleet view: a failed login from %s", client)
        return _render("fleet/login.html", error="Wrong user name or password.", status=401)
    _throttle().succeeded(client)
    session.clear()
    session.permanent = True
    session.update(
        user=USERNAME, at=int(time.time()), password=_password_mark(), csrf=secrets.token_urlsafe(32)
    )
    current_app.logger.info("fleet view: %s signed in from %s", USERNAME, client)
    return redirect(url_for("fleet.portals"))


def _credentials_match(user: str, password: str) -> bool:
    """User ``admin`` (or none) and the fleet password, compared in constant time (as digests, so
    neither the length nor the content of the password leaks through timing)."""
    expected = _settings().fleet_password or ""
    right_password = hmac.compare_digest(_digest(password), _digest(expected))
    right_user = user == "" or hmac.compare_digest(_digest(user.lower()), _digest(USERNAME))
    return bool(expected) and right_password and right_user


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("fleet.login_form"))


# -- the list of portals -------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalLine:
    """One portal as the fleet view shows it."""

    portal: Portal
    last_plan: Run | None
    last_run: Run | None
    resyncs: list[Resync]


@bp.get("/")
def portals():
    every = _store().portals.list()
    pages = max(1, -(-len(every) // PORTALS_PER_PAGE))
    page = _page_number(request.args.get("page"), pages)
    shown = every[(page - 1) * PORTALS_PER_PAGE : page * PORTALS_PER_PAGE]
    lines = [_line(portal) for portal in shown]
    return _render("fleet/list.html", lines=lines, page=page, pages=pages, total=len(every))


def _page_number(value: str | None, pages: int) -> int:
    if not value or not value.isdigit() or len(value) > 6:
        return 1
    return min(max(1, int(value)), pages)


def _line(portal: Portal) -> PortalLine:
    store = _store()
    return PortalLine(
        portal=portal,
        last_plan=store.runs.last(portal.id, kind=RunKind.PLAN),
        last_run=store.runs.last(portal.id),
        resyncs=store.resyncs.of_portal(portal.id),
    )


@bp.get("/portals/<int:portal_id>")
def portal(portal_id: int):
    """A portal's journal: its runs, newest first, and its resync requests."""
    line = _line(_portal(portal_id))
    runs = _store().runs.list(portal_id, limit=RUNS_SHOWN)
    return _render("fleet/portal.html", line=line, runs=runs, shown=RUNS_SHOWN)


# -- actions -------------------------------------------------------------------------------------


@bp.post("/portals/<int:portal_id>/policy")
def set_policy(portal_id: int):
    portal = _portal(portal_id)
    policy = request.form.get("policy", "")
    if policy not in POLICIES:
        return _plain(f"Refused: a policy is one of {', '.join(POLICIES)}.", 400)
    _store().portals.set_policy(portal.id, policy)
    current_app.logger.info("fleet view: portal %s policy set to %s", portal.id, policy)
    flash(f"{portal.domain}: policy set to {policy}.")
    return _back(portal)


@bp.post("/portals/<int:portal_id>/resync")
def resync(portal_id: int):
    portal = _portal(portal_id)
    if portal.state != PortalState.INSTALLED:
        flash(f"{portal.domain} is {portal.state.value}, not installed: nothing to resync.", "error")
        return _back(portal)
    new = _store().resyncs.request(portal.id, f"fleet view: {USERNAME}")
    current_app.logger.info("fleet view: resync of portal %s requested", portal.id)
    flash(f"{portal.domain}: resync " + ("requested." if new else "merged into the one already waiting."))
    return _back(portal)


def _portal(portal_id: int) -> Portal:
    try:
        return _store().portals.by_id(portal_id)
    except NotFound:
        abort(404, description=f"there is no portal {portal_id}; the fleet view lists them at /fleet/")


def _back(portal: Portal):
    if request.form.get("back") == "portal":
        return redirect(url_for("fleet.portal", portal_id=portal.id), 303)
    return redirect(url_for("fleet.portals"), 303)


# -- rendering -----------------------------------------------------------------------------------


def _render(template: str, status: int = 200, **context) -> Response:
    body = render_template(
        template,
        csrf=_csrf(),
        signed_in=_signed_in(),
        user=USERNAME,
        policies=POLICIES,
        when=_when,
        summary=_summary,
        **context,
    )
    return Response(body, status=status, mimetype="text/html")


def _when(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M") + " UTC"


def _summary(summary: dict | None) -> str:
    if not summary:
        return ""
    return " / ".join(str(summary.get(k, 0)) for k in ("create", "update", "delete", "blocked"))


__all__ = ["bp", "init_app", "LoginThrottle", "fleet_headers"]
