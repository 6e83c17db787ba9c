"""The store <-> bitrix adapter: a REST client for a portal where b24app is installed.

The portal's OAuth pair comes from the store (``store.tokens``). When the portal says the access
token expired, the pair is renewed at the configured OAuth server only (``settings.oauth_url``,
with the registration's client_secret; never at a ``server_endpoint`` someone stored or POSTed),
under the store's cross-process refresh lock, and saved with ``tokens.save_if_current``: a lost
compare-and-swap means another writer saved a newer pair meanwhile, so that pair is used.

:class:`StoreResolver` lets ``b24app.bitrix.connect`` (and so ``--portal``) name an installed
portal by its domain or member_id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from b24app.bitrix.addresses import AddressPolicy, guarded_session
from b24app.bitrix.auth import OAuthAuth
from b24app.bitrix.client import Client
from b24app.bitrix.errors import AuthError, TransientError, describe
from b24app.bitrix.ratelimit import bucket_for
from b24app.bitrix.tokens import OAuthTokens
from b24app.store import LockTimeout, NotFound, Portal, PortalState, Settings, Store, StoredTokens, TokenPair

__all__ = ["InstalledAuth", "PortalUnavailable", "StoreResolver", "connect_installed", "installed_auth"]


class PortalUnavailable(ValueError):
    """The portal is known but cannot be called: one sentence saying why and what to do."""


def connect_installed(
    store: Store, settings: Settings, portal: Portal | int | str, **client_options: Any
) -> Client:
    """An OAuth client for an installed portal (a ``Portal``, its id, its domain or member_id).

    ``client_options`` go to :class:`~b24app.bitrix.client.Client`; by default the portal's shared
    request budget of this process and a session that connects only to addresses the SSRF guard
    accepts (loopback only with ``B24APP_ALLOW_LOOPBACK=1``).
    """
    auth = installed_auth(store, settings, _portal(store, portal))
    client_options.setdefault(
        "session", guarded_session(AddressPolicy(allow_loopback=settings.allow_loopback))
    )
    if client_options.get("bucket") is None:
        client_options["bucket"] = bucket_for(auth.domain)
    return Client(auth, **client_options)


def installed_auth(store: Store, settings: Settings, portal: Portal) -> InstalledAuth:
    """The portal's stored OAuth credentials, or :class:`PortalUnavailable` saying what to do."""
    if portal.state == PortalState.UNINSTALLED:
        raise PortalUnavailable(
            f"the portal {portal.domain} was uninstalled; reinstall b24app in the portal to use it again"
        )
    if portal.registration_id is None:
        raise PortalUnavailable(
            f"the local-app registration of {portal.domain} was removed; register it again "
            "(b24app app add) and reinstall b24app in the portal"
        )
    stored = store.tokens.load(portal.id)
    if stored is None:
        raise PortalUnavailable(
            f"the portal {portal.domain} has no OAuth tokens (the install did not finish, or its refresh "
            "token died); open b24app in the portal and press Reconnect"
        )
    registration = store.registrations.get(portal.registration_id)
    return InstalledAuth(store, settings, portal, stored, registration.client_id, registration.client_secret)


class InstalledAuth(OAuthAuth):
    """:class:`OAuthAuth` whose pair lives in the store; ``portal`` is the store's record of it."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        portal: Portal,
        stored: StoredTokens,
        client_id: str,
        client_secret: str,
    ) -> None:
        self.portal = portal
        self._store = store
        self._generation = stored.generation
        self._server_endpoint = settings.oauth_url.rstrip("/") + "/rest/"
        super().__init__(
            self._tokens(stored),
            client_id,
            client_secret,
            oauth_url=settings.oauth_url,
            on_refresh=self._save,
            load=self._load,
            lock=_StoreRefreshLock(store, portal.id),
        )

    def refresh(self, session: Any, *, stale_token: str | None = None) -> None:
        try:
            super().refresh(session, stale_token=stale_token)
        except AuthError as error:
            if error.code.lower() != "invalid_grant":
                raise
            raise AuthError(
                describe(
                    "oauth/token",
                    f"the refresh token of {self.portal.domain} died (unused for too long, or revoked)",
                    "open b24app in the portal and press Reconnect",
                ),
                code=error.code,
                method="oauth/token",
            ) from None

    def _tokens(self, stored: StoredTokens) -> OAuthTokens:
        pair = stored.pair
        return OAuthTokens(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires=pair.expires_at.timestamp() if pair.expires_at else None,
            client_endpoint=self.portal.client_endpoint,
            server_endpoint=self._server_endpoint,
            member_id=self.portal.member_id,
            domain=self.portal.domain,
            scope=pair.scope,
        )

    def _load(self) -> OAuthTokens | None:
        stored = self._store.tokens.load(self.portal.id)
        if stored is None:
            return None
        self._generation = stored.generation
        return self._tokens(stored)

    def _save(self, tokens: OAuthTokens) -> OAuthTokens | None:
        """Save the renewed pair if nobody saved since we loaded; else hand back the winner's pair."""
        pair = TokenPair(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=datetime.fromtimestamp(tokens.expires, UTC) if tokens.expires else None,
            scope=tokens.scope,
        )
        if self._store.tokens.save_if_current(self.portal.id, self._generation, pair):
            self._generation += 1
            return None
        return self._load()  # another writer won: use its pair (ours is left unused)


class _StoreRefreshLock:
    """The bitrix RefreshLock protocol on the store's cross-process lock of one portal."""

    def __init__(self, store: Store, portal_id: int) -> None:
        self._store = store
        self._portal_id = portal_id

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        try:
            lock = self._store.tokens.refresh_lock(self._portal_id)
            lock.__enter__()
        except LockTimeout as error:
            raise TransientError(
                describe("oauth/token", str(error), "rerunning is safe"), method="oauth/token"
            ) from None
        try:
            yield
        finally:
            lock.__exit__(None, None, None)


class StoreResolver:
    """A bitrix ``PortalResolver``: an installed portal's domain or member_id -> its stored credentials."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def portal_for(self, ref: str) -> Portal | None:
        try:
            return self.store.portals.find(ref)
        except NotFound:
            return None

    def resolve(self, ref: str) -> InstalledAuth | None:
        portal = self.portal_for(ref)
        return None if portal is None else installed_auth(self.store, self.settings, portal)


def _portal(store: Store, portal: Portal | int | str) -> Portal:
    if isinstance(portal, Portal):
        return store.portals.by_id(portal.id)  # the current row: it may have been uninstalled since
    try:
        return store.portals.by_id(portal) if isinstance(portal, int) else store.portals.find(portal)
    except NotFound as error:
        raise PortalUnavailable(str(error)) from None
