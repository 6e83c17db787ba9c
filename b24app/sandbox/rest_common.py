"""Types and helpers shared by the REST method modules of the sandbox portal."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from b24app.sandbox.portal import Portal, User

PAGE_SIZE = 50


@dataclass(frozen=True)
class CallContext:
    user_id: int
    auth_type: str  # "webhook" or "oauth"
    scopes: frozenset[str]
    client_id: str | None = None
    access_token: str | None = None
    meter: Meter | None = None  # the caller's operating-time budget, checked per method (batch too)


class Meter(Protocol):
    def check(self, method: str) -> None:
        """Raises RestError 429 OPERATION_TIME_LIMIT when the caller used up the method's budget."""

    def record(self, method: str, seconds: float) -> tuple[float, int]:
        """Adds a call's processing time; returns (operating, operating_reset_at)."""


@dataclass
class Reply:
    result: object
    total: int | None = None
    next: int | None = None


class RestError(Exception):
    """A method-level error: HTTP status, `error` code and `error_description`, plus optional extra keys.

    `error` is usually a string; errors raised without a code by the newer crm controllers (crm.type.*,
    the default deal pipeline) carry the integer 0, which Bitrix24 sends as a JSON number.
    """

    def __init__(self, status: int, error: str | int, description: str, **extra: object) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.extra = extra


Handler = Callable[[Portal, dict, CallContext], Reply]


def uncoded_error(message: str) -> RestError:
    """An error of the newer crm controllers raised without a code: HTTP 400, `"error": 0` (a number)."""
    return RestError(400, 0, message)


def legacy_error(message: str) -> RestError:
    """Errors of the legacy crm proxies: RestException with an empty code, HTTP 400."""
    return RestError(400, "", message)


def param(params: dict, name: str, default: object = None) -> object:
    """Look a parameter up by exact name, then case-insensitively."""
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return default


_LEADING_INT = re.compile(r"\s*[+-]?\d+")


def php_int(value: object) -> int:
    """PHP (int) cast: "12abc" -> 12, "" / None / "x" -> 0, True -> 1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        match = _LEADING_INT.match(value)
        return int(match.group()) if match else 0
    return 0


def is_positive_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value) > 0
    return False


def is_true(value: object) -> bool:
    """Boolean-ish request values: true, 1, "1", "true", "Y"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "y", "yes")
    return bool(value)


def yn(flag: bool) -> str:
    return "Y" if flag else "N"


def as_map(value: object) -> dict | None:
    """A PHP array parameter: dict as is, a list keyed by position, anything else None."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return None


def user_of(portal: Portal, ctx: CallContext) -> User:
    user = portal.users.get(ctx.user_id)
    if user is None:
        raise RestError(401, "authorization_error", "Unable to authorize user")
    return user


def require_legacy_crm_access(portal: Portal, ctx: CallContext) -> User:
    user = user_of(portal, ctx)
    if not user.crm_access:
        raise legacy_error("Access denied.")
    return user


def require_config_write(portal: Portal, ctx: CallContext) -> None:
    if not require_legacy_crm_access(portal, ctx).can_write_config:
        raise legacy_error("Access denied.")


def access_denied() -> RestError:
    """ACCESS_DENIED of the new (D7 controller) crm methods."""
    return RestError(403, "ACCESS_DENIED", "Access denied")


def require_crm_reader(portal: Portal, ctx: CallContext) -> User:
    user = user_of(portal, ctx)
    if not user.crm_access:
        raise access_denied()
    return user


def require_crm_admin(portal: Portal, ctx: CallContext) -> None:
    if not require_crm_reader(portal, ctx).admin:
        raise access_denied()


def page_start(params: dict) -> int:
    return php_int(param(params, "start", 0))


def paginate(rows: list, start: int) -> tuple[list, int, int | None]:
    """Fixed 50-row pages. Returns (page, total, next); start=-1 switches counting off (total 0, no next)."""
    if start == -1:
        return rows[:PAGE_SIZE], 0, None
    start = max(start, 0)
    page = rows[start : start + PAGE_SIZE]
    nxt = start + PAGE_SIZE if start + PAGE_SIZE < len(rows) else None
    return page, len(rows), nxt
