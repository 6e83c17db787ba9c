"""The central OAuth server (platform.md §1): local apps, authorization codes, access and refresh tokens."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .clock import Clock, iso_time

ACCESS_LIFETIME = 3600
CODE_LIFETIME = 30
REFRESH_LIFETIME = 180 * 86400
EVENT_TOKEN_MARGIN = 300  # an event reuses a user's event token while it has this many seconds left


class PortalRef(Protocol):
    base_url: str
    domain: str
    member_id: str


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


@dataclass
class LocalApp:
    client_id: str
    client_secret: str
    portal: str  # portal name
    handler_url: str
    install_url: str
    scopes: list[str]
    application_token: str
    version: int = 1
    removed: bool = False

    @property
    def scope(self) -> str:
        return ",".join(self.scopes)


@dataclass
class Grant:
    client_id: str
    portal: str
    user_id: int
    expires: float


def new_client_id() -> str:
    return f"local.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"


class OAuthServer:
    def __init__(self, clock: Clock, portal_ref: Callable[[str], PortalRef]) -> None:
        self.clock = clock
        self.base_url = ""  # set once bound, e.g. "http://127.0.0.1:8024/"
        self._portal_ref = portal_ref
        self.apps: dict[str, LocalApp] = {}
        self._codes: dict[str, Grant] = {}
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._event_tokens: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    # -- apps -------------------------------------------------------------------------------------------
    def register(
        self,
        portal: str,
        *,
        handler_url: str,
        install_url: str,
        scopes: list[str],
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> LocalApp:
        app = LocalApp(
            client_id=client_id or new_client_id(),
            client_secret=client_secret or secrets.token_urlsafe(37)[:50],
            portal=portal,
            handler_url=handler_url,
            install_url=install_url,
            scopes=list(scopes),
            application_token=secrets.token_hex(16),
        )
        with self._lock:
            if app.client_id in self.apps:
                raise ValueError(f"client_id {app.client_id} is already registered")
            self.apps[app.client_id] = app
        return app

    def live_app(self, portal: str, client_id: str) -> LocalApp | None:
        app = self.apps.get(client_id)
        return app if app and app.portal == portal and not app.removed else None

    def remove_app(self, client_id: str) -> None:
        """Uninstall: the app is gone for good (re-adding makes a new client_id). Codes and refresh tokens
        are dropped; access tokens stay known so that the portal answers APPLICATION_NOT_FOUND for them."""
        with self._lock:
            self.apps[client_id].removed = True
            for store in (self._codes, self._refresh):
                for token in [t for t, g in store.items() if g.client_id == client_id]:
                    del store[token]

    def expire_portal(self, portal: str) -> int:
        """Fault injection: every access token of the portal expires now."""
        with self._lock:
            grants = [g for g in self._access.values() if g.portal == portal]
            for grant in grants:
                grant.expires = min(grant.expires, self.clock.now() - 1)
            return len(grants)

    # -- issuing ----------------------------------------------------------------------------------------
    def issue(self, app: LocalApp, user_id: int) -> dict:
        """A new access + refresh pair for the user (install, frame open, code exchange, refresh)."""
        now = self.clock.now()
        access, refresh = secrets.token_hex(35), secrets.token_hex(35)
        with self._lock:
            self._access[access] = Grant(app.client_id, app.portal, user_id, now + ACCESS_LIFETIME)
            self._refresh[refresh] = Grant(app.client_id, app.portal, user_id, now + REFRESH_LIFETIME)
        return {"access_token": access, "refresh_token": refresh, "expires": int(now + ACCESS_LIFETIME)}

    def event_token(self, app: LocalApp, user_id: int) -> tuple[str, int]:
        """An access token (no refresh token) for event auth; reused while it has some life left."""
        now = self.clock.now()
        with self._lock:
            token = self._event_tokens.get((app.client_id, user_id))
            grant = self._access.get(token) if token else None
            if grant is None or grant.expires - now < EVENT_TOKEN_MARGIN:
                token = secrets.token_hex(35)
                grant = Grant(app.client_id, app.portal, user_id, now + ACCESS_LIFETIME)
                self._access[token] = grant
                self._event_tokens[(app.client_id, user_id)] = token
            return token, int(grant.expires)

    def new_code(self, app: LocalApp, user_id: int) -> str:
        code = secrets.token_hex(35)
        with self._lock:
            self._codes[code] = Grant(app.client_id, app.portal, user_id, self.clock.now() + CODE_LIFETIME)
        return code

    # -- checking ---------------------------------------------------------------------------------------
    def check_access(self, token: str, portal: str) -> tuple[LocalApp, Grant]:
        """The portal's view of an `auth` token; raises OAuthError with the portal's 401 errors (§6.1)."""
        grant = self._access.get(token)
        if grant is None or grant.portal != portal:
            raise OAuthError(401, "invalid_token", "Unable to get application by token")
        app = self.apps[grant.client_id]
        if app.removed:
            raise OAuthError(401, "APPLICATION_NOT_FOUND", "Application not found")
        if grant.expires <= self.clock.now():
            raise OAuthError(401, "expired_token", "The access token provided has expired.")
        return app, grant

    # -- the OAuth server's endpoints -------------------------------------------------------------------
    def token(self, params: dict) -> tuple[int, dict]:
        """`/oauth/token/`: authorization_code or refresh_token grant (§1.3–§1.5)."""
        grant_type = params.get("grant_type")
        field = {"authorization_code": "code", "refresh_token": "refresh_token"}.get(grant_type or "")
        for name in ("grant_type", "client_id", "client_secret", field):
            if name and not params.get(name):
                return 400, {"error": "invalid_request", "error_description": f'No "{name}" parameter found'}
        if field is None:
            return 400, {"error": "invalid_request", "error_description": "Unsupported grant_type"}
        app = self.apps.get(params["client_id"])
        if app is None:
            return 200, {"error": "wrong_client", "error_description": "Wrong client"}
        if app.removed:
            return 400, {"error": "invalid_client", "error_description": "Application not installed"}
        if not secrets.compare_digest(app.client_secret, str(params["client_secret"])):
            return 400, {"error": "invalid_client", "error_description": "Invalid client credentials"}
        store = self._codes if field == "code" else self._refresh
        with self._lock:
            grant = store.pop(str(params[field]), None)  # single use: a code or refresh token works once
        if grant is None or grant.client_id != app.client_id or grant.expires <= self.clock.now():
            what = "authorization code" if field == "code" else "refresh token"
            return 400, {"error": "invalid_grant", "error_description": f"Invalid {what}"}
        return 200, self.token_response(app, grant.user_id, self.issue(app, grant.user_id))

    def token_response(self, app: LocalApp, user_id: int, pair: dict) -> dict:
        portal = self._portal_ref(app.portal)
        return {
            "access_token": pair["access_token"],
            "expires": pair["expires"],
            "expires_in": ACCESS_LIFETIME,
            "scope": app.scope,
            "domain": self.host,
            "server_endpoint": self.base_url + "rest/",
            "status": "L",
            "client_endpoint": portal.base_url + "rest/",
            "member_id": portal.member_id,
            "user_id": user_id,
            "refresh_token": pair["refresh_token"],
        }

    def app_info(self, token: str | None, installed: Callable[[LocalApp], bool]) -> tuple[int, dict]:
        """`/rest/app.info/` on the OAuth server: the trusted installation record (§1.6)."""
        grant = self._access.get(token or "")
        app = self.apps.get(grant.client_id) if grant else None
        if app is None or app.removed:
            return 400, {"error": "invalid_client", "error_description": "Invalid client"}
        if grant.expires <= self.clock.now():
            return 401, {
                "error": "expired_token",
                "error_description": "The access token provided has expired.",
            }
        portal = self._portal_ref(app.portal)
        return 200, {
            "result": {
                "client_id": app.client_id,
                "scope": app.scope,
                "expires": iso_time(grant.expires),
                "user_id": grant.user_id,
                "install": {
                    "installed": installed(app),
                    "version": app.version,
                    "status": "L",
                    "scope": app.scope,
                    "domain": portal.domain,
                    "uri": portal.base_url.rstrip("/"),
                    "client_endpoint": portal.base_url + "rest/",
                    "member_id": portal.member_id,
                    "member_type": "PORTAL",
                },
            }
        }

    # -- state ------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        now = self.clock.now()
        with self._lock:
            return {
                "apps": [asdict(app) for app in self.apps.values()],
                "access": {t: asdict(g) for t, g in self._access.items() if g.expires > now},
                "refresh": {t: asdict(g) for t, g in self._refresh.items() if g.expires > now},
            }

    def load_json(self, data: dict) -> None:
        with self._lock:
            self.apps = {a["client_id"]: LocalApp(**a) for a in data.get("apps", [])}
            self._access = {t: Grant(**g) for t, g in data.get("access", {}).items()}
            self._refresh = {t: Grant(**g) for t, g in data.get("refresh", {}).items()}
