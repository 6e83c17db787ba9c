"""What a portal POSTs to b24app, parsed strictly into small frozen values (platform.md §2–§3).

Three kinds of callback arrive, all ``application/x-www-form-urlencoded`` with PHP bracket keys
(``auth[member_id]=…``, ``data[FIELDS][ID]=…``):

- an **event** (:func:`parse_event`): ``event``, ``event_handler_id``, ``data[…]``, ``ts``,
  ``auth[…]`` with ``application_token`` — ONAPPINSTALL to the install path (with a token pair),
  ONAPPUPDATE, ONAPPUNINSTALL (no tokens at all), CRM events (tokens unless automation fired them);
- a **frame open** (:func:`parse_frame`): ``DOMAIN``, ``PROTOCOL``, ``LANG``, ``APP_SID`` in the
  query, ``AUTH_ID``, ``REFRESH_ID``, ``member_id``, ``APPLICATION_TOKEN``, ``PLACEMENT``… in the body
  (the installer of a "with UI" app gets the same POST).

Everything here is what the sender *claims*: ``domain``, ``client_endpoint`` and ``member_id`` are
checked against Bitrix24's own answer (:mod:`b24app.bitrix.verify`) before anything is trusted.
The parser is bounded (body size, field count, nesting, each value's length) and refuses with
:class:`PayloadError` whose message names the field and the reason, never a value: values may be
tokens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus

MAX_BODY = 64 * 1024  # bytes of one callback body; Bitrix24's are a few hundred
MAX_FIELDS = 300
MAX_DEPTH = 5  # data[FIELDS][ID] is 3
MAX_KEY = 100
MAX_VALUE = 8 * 1024  # longest value anywhere (PLACEMENT_OPTIONS is the longest one in practice)

_KEY = re.compile(r"([A-Za-z0-9_.\-]+)((?:\[[A-Za-z0-9_.\-]*\])*)")
_SEGMENT = re.compile(r"\[([A-Za-z0-9_.\-]*)\]")
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=\-]{8,512}")
_MEMBER_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_EVENT = re.compile(r"ON[A-Z0-9_]{1,62}")
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?")
_URL = re.compile(r"https?://[^\s\"'<>\\]{1,500}")
_SCOPE = re.compile(r"[a-z0-9_]{1,40}")
_LANG = re.compile(r"[a-z]{2}(?:_[a-z]{2})?")
_PLACEMENT = re.compile(r"[A-Z0-9_]{1,64}")
_APP_SID = re.compile(r"[A-Za-z0-9]{1,64}")
_DIGITS = re.compile(r"\d{1,12}")
_STATUS = re.compile(r"[A-Z]")


class CallbackRefused(ValueError):
    """A callback b24app refuses; ``reason`` is a short sentence without any value (token) in it."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"refused {what}: {reason}")
        self.reason = reason


class PayloadError(CallbackRefused):
    """The body itself is unacceptable: missing, oversized or malformed fields."""


# -- the form ------------------------------------------------------------------------------------


def parse_php_form(raw: bytes | str, what: str = "the callback", *, max_bytes: int = MAX_BODY) -> dict:
    """A form body with PHP bracket keys as nested dicts of strings, refusing anything unusual.

    Refused: a body over ``max_bytes``, more than :data:`MAX_FIELDS` fields, invalid percent-encoding
    or UTF-8, a key that is not ``name`` or ``name[a][b]`` (``[]`` appends are not used by Bitrix24),
    nesting deeper than :data:`MAX_DEPTH`, a key given twice or both as a value and as a group, a
    value longer than :data:`MAX_VALUE` or holding a control character.
    """
    if len(raw) > max_bytes:
        raise PayloadError(what, f"the body is larger than {max_bytes} bytes")
    text = _text(raw, what)
    pairs = [pair for pair in text.split("&") if pair]
    if len(pairs) > MAX_FIELDS:
        raise PayloadError(what, f"more than {MAX_FIELDS} fields")
    form: dict = {}
    for pair in pairs:
        raw_key, _, raw_value = pair.partition("=")
        key, value = _decode(raw_key, what, "a field name"), _decode(raw_value, what, "a value")
        path = _key_path(key, what)
        if len(value) > MAX_VALUE:
            raise PayloadError(what, f"the field {key} is longer than {MAX_VALUE} characters")
        if any(ord(char) < 32 and char not in "\t\r\n" for char in value):
            raise PayloadError(what, f"the field {key} holds a control character")
        _put(form, path, value, what, key)
    return form


