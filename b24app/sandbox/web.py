"""Plain HTTP request/response values shared by the sandbox's sites (portals, OAuth + control)."""

from __future__ import annotations

import html
import ipaddress
import json
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import quote_plus

from .phpform import parse_php_query, php_json

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


class BadBody(ValueError):
    """The request body could not be read as the content type it declares."""


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Message
    body: bytes = b""

    def params(self) -> dict:
        """Query parameters merged with the body (JSON or form-encoded with PHP brackets); body wins."""
        params = parse_php_query(self.query) if self.query else {}
        if not self.body:
            return params
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            try:
                body = json.loads(self.body)
            except ValueError as exc:
                raise BadBody("the JSON body is not valid JSON") from exc
            if not isinstance(body, dict):
                raise BadBody("the JSON body must be an object")
        elif content_type in ("application/x-www-form-urlencoded", ""):
            body = parse_php_query(self.body.decode("utf-8", "replace"))
        else:
            return params
        return {**params, **body}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = HTML_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    hang: float | None = None  # hold the connection this long, then close it without an answer


def json_response(obj: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON serialised the way Bitrix24's PHP does it (escaped slashes, \\uXXXX, `[]` for empty objects)."""
    return Response(status, php_json(obj).encode(), JSON_TYPE, dict(headers or {}))


def html_page(status: int, title: str, text: str = "") -> Response:
    body = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>\n"
    )
    return Response(status, body.encode())


def not_found() -> Response:
    """What a web server in front of a portal answers for a path it does not know."""
    return html_page(404, "404 Not Found", "The requested URL was not found on this server.")


def redirect(location: str) -> Response:
    return Response(302, b"", HTML_TYPE, {"Location": location})


def php_form_encode(data: dict) -> str:
    """Form-encodes nested dicts/lists with PHP bracket keys (`auth[access_token]=…`), as a portal posts."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif value is None or value is False:
            pairs.append((prefix, ""))
        else:
            pairs.append((prefix, "1" if value is True else str(value)))

    walk("", data)
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
