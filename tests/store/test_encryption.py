"""Secrets at rest: no plaintext in the database, and key rotation without losing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from b24app.store import PortalState, SecretUnreadable, Store, TokenPair, new_key
from b24app.store.models import Base

SECRETS = {
    "client_secret": "cs-Zq8vN3xK1pL0",
    "application_token": "at-7dd0f9c6e8b2",
    "access_token": "acc-1b9e6a4d2c7f",
    "refresh_token": "ref-5a3c8e1f0b6d",
}


def fill(store: Store) -> int:
    registration = store.registrations.add("local.abc", SECRETS["client_secret"])
    portal = store.portals.upsert(
        "a1b2c3",
        domain="acme.bitrix24.ru",
        client_endpoint="https://acme.bitrix24.ru/rest/",
        registration_id=registration.id,
        state=PortalState.INSTALLED,
        application_token=SECRETS["application_token"],
    )
    store.tokens.save(portal.id, TokenPair(SECRETS["access_token"], SECRETS["refresh_token"]))
    return portal.id


def read_all(store: Store, portal_id: int) -> dict[str, str]:
    portal = store.portals.by_id(portal_id)
    tokens = store.tokens.load(portal_id).pair
    return {
        "client_secret": store.registrations.get(portal.registration_id).client_secret,
        "application_token": portal.application_token,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
    }


def every_stored_byte(store: Store) -> bytes:
    """The SQLite files as they are on disk, or every PostgreSQL table dumped as text."""
    url = make_url(store.engine.url)
    if url.get_backend_name() == "sqlite":
        store.engine.dispose()  # nothing left only in a connection's memory
        folder = Path(url.database).parent
        return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())
    with store.engine.connect() as connection:
        dumps = [
            connection.scalar(text(f"SELECT coalesce(string_agg(t::text, '|'), '') FROM {table.name} t"))
            for table in Base.metadata.sorted_tables
        ]
    return "|".join(dumps).encode()


def test_no_plaintext_secret_reaches_the_database(store):
    portal_id = fill(store)
    assert read_all(store, portal_id) == SECRETS
    stored = every_stored_byte(store)
    assert b"acme.bitrix24.ru" in stored  # the check does see the data
    for name, secret in SECRETS.items():
        assert secret.encode() not in stored, f"{name} is stored in plaintext"


def test_rotation_keeps_every_secret_and_retires_the_old_key(open_store):
    old, new = new_key().encode(), new_key().encode()
    portal_id = fill(open_store([old]))

    with pytest.raises(SecretUnreadable, match="b24app db rotate-key"):
        read_all(open_store([new]), portal_id)
    both = open_store([new, old])
    assert read_all(both, portal_id) == SECRETS  # the old key still decrypts until rotated
    assert both.rotate_key() == 4

    only_new = open_store([new])
    assert read_all(only_new, portal_id) == SECRETS  # after rotation the old key can be dropped
    with pytest.raises(SecretUnreadable):
        read_all(open_store([old]), portal_id)


def test_rotation_without_the_old_key_changes_nothing(open_store):
    old = new_key().encode()
    portal_id = fill(open_store([old]))
    with pytest.raises(SecretUnreadable, match="add the old key after the current one"):
        open_store([new_key().encode()]).rotate_key()
    assert read_all(open_store([old]), portal_id) == SECRETS
