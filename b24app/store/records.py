"""What the repositories hand out: frozen values with secrets decrypted and hidden from repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class PortalState(StrEnum):
    INSTALLING = "installing"
    INSTALLED = "installed"
    UNINSTALLED = "uninstalled"


class RunKind(StrEnum):
    PLAN = "plan"
    APPLY = "apply"
    ROLLBACK = "rollback"  # an apply of the state before another run (``rollback_of``)


class RunOutcome(StrEnum):
    QUEUED = "queued"  # a job waits for a worker
    RUNNING = "running"
    PLANNED = "planned"  # a plan was made (changes or none: see the summary)
    APPLIED = "applied"  # applied and verified in sync
    NOT_CONVERGED = "not_converged"
    REFUSED = "refused"  # e.g. the portal changed since the plan that was shown
    FAILED = "failed"


@dataclass(frozen=True)
class Registration:
    id: int
    slug: str
    client_id: str
    client_secret: str = field(repr=False)
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Portal:
    id: int
    member_id: str
    domain: str
    client_endpoint: str
    registration_id: int | None
    state: PortalState
    language: str | None
    template: str | None
    policy: str
    application_token: str | None = field(repr=False)
    created_at: datetime
    updated_at: datetime
    admin_user_id: int | None = None  # the installing admin, told of drift inside Bitrix24
    drift_checksum: str | None = None  # the checksum of the drift last told of (one notice per drift)


@dataclass(frozen=True)
class TokenPair:
    """An OAuth pair as Bitrix24 hands it out; ``expires_at`` is when the access token dies."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime | None = None
    scope: str | None = None


@dataclass(frozen=True)
class StoredTokens:
    """A portal's pair as stored, with the generation to pass to ``save_if_current``."""

    portal_id: int
    pair: TokenPair
    generation: int
    updated_at: datetime


@dataclass(frozen=True)
class Run:
    id: int
    portal_id: int
    kind: RunKind
    outcome: RunOutcome
    started_at: datetime
    finished_at: datetime | None
    user_id: int | None
    user_name: str | None
    template_name: str | None
    template_hash: str | None
    plan: dict[str, Any] | None
    checksum: str | None
    summary: dict[str, Any] | None
    requests_used: int | None
    state_before: dict[str, Any] | None
    error: str | None
    progress: list[str] | None = None
    result: dict[str, Any] | None = None
    worker: str | None = None
    template_sources: list[dict[str, str]] | None = None  # the template's file, then its bases'
    rollback_of: int | None = None  # a rollback: the run whose state before it restored

    @property
    def checked(self) -> int:
        """How many resync plans found what this run found (see ``Runs.confirm``): 1 unless confirmed."""
        return times_checked(self.result)

    @property
    def last_checked_at(self) -> datetime | None:
        """When a resync plan last found it again (None: never confirmed)."""
        at = self.result.get("last_checked_at") if isinstance(self.result, dict) else None
        try:
            return datetime.fromisoformat(at) if isinstance(at, str) and self.checked > 1 else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Resync:
    """A resync of a portal asked for (``waiting``) or being done (``running``)."""

    id: int
    portal_id: int
    state: str
    reasons: list[str]
    requests: int  # how many requests were merged into this one
    requested_at: datetime
    not_before: datetime
    attempts: int
    claimed_by: str | None
    lease_until: datetime | None
    run_id: int | None


@dataclass(frozen=True)
class Event:
    id: int
    portal_id: int | None
    member_id: str | None
    event: str
    received_at: datetime
    outcome: str
    detail: str | None


def times_checked(result: Any) -> int:
    """How many plans found what a run's result records: 1, or the count ``Runs.confirm`` keeps
    (read defensively: it is JSON)."""
    checked = result.get("checked") if isinstance(result, dict) else None
    return checked if isinstance(checked, int) and not isinstance(checked, bool) and checked > 1 else 1
