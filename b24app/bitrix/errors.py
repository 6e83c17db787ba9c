"""What can go wrong when talking to a Bitrix24 portal, as a few types a caller can catch.

The type carries the retry meaning: :class:`TransientError` is worth retrying (later), every other
type is permanent until someone changes something (the token, the rights, the request).
Bitrix24's error codes are mapped to these types in one table, :data:`ERROR_TABLE`, used both for
portal answers and for the OAuth server's answers, and for each sub-command of a ``batch``.

Messages are one human sentence that says what happened and what to do. They are built from the
method name, the portal's ``error_description`` and the HTTP status only, never from URLs, so they
carry no webhook code or token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


class BitrixError(Exception):
    """A call to Bitrix24 (a portal or the OAuth server) failed."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        description: str = "",
        status: int | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.description = description
        self.status = status
        self.method = method


class TransientError(BitrixError):
    """Temporary: the same request may succeed later (limits, overload, server faults, network)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class AuthError(BitrixError):
    """The credentials are not (or no longer) accepted: webhook code, token, app installation, payment."""


class AccessDenied(BitrixError):
    """The credentials are valid but lack a right or a scope for this method."""


class RejectedError(BitrixError):
    """The method refused this request (bad arguments, not found, business rule)."""


class ProtocolError(BitrixError):
    """The answer was not a Bitrix24 answer (HTML, invalid JSON, unexpected shape, redirect)."""


_AUTH_HINT = "check the webhook URL or re-authorise the app"
_SCOPE_HINT = "the webhook user or the app lacks this right or scope"
_RATE_HINT = "the portal's request budget is exhausted"

# One table: Bitrix24 error code (upper case) -> (type, what to do). Codes not listed fall back on
# the HTTP status (see _type_for_status).
ERROR_TABLE: dict[str, tuple[type[BitrixError], str]] = {
    # limits and server faults
    "QUERY_LIMIT_EXCEEDED": (TransientError, _RATE_HINT),
    "OPERATION_TIME_LIMIT": (TransientError, "the method is blocked for a while by the operating-time limit"),
    "OVERLOAD_LIMIT": (
        TransientError,
        "Bitrix24 has blocked the REST API of this portal; contact its support",
    ),
    "INTERNAL_SERVER_ERROR": (TransientError, "a server fault on the portal"),
    "ERROR_UNEXPECTED_ANSWER": (TransientError, "a server fault on the portal"),
    # credentials (portal)
    "NO_AUTH_FOUND": (AuthError, _AUTH_HINT),
    "EXPIRED_TOKEN": (AuthError, "the access token expired and could not be renewed; re-authorise the app"),
    "INVALID_TOKEN": (AuthError, "the access token is unknown to the portal; re-authorise the app"),
    "INVALID_CREDENTIALS": (AuthError, "check the webhook URL and that its user is still active"),
    "AUTHORIZATION_ERROR": (
        AuthError,
        "the token's user is deactivated; re-authorise the app as another user",
    ),
    "ERROR_OAUTH": (AuthError, "the app is not installed on the portal; reinstall it"),
    "APPLICATION_NOT_FOUND": (AuthError, "the app is not installed on the portal; reinstall it"),
    "PAYMENT_REQUIRED": (AuthError, "the portal's or the app's subscription has ended"),
    "PORTAL_DELETED": (AuthError, "the portal was deleted or closed"),
    # credentials (OAuth server)
    "WRONG_CLIENT": (AuthError, "the app's client_id is unknown to the OAuth server"),
    "INVALID_CLIENT": (
        AuthError,
        "the app's client_id or client_secret is wrong, or the app is not installed",
    ),
    "INVALID_GRANT": (AuthError, "refresh token rejected; reinstall/re-authorise the app"),
    "NOT_INSTALLED": (AuthError, "the app is not installed on the portal; reinstall it"),
    # rights and scopes
    "INSUFFICIENT_SCOPE": (AccessDenied, "add the missing scope to the webhook or the app"),
    "INVALID_SCOPE": (AccessDenied, "add the missing scope to the webhook or the app"),
    "ACCESS_DENIED": (AccessDenied, _SCOPE_HINT),
    "WRONG_AUTH_TYPE": (AccessDenied, "this method works only for an installed app, not for a webhook"),
    "USER_ACCESS_ERROR": (AccessDenied, "the app is restricted to other users of the portal"),
    "METHOD_CONFIRM_WAITING": (AccessDenied, "a portal administrator must confirm this method for the app"),
    "METHOD_CONFIRM_DENIED": (AccessDenied, "a portal administrator denied this method to the app"),
    "ALLOWED_ONLY_INTRANET_USER": (AccessDenied, "the user is an external user; use an employee's account"),
    # the request itself
    "INVALID_REQUEST": (RejectedError, "the request is malformed"),
    "NOT_FOUND": (RejectedError, ""),
    "ERROR_CORE": (RejectedError, ""),
    "ERROR_ARGUMENT": (RejectedError, ""),
    "ERROR_METHOD_NOT_FOUND": (RejectedError, "the portal does not know this method"),
    "ERROR_MANIFEST_IS_NOT_AVAILABLE": (RejectedError, ""),
    "ERROR_BATCH_METHOD_NOT_ALLOWED": (RejectedError, "this method cannot run inside a batch"),
    "ERROR_BATCH_LENGTH_EXCEEDED": (RejectedError, "a batch holds at most 50 commands"),
}

# The legacy CRM proxy (crm.status.*) answers {"error": "", "error_description": "Access denied."}.
_LEGACY_ACCESS_DENIED = "access denied"
# Errors raised without a code: the legacy proxies send "", the newer crm controllers (crm.type.*, the
# default deal pipeline) the JSON number 0 -- kept as the code "0". Neither names a kind of error.
_NO_CODE = ("", "0")


def error_from_payload(payload: Mapping[str, Any], status: int | None, method: str | None) -> BitrixError:
    """Turn an error answer ``{"error": CODE, "error_description": TEXT}`` into the matching error."""
    raw_code = payload.get("error")
    code = "" if raw_code is None else str(raw_code)
    description = str(payload.get("error_description") or "").strip()
    error_type, hint = ERROR_TABLE.get(code.upper(), (None, ""))
    if error_type is None:
        error_type = _type_for_status(status)
        if code in _NO_CODE and description.rstrip(".!").lower() == _LEGACY_ACCESS_DENIED:
            error_type, hint = AccessDenied, _SCOPE_HINT
    what = description or ("" if code in _NO_CODE else code) or "unknown error"
    message = describe(method, f"{what}{_details(code, status)}", hint)
    details = {"code": code, "description": description, "status": status, "method": method}
    if error_type is TransientError:
        return TransientError(message, retry_after=_retry_after(payload), **details)
    return error_type(message, **details)


def describe(method: str | None, what: str, hint: str = "") -> str:
    """One sentence: where, what happened, and (when known) what to do."""
    where = f"Bitrix24 {method}" if method else "Bitrix24"
    return f"{where}: {what}" + (f"; {hint}" if hint else "")


def _details(code: str, status: int | None) -> str:
    shown = "" if code in _NO_CODE else code
    parts = [part for part in (shown, f"HTTP {status}" if status is not None else "") if part]
    return f" ({', '.join(parts)})" if parts else ""


def _type_for_status(status: int | None) -> type[BitrixError]:
    if status is not None and (status >= 500 or status == 429):
        return TransientError
    if status == 401:
        return AuthError
    if status == 403:
        return AccessDenied
    return RejectedError


def _retry_after(payload: Mapping[str, Any]) -> float | None:
    """Seconds until ``operating_reset_at``, measured on the portal's own clock when the answer has one."""
    time_block = payload.get("time")
    if not isinstance(time_block, Mapping):
        return None
    reset_at = _number(time_block.get("operating_reset_at"))
    if reset_at is None:
        return None
    now = _number(time_block.get("finish"))
    return max(0.0, reset_at - (time.time() if now is None else now))


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
