"""Storage for the web app and the CLI: registrations, portals, OAuth tokens, runs, events.

SQLAlchemy 2 on SQLite (the instance folder) or PostgreSQL (``DATABASE_URL``), migrated by the
Alembic scripts shipped in ``migrations/``; secrets encrypted at rest with Fernet keys.

Its names load on first use (PEP 562): ``RunKind`` or ``StoreError`` need neither SQLAlchemy nor Alembic,
so the command line starts without them (only a command that opens the store imports them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24app.store.crypto import Cipher, KeyProblem, SecretUnreadable, load_cipher, new_key
    from b24app.store.errors import Conflict, LockTimeout, NotFound, StoreError
    from b24app.store.migrate import upgrade
    from b24app.store.records import (
        Event,
        Portal,
        PortalState,
        Registration,
        Resync,
        Run,
        RunKind,
        RunOutcome,
        StoredTokens,
        TokenPair,
    )
    from b24app.store.settings import Settings, SettingsError
    from b24app.store.store import Store

_HOMES = {
    "crypto": ("Cipher", "KeyProblem", "SecretUnreadable", "load_cipher", "new_key"),
    "errors": ("Conflict", "LockTimeout", "NotFound", "StoreError"),
    "migrate": ("upgrade",),
    "records": (
        "Event",
        "Portal",
        "PortalState",
        "Registration",
        "Resync",
        "Run",
        "RunKind",
        "RunOutcome",
        "StoredTokens",
        "TokenPair",
    ),
    "settings": ("Settings", "SettingsError"),
    "store": ("Store",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Cipher",
    "Conflict",
    "Event",
    "KeyProblem",
    "LockTimeout",
    "NotFound",
    "Portal",
    "PortalState",
    "Registration",
    "Resync",
    "Run",
    "RunKind",
    "RunOutcome",
    "SecretUnreadable",
    "Settings",
    "SettingsError",
    "Store",
    "StoreError",
    "StoredTokens",
    "TokenPair",
    "load_cipher",
    "new_key",
    "upgrade",
]
