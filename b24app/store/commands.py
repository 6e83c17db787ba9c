"""``b24app db upgrade | rotate-key | new-key``: the database and its keys from the command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from sqlalchemy.exc import OperationalError

from b24app.store.crypto import ENV_KEY, new_key, read_or_create_key_file, write_key_file
from b24app.store.db import make_engine
from b24app.store.errors import StoreError
from b24app.store.migrate import head_revision, upgrade
from b24app.store.settings import Settings, SettingsError
from b24app.store.store import Store

ACTIONS = ("upgrade", "rotate-key", "new-key")


def run_db(action: str, environ: Mapping[str, str] | None = None) -> int:
    """Run one ``db`` action; errors are one line on stderr and exit 1."""
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
        return {"upgrade": db_upgrade, "rotate-key": db_rotate_key, "new-key": db_new_key}[action](settings)
    except (SettingsError, StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        print(
            f"error: cannot use the database ({reason}); check DATABASE_URL and that it runs", file=sys.stderr
        )
    return 1


def db_upgrade(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        revision = upgrade(engine)
    finally:
        engine.dispose()
    latest = " (the latest)" if revision == head_revision() else ""
    print(f"database at revision {revision}{latest}")
    return 0


def db_rotate_key(settings: Settings) -> int:
    """Re-encrypt every secret with the current key; with a key file, make that key first."""
    if settings.secret_key:
        count = _reencrypt(settings, lambda store: store.rotate_key())
        print(
            f"re-encrypted {count} secret(s) with the first key of {ENV_KEY}; the other keys can now be removed"
        )
        return 0
    old = read_or_create_key_file(settings.key_file)
    fresh = new_key().encode("ascii")
    write_key_file(settings.key_file, [fresh, *old])  # readable with either key from here on
    count = _reencrypt(settings, lambda store: store.rotate_key())
    write_key_file(settings.key_file, [fresh])
    print(f"re-encrypted {count} secret(s) with a new key in {settings.key_file}; the old key is gone")
    return 0


def db_new_key(settings: Settings) -> int:
    print(new_key())
    return 0


def _reencrypt(settings: Settings, work: Callable[[Store], int]) -> int:
    store = Store.open(settings)
    try:
        return work(store)
    finally:
        store.close()
