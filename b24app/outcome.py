"""What an apply came to: the result of one apply, its outcome in one word and its counts.

Worked out here, once; the command line, the demo and the web page each word it for their user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum

from b24app.bitrix.errors import BitrixError
from b24app.core.changes import BLOCKED, Change, Plan


class Outcome(StrEnum):
    NOTHING_TO_DO = "nothing_to_do"  # the portal already matched the template; nothing was written
    APPLIED_VERIFIED = "applied_verified"  # changes were written and the re-read portal matches
    NOT_CONVERGED = "not_converged"  # after applying, differences remain (failures say why)


@dataclass(frozen=True, slots=True)
class OutcomeSummary:
    outcome: Outcome
    applied: int  # changes written
    planned: int  # changes in the reviewed plan (blocked ones not counted)
    extra_created: int  # applied beyond the plan: stage changes of new pipelines, planned once they existed
    failed: int  # changes Bitrix24 refused
    remaining: int  # differences the verifying re-plan still finds
    blocked: int  # blocked changes left as shown, after applying
    late_blocked: int  # of those, found only once new pipelines existed
    requests: int  # HTTP requests to the portal in all

    @property
    def ok(self) -> bool:
        """The portal matches the template (the command line exits 0)."""
        return self.outcome != Outcome.NOT_CONVERGED

    def to_json(self) -> dict[str, object]:
        counts = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("outcome", "requests")
        }
        return {"outcome": self.outcome.value, "counts": counts, "requests": self.requests}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> OutcomeSummary:
        counts = data.get("counts")
        if not isinstance(counts, Mapping):
            raise ValueError("not an apply outcome: it has no counts")
        return cls(outcome=Outcome(data["outcome"]), requests=int(data["requests"]), **counts)


@dataclass
class ApplyResult:
    plan: Plan  # what was reviewed (before new pipelines existed)
    verify: Plan  # the re-plan after applying: no create/update/delete when converged
    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, BitrixError]] = field(default_factory=list)
    requests: int = 0

    @property
    def converged(self) -> bool:
        """The re-read portal matches the template (a failed command whose effect is there anyway,
        such as a create retried after a lost answer, does not count against it), and no template
        entry fits two portal pipelines or smart processes (a conflict)."""
        return not self.verify.has_changes and not self.verify.conflicts

    @property
    def remaining(self) -> list[Change]:
        """The differences the verifying re-plan still finds."""
        return [c for c in self.verify.changes if c.action != BLOCKED]

    @property
    def late_blocked(self) -> list[Change]:
        """Blocked changes found only once new pipelines existed (the reviewed plan did not show them)."""
        return [c for c in self.verify.changes if c.action == BLOCKED and c not in self.plan.changes]

    def summary(self) -> OutcomeSummary:
        applied = len(self.applied)
        planned = sum(1 for c in self.plan.changes if c.action != BLOCKED)
        return OutcomeSummary(
            outcome=self._outcome(),
            applied=applied,
            planned=planned,
            extra_created=max(applied - planned, 0),
            failed=len(self.failed),
            remaining=len(self.remaining),
            blocked=self.verify.summary[BLOCKED],
            late_blocked=len(self.late_blocked),
            requests=self.requests,
        )

    def _outcome(self) -> Outcome:
        if not self.converged:
            return Outcome.NOT_CONVERGED
        if not self.applied and not self.failed:
            return Outcome.NOTHING_TO_DO
        return Outcome.APPLIED_VERIFIED

    def to_json(self) -> dict[str, object]:
        return {
            "portal": self.plan.domain,
            **self.summary().to_json(),
            "plan": self.plan.to_json(),
            "applied": [c.to_json() for c in self.applied],
            "failed": [{"change": c.to_json(), "error": error_json(e)} for c, e in self.failed],
            "verify": {
                "checksum": self.verify.checksum,
                "summary": self.verify.summary,
                "remaining": [c.to_json() for c in self.remaining],
                "late_blocked": [c.to_json() for c in self.late_blocked],
                "conflicts": list(self.verify.conflicts),
            },
        }


def error_json(error: BitrixError) -> dict[str, object]:
    """What Bitrix24 answered to one command (the message names the method and the answer, never the
    webhook or a token)."""
    data: dict[str, object] = {"message": str(error)}
    for name in ("code", "description", "method", "status"):
        value = getattr(error, name, None)
        if value not in (None, ""):
            data[name] = value
    return data
