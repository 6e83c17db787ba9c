"""Who a POSTed token belongs to, according to Bitrix24 — never according to the POST.

An install, a frame open or an event carries an access token and *claims* a portal (``DOMAIN``,
``auth[client_endpoint]``, ``member_id``). Anyone can POST such claims. :func:`verify_token` asks
the configured OAuth server's ``app.info`` (platform.md §1.6), the one answer that says which app
(``client_id``) and which installation (``member_id``, ``domain``, ``client_endpoint``) the token
was issued for, and builds a :class:`VerifiedPortal` from that answer only:

- a token the OAuth server does not know (never issued, expired, of an uninstalled app) is refused;
- a token of another app (its ``client_id`` differs from the registration the callback came for)
  is refused;
- a token of another portal (its ``member_id`` differs from the one claimed) is refused;
- the portal's address is Bitrix24's ``client_endpoint`` (a claimed ``DOMAIN`` that differs loses),
  and it must pass the SSRF guard (:mod:`b24app.bitrix.addresses`) before b24app calls it.

The client_secret is not needed here; where it is needed (the token endpoint), it goes only to the
configured OAuth server: :func:`verified_tokens` records it as the pair's ``server_endpoint``, and
:class:`~b24app.bitrix.auth.OAuthAuth` renews only at the OAuth server it is configured with.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from b24app.bitrix.addresses import (
    PUBLIC_ONLY,
    AddressPolicy,
    AddressRefused,
    check_portal_url,
    guarded_session,
)
from b24app.bitrix.answers import error_from_exception, read_payload
from b24app.bitrix.auth import DEFAULT_OAUTH_URL, checked_url
from b24app.bitrix.callbacks import CallbackRefused, EventPost, FramePost
from b24app.bitrix.client import Client
from b24app.bitrix.errors import AccessDenied, AuthError, RejectedError
from b24app.bitrix.secrets import hide_secrets_in_http_logs
from b24app.bitrix.tokens import OAuthTokens

logger = logging.getLogger("b24app.bitrix")
hide_secrets_in_http_logs()

VERIFY_TIMEOUT = (3.05, 10.0)
_REFUSED_BY_BITRIX = (AuthError, AccessDenied, RejectedError)


class VerificationRefused(CallbackRefused):
    """Bitrix24's answer does not vouch for the POSTed token, app or portal."""


@dataclass(frozen=True)
class VerifiedPortal:
    """A portal and app as Bitrix24's OAuth server describes the installation a token belongs to."""

    member_id: str
    domain: str
    client_endpoint: str
    client_id: str
    scopes: tuple[str, ...]
    installed: bool
    status: str | None = None
    user_id: int | None = None
    admin: bool | None = None  # known once the portal was asked (verify_frame)


