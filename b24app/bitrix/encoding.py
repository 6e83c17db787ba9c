"""PHP-style query strings, for the commands inside a ``batch``.

A batch command is ``"method?query"`` where the query is what PHP's ``parse_str`` reads back into
the method's parameters: nesting with brackets (``fields[NAME]=x``), lists by index
(``filter[ID][0]=1``). Scalars are written as:

- ``True`` -> ``1`` and ``False`` -> ``0`` (PHP's truthiness; fields that Bitrix24 wants as
  ``"Y"``/``"N"`` must be given as those strings),
- ``None`` -> empty value (``key=``), and so is an empty mapping or list,
- anything else -> ``str(value)``.

Keys keep their brackets readable; everything else is percent-encoded, values entirely. Batch
references such as ``$result[cmd][ID]`` are plain values too: the portal decodes a command's query
before it substitutes them, so they survive the encoding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote


def php_query(params: Mapping[str, Any]) -> str:
    """Encode ``params`` the way PHP's ``http_build_query`` would, for Bitrix24 to ``parse_str``."""
    return "&".join(
        f"{quote(key, safe='[]')}={quote(_scalar(value), safe='')}" for key, value in _flatten(params, "")
    )


def batch_command(method: str, params: Mapping[str, Any] | None = None) -> str:
    """One command of a ``batch``: ``"method?query"`` (the ``?`` is always there)."""
    return f"{method}?{php_query(params or {})}"


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        items = ((str(key), item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        yield prefix, value
        return
    empty = True
    for key, item in items:
        empty = False
        yield from _flatten(item, f"{prefix}[{key}]" if prefix else key)
    if empty and prefix:
        yield prefix, None


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
