"""One apply at a time per portal.

Two applies to one portal at once both see a pipeline missing and both create it. `sync.apply`
heals that race afterwards; the lock keeps it from happening on one machine. `PortalLock` is the
interface: `FileLock` serves one machine (an flock on a file keyed by the portal, released by the
operating system when the process dies, so a crash never leaves it held); the web app's queue will
provide one that holds across machines.

`plan` takes no lock: it only reads, and `apply --plan` refuses a plan whose portal changed since.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

LOCK_DIR_ENV = "B24APP_LOCK_DIR"


class PortalBusy(Exception):
    """Another run holds the portal and the caller chose not to wait."""

    def __init__(self, domain: str) -> None:
        super().__init__(domain)
        self.domain = domain


class PortalLock(Protocol):
    def hold(
        self, domain: str, *, wait: bool = True, on_wait: Callable[[], None] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the portal for the duration of a `with` block. Busy: wait (calling ``on_wait``
        once first), or raise PortalBusy when ``wait`` is False."""
        ...


def default_lock_dir() -> Path:
    """$B24APP_LOCK_DIR, else the user's runtime directory, else the user's cache directory."""
    if os.environ.get(LOCK_DIR_ENV):
        return Path(os.environ[LOCK_DIR_ENV])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "b24app"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "b24app" / "locks"


class FileLock:
    """A lock file per portal (named by a digest of the domain) under one directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_lock_dir()

    def path_for(self, domain: str) -> Path:
        digest = hashlib.sha256(domain.strip().lower().encode()).hexdigest()[:24]
        return self.directory / f"portal-{digest}.lock"

    @contextlib.contextmanager
    def hold(
        self, domain: str, *, wait: bool = True, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path_for(domain), "a+b") as file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise PortalBusy(domain) from None
                if on_wait is not None:
                    on_wait()
                fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
