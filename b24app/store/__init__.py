"""Storage for the web app and the CLI: registrations, portals, OAuth tokens, runs, events.

SQLAlchemy 2 on SQLite (the instance folder) or PostgreSQL (``DATABASE_URL``), migrated by the
Alembic scripts shipped in ``migrations/``; secrets encrypted at rest with Fernet keys.
"""

from b24app.store.crypto import Cipher, KeyProblem, SecretUnreadable, load_cipher, new_key
from b24app.store.errors import Conflict, LockTimeout, NotFound, StoreError
from b24app.store.migrate import upgrade
from b24app.store.records import (
    Event,
    Portal,
    PortalState,
    Registration,
    Run,
    RunKind,
    RunOutcome,
    StoredTokens,
    TokenPair,
)
from b24app.store.settings import Settings, SettingsError
from b24app.store.store import Store

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
