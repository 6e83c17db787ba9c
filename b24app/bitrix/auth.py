"""How a request proves who it is: an incoming webhook, or an installed app's OAuth tokens.

Both kinds give the client the same small interface, :class:`Auth`. Their ``repr`` never shows a
secret.

Plain ``http://`` is accepted only for loopback hosts (the sandbox); anything else must be https,
because the path or the body carries a secret.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

import requests

from b24app.bitrix.answers import error_from_exception, read_payload
from b24app.bitrix.errors import AuthError, ProtocolError, describe
from b24app.bitrix.tokens import PROCESS_REFRESH_LOCK, OAuthTokens, RefreshLock

logger = logging.getLogger("b24app.bitrix")

DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/"
REFRESH_TIMEOUT = (3.05, 30.0)

_WEBHOOK_PATH = re.compile(r"(?P<prefix>(?:/[^/]+)*)/rest/(?P<user_id>\d+)/(?P<code>[^/]+)/?")
_REDACTED = "***"
_HOST = re.compile(r"[A-Za-z0-9.\-_:]+")  # names, IPv4 and (bracket-less) IPv6 as urlsplit gives them


class Auth(Protocol):
    """What the client needs from credentials (:class:`WebhookAuth`, :class:`OAuthAuth`, or what a
    portal resolver builds)."""

    domain: str
    can_refresh: bool  # False: the client never asks it to refresh (a webhook)

    def method_url(self, method: str) -> str:
        """The address of a REST method."""
        ...

    def params(self) -> dict[str, Any]:
        """What to add to each request's body (an OAuth ``auth`` token, nothing for a webhook)."""
        ...

    def refresh(self, session: requests.Session, *, stale_token: str | None = None) -> None:
        """Renew the credentials the portal rejected as expired (``stale_token``: the one sent)."""
        ...

    def redact(self, text: str) -> str:
        """``text`` with this credential's secrets hidden, for messages and logs."""
        ...


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

    def refresh(self, session: requests.Session, *, stale_token: str | None = None) -> None:
        """A webhook has nothing to renew: its code is valid until someone deletes it."""
        raise AuthError(
            describe(
                None,
                f"the webhook of {self.domain} cannot be renewed (a webhook has no refresh token)",
                "check that it still exists in the portal's webhook settings and that its user is active",
            )
        )

    def redact(self, text: str) -> str:
        return text.replace(self._code, _REDACTED)

    def __repr__(self) -> str:
        return f"WebhookAuth(domain={self.domain!r}, user_id={self.user_id})"


class OAuthAuth:
    """An installed app's OAuth tokens, renewed once when the portal says they expired.

    Three hooks make it safe for several threads and processes sharing one portal's pair:

    - ``on_refresh`` (the save hook) receives every renewed pair, whole, and must store it before
      it returns: Bitrix24 refresh tokens are single-use, so a pair that is not saved is lost; it
      may return another pair instead (the store's, when a newer one was saved meanwhile) to use;
    - ``load`` returns the pair the store holds now (``None``: nothing stored), so a renewal made
      by another process is used instead of spending the dead refresh token again;
    - ``lock`` (a :class:`~b24app.bitrix.tokens.RefreshLock`, default: one per process) is held,
      keyed by :attr:`refresh_key`, from the load through the save.
    """

    can_refresh = True

    def __init__(
        self,
        tokens: OAuthTokens,
        client_id: str,
        client_secret: str,
        *,
        oauth_url: str = DEFAULT_OAUTH_URL,
        on_refresh: Callable[[OAuthTokens], OAuthTokens | None] | None = None,
        load: Callable[[], OAuthTokens | None] | None = None,
        lock: RefreshLock = PROCESS_REFRESH_LOCK,
    ) -> None:
        checked_url(tokens.client_endpoint, "the client_endpoint of the tokens")
        self.tokens = tokens
        self.client_id = client_id
        self._client_secret = client_secret
        self._oauth_url = oauth_url
        self._on_refresh = on_refresh
        self._load = load
        self._lock = lock
        checked_url(self.oauth_url, "the OAuth server URL")  # fail now, not at the first refresh
        self._secrets: set[str] = set()
        self._remember_secrets(client_secret, tokens.access_token, tokens.refresh_token)

    @property
    def domain(self) -> str:
        return urlsplit(self.tokens.client_endpoint).netloc

    @property
    def refresh_key(self) -> str:
        """What the refresh lock is keyed by: this app on this portal (by member_id when known)."""
        return f"{self.client_id}@{self.tokens.member_id or self.domain.lower()}"

    @property
    def oauth_url(self) -> str:
        """The configured OAuth server, where the client_secret goes, and nowhere else.

        A pair's ``server_endpoint`` (stored, POSTed, or named in a token answer) is never used:
        anyone who could put an address there would receive the client_secret with the next renewal.
        """
        return _ensure_slash(self._oauth_url)

    def method_url(self, method: str) -> str:
        return _ensure_slash(self.tokens.client_endpoint) + method

    def params(self) -> dict[str, Any]:
        return {"auth": self.tokens.access_token}

    def refresh(self, session: requests.Session, *, stale_token: str | None = None) -> None:
        """Renew the token pair, once for every thread and process that shares the lock and store.

        ``stale_token`` is the access token the portal rejected (default: the current one). Under
        the lock, the stored pair is loaded first: if another thread or process has already
        replaced the stale token, that pair is used and nothing is sent. If the OAuth server
        refuses our refresh token (``invalid_grant``) because a process that does not share the
        lock spent it first, the pair it saved is loaded and used, so the caller's one retry runs
        with it; only when the store has nothing newer is the refusal raised.
        """
        stale = self.tokens.access_token if stale_token is None else stale_token
        with self._lock.hold(self.refresh_key):
            self._adopt_stored()
            if self.tokens.access_token != stale:
                return
            try:
                self._renew(session)
            except AuthError as error:
                if error.code.lower() != "invalid_grant" or not self._adopt_stored():
                    raise
                logger.debug(
                    "the refresh token of %s was spent elsewhere; using the stored pair", self.domain
                )

    def _adopt_stored(self) -> bool:
        """Take the stored pair when it is not ours (renewed elsewhere); True if it was taken."""
        stored = self._load() if self._load is not None else None
        if stored is None or stored.refresh_token == self.tokens.refresh_token:
            return False
        self._use(stored)
        return True

    def _renew(self, session: requests.Session) -> None:
        """Spend the refresh token at the OAuth server; save and use the pair it gives."""
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
        self._use(tokens)
        if self._on_refresh is not None:
            kept = self._on_refresh(tokens)  # still under the lock: the next holder loads this pair
            if kept is not None:  # the store kept a pair saved meanwhile by another writer: use that
                self._use(kept)

    def _use(self, tokens: OAuthTokens) -> None:
        self._remember_secrets(tokens.access_token, tokens.refresh_token)
        self.tokens = tokens

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
    try:
        checked_url(client_endpoint, "the renewed client_endpoint")
    except ValueError as error:
        raise ProtocolError(describe("oauth/token", str(error))) from None
    user_id = payload.get("user_id")
    return replace(
        previous,
        access_token=access_token,
        refresh_token=refresh_token,
        expires=_expires(payload),
        client_endpoint=client_endpoint,  # server_endpoint stays: renewals go to the configured server only
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
