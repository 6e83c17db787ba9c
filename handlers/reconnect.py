"""Re-connecting a portal whose refresh token died: the OAuth authorization-code flow (platform.md §1.2).

1. The page's admin presses "Reconnect" (a page POST: page token, admin only). b24app issues a
   ``state`` — signed, bound to the portal, the registration and the admin, valid 10 minutes — and
   shows a link that opens the portal's ``/oauth/authorize/`` in the top window.
2. The portal redirects the browser to the app's handler path with ``code``, ``state``, ``domain``,
   ``member_id`` and ``server_domain`` in the query (a GET; the frame opens it with a POST).
3. :func:`complete` checks the state (signature, age, registration, portal), spends it (single use:
   an event records it under a per-portal lock, before the code is spent), then
   :func:`b24app.bitrix.oauthflow.exchange_code` checks ``member_id``/``domain`` against the stored
   portal and spends the code at the configured OAuth server only (never ``server_domain``).
   The verified pair is stored and the event logged.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from b24app.bitrix.addresses import AddressPolicy
from b24app.bitrix.oauthflow import ReconnectRefused, authorize_url, exchange_code, new_state
from b24app.bitrix.tokens import OAuthTokens
from b24app.store import NotFound, Portal, PortalState, Registration, Settings, Store, TokenPair

STATE_LIFETIME = 10 * 60  # seconds: time to click through the portal's consent page
EVENT = "reconnect"
_SALT = "b24app.reconnect-state.v1"
_CONTEXT = b"b24app: the key of reconnect states"


class ReconnectFailed(Exception):
    """A reconnect callback that is refused; ``reason`` is a key of the i18n catalogue."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class State:
    """What a reconnect ``state`` vouches for."""

    portal_id: int
    registration_id: int
    user_id: int | None
    nonce: str

    @property
    def digest(self) -> str:
        """How the spent state is recorded (the nonce itself is never stored)."""
        return hashlib.sha256(self.nonce.encode()).hexdigest()[:32]


class States:
    def __init__(self, secret: bytes, lifetime: int = STATE_LIFETIME, clock: Callable[[], float] = time.time):
        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        key = hmac.new(secret, _CONTEXT, hashlib.sha256).digest()
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT, signer=Signer)
        self.lifetime = lifetime

    def issue(self, portal: Portal, user_id: int | None) -> str:
        state = State(portal.id, portal.registration_id or 0, user_id, new_state())
        return self._serializer.dumps(asdict(state))

    def check(self, token: str | None) -> State:
        if not token or len(token) > 1000:
            raise ReconnectFailed("reconnect_bad_state")
        try:
            return State(**self._serializer.loads(token, max_age=self.lifetime))
        except SignatureExpired:
            raise ReconnectFailed("reconnect_expired") from None
        except (BadSignature, TypeError):
            raise ReconnectFailed("reconnect_bad_state") from None


def start_url(store: Store, settings: Settings, portal: Portal, user_id: int | None) -> str:
    """The portal's ``/oauth/authorize/`` address for this admin, with a fresh state."""
    registration = store.registrations.get(portal.registration_id)
    state = States(store.cipher.keys[0]).issue(portal, user_id)
    policy = AddressPolicy(allow_loopback=settings.allow_loopback)
    return authorize_url(portal.client_endpoint, registration.client_id, state, policy)


def complete(store: Store, settings: Settings, slug: str, reply) -> Portal:
    """Check the redirect's state and code, store the portal's new pair; the reconnected portal."""
    state = States(store.cipher.keys[0]).check(reply.state)
    portal, registration = _bound_portal(store, slug, state)
    with store.lock(f"reconnect:{portal.id}", timeout=10):
        _spend(store, portal, state)
        try:
            tokens = exchange_code(
                reply,
                expected_state=reply.state,  # already checked: signed by us, bound to this portal
                client_id=registration.client_id,
                client_secret=registration.client_secret,
                expected_member_id=portal.member_id,
                expected_domain=portal.domain,
                oauth_url=settings.oauth_url,
                policy=AddressPolicy(allow_loopback=settings.allow_loopback),
            )
        except ReconnectRefused as refused:
            store.events.record(EVENT, "refused", portal_id=portal.id, detail=refused.reason[:200])
            raise ReconnectFailed("reconnect_other_portal") from None
        store.tokens.save(portal.id, _pair(tokens))
    store.events.record(EVENT, "reconnected", portal_id=portal.id, detail=f"user {state.user_id}")
    return portal


def _bound_portal(store: Store, slug: str, state: State) -> tuple[Portal, Registration]:
    try:
        registration = store.registrations.by_slug(slug)
        portal = store.portals.by_id(state.portal_id)
    except NotFound:
        raise ReconnectFailed("reconnect_bad_state") from None
    if not (state.registration_id == registration.id == portal.registration_id):
        raise ReconnectFailed("reconnect_bad_state")
    if portal.state != PortalState.INSTALLED:
        raise ReconnectFailed("refused_not_installed")
    return portal, registration


def _spend(store: Store, portal: Portal, state: State) -> None:
    """Single use: a state seen once (whatever came of it) is refused ever after."""
    mark = f"state {state.digest}"
    if any(e.event == EVENT and e.detail == mark for e in store.events.list(portal.id, limit=500)):
        store.events.record(EVENT, "replayed", portal_id=portal.id)
        raise ReconnectFailed("reconnect_replayed")
    store.events.record(EVENT, "state_spent", portal_id=portal.id, detail=mark)


def _pair(tokens: OAuthTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=datetime.fromtimestamp(tokens.expires, UTC) if tokens.expires else None,
        scope=tokens.scope,
    )
