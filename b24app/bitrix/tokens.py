"""An installed app's token pair, where it is kept, and who may renew it.

Bitrix24 rotates refresh tokens: each one works once, and the pair it buys replaces it. Several
threads and processes (a web request, a queue worker, the CLI) may call one portal with one pair,
so renewing it needs two shared things, each an interface here with an in-process implementation:

- a **store** of the current pair, read through a ``load`` hook and written through a ``save``
  hook that receives the whole new pair at once (:class:`MemoryTokenStore`; the web app's is a
  database row written in one transaction);
- a **refresh lock** keyed by the portal, so that one renewal runs at a time and the others then
  load its result instead of spending the dead refresh token (:class:`ProcessRefreshLock`; the
  next one is a database row lock or a Redis key with an expiry).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from b24app.bitrix.errors import TransientError, describe

# Longest wait for another renewal of the same portal: a renewal is one request of at most
# 3.05 s to connect and 30 s to answer (auth.REFRESH_TIMEOUT), so this leaves room for two.
REFRESH_WAIT = 70.0


@dataclass(frozen=True)
class OAuthTokens:
    """An app's token pair for one portal, as Bitrix24 hands it out (install, frame, refresh).

    Frozen: a renewed pair is a new value, handed to the save hook whole. ``domain`` is the
    portal's host. A refresh keeps it, because the token endpoint answers with the OAuth server's
    host in that field.
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


class RefreshLock(Protocol):
    """Lets one renewal of a portal's token pair run at a time, across whoever shares the lock.

    ``hold(key)`` is a context manager; ``key`` names the app and the portal. An implementation
    that cannot get the lock in reasonable time raises :class:`TransientError`; one shared
    between processes must also let go of a holder that died (an expiry, a transaction).
    """

    def hold(self, key: str) -> AbstractContextManager[None]: ...


class ProcessRefreshLock:
    """The in-process refresh lock: the threads of this process renew a portal's pair one by one."""

    def __init__(self, wait: float | None = REFRESH_WAIT) -> None:
        self._wait = wait
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=-1 if self._wait is None else self._wait):
            what = f"another renewal of this portal's token was still running after {self._wait:g} s"
            raise TransientError(describe("oauth/token", what, "rerunning is safe"), method="oauth/token")
        try:
            yield
        finally:
            lock.release()


PROCESS_REFRESH_LOCK = ProcessRefreshLock()
"""The default lock: every OAuth credential of this process shares it."""


class MemoryTokenStore:
    """The in-process store of one portal's current pair: ``load`` and ``save`` as the hooks.

    Give the same store to every credential object of the portal in this process (for example one
    per request or per job), so that each sees the pair another one renewed.
    """

    def __init__(self, tokens: OAuthTokens) -> None:
        self._tokens = tokens

    def load(self) -> OAuthTokens:
        return self._tokens

    def save(self, tokens: OAuthTokens) -> None:
        self._tokens = tokens  # one frozen value: a reader sees the old pair or the new one, never half

    def __repr__(self) -> str:
        return f"MemoryTokenStore(domain={self._tokens.domain!r})"
