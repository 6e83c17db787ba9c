"""An installed portal for the in-portal page tests: a sandbox portal (real HTTP) and a store row.

The store is set up as an installation leaves it (registration, portal row with its
application_token, the installing admin's token pair); the frame POSTs are the sandbox portal's
own (``launch``), sent through Flask's test client.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

from b24app.sandbox.server import Sandbox
from b24app.store import PortalState, Settings, Store, TokenPair

PUBLIC_URL = "http://127.0.0.1:8765"
EXAMPLE = Path(__file__).resolve().parents[2] / "b24app" / "examples" / "crm.yaml"


@dataclass
class Installed:
    box: Sandbox
    store: Store
    settings: Settings
    slug: str
    client_id: str
    portal_id: int
    number: int  # the sandbox portal's position

    @property
    def handle(self):
        return self.box.portals[self.number]

    @property
    def member_id(self) -> str:
        return self.handle.member_id

    @property
    def application_token(self) -> str:
        return self.handle.portal.apps[self.client_id]["application_token"]

    def launch(self, user_id: int = 1):
        """The portal's frame POST for ``user_id``: (query string, form fields)."""
        launch = self.handle.launch(self.client_id, user_id)
        assert not isinstance(launch, str), launch
        return dict(launch.query), dict(launch.fields)


def make_settings(tmp_path: Path, database_url: str, box: Sandbox) -> Settings:
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    shutil.copyfile(EXAMPLE, templates / "crm.yaml")
    return Settings(
        instance=tmp_path,
        database_url=database_url,
        templates=templates,
        oauth_url=box.oauth_url.rstrip("/"),
        public_url=PUBLIC_URL,
        allow_loopback=True,
    )


def install(box: Sandbox, store: Store, settings: Settings, number: int, template: str | None) -> Installed:
    """Register b24app on sandbox portal ``number`` and store it as installed."""
    registration = store.registrations.add(f"local.test{number}.{id(store)}", f"secret-{number}-xyz")
    handle = box.portals[number]
    box.register_app(
        number,
        handler_url=f"{PUBLIC_URL}/b24/{registration.slug}/app/",
        client_id=registration.client_id,
        client_secret=registration.client_secret,
    )
    app = box.oauth.live_app(handle.name, registration.client_id)
    portal = store.portals.upsert(
        handle.member_id,
        domain=handle.domain,
        client_endpoint=handle.base_url + "rest/",
        registration_id=registration.id,
        state=PortalState.INSTALLED,
        language=handle.portal.lang,
        application_token=app.application_token,
    )
    pair = box.oauth.issue(app, 1)
    store.tokens.save(
        portal.id,
        TokenPair(
            pair["access_token"],
            pair["refresh_token"],
            datetime.fromtimestamp(pair["expires"], UTC),
            app.scope,
        ),
    )
    if template:
        store.portals.assign_template(portal.id, template)
    return Installed(box, store, settings, registration.slug, registration.client_id, portal.id, number)


def frame_post(client, installed: Installed, *, user_id: int = 1, query=None, fields=None, slug=None):
    launch_query, launch_fields = installed.launch(user_id)
    query = {**launch_query, **(query or {})}
    fields = {**launch_fields, **(fields or {})}
    fields = {k: v for k, v in fields.items() if v is not None}
    return client.post(
        f"/b24/{slug or installed.slug}/app/?{urlencode(query)}",
        data=fields,
        headers={"Origin": installed.handle.base_url.rstrip("/")},
    )


class Form(HTMLParser):
    """The forms of a page, as a browser sees them: id -> (action, {name: value})."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: dict[str, tuple[str, dict[str, str]]] = {}
        self._current: str | None = None
        self._textarea: str | None = None
        self.texts: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = attrs.get("id") or f"form{len(self.forms)}"
            self.forms[self._current] = (attrs.get("action") or "", {})
        elif self._current and tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind != "file":
                self.forms[self._current][1][attrs["name"]] = attrs.get("value") or ""
        elif self._current and tag == "textarea":
            self._textarea = attrs.get("name")
            self.forms[self._current][1][self._textarea] = ""
        elif self._current and tag == "select":
            self.forms[self._current][1][attrs.get("name")] = ""
            self._textarea = None

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._current and self._textarea:
            self.forms[self._current][1][self._textarea] += data
        self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join(t.strip() for t in self.texts if t.strip())


def submit(client, page: str, form_id: str, *, origin: str = PUBLIC_URL, **changes):
    """Submit the page's form ``form_id`` as a browser would (hidden fields included)."""
    action, fields = Form(page).forms[form_id]
    fields = {**fields, **changes}
    fields = {k: v for k, v in fields.items() if v is not None}
    headers = {"Origin": origin} if origin else {}
    return client.post(action, data=fields, headers=headers)
