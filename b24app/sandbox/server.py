"""The sandbox: many emulated portals (one port each), the OAuth server and the control API in one process.

Ports: the OAuth server, the control API and the BX24 script listen on `port`; portal i (1-based) on
`port + i`. `port=0` gives every socket its own ephemeral port.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from .apps import AppSender
from .bucket import Limits
from .clock import Clock
from .control import ControlSite
from .endpoint import PortalHandle
from .listener import Listener
from .oauth import OAuthServer
from .portal import OutEvent, Portal, new_portal
from .web import is_loopback

STATE_VERSION = 1
PortalRef = int | str  # 0-based position in Sandbox.portals, or the portal's name ("portal1")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Sandbox:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8024,
        portals: int = 1,
        lang: str = "ru",
        state_file: str | os.PathLike | None = None,
        seed: int = 0,
        documents: bool = False,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the sandbox serves plain http and listens only on loopback; {host!r} is not")
        self.host, self.port, self.lang, self.seed, self.documents = host, port, lang, seed, documents
        self.state_file = Path(state_file) if state_file else None
        self.clock = Clock()
        self.oauth = OAuthServer(self.clock, self.portal)
        self.sender = AppSender(self.oauth)
        self.portals: list[PortalHandle] = []
        self._portal_count = portals
        self._listener: Listener | None = None
        self.control_url = self.oauth_url = ""

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        saved = self._load_state()
        portals = [Portal.from_json(p) for p in saved.get("portals", [])]
        for number in range(len(portals) + 1, self._portal_count + 1):
            portals.append(new_portal(f"portal{number}", self.lang, seed=self.seed, documents=self.documents))
        limits = saved.get("limits", {})
        for number, portal in enumerate(portals, start=1):
            self.portals.append(
                PortalHandle(
                    portal,
                    oauth=self.oauth,
                    sender=self.sender,
                    limits=Limits(**limits.get(portal.name, {})),
                    fault_seed=self.seed + number,
                )
            )
        listener = Listener()
        try:
            control_port = listener.bind(self.host, self.port, ControlSite(self))
            for number, handle in enumerate(self.portals, start=1):
                port = listener.bind(self.host, self.port + number if self.port else 0, handle)
                domain = _host_port(self.host, port)
                handle.bind(f"http://{domain}/", domain)
        except OSError:
            listener.stop()
            self.portals.clear()
            raise
        self.control_url = self.oauth_url = f"http://{_host_port(self.host, control_port)}/"
        self.oauth.base_url = self.oauth_url
        listener.start()
        self._listener = listener
        return self

    def stop(self) -> None:
        if self._listener:
            self._listener.stop()
            self._listener = None
        self.sender.close()
        if self.state_file:
            self._save_state()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------------------------
    def _load_state(self) -> dict:
        if not self.state_file or not self.state_file.exists():
            return {}
        saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        if saved.get("version") != STATE_VERSION:
            raise ValueError(f"{self.state_file}: unknown sandbox state version {saved.get('version')!r}")
        self.clock.advance(saved.get("clock_offset", 0.0))
        self.oauth.load_json(saved.get("oauth", {}))
        return saved

    def _save_state(self) -> None:
        portals = []
        for handle in self.portals:
            with handle.portal.lock:
                portals.append(handle.portal.to_json())
        state = {
            "version": STATE_VERSION,
            "clock_offset": self.clock.offset,
            "portals": portals,
            "limits": {h.name: h.limits.to_json() for h in self.portals},
            "oauth": self.oauth.to_json(),
        }
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)

    # -- portals ----------------------------------------------------------------------------------------
    def portal(self, ref: PortalRef) -> PortalHandle:
        """A portal by 0-based position or by name; KeyError when there is none."""
        if isinstance(ref, int):
            if 0 <= ref < len(self.portals):
                return self.portals[ref]
        else:
            for handle in self.portals:
                if handle.name == ref:
                    return handle
        raise KeyError(f"no portal {ref!r}")

    def add_webhook(self, ref: PortalRef, user_id: int, scopes: list[str] | tuple[str, ...]) -> str:
        handle = self.portal(ref)
        with handle.portal.lock:
            if user_id not in handle.portal.users:
                raise ValueError(f"portal {handle.name} has no user {user_id}")
            hook = handle.portal.add_webhook(user_id, frozenset(scopes))
        return f"{handle.base_url}rest/{hook.user_id}/{hook.code}/"

    def set_faults(self, ref: PortalRef, **spec: object) -> dict:
        """Adds faults (see faults.py); `expire_tokens=True` expires every access token of the portal now."""
        handle = self.portal(ref)
        expire = spec.pop("expire_tokens", False)
        handle.faults.configure(spec)
        if expire:
            self.oauth.expire_portal(handle.name)
        return handle.faults.to_json()

    def clear_faults(self, ref: PortalRef) -> dict:
        handle = self.portal(ref)
        handle.faults.clear()
        return handle.faults.to_json()

    def set_limits(
        self,
        ref: PortalRef,
        *,
        capacity: int | None = None,
        drain: float | None = None,
        operating_limit: float | None | bool = False,
        reset: bool = False,
    ) -> dict:
        """Bucket size and drain rate, the operating budget (None = off; False = unchanged), bucket reset."""
        handle = self.portal(ref)
        if capacity is not None:
            handle.limits.capacity = int(capacity)
        if drain is not None:
            handle.limits.drain = float(drain)
        if operating_limit is not False:
            handle.limits.operating_limit = None if operating_limit is None else float(operating_limit)
        if reset:
            handle.bucket.reset()
        return handle.limits.to_json()

    def advance_clock(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    # -- apps -------------------------------------------------------------------------------------------
    def register_app(
        self,
        ref: PortalRef,
        *,
        handler_url: str,
        install_url: str = "",
        scopes: list[str] | tuple[str, ...] = ("crm",),
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict:
        """Saves a local app on the portal. Without an install URL it counts as installed right away."""
        for url in filter(None, (handler_url, install_url)):
            split = urlsplit(url)
            if split.scheme not in ("http", "https") or not is_loopback(split.hostname or ""):
                raise ValueError(f"app URL {url!r}: the sandbox only talks to apps on loopback addresses")
        handle = self.portal(ref)
        app = self.oauth.register(
            handle.name,
            handler_url=handler_url,
            install_url=install_url,
            scopes=list(scopes),
            client_id=client_id,
            client_secret=client_secret,
        )
        with handle.portal.lock:
            handle.portal.apps[app.client_id] = {
                "client_id": app.client_id,
                "code": app.client_id,
                "version": app.version,
                "status": "L",
                "installed": not install_url,
                "scopes": list(app.scopes),
                "application_token": app.application_token,
                "handler": handler_url,
                "install_path": install_url,
            }
        return {"client_id": app.client_id, "client_secret": app.client_secret}

    def _app(self, handle: PortalHandle, client_id: str):
        app = self.oauth.live_app(handle.name, client_id)
        if app is None:
            raise KeyError(f"no app {client_id!r} on {handle.name}")
        return app

    def install_app(self, ref: PortalRef, client_id: str, *, user_id: int = 1) -> dict:
        """API-only install: ONAPPINSTALL to the install URL; installed whatever the app answers."""
        handle = self.portal(ref)
        app = self._app(handle, client_id)
        if not app.install_url:
            raise ValueError(f"app {client_id} has no install URL")
        with handle.portal.lock:
            handle.portal.apps[client_id]["installed"] = True
        return self.sender.send_install(handle, app, user_id)

    def open_app(self, ref: PortalRef, client_id: str, *, user_id: int = 1, post: bool = True) -> dict:
        """Opens the app page as `user_id`: the frame URL, and with `post` the frame POST done server-side."""
        handle = self.portal(ref)
        self._app(handle, client_id)
        frame_url = f"{handle.base_url}marketplace/app/{client_id}/?user_id={user_id}"
        launch = handle.launch(client_id, user_id)
        if isinstance(launch, str):
            return {"frame_url": frame_url, "error": launch}
        opened = {"frame_url": frame_url, "app_sid": launch.app_sid, "target": launch.target}
        if post:
            opened.update(self.sender.send_frame(handle, launch.action, launch.fields))
        return opened

    def finish_install(self, ref: PortalRef, app_sid: str) -> bool:
        """What `BX24.installFinish()` does in the frame opened with `app_sid`."""
        return self.portal(ref).finish_install(app_sid)

    def uninstall_app(self, ref: PortalRef, client_id: str, *, clean: bool = False) -> dict:
        """Deletes the app: ONAPPUNINSTALL to its bound handlers, then bindings, record and tokens go."""
        handle = self.portal(ref)
        app = self._app(handle, client_id)
        with handle.portal.lock:
            mine = [b for b in handle.portal.event_bindings if b.get("client_id") == client_id]
            handle.portal.event_bindings[:] = [b for b in handle.portal.event_bindings if b not in mine]
            handle.portal.apps.pop(client_id, None)
        handlers = [b["handler"] for b in mine if str(b.get("event", "")).upper() == "ONAPPUNINSTALL"]
        notified = self.sender.send_uninstall(handle, app, handlers, clean)
        self.oauth.remove_app(client_id)
        return {"uninstalled": True, "notified": notified}

    def send_event(
        self, ref: PortalRef, event: str, data: dict | None = None, *, user_id: int | None = None
    ) -> int:
        """Fires an event to the handlers bound to it; returns how many deliveries were queued."""
        handle = self.portal(ref)
        return self.sender.dispatch(handle, [OutEvent(event.upper(), data or {}, user_id)])

    def deliveries(self, ref: PortalRef) -> list[dict]:
        return self.sender.deliveries(self.portal(ref).name)

    def notifications(self, ref: PortalRef, user_id: int | None = None) -> list[dict]:
        """The portal's notifications (im.notify.system.add), oldest first; one user's with `user_id`.

        A notification with the TAG of an earlier one of the same app replaced it, as in Bitrix24.
        """
        handle = self.portal(ref)
        with handle.portal.lock:
            kept = copy.deepcopy(handle.portal.notifications)
        return [n for n in kept if user_id is None or n["user_id"] == user_id]

    def notifications_sent(self, ref: PortalRef) -> int:
        """How many notifications the portal ever created (replaced ones counted)."""
        handle = self.portal(ref)
        with handle.portal.lock:
            return handle.portal.next_notification_id - 1

    def wait_deliveries(self, timeout: float = 5.0) -> bool:
        """Waits until every queued event delivery has finished (or failed)."""
        return self.sender.wait_idle(timeout)


def start_sandbox(**kwargs: object) -> Sandbox:
    return Sandbox(**kwargs).start()
