"""Portals, one row per Bitrix24 ``member_id``: a reinstall updates the row, never duplicates it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from b24app.store.errors import NotFound
from b24app.store.models import PortalRow
from b24app.store.records import Portal, PortalState

REPORT, APPLY = "report", "apply"
POLICIES = (REPORT, APPLY)  # report: plan only and record drift; apply: apply the safe changes too


class Portals:
    def __init__(self, store) -> None:
        self._store = store

    def upsert(
        self,
        member_id: str,
        *,
        domain: str,
        client_endpoint: str,
        registration_id: int | None,
        state: PortalState,
        language: str | None = None,
        application_token: str | None = None,
    ) -> Portal:
        """Insert the portal, or update the row of its ``member_id`` (one statement: race-free)."""
        now = self._store.now()
        values = {
            "domain": domain.strip().lower(),
            "client_endpoint": client_endpoint,
            "registration_id": registration_id,
            "state": PortalState(state).value,
            "language": language,
            "updated_at": now,
        }
        if application_token is not None:
            values["application_token_encrypted"] = self._store.cipher.encrypt(application_token)
        insert = pg_insert if self._store.engine.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(PortalRow)
            .values(member_id=member_id, created_at=now, policy=REPORT, **values)
            .on_conflict_do_update(index_elements=[PortalRow.member_id], set_=values)
        )
        with self._store.engine.begin() as connection:
            connection.execute(statement)
        return self.get(member_id)

    def get(self, member_id: str) -> Portal:
        return self._one(PortalRow.member_id == member_id, f"no portal with member_id {member_id}")

    def by_id(self, portal_id: int) -> Portal:
        return self._one(PortalRow.id == portal_id, f"no portal {portal_id}")

    def find(self, domain_or_member_id: str) -> Portal:
        """A portal by its domain or its member_id (what ``--portal`` accepts)."""
        key = domain_or_member_id.strip().lower()
        return self._one(
            or_(PortalRow.member_id == key, PortalRow.domain == key),
            f"no portal {domain_or_member_id!r} is installed; see: b24app portal list",
        )

    def list(self) -> list[Portal]:
        with Session(self._store.engine) as session:
            return [self._record(r) for r in session.scalars(select(PortalRow).order_by(PortalRow.domain))]

    def scheduled_ids(self) -> list[int]:
        """The ids of the installed portals that have a template, ascending: the schedule's portals
        (ids only: no row is read whole, no token decrypted, however large the fleet)."""
        with Session(self._store.engine) as session:
            return list(
                session.scalars(
                    select(PortalRow.id)
                    .where(PortalRow.state == PortalState.INSTALLED.value, PortalRow.template.is_not(None))
                    .order_by(PortalRow.id)
                )
            )

    def set_state(self, portal_id: int, state: PortalState) -> None:
        self._update(portal_id, state=PortalState(state).value)

    def assign_template(self, portal_id: int, template: str | None) -> None:
        self._update(portal_id, template=template)

    def set_policy(self, portal_id: int, policy: str) -> None:
        """What a resync does on this portal; anything but ``report`` or ``apply`` is refused (a typo
        stored would leave the portal on neither, and the workers would not know what to do)."""
        if policy not in POLICIES:
            raise ValueError(f"the policy must be {' or '.join(POLICIES)}, not {policy!r}")
        self._update(portal_id, policy=policy)

    def set_admin(self, portal_id: int, user_id: int | None) -> None:
        self._update(portal_id, admin_user_id=user_id)

    def set_drift(self, portal_id: int, checksum: str | None) -> None:
        self._update(portal_id, drift_checksum=checksum)

    def set_application_token(self, portal_id: int, application_token: str | None) -> None:
        encrypted = None if application_token is None else self._store.cipher.encrypt(application_token)
        self._update(portal_id, application_token_encrypted=encrypted)

    def _update(self, portal_id: int, **values) -> None:
        with self._store.engine.begin() as connection:
            done = connection.execute(
                update(PortalRow)
                .where(PortalRow.id == portal_id)
                .values(updated_at=self._store.now(), **values)
            )
        if done.rowcount != 1:
            raise NotFound(f"no portal {portal_id}")

    def _one(self, condition, missing: str) -> Portal:
        with self._store.engine.connect() as connection:  # Core, not the ORM: every event looks a portal up
            row = connection.execute(select(PortalRow.__table__).where(condition)).first()
        if row is None:
            raise NotFound(missing)
        return self._record(row)

    def _record(self, row: Any) -> Portal:  # an ORM row or a Core row of the table
        token = row.application_token_encrypted
        return Portal(
            id=row.id,
            member_id=row.member_id,
            domain=row.domain,
            client_endpoint=row.client_endpoint,
            registration_id=row.registration_id,
            state=PortalState(row.state),
            language=row.language,
            template=row.template,
            policy=row.policy,
            application_token=None
            if token is None
            else self._store.cipher.decrypt(token, "application_token"),
            created_at=row.created_at,
            updated_at=row.updated_at,
            admin_user_id=row.admin_user_id,
            drift_checksum=row.drift_checksum,
        )