def same_secret(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two secrets (``application_token``, ``state``); ``None`` never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def verify_token(
    access_token: str,
    *,
    client_id: str,
    oauth_url: str = DEFAULT_OAUTH_URL,
    policy: AddressPolicy = PUBLIC_ONLY,
    claimed_member_id: str | None = None,
    session: requests.Session | None = None,
) -> VerifiedPortal:
    """Ask the OAuth server who ``access_token`` belongs to; refuse unless it is ``client_id``'s.

    Raises :class:`VerificationRefused` when Bitrix24 does not vouch for the token (or vouches for
    another app or portal), and a :class:`~b24app.bitrix.errors.BitrixError` when it could not be
    asked (network, server fault): retry later. No message carries the token.
    """
    what = "the token"
    base = checked_url(oauth_url, "the OAuth server URL").geturl()
    payload = _app_info(base if base.endswith("/") else base + "/", access_token, session)
    result = payload.get("result")
    install = result.get("install") if isinstance(result, dict) else None
    if not isinstance(install, dict):
        raise VerificationRefused(what, "the OAuth server's app.info answer has no installation record")
    if not same_secret(client_id, _text(result, "client_id")):
        raise VerificationRefused(
            what, "it was issued to another app (the client_id differs from this registration)"
        )
    verified = _verified_portal(result, install, policy)
    if claimed_member_id is not None and not same_secret(verified.member_id, claimed_member_id):
        raise VerificationRefused(
            what, f"it belongs to another portal than the member_id claimed ({verified.domain})"
        )
    return verified


def _app_info(base: str, access_token: str, session: requests.Session | None) -> dict[str, Any]:
    method, host = "app.info", urlsplit(base).netloc
    get = session.get if session is not None else requests.get
    try:
        response = get(
            f"{base}rest/app.info",
            params={"auth": access_token},
            timeout=VERIFY_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        raise error_from_exception(error, method, host) from None
    try:
        return read_payload(response, method, server="the OAuth server")
    except _REFUSED_BY_BITRIX as error:
        logger.info("Bitrix24 refused to vouch for a POSTed token: %s", error.code or error.status)
        raise VerificationRefused(
            "the token", f"Bitrix24 does not know it as a live app token ({error.code or 'refused'})"
        ) from None


def _verified_portal(result: dict, install: dict, policy: AddressPolicy) -> VerifiedPortal:
    what = "the token"
    member_id, domain = _text(install, "member_id"), _text(install, "domain")
    client_endpoint = _text(install, "client_endpoint")
    if not (member_id and domain and client_endpoint):
        raise VerificationRefused(
            what, "the OAuth server's answer lacks the portal's member_id, domain or client_endpoint"
        )
    try:
        address = check_portal_url(client_endpoint, policy)
    except AddressRefused as error:
        raise VerificationRefused(what, str(error)) from None
    if _netloc(client_endpoint) != domain.lower():
        raise VerificationRefused(
            what, f"the OAuth server's answer names two portals ({domain} and {address.host})"
        )
    user_id = result.get("user_id")
    return VerifiedPortal(
        member_id=member_id,
        domain=domain.lower(),
        client_endpoint=client_endpoint if client_endpoint.endswith("/") else client_endpoint + "/",
        client_id=_text(result, "client_id") or "",
        scopes=tuple(s for s in str(install.get("scope") or result.get("scope") or "").split(",") if s),
        installed=install.get("installed") is True,
        status=_text(install, "status"),
        user_id=int(user_id) if str(user_id or "").isdigit() else None,
    )


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _text(record: dict, key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value else None


# -- callbacks -----------------------------------------------------------------------------------


def verify_event(event: EventPost, **options: Any) -> VerifiedPortal:
    """The portal an event's token belongs to (ONAPPINSTALL, ONAPPUPDATE, CRM events with a user).

    ``options`` as for :func:`verify_token`. An event without a token (ONAPPUNINSTALL, automation)
    cannot be verified this way: only its ``application_token`` can be compared (platform.md §2.5).
    """
    if not event.auth.access_token:
        raise VerificationRefused(f"the {event.event} event", "it carries no access token to verify")
    return verify_token(event.auth.access_token, claimed_member_id=event.auth.member_id, **options)


def verify_frame(frame: FramePost, *, policy: AddressPolicy = PUBLIC_ONLY, **options: Any) -> VerifiedPortal:
    """The portal and user of a frame open: the token verified, then ``user.admin`` asked of the portal.

    ``options`` as for :func:`verify_token`; one request to the OAuth server, one to the portal.
    """
    verified = verify_token(frame.auth_id, claimed_member_id=frame.member_id, policy=policy, **options)
    client = portal_client(verified, frame.auth_id, policy)
    return replace(verified, admin=is_admin(client))


def verified_tokens(
    verified: VerifiedPortal,
    access_token: str,
    refresh_token: str,
    *,
    oauth_url: str = DEFAULT_OAUTH_URL,
    expires: float | None = None,
) -> OAuthTokens:
    """A token pair to store, addressed only from Bitrix24's answer and the configured OAuth server.

    The POSTed ``client_endpoint``, ``domain`` and ``server_endpoint`` are not used (a renewal goes
    only to the configured OAuth server, whatever ``server_endpoint`` says).
    """
    base = checked_url(oauth_url, "the OAuth server URL").geturl().rstrip("/")
    return OAuthTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires=expires,
        client_endpoint=verified.client_endpoint,
        server_endpoint=f"{base}/rest/",
        member_id=verified.member_id,
        domain=verified.domain,
        scope=",".join(verified.scopes),
        user_id=verified.user_id,
    )


# -- calling the verified portal with the POSTed token ------------------------------------------


@dataclass
class AccessTokenAuth:
    """A verified portal's access token from a callback: no refresh token, so it is never renewed."""

    verified: VerifiedPortal
    _token: str = field(repr=False)
    can_refresh = False

    @property
    def domain(self) -> str:
        return self.verified.domain

    def method_url(self, method: str) -> str:
        return self.verified.client_endpoint + method

    def params(self) -> dict[str, Any]:
        return {"auth": self._token}

    def refresh(self, session: requests.Session, *, stale_token: str | None = None) -> None:
        raise AuthError(f"Bitrix24: the access token of {self.domain} expired; open the app again")

    def redact(self, text: str) -> str:
        return text.replace(self._token, "***")


def portal_client(
    verified: VerifiedPortal, access_token: str, policy: AddressPolicy = PUBLIC_ONLY, **options: Any
) -> Client:
    """A client for the verified portal that calls it with ``access_token`` over a guarded session."""
    options.setdefault("session", guarded_session(policy))
    options.setdefault("max_attempts", 2)
    return Client(AccessTokenAuth(verified, access_token), **options)


def is_admin(client: Client) -> bool:
    """Whether the token's user administers the portal (``user.admin``)."""
    result = client.call("user.admin").result
    return result is True or str(result).lower() in ("true", "y", "1")
