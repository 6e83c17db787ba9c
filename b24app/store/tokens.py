"""A portal's OAuth pair: saved atomically, renewed without ever losing a refresh token.

Bitrix24 rotates the refresh token on every refresh, so two processes refreshing one portal at
once would leave one of them holding a dead token. Three tools prevent it:

- ``generation`` grows with every save; ``save_if_current(portal, expected, pair)`` writes only if
  nobody saved since ``expected`` was loaded (compare-and-swap: ``UPDATE … WHERE generation = …``);
- ``refresh_lock(portal)`` lets one process at a time refresh a portal (PostgreSQL advisory lock,
  or a lock row on SQLite), so the others wait, then load the winner's pair instead of refreshing;
- ``locked(portal)`` is the row-lock variant: the pair read ``FOR UPDATE`` (SQLite: ``BEGIN
  IMMEDIATE``) and saved in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from b24app.store.db import is_postgresql, write_transaction
from b24app.store.errors import NotFound, StoreError
from b24app.store.locks import named_lock
from b24app.store.models import TokenRow
from b24app.store.records import StoredTokens, TokenPair


class Tokens:
    def __init__(self, store) -> None:
        self._store = store

    def load(self, portal_id: int) -> StoredTokens | None:
        """The portal's current pair and generation, or None when it has none (never installed, uninstalled)."""
        with self._store.engine.connect() as connection:
            return self._load(connection, portal_id)

    def save(self, portal_id: int, pair: TokenPair) -> StoredTokens:
        """Store a pair whatever was there (install, reconnect): the generation still grows."""
        values = self._values(pair)
        insert = pg_insert if is_postgresql(self._store.engine) else sqlite_insert
        statement = (
            insert(TokenRow)
            .values(portal_id=portal_id, generation=1, **values)
            .on_conflict_do_update(
                index_elements=[TokenRow.portal_id], set_={**values, "generation": TokenRow.generation + 1}
            )
        )
        with write_transaction(self._store.engine) as connection:
            connection.execute(statement)
            return self._load(connection, portal_id)

    def save_if_current(self, portal_id: int, expected_generation: int, pair: TokenPair) -> bool:
        """Save ``pair`` only if the stored generation is still ``expected_generation``.

        False means another process saved a newer pair first: load it and use it.
        """
        with write_transaction(self._store.engine) as connection:
            return self._swap(connection, portal_id, expected_generation, self._values(pair))

    def delete(self, portal_id: int) -> None:
        """Forget the pair (uninstall). The row and its generation stay, so a stale save cannot revive it."""
        with write_transaction(self._store.engine) as connection:
            connection.execute(
                update(TokenRow)
                .where(TokenRow.portal_id == portal_id)
                .values(
                    access_token_encrypted=None,
                    refresh_token_encrypted=None,
                    expires_at=None,
                    generation=TokenRow.generation + 1,
                    updated_at=self._store.now(),
                )
            )

    def refresh_lock(self, portal_id: int, timeout: float = 60.0) -> AbstractContextManager[None]:
        """Held by one process at a time per portal, across processes and machines sharing the database."""
        return named_lock(self._store, f"refresh:{portal_id}", timeout=timeout)

    @contextmanager
    def locked(self, portal_id: int) -> Iterator[LockedTokens]:
        """The pair, locked for update until the block ends; ``save`` writes in the same transaction."""
        with write_transaction(self._store.engine) as connection:
            if is_postgresql(connection):
                connection.execute(
                    select(TokenRow.portal_id).where(TokenRow.portal_id == portal_id).with_for_update()
                )
            yield LockedTokens(self, connection, portal_id, self._load(connection, portal_id))

    # -- inside ----------------------------------------------------------------------------------

    def _swap(self, connection: Connection, portal_id: int, expected: int, values: dict) -> bool:
        done = connection.execute(
            update(TokenRow)
            .where(TokenRow.portal_id == portal_id, TokenRow.generation == expected)
            .values(generation=TokenRow.generation + 1, **values)
        )
        return done.rowcount == 1

    def _values(self, pair: TokenPair) -> dict:
        cipher = self._store.cipher
        return {
            "access_token_encrypted": cipher.encrypt(pair.access_token),
            "refresh_token_encrypted": cipher.encrypt(pair.refresh_token),
            "expires_at": pair.expires_at,
            "scope": pair.scope,
            "updated_at": self._store.now(),
        }

    def _load(self, connection: Connection, portal_id: int) -> StoredTokens | None:
        row = connection.execute(select(TokenRow).where(TokenRow.portal_id == portal_id)).one_or_none()
        if row is None or row.refresh_token_encrypted is None:
            return None
        cipher = self._store.cipher
        pair = TokenPair(
            access_token=cipher.decrypt(row.access_token_encrypted, "access token"),
            refresh_token=cipher.decrypt(row.refresh_token_encrypted, "refresh token"),
            expires_at=row.expires_at,
            scope=row.scope,
        )
        return StoredTokens(portal_id, pair, row.generation, row.updated_at)


@dataclass
class LockedTokens:
    """The pair inside ``Tokens.locked``: ``current`` as read under the lock, ``save`` in the same transaction."""

    _tokens: Tokens
    _connection: Connection
    portal_id: int
    current: StoredTokens | None

    def save(self, pair: TokenPair) -> None:
        if self.current is None:
            raise NotFound(f"portal {self.portal_id} has no tokens to renew; install or reconnect the app")
        values = self._tokens._values(pair)
        if not self._tokens._swap(self._connection, self.portal_id, self.current.generation, values):
            raise StoreError(f"the tokens of portal {self.portal_id} changed under their lock")
