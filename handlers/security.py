"""Safety of the in-portal page inside a third-party frame: page tokens, Origin checks, headers.

Browsers block third-party cookies in the portal's iframe, so the page keeps no session. After
the portal's frame POST has been verified with Bitrix24, the page carries a short-lived **page
token** (itsdangerous) in hidden form fields, bound to the portal, the registration, the user and
the admin flag; every later POST must bring it back. A forged or cross-site form cannot: it has no
token, and the browser names its site in ``Origin`` (refused as well). The token's key is derived
from the store's secret key (``B24APP_SECRET_KEY`` or the instance's key file) for this use only,
so a page token can never be read as, or turned into, an encrypted secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

PAGE_TOKEN_LIFETIME = 30 * 60  # seconds: long enough to read a plan, short enough to be useless later
_SALT = "b24app.page-token.v1"
_CONTEXT = b"b24app: the key of in-portal page tokens"


class PageRefused(Exception):
    """A page request that is refused; ``reason`` is a key of the i18n catalogue."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class PageUser:
    """Who the page was opened for, as the verified frame POST said."""

    portal_id: int
    slug: str
    user_id: int | None
    admin: bool
    lang: str


def derive_key(secret: bytes) -> bytes:
    """A key of its own for page tokens, derived from the store's current secret key."""
    return hmac.new(secret, _CONTEXT, hashlib.sha256).digest()


class PageTokens:
    def __init__(
        self, secret: bytes, lifetime: int = PAGE_TOKEN_LIFETIME, clock: Callable[[], float] = time.time
    ) -> None:
        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializer = URLSafeTimedSerializer(derive_key(secret), salt=_SALT, signer=Signer)
        self.lifetime = lifetime

    def issue(self, user: PageUser) -> str:
        return self._serializer.dumps(asdict(user))

    def check(self, token: str | None, slug: str) -> PageUser:
        """The page's user, or :class:`PageRefused` for a missing, forged, expired or foreign token."""
        if not token or len(token) > 1000:
            raise PageRefused("refused_no_token")
        try:
            data = self._serializer.loads(token, max_age=self.lifetime)
        except SignatureExpired:
            raise PageRefused("refused_expired") from None
        except BadSignature:
            raise PageRefused("refused_bad_token") from None
        try:
            user = PageUser(**data)
        except TypeError:
            raise PageRefused("refused_bad_token") from None
        if not hmac.compare_digest(user.slug.encode(), slug.encode()):
            raise PageRefused("refused_bad_token")
        return user


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` (lower case), or None when it names no site."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def check_same_origin(origin: str | None, referer: str | None, own_url: str) -> None:
    """Refuse a POST whose ``Origin`` (or ``Referer`` without it) names another site than ``own_url``.

    A request with neither header is let through to the token check (browsers send ``Origin`` with
    every form POST, so a cross-site form always names its site); ``Origin: null`` is refused.
    """
    claimed = origin if origin is not None else referer
    if claimed is None:
        return
    if origin_of(claimed) != origin_of(own_url):
        raise PageRefused("refused_cross_site")


def portal_origin(client_endpoint: str) -> str:
    """The portal's origin, from the address Bitrix24 vouched for (the stored client_endpoint)."""
    origin = origin_of(client_endpoint)
    if origin is None:
        raise ValueError("the portal's address is not a web address")
    return origin


REFUSAL_ANCESTORS = "https:"
LOOPBACK_ANCESTORS = "http://127.0.0.1:* http://localhost:* http://[::1]:*"


def refusal_headers(allow_loopback: bool = False) -> dict[str, str]:
    """Headers of a refusal that names no verified portal: it carries no data and no action, so any
    https site may frame it (the portal shows the reason instead of an empty frame)."""
    ancestors = REFUSAL_ANCESTORS + (f" {LOOPBACK_ANCESTORS}" if allow_loopback else "")
    return page_headers("'none'", "'none'", ancestors=ancestors)


def page_headers(origin: str, script: str, *, ancestors: str | None = None) -> dict[str, str]:
    """Headers of every page: framed only by the portal, scripts only from us and BX24."""
    policy = "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {script}",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {origin}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors or origin}",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
