"""Local-app registrations: one per portal's local app, each with its own callback URLs (slug)."""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from b24app.store.crypto import Cipher
from b24app.store.errors import Conflict, NotFound
from b24app.store.models import PortalRow, RegistrationRow
from b24app.store.records import Portal, PortalState, Registration

_REGISTRATIONS, _PORTALS = RegistrationRow.__table__, PortalRow.__table__
_WITH_PORTAL = (  # built once, with bound parameters: events come by the hundred a second
    select(_REGISTRATIONS, *(c.label(f"portal_{c.name}") for c in _PORTALS.c))
    .select_from(
        _REGISTRATIONS.outerjoin(
            _PORTALS,
            and_(
                _PORTALS.c.registration_id == _REGISTRATIONS.c.id,
                _PORTALS.c.member_id == bindparam("b_member_id"),
            ),
        )
    )
    .where(_REGISTRATIONS.c.slug == bindparam("b_slug"))
)


class Registrations:
    def __init__(self, store) -> None:
        self._store = store

    @property
    def _cipher(self) -> Cipher:
        return self._store.cipher

    def add(self, client_id: str, client_secret: str, name: str = "") -> Registration:
        client_id, client_secret = client_id.strip(), client_secret.strip()
        if not client_id or not client_secret:
            raise ValueError("a registration needs both the client_id and the client_secret of the local app")
        row = RegistrationRow(
            slug=secrets.token_urlsafe(9),
            client_id=client_id,
            client_secret_encrypted=self._cipher.encrypt(client_secret),
            name=name.strip(),
            created_at=self._store.now(),
        )
        try:
            with Session(self._store.engine, expire_on_commit=False) as session, session.begin():
                session.add(row)
        except IntegrityError:  # the unique client_id: also when two processes add it at once
            raise Conflict(
                f"a registration with client_id {client_id} exists already; remove it first with: b24app app remove"
            ) from None
        return self._record(row)

    def list(self) -> list[Registration]:
        with Session(self._store.engine) as session:
            rows = session.scalars(select(RegistrationRow).order_by(RegistrationRow.id))
            return [self._record(row) for row in rows]

    def get(self, registration_id: int) -> Registration:
        return self._one(RegistrationRow.id == registration_id, f"registration {registration_id}")

    def by_slug(self, slug: str) -> Registration:
        return self._one(RegistrationRow.slug == slug, "this registration")

    def with_portal(self, slug: str, member_id: str) -> tuple[Registration, Portal | None]:
        """The registration of a callback URL and its portal of ``member_id`` (None: no such portal
        installed this registration), in one prepared query: every Bitrix24 event needs both."""
        with self._store.reads.connect() as connection:
            row = connection.execute(_WITH_PORTAL, {"b_slug": slug, "b_member_id": member_id}).first()
        if row is None:
            raise NotFound("this registration is not registered; see: b24app app list")
        fields = row._mapping
        portal = {c.name: fields[f"portal_{c.name}"] for c in _PORTALS.c}
        found = None if portal["id"] is None else self._store.portals._record(SimpleNamespace(**portal))
        return self._record(row), found

    def by_client_id(self, client_id: str) -> Registration:
        return self._one(RegistrationRow.client_id == client_id, f"the registration of client_id {client_id}")

    def remove(self, registration_id: int) -> None:
        """Forget a registration; refused while installed portals use it (their history stays)."""
        with Session(self._store.engine) as session, session.begin():
            row = session.get(RegistrationRow, registration_id)
            if row is None:
                raise NotFound(f"there is no registration {registration_id}; see: b24app app list")
            in_use = session.scalar(
                select(func.count())
                .select_from(PortalRow)
                .where(PortalRow.registration_id == registration_id)
                .where(PortalRow.state != PortalState.UNINSTALLED)
            )
            if in_use:
                raise Conflict(
                    f"registration {registration_id} is used by {in_use} installed portal(s); "
                    "uninstall the app in those portals first"
                )
            session.delete(row)

    def _one(self, condition, what: str) -> Registration:
        with self._store.engine.connect() as connection:  # Core, not the ORM: every callback looks one up
            row = connection.execute(select(RegistrationRow.__table__).where(condition)).first()
        if row is None:
            raise NotFound(f"{what} is not registered; see: b24app app list")
        return self._record(row)

    def _record(self, row: Any) -> Registration:  # an ORM row or a Core row of the table
        return Registration(
            id=row.id,
            slug=row.slug,
            client_id=row.client_id,
            client_secret=self._cipher.decrypt(row.client_secret_encrypted, "client_secret"),
            name=row.name,
            created_at=row.created_at,
        )
