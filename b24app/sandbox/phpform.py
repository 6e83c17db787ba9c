"""PHP-style request parameters: bracket keys in forms/queries, and json_encode-like output."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

_SEGMENT = re.compile(r"\[([^\]]*)\]")


def _split_key(key: str) -> tuple[str, list[str | None]]:
    """`a[b][]` -> ("a", ["b", None]); None marks an append (`[]`). Malformed brackets stay in the name."""
    start = key.find("[")
    if start <= 0:
        return key, []
    base, rest = key[:start], key[start:]
    segments: list[str | None] = []
    pos = 0
    while pos < len(rest):
        match = _SEGMENT.match(rest, pos)
        if match is None:
            break  # PHP ignores anything after the last well-formed bracket pair
        segments.append(match.group(1) if match.group(1) != "" else None)
        pos = match.end()
    if not segments:
        return key, []
    return base, segments


def _append(container: dict | list, value: object) -> None:
    if isinstance(container, list):
        container.append(value)
        return
    numeric = [int(k) for k in container if k.lstrip("-").isdigit()]
    container[str(max(numeric) + 1 if numeric else 0)] = value


def _child(container: dict | list, segment: str | None, make_list: bool) -> dict | list:
    """Return (creating if needed) the container under `segment` in `container`."""
    fresh: dict | list = [] if make_list else {}
    if segment is None:
        _append(container, fresh)
        return fresh
    existing = container.get(segment) if isinstance(container, dict) else None
    if isinstance(existing, (dict, list)):
        return existing
    container[segment] = fresh  # type: ignore[index]
    return fresh


def _as_dict(parent: dict | list, key: str | None, node: list) -> dict:
    """Turn a list built by `[]` into a dict with string indexes when a named key is added to it."""
    converted = {str(i): v for i, v in enumerate(node)}
    if isinstance(parent, dict) and key is not None:
        parent[key] = converted
    elif isinstance(parent, list):
        parent[next(i for i, item in enumerate(parent) if item is node)] = converted
    return converted


def parse_php_pairs(pairs: list[tuple[str, str]]) -> dict:
    """Build nested params from decoded `key=value` pairs the way PHP fills `$_REQUEST`."""
    result: dict = {}
    for key, value in pairs:
        base, segments = _split_key(key)
        if not segments:
            result[base] = value
            continue
        parent: dict | list = result
        parent_key: str | None = base
        node: dict | list = _child(result, base, make_list=segments[0] is None)
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if segment is not None and isinstance(node, list):
                node = _as_dict(parent, parent_key, node)
            if last:
                if segment is None:
                    _append(node, value)
                else:
                    node[segment] = value  # type: ignore[index]
                break
            next_is_append = segments[index + 1] is None
            parent, parent_key = node, segment
            node = _child(node, segment, make_list=next_is_append)
    return result


def parse_php_query(qs: str) -> dict:
    """Parse a URL query string (or form body) with PHP bracket semantics."""
    return parse_php_pairs(parse_qsl(qs, keep_blank_values=True))


def _php_ready(obj: object) -> object:
    if isinstance(obj, dict):
        if not obj:
            return []
        return {str(k): _php_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_php_ready(v) for v in obj]
    return obj


def php_json(obj: object) -> str:
    """Serialise like PHP json_encode: `\\/` for slashes, `\\uXXXX` for non-ASCII, `[]` for empty maps."""
    text = json.dumps(_php_ready(obj), ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/")