def _text(raw: bytes | str, what: str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("ascii")  # a form body is percent-encoded ASCII
    except UnicodeDecodeError:
        raise PayloadError(what, "the body is not a form (it holds raw non-ASCII bytes)") from None


def _decode(part: str, what: str, role: str) -> str:
    try:
        return unquote_plus(part, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise PayloadError(what, f"{role} is not valid UTF-8") from None


def _key_path(key: str, what: str) -> list[str]:
    if len(key) > MAX_KEY:
        raise PayloadError(what, f"a field name is longer than {MAX_KEY} characters")
    match = _KEY.fullmatch(key)
    if match is None:
        raise PayloadError(what, "a field name is malformed (expected name or name[key][key])")
    segments = _SEGMENT.findall(match[2])
    if "" in segments:
        raise PayloadError(what, f"the field {key} uses [] (not a Bitrix24 field)")
    if len(segments) + 1 > MAX_DEPTH:
        raise PayloadError(what, f"the field {key} is nested deeper than {MAX_DEPTH} levels")
    return [match[1], *segments]


def _put(form: dict, path: list[str], value: str, what: str, key: str) -> None:
    node = form
    for name in path[:-1]:
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            raise PayloadError(what, f"the field {key} is both a value and a group")
    if path[-1] in node:
        raise PayloadError(what, f"the field {key} is given twice")
    node[path[-1]] = value


# -- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventAuth:
    """The ``auth[…]`` block of an event: what the portal says about itself, and maybe a token pair.

    ``domain`` and ``client_endpoint`` are claims; never send a request there before
    :func:`b24app.bitrix.verify.verify_token` has confirmed the portal.
    """

    member_id: str
    application_token: str = field(repr=False)
    domain: str | None = None
    client_endpoint: str | None = None
    server_endpoint: str | None = None
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires: int | None = None
    expires_in: int | None = None
    scope: tuple[str, ...] = ()
    user_id: int | None = None
    status: str | None = None


@dataclass(frozen=True)
class EventPost:
    """One event POST: ``ONAPPINSTALL``, ``ONAPPUPDATE``, ``ONAPPUNINSTALL``, ``ONCRMTYPEADD``…"""

    event: str
    auth: EventAuth
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    ts: int | None = None
    event_handler_id: str | None = None

    @property
    def language(self) -> str | None:
        value = self.data.get("LANGUAGE_ID")
        return value if isinstance(value, str) and _LANG.fullmatch(value) else None


def parse_event(raw: bytes | str, *, max_bytes: int = MAX_BODY) -> EventPost:
    """An event POST body, checked field by field (see :class:`EventPost`).

    Required: ``event``, ``auth[member_id]``, ``auth[application_token]``. ONAPPINSTALL must carry
    the token pair (``auth[access_token]`` and ``auth[refresh_token]``): it is the app's first one.
    """
    what = "the event"
    form = parse_php_form(raw, what, max_bytes=max_bytes)
    event = _required(form, "event", _EVENT, what, upper=True)
    what = f"the {event} event"
    auth = form.get("auth")
    if not isinstance(auth, dict):
        raise PayloadError(what, "the auth fields are missing")
    data = form.get("data", {})
    if not isinstance(data, dict):
        raise PayloadError(what, "the field data is not a group")
    parsed = EventPost(
        event=event,
        auth=_event_auth(auth, what),
        data=_frozen(data),
        ts=_optional_int(form, "ts", what),
        event_handler_id=_optional(form, "event_handler_id", _DIGITS, what),
    )
    if event == "ONAPPINSTALL" and not (parsed.auth.access_token and parsed.auth.refresh_token):
        raise PayloadError(
            what, "the installation carries no token pair (auth[access_token], auth[refresh_token])"
        )
    return parsed


def _event_auth(auth: dict, what: str) -> EventAuth:
    def opt(name: str, pattern: re.Pattern[str]) -> str | None:
        return _optional(auth, name, pattern, what, label=f"auth[{name}]")

    access_token = opt("access_token", _TOKEN)
    return EventAuth(
        member_id=_required(auth, "member_id", _MEMBER_ID, what, label="auth[member_id]"),
        application_token=_required(auth, "application_token", _TOKEN, what, label="auth[application_token]"),
        domain=opt("domain", _HOST),
        client_endpoint=opt("client_endpoint", _URL),
        server_endpoint=opt("server_endpoint", _URL),
        access_token=access_token,
        refresh_token=opt("refresh_token", _TOKEN) if access_token else None,
        expires=_optional_int(auth, "expires", what, label="auth[expires]"),
        expires_in=_optional_int(auth, "expires_in", what, label="auth[expires_in]"),
        scope=_scopes(auth.get("scope"), what, "auth[scope]"),
        user_id=_optional_int(auth, "user_id", what, label="auth[user_id]"),
        status=opt("status", _STATUS),
    )


# -- the frame -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FramePost:
    """The POST that opens b24app's page (or its installer) in the portal's frame."""

    auth_id: str = field(repr=False)
    member_id: str
    application_token: str = field(repr=False)
    refresh_id: str | None = field(default=None, repr=False)
    auth_expires: int | None = None
    domain: str | None = None  # a claim, from the query string
    protocol: str | None = None
    lang: str | None = None
    app_sid: str | None = None
    server_endpoint: str | None = None
    scope: tuple[str, ...] = ()
    status: str | None = None
    placement: str = "DEFAULT"
    placement_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def parse_frame(query: bytes | str, body: bytes | str, *, max_bytes: int = MAX_BODY) -> FramePost:
    """The frame POST: ``query`` is the URL's query string, ``body`` the form body.

    Required: ``AUTH_ID``, ``member_id``, ``APPLICATION_TOKEN``. A field given both in the query and
    in the body is refused.
    """
    what = "the frame request"
    fields = parse_php_form(query, what, max_bytes=max_bytes)
    for key, value in parse_php_form(body, what, max_bytes=max_bytes).items():
        if key in fields:
            raise PayloadError(what, f"the field {key} is given twice")
        fields[key] = value

    def opt(name: str, pattern: re.Pattern[str]) -> str | None:
        return _optional(fields, name, pattern, what)

    lang = opt("LANG", re.compile(r"[A-Za-z]{2}(?:_[A-Za-z]{2})?"))
    return FramePost(
        auth_id=_required(fields, "AUTH_ID", _TOKEN, what),
        member_id=_required(fields, "member_id", _MEMBER_ID, what),
        application_token=_required(fields, "APPLICATION_TOKEN", _TOKEN, what),
        refresh_id=opt("REFRESH_ID", _TOKEN),
        auth_expires=_optional_int(fields, "AUTH_EXPIRES", what),
        domain=opt("DOMAIN", _HOST),
        protocol=opt("PROTOCOL", re.compile(r"[01]")),
        lang=lang.lower() if lang else None,
        app_sid=opt("APP_SID", _APP_SID),
        server_endpoint=opt("SERVER_ENDPOINT", _URL),
        scope=_scopes(fields.get("APPLICATION_SCOPE"), what, "APPLICATION_SCOPE"),
        status=opt("status", _STATUS),
        placement=opt("PLACEMENT", _PLACEMENT) or "DEFAULT",
        placement_options=_placement_options(fields.get("PLACEMENT_OPTIONS"), what),
    )


def _placement_options(value: Any, what: str) -> Mapping[str, Any]:
    if value is None or value == "":
        return MappingProxyType({})
    if not isinstance(value, str):
        raise PayloadError(what, "the field PLACEMENT_OPTIONS is not a value")
    try:
        options = json.loads(value)
    except ValueError:
        raise PayloadError(what, "the field PLACEMENT_OPTIONS is not JSON") from None
    if options == []:  # PHP's empty array
        options = {}
    if not isinstance(options, dict) or not all(isinstance(v, str | int | float) for v in options.values()):
        raise PayloadError(what, "the field PLACEMENT_OPTIONS is not an object of plain values")
    return MappingProxyType(options)


# -- fields --------------------------------------------------------------------------------------


def _required(
    fields: dict, name: str, pattern: re.Pattern[str], what: str, *, label: str = "", upper: bool = False
) -> str:
    value = _optional(fields, name, pattern, what, label=label, upper=upper)
    if value is None:
        raise PayloadError(what, f"the field {label or name} is missing")
    return value


def _optional(
    fields: dict, name: str, pattern: re.Pattern[str], what: str, *, label: str = "", upper: bool = False
) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    label = label or name
    if not isinstance(value, str):
        raise PayloadError(what, f"the field {label} is a group, not a value")
    value = value.strip().upper() if upper else value.strip()
    if not pattern.fullmatch(value):
        raise PayloadError(what, f"the field {label} is malformed or too long")
    return value


def _optional_int(fields: dict, name: str, what: str, *, label: str = "") -> int | None:
    value = _optional(fields, name, _DIGITS, what, label=label)
    return int(value) if value is not None else None


def _scopes(value: Any, what: str, label: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if not isinstance(value, str) or len(value) > 1000:
        raise PayloadError(what, f"the field {label} is malformed or too long")
    scopes = tuple(part for part in re.split(r"[,\s]+", value.strip()) if part)  # comma (or space) list
    if not all(_SCOPE.fullmatch(scope) for scope in scopes):
        raise PayloadError(what, f"the field {label} is malformed")
    return scopes


def _frozen(data: dict) -> Mapping[str, Any]:
    return MappingProxyType(
        {key: _frozen(value) if isinstance(value, dict) else value for key, value in data.items()}
    )
