"""One way to reach a portal: :func:`connect` turns a PORTAL reference into a ready client.

A reference is an incoming-webhook URL (understood here), or anything else a registered
:class:`PortalResolver` knows: the web app's store registers one that turns an installed portal's
domain or member_id into OAuth credentials kept in its database, so this package never imports
the store. Resolvers are asked in turn; the first that knows the reference wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from b24app.bitrix.auth import Auth, WebhookAuth
from b24app.bitrix.client import Client
from b24app.bitrix.ratelimit import RateLimiter, bucket_for

WEBHOOK_EXAMPLE = "https://example.bitrix24.ru/rest/1/abc123/"
_HOST_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}(?::\d{1,5})?")


class PortalResolver(Protocol):
    """Turns a reference that is not a webhook URL (a domain, a member_id) into credentials."""

    def resolve(self, ref: str) -> Auth | None:
        """Credentials for ``ref``, or ``None`` when this resolver does not know it.

        When it knows the portal but cannot reach it (uninstalled, tokens revoked), it raises
        ``ValueError`` with one sentence saying so and what to do, and no secret in it.
        """
        ...


class UnknownPortal(ValueError):
    """No webhook URL, and no resolver knows the reference."""


_registered: list[PortalResolver] = []


def register_resolver(resolver: PortalResolver) -> None:
    """Let :func:`connect` offer references to ``resolver`` (after those registered before it)."""
    if resolver not in _registered:
        _registered.append(resolver)


def unregister_resolver(resolver: PortalResolver) -> None:
    if resolver in _registered:
        _registered.remove(resolver)


def credentials_for(ref: str, resolvers: Sequence[PortalResolver] | None = None) -> Auth:
    """The credentials a reference names: a webhook URL, or what the first resolver that knows it gives.

    ``resolvers`` defaults to the registered ones. Raises ``ValueError`` (:class:`UnknownPortal`
    when nothing knows the reference); messages never repeat a webhook code or a token.
    """
    ref = ref.strip()
    if not ref:
        raise UnknownPortal(f"no portal given: pass an incoming-webhook URL such as {WEBHOOK_EXAMPLE}")
    if "/" in ref:  # a URL: a domain or a member_id never holds a slash
        return WebhookAuth(ref)
    for resolver in _registered if resolvers is None else resolvers:
        auth = resolver.resolve(ref)
        if auth is not None:
            return auth
    raise UnknownPortal(_unknown(ref))


def connect(
    ref: str,
    *,
    resolvers: Sequence[PortalResolver] | None = None,
    limiter_for: Callable[[str], RateLimiter] = bucket_for,
    **options: Any,
) -> Client:
    """A client for the portal ``ref`` names (see :func:`credentials_for`).

    ``limiter_for(domain)`` gives the portal's shared request budget (default: this process's
    leaky bucket of that portal); ``options`` go to :class:`Client` (``session``, ``timeout``,
    ``max_attempts``, ``on_request``, ...). A ``bucket`` given in ``options`` wins.
    """
    auth = credentials_for(ref, resolvers)
    if options.get("bucket") is None:
        options["bucket"] = limiter_for(auth.domain)
    return Client(auth, **options)


def _unknown(ref: str) -> str:
    # Echo the reference only when it looks like a host name: anything else may be a pasted secret.
    shown = repr(ref) if "." in ref and _HOST_LIKE.fullmatch(ref) else "the portal reference"
    return (
        f"{shown} is neither an incoming-webhook URL nor an installed portal; pass the portal's "
        f"incoming-webhook URL ({WEBHOOK_EXAMPLE}, from Developer resources → Other → Inbound "
        "webhook), or the domain or member_id of a portal where b24app is installed as an app"
    )
