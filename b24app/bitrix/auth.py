"""How a request proves who it is: an incoming webhook, or an installed app's OAuth tokens.

Both kinds give the client the same small interface: ``domain``, ``method_url(method)``,
``params()`` (what to add to the request body), ``redact(text)`` (hide the secrets in text meant
for people) and ``can_refresh``. Their ``repr`` never shows a secret.

Plain ``http://`` is accepted only for loopback hosts (the sandbox); anything else must be https,
because the path or the body carries a secret.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit

import requests

from b24app.bitrix.answers import error_from_exception, read_payload
from b24app.bitrix.errors import ProtocolError, describe

logger = logging.getLogger("b24app.bitrix")

DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/"
REFRESH_TIMEOUT = (3.05, 30.0)

_WEBHOOK_PATH = re.compile(r"(?P<prefix>(?:/[^/]+)*)/rest/(?P<user_id>\d+)/(?P<code>[^/]+)/?")
_REDACTED = "***"
_HOST = re.compile(r"[A-Za-z0-9.\-_:]+")  # names, IPv4 and (bracket-less) IPv6 as urlsplit gives them


def checked_url(url: str, what: str) -> SplitResult:
    """Split ``url``, refusing anything but https (or http to a loopback host)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError(f"{what} is not a valid address (check the host and the port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an https:// address")
    if not _HOST.fullmatch(parts.hostname):
        raise ValueError(f"{what} has an invalid host name {parts.hostname!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not contain a user name or password")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{what} must use https:// ({parts.hostname} is not a loopback address; "
            "plain http is accepted only for 127.0.0.1, ::1 and localhost)"
        )
    return parts


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookAuth:
    """An incoming webhook: ``https://portal.bitrix24.ru/rest/<user id>/<code>/``."""

    can_refresh = False

    def __init__(self, url: str) -> None:
        parts = checked_url(url, "a webhook URL")
        match = _WEBHOOK_PATH.fullmatch(parts.path)
        if match is None or parts.query or parts.fragment:
            raise ValueError(
                f"the webhook URL for {parts.netloc} does not have the form "
                "https://<portal>/rest/<user id>/<code>/ (copy it from the portal's webhook settings)"
            )
        self.domain = parts.netloc
        self.user_id = int(match["user_id"])
        self._code = match["code"]
        self.base_url = f"{parts.scheme}://{parts.netloc}{match['prefix']}/rest/{self.user_id}/{self._code}/"

    def method_url(self, method: str) -> str:
        return self.base_url + method

    def params(self) -> dict[str, Any]:
        return {}

    def redact(self, text: str) -> str:
        return text.replace(self._code, _REDACTED)

    def __repr__(self) -> str:
        return f"WebhookAuth(domain={self.domain!r}, user_id={self.user_id})"


@dataclass
class OAuthTokens:
    """An app's token pair for one portal, as Bitrix24 hands it out (install, frame, refresh).

    ``domain`` is the portal's host. A refresh keeps it, because the token endpoint answers with the
    OAuth server's host in that field.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires: float | None
    client_endpoint: str
    server_endpoint: str | None = None
    member_id: str | None = None
    domain: str | None = None
    scope: str | None = None
    user_id: int | None = None


class OAuthAuth:
    """An installed app's OAuth tokens, renewed once when the portal says they expired.

    ``on_refresh`` receives every renewed pair and must save it: Bitrix24 refresh tokens are
    single-use, so a pair that is not saved is lost.
    """

    can_refresh = True

    def __init__(
        self,
        tokens: OAuthTokens,
        client_id: str,
        client_secret: str,
        *,
        oauth_url: str = DEFAULT_OAUTH_URL,
        on_refresh: Callable[[OAuthTokens], None] | None = None,
    ) -> None:
        checked_url(tokens.client_endpoint, "the client_endpoint of the tokens")
        self.tokens = tokens
        self.client_id = client_id
        self._client_secret = client_secret
        self._oauth_url = oauth_url
        self._on_refresh = on_refresh
        checked_url(self.oauth_url, "the OAuth server URL")  # fail now, not at the first refresh
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._remember_secrets(client_secret, tokens.access_token, tokens.refresh_token)

    @property
    def domain(self) -> str:
        return urlsplit(self.tokens.client_endpoint).netloc

    @property
    def oauth_url(self) -> str:
        """The OAuth server: the one the tokens came from (``server_endpoint``) when known."""
        endpoint = self.tokens.server_endpoint
        url = endpoint.removesuffix("/").removesuffix("/rest") if endpoint else self._oauth_url
        return _ensure_slash(url)

    def method_url(self, method: str) -> str:
        return _ensure_slash(self.tokens.client_endpoint) + method

    def params(self) -> dict[str, Any]:
        return {"auth": self.tokens.access_token}

    def refresh(self, session: requests.Session, *, stale_token: str | None = None) -> None:
        """Renew the token pair, once for all threads.

        ``stale_token`` is the access token the portal rejected (default: the current one). If
        another thread has already replaced it while this one waited for the lock, nothing is sent.
        """
        stale = self.tokens.access_token if stale_token is None else stale_token
        with self._lock:
            if self.tokens.access_token != stale:
                return
            oauth_url = self.oauth_url
            logger.debug("renewing the OAuth token of %s at %s", self.domain, oauth_url)
            query = {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "refresh_token": self.tokens.refresh_token,
            }
            method = "oauth/token"
            try:
                response = session.get(
                    f"{oauth_url}oauth/token/", params=query, timeout=REFRESH_TIMEOUT, allow_redirects=False
                )
            except requests.RequestException as error:
                raise error_from_exception(error, method, urlsplit(oauth_url).netloc) from None
            tokens = _renewed(self.tokens, read_payload(response, method, server="the OAuth server"))
            self.tokens = tokens
            self._remember_secrets(tokens.access_token, tokens.refresh_token)
            if self._on_refresh is not None:
                self._on_refresh(tokens)

    def _remember_secrets(self, *secrets: str) -> None:
        self._secrets.update(secret for secret in secrets if secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def __repr__(self) -> str:
        return f"OAuthAuth(domain={self.domain!r}, client_id={self.client_id!r})"


def _renewed(previous: OAuthTokens, payload: dict[str, Any]) -> OAuthTokens:
    access_token, refresh_token = payload.get("access_token"), payload.get("refresh_token")
    if not (
        isinstance(access_token, str) and access_token and isinstance(refresh_token, str) and refresh_token
    ):
        raise ProtocolError(describe("oauth/token", "the OAuth server answered without a token pair"))
    client_endpoint = payload.get("client_endpoint") or previous.client_endpoint
    server_endpoint = payload.get("server_endpoint") or previous.server_endpoint
    try:
        checked_url(client_endpoint, "the renewed client_endpoint")
        checked_url(server_endpoint or DEFAULT_OAUTH_URL, "the renewed server_endpoint")
    except ValueError as error:
        raise ProtocolError(describe("oauth/token", str(error))) from None
    user_id = payload.get("user_id")
    return replace(
        previous,
        access_token=access_token,
        refresh_token=refresh_token,
        expires=_expires(payload),
        client_endpoint=client_endpoint,
        server_endpoint=server_endpoint,
        member_id=payload.get("member_id") or previous.member_id,
        scope=payload.get("scope") or previous.scope,
        user_id=int(user_id) if user_id not in (None, "") else previous.user_id,
    )


def _expires(payload: dict[str, Any]) -> float | None:
    if payload.get("expires") not in (None, ""):
        return float(payload["expires"])
    if payload.get("expires_in") not in (None, ""):
        return time.time() + float(payload["expires_in"])
    return None


def _ensure_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
