"""What a portal sends to an app (platform.md §2–§3): ONAPPINSTALL, events, ONAPPUNINSTALL, the frame POST.

Every POST is form-encoded with PHP bracket keys. Events go through a small worker pool like the portal's
queue server: a short timeout, no retries, the outcome only written to a delivery log (without secrets).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol
from urllib.parse import urlsplit

from .oauth import ACCESS_LIFETIME, LocalApp, OAuthServer
from .portal import OutEvent, Portal
from .web import php_form_encode

DELIVERY_TIMEOUT = 3.0
USER_AGENT = "Bitrix24 Webhook Engine"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PortalSide(Protocol):
    portal: Portal
    base_url: str
    domain: str
    member_id: str


def post_form(url: str, fields: dict, timeout: float = DELIVERY_TIMEOUT) -> int:
    """POSTs `fields` form-encoded; returns the HTTP status (raises OSError when nothing answered)."""
    request = urllib.request.Request(
        url,
        data=php_form_encode(fields).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
    )
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class AppSender:
    def __init__(self, oauth: OAuthServer, workers: int = 4) -> None:
        self._oauth = oauth
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-events")
        self._log: deque[dict] = deque(maxlen=1000)
        self._pending = 0
        self._idle = threading.Condition()

    # -- auth blocks ------------------------------------------------------------------------------------
    def _common_auth(self, side: PortalSide, app: LocalApp) -> dict:
        return {
            "domain": side.domain,
            "client_endpoint": side.base_url + "rest/",
            "server_endpoint": self._oauth.base_url + "rest/",
            "member_id": side.member_id,
            "application_token": app.application_token,
        }

    def _user_auth(self, side: PortalSide, app: LocalApp, user_id: int, tokens: dict) -> dict:
        common = self._common_auth(side, app)
        auth = {
            "access_token": tokens["access_token"],
            "expires": tokens["expires"],
            "expires_in": ACCESS_LIFETIME,
            "scope": app.scope,
            "domain": common["domain"],
            "server_endpoint": common["server_endpoint"],
            "status": "L",
            "client_endpoint": common["client_endpoint"],
            "member_id": common["member_id"],
            "user_id": user_id,
            "application_token": app.application_token,
        }
        if "refresh_token" in tokens:
            auth["refresh_token"] = tokens["refresh_token"]
        return auth

    # -- install / uninstall ----------------------------------------------------------------------------
    def send_install(self, side: PortalSide, app: LocalApp, user_id: int) -> dict:
        """ONAPPINSTALL to the install path, with the installing user's refresh token, no event_handler_id."""
        fields = {
            "event": "ONAPPINSTALL",
            "data": {
                "VERSION": str(app.version),
                "ACTIVE": "Y",
                "INSTALLED": "Y",
                "LANGUAGE_ID": side.portal.lang,
            },
            "ts": str(int(self._oauth.clock.now())),
            "auth": self._user_auth(side, app, user_id, self._oauth.issue(app, user_id)),
        }
        return self._deliver(side.portal.name, app.install_url, "ONAPPINSTALL", fields)

    def send_uninstall(self, side: PortalSide, app: LocalApp, handlers: list[str], clean: bool) -> list[dict]:
        """ONAPPUNINSTALL to the handlers bound to it: no tokens, no event_handler_id."""
        fields = {
            "event": "ONAPPUNINSTALL",
            "data": {"LANGUAGE_ID": side.portal.lang, "CLEAN": "1" if clean else "0"},
            "ts": str(int(self._oauth.clock.now())),
            "auth": self._common_auth(side, app),
        }
        return [self._deliver(side.portal.name, url, "ONAPPUNINSTALL", fields) for url in handlers]

    def send_frame(self, side: PortalSide, url: str, fields: dict) -> dict:
        """The frame POST done server-side (control API `open`): returns the app's answer status."""
        return self._deliver(side.portal.name, url, "FRAME", fields)

    # -- events -----------------------------------------------------------------------------------------
    def dispatch(self, side: PortalSide, events: list[OutEvent]) -> int:
        """Queues the events for every bound handler of an installed app; returns how many were queued."""
        jobs = []
        with side.portal.lock:
            bindings = list(enumerate(side.portal.event_bindings, start=1))
            installed = {cid for cid, rec in side.portal.apps.items() if rec.get("installed")}
        for event in events:
            for number, binding in bindings:
                job = self._event_job(side, event, number, binding, installed)
                if job:
                    jobs.append(job)
        for url, name, fields in jobs:
            with self._idle:
                self._pending += 1
            self._pool.submit(self._deliver_async, side.portal.name, url, name, fields)
        return len(jobs)

    def _event_job(
        self, side: PortalSide, event: OutEvent, number: int, binding: dict, installed: set[str]
    ) -> tuple[str, str, dict] | None:
        if str(binding.get("event", "")).upper() != event.event.upper() or int(binding.get("offline") or 0):
            return None
        client_id = binding.get("client_id")
        app = self._oauth.live_app(side.portal.name, client_id) if client_id in installed else None
        if app is None:  # events are not sent until the installation is finished
            return None
        user_id = int(binding.get("auth_type") or 0) or event.user_id
        if user_id:
            token, expires = self._oauth.event_token(app, user_id)
            auth = self._user_auth(side, app, user_id, {"access_token": token, "expires": expires})
        else:  # automation, workflows, agents: no user, no tokens
            auth = self._common_auth(side, app)
        fields = {
            "event": event.event.upper(),
            "event_handler_id": str(binding.get("id") or number),
            "data": event.data,
            "ts": str(int(self._oauth.clock.now())),
            "auth": auth,
        }
        return binding["handler"], fields["event"], fields

    def _deliver_async(self, portal: str, url: str, name: str, fields: dict) -> None:
        try:
            self._deliver(portal, url, name, fields)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _deliver(self, portal: str, url: str, name: str, fields: dict) -> dict:
        split = urlsplit(url)
        entry = {
            "portal": portal,
            "event": name,
            "url": f"{split.scheme}://{split.netloc}{split.path}",
            "at": time.time(),
        }
        try:
            entry["status"] = post_form(url, fields)
        except OSError as exc:  # timeout, refused: dropped, no retry
            entry["error"] = type(exc).__name__
        self._log.append(entry)
        return entry

    def deliveries(self, portal: str) -> list[dict]:
        return [entry for entry in self._log if entry["portal"] == portal]

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
