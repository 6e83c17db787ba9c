"""Reading what a Bitrix24 server answered over HTTP: a JSON payload, or the matching error.

Shared by the portal client and the OAuth token refresh. Messages name hosts only, never URLs,
because a webhook URL carries its secret code in the path.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from b24app.bitrix.errors import BitrixError, ProtocolError, TransientError, describe, error_from_payload


def read_payload(response: requests.Response, method: str, *, server: str = "the portal") -> dict[str, Any]:
    """The JSON object of a Bitrix24 answer; raises the mapped error for an error answer.

    Redirects (a portal that changed its domain) are not followed but reported; HTML and other
    non-JSON bodies are a :class:`ProtocolError`, or a :class:`TransientError` with a 5xx status.
    """
    status = response.status_code
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location", "")).netloc or "another address"
        what = f"{server} redirects to {target} (HTTP {status})"
        raise ProtocolError(
            describe(method, what, "its address has changed; use the new one"), status=status, method=method
        )
    try:
        payload = response.json()
    except ValueError:
        payload = None
        body = "HTML" if _is_html(response) else "something that is not JSON"
        what = f"{server} answered {body} instead of JSON (HTTP {status})"
    else:
        what = f"{server} answered JSON that is not a Bitrix24 answer (HTTP {status})"
    if isinstance(payload, dict) and "error" in payload:
        raise error_from_payload(payload, status, method)
    if not isinstance(payload, dict) or status >= 400:
        error_type = TransientError if status >= 500 else ProtocolError
        raise error_type(describe(method, what), status=status, method=method)
    return payload


CONNECTION_FAILED = "CONNECTION_FAILED"  # our code: no connection at all (refused, reset)
_UNKNOWN_HOST = (
    "NameResolutionError",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "No address associated with hostname",
)


def error_from_exception(error: requests.RequestException, method: str, host: str) -> BitrixError:
    """A failure below HTTP (network, TLS, timeout) as a Bitrix24 error, without the request URL."""
    text = str(error)
    if isinstance(error, requests.exceptions.SSLError):
        if "WRONG_VERSION_NUMBER" in text.upper() or "wrong version number" in text:
            what = f"{host} does not speak https on this port"
            return ProtocolError(describe(method, what, "is the address plain http?"), method=method)
        return ProtocolError(describe(method, f"the TLS certificate of {host} was rejected"), method=method)
    if isinstance(error, requests.Timeout):
        return TransientError(describe(method, f"{host} did not answer in time"), method=method)
    if isinstance(error, requests.ConnectionError) and any(m in text for m in _UNKNOWN_HOST):
        what = f"the host {host.rsplit(':', 1)[0]} cannot be found"
        return ProtocolError(describe(method, what, "check the portal's address"), method=method)
    if isinstance(error, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        what = f"the connection to {host} failed"
        return TransientError(
            describe(method, what, "check the portal's address and port"),
            method=method,
            code=CONNECTION_FAILED,
        )
    return ProtocolError(
        describe(method, f"the request to {host} failed ({type(error).__name__})"), method=method
    )


def _is_html(response: requests.Response) -> bool:
    if "html" in response.headers.get("Content-Type", "").lower():
        return True
    return response.text.lstrip()[:1] == "<"
