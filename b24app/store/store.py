"""The store: one database and one cipher, with a repository per kind of record."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from b24app.store.batch_writer import BatchWriter
from b24app.store.clocks import Clocks
from b24app.store.crypto import Cipher, load_cipher
from b24app.store.db import make_engine, read_only, write_transaction
from b24app.store.journal import Events, Runs
from b24app.store.library import Library, TemplateHashes
from b24app.store.locks import named_lock
from b24app.store.migrate import upgrade
from b24app.store.models import PortalRow, RegistrationRow, TokenRow
from b24app.store.portals import Portals
from b24app.store.registrations import Registrations
from b24app.store.resync_writer import ResyncWriter
from b24app.store.resyncs import Resyncs
from b24app.store.settings import Settings
from b24app.store.tokens import Tokens

Clock = Callable[[], datetime]

# Every encrypted column: (table, its key, the encrypted columns).
ENCRYPTED = (
    (RegistrationRow, RegistrationRow.id, (RegistrationRow.client_secret_encrypted,)),
    (PortalRow, PortalRow.id, (PortalRow.application_token_encrypted,)),
    (TokenRow, TokenRow.portal_id, (TokenRow.access_token_encrypted, TokenRow.refresh_token_encrypted)),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, engine: Engine, cipher: Cipher, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.reads = read_only(engine)  # single reads a request makes (the events' portal lookup)
        self.cipher = cipher
        self.now = clock
        self.registrations = Registrations(self)
        self.portals = Portals(self)
        self.tokens = Tokens(self)
        self.runs = Runs(self)
        self.events = Events(self)
        self.resyncs = Resyncs(self)
        self.library = Library(self)  # library syncs asked for, webhook deliveries
        self.template_hashes = TemplateHashes(self)
        self.clocks = Clocks(self)
        self.resync_writer = ResyncWriter(self.resyncs)  # the events endpoint's: many requests, one commit
        self.sync_writer = BatchWriter(self.library.request_many, "library sync")  # the webhook's, likewise

    @classmethod
    def open(cls, settings: Settings, migrate: bool = True) -> Store:
        """The configured database (migrated to head unless ``migrate`` is False) and keys."""
        cipher = load_cipher(settings.secret_key, settings.key_file)
        engine = make_engine(settings.database_url)
        if migrate:
            upgrade(engine)
        return cls(engine, cipher)

    def lock(self, name: str, timeout: float = 60.0) -> AbstractContextManager[None]:
        """A lock held by one process at a time across everything sharing this database.

        PostgreSQL: an advisory lock (ends with its holder's session); SQLite: a lock row with a
        lease. Raises ``LockTimeout`` after ``timeout`` seconds.
        """
        return named_lock(self, name, timeout=timeout)

    def rotate_key(self) -> int:
        """Re-encrypt every stored secret with the current key; returns how many were rewritten.

        Afterwards the older keys can be dropped from the configuration. One transaction: a failure
        (a secret no configured key can read) changes nothing.
        """
        rewritten = 0
        with write_transaction(self.engine) as connection:
            for table, key, columns in ENCRYPTED:
                for row in connection.execute(select(key, *columns)):
                    values = {
                        c.key: self.cipher.rotate(row[i + 1]) for i, c in enumerate(columns) if row[i + 1]
                    }
                    if values:
                        connection.execute(update(table).where(key == row[0]).values(**values))
                        rewritten += len(values)
        return rewritten

    def close(self) -> None:
        self.resync_writer.close()
        self.sync_writer.close()
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r}, {self.cipher!r})"
