"""One template, many portals: plan them all, then apply them all, each portal on its own.

The result is data (:class:`FleetPlan`, :class:`FleetResult`, with a JSON form); the command line
words it for a terminal, the web fleet view will word the same data. Portals run concurrently in
threads; each portal's requests go through its own leaky bucket (``bitrix.ratelimit.bucket_for``,
one per portal in this process), so however many portals run at once, none is sent more than its
own budget. Each apply holds the portal's lock (the file lock of this machine and, for an
installed portal, the store's lock), so a fleet run and a single run never apply one portal at once.

A portal that fails (unreachable, server errors, refused) is reported and the others go on; with a
canary, the first K portals are applied first and the rest only when all of them converged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from b24app import cli_store, runs, sync
from b24app.bitrix.errors import BitrixError
from b24app.bitrix.secrets import redact
from b24app.core.changes import Plan, PlanOptions
from b24app.core.model import Template
from b24app.lock import FileLock, PortalBusy
from b24app.outcome import ApplyResult
from b24app.outcome import Outcome as ApplyOutcome
from b24app.progress import ProgressEvent
from b24app.store import RunKind, RunOutcome, StoreError

DEFAULT_CONCURRENCY = 8
COUNTS = ("create", "update", "delete", "blocked")


class FleetOutcome(StrEnum):
    APPLIED_VERIFIED = "applied_verified"  # changes written, the re-read portal matches
    NOTHING_TO_DO = "nothing_to_do"  # the portal already matched the template
    NOT_CONVERGED = "not_converged"  # written, but differences remain (or a conflict)
    REFUSED = "refused"  # unsafe plan without --force, or the portal changed since its plan
    ERROR = "error"  # unreachable, server errors, no access, busy: nothing more was done
    SKIPPED = "skipped"  # not attempted: a canary failed first

    @property
    def converged(self) -> bool:
        return self in (FleetOutcome.APPLIED_VERIFIED, FleetOutcome.NOTHING_TO_DO)


@dataclass(frozen=True)
class PortalRef:
    """A portal as given (``ref``: a webhook URL, a domain or a member_id) and as shown (``label``)."""

    ref: str
    label: str

    @classmethod
    def of(cls, ref: str) -> PortalRef:
        return cls(ref, label_of(ref))


def label_of(ref: str) -> str:
    """What a portal is shown as: the host of a webhook URL (never its path: the secret is there)."""
    ref = ref.strip()
    if "/" not in ref:
        return ref
    host = urlsplit(ref).netloc.rpartition("@")[2]
    return host or "(a portal URL without a host)"


@dataclass
class PortalPlan:
    """One portal's plan in the summary (``error`` set when the portal could not be planned)."""

    portal: str
    summary: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    refusals: int = 0
    conflicts: int = 0
    checksum: str | None = None
    error: str | None = None
    requests: int = 0  # HTTP requests the plan took

    @property
    def has_changes(self) -> bool:
        return any(self.summary[k] for k in ("create", "update", "delete")) or bool(self.conflicts)

    def to_json(self) -> dict[str, object]:
        return {
            "portal": self.portal,
            "summary": dict(self.summary),
            "refusals": self.refusals,
            "conflicts": self.conflicts,
            "checksum": self.checksum,
            "error": self.error,
            "requests": self.requests,
        }


@dataclass
class FleetPlan:
    template: str
    portals: list[PortalPlan]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.portals if p.error)

    @property
    def totals(self) -> dict[str, int]:
        return {k: sum(p.summary[k] for p in self.portals) for k in COUNTS}

    def to_json(self) -> dict[str, object]:
        return {
            "template": self.template,
            "totals": self.totals,
            "errors": self.errors,
            "portals": [p.to_json() for p in self.portals],
        }


@dataclass
class PortalResult:
    portal: str
    outcome: FleetOutcome
    applied: int = 0  # changes written
    failed: int = 0  # changes Bitrix24 refused
    remaining: int = 0  # differences after applying
    requests: int = 0
    message: str | None = None  # why: the error, the refusal, or what a canary did

    def to_json(self) -> dict[str, object]:
        return {
            "portal": self.portal,
            "outcome": self.outcome.value,
            "applied": self.applied,
            "failed": self.failed,
            "remaining": self.remaining,
            "requests": self.requests,
            "message": self.message,
        }


@dataclass
class FleetResult:
    plan: FleetPlan
    results: list[PortalResult]
    canary: int = 0

    @property
    def ok(self) -> bool:
        """Every portal matches the template (the command line exits 0)."""
        return all(r.outcome.converged for r in self.results)

    def counts(self) -> dict[str, int]:
        return {o.value: sum(1 for r in self.results if r.outcome == o) for o in FleetOutcome}

    def to_json(self) -> dict[str, object]:
        return {
            "template": self.plan.template,
            "ok": self.ok,
            "canary": self.canary,
            "outcomes": self.counts(),
            "plan": self.plan.to_json(),
            "portals": [r.to_json() for r in self.results],
        }


FleetProgress = Callable[[str, ProgressEvent], None]  # (portal label, event)
Done = Callable[[PortalResult], None]


@dataclass
class Fleet:
    """The portals of one fleet run and how to run them."""

    portals: Sequence[PortalRef]
    template: Template
    which: dict  # the journal's fields naming the template (template_name, template_hash, ...)
    options: PlanOptions = field(default_factory=PlanOptions)
    concurrency: int = DEFAULT_CONCURRENCY
    wait: bool = True  # wait for a portal another run is applying (False: report it as an error)
    locks: FileLock = field(default_factory=FileLock)
    attempts: int | None = None  # tries per request before a portal is given up (None: the client's default)

    # -- plan ------------------------------------------------------------------------------------

    def plan(
        self, progress: FleetProgress | None = None, done: Callable[[PortalPlan], None] | None = None
    ) -> FleetPlan:
        def one(portal: PortalRef) -> PortalPlan:
            result = self._plan_one(portal, _bound(progress, portal.label))
            if done is not None:
                done(result)
            return result

        return FleetPlan(self.which["template_name"], self._map(one, self.portals))

    def _plan_one(self, portal: PortalRef, progress: sync.Progress) -> PortalPlan:
        try:
            with self._target(portal) as target:
                plan, _ = sync.make_plan(target.client, self.template, self.options, progress)
                self._record_plan(target, plan)
        except Exception as error:  # one portal's failure is reported; the others go on
            return PortalPlan(portal.label, error=_message(error))
        return _portal_plan(portal.label, plan, target.client.requests_sent)

    def _record_plan(self, target: cli_store.Target, plan: Plan) -> None:
        requests = target.client.requests_sent
        target.record(RunKind.PLAN, RunOutcome.PLANNED, **self.which, **runs.planned(plan, requests))

    # -- apply -----------------------------------------------------------------------------------

    def apply(
        self,
        reviewed: FleetPlan,
        *,
        canary: int = 0,
        progress: FleetProgress | None = None,
        done: Done | None = None,
    ) -> FleetResult:
        """Apply every portal of ``reviewed`` (in its order); each apply refuses when its portal
        changed since its plan. With ``canary`` K: the first K portals first, the rest only if all
        of those converged (else they are reported as skipped)."""
        by_label = {p.label: p for p in self.portals}
        plans = reviewed.portals

        def one(plan: PortalPlan) -> PortalResult:
            result = self._apply_one(by_label[plan.portal], plan, _bound(progress, plan.portal))
            if done is not None:
                done(result)
            return result

        first = plans[:canary] if canary else plans
        results = self._map(one, first)
        rest = plans[len(first) :]
        if rest and all(r.outcome.converged for r in results):
            results += self._map(one, rest)
        elif rest:
            failed = ", ".join(r.portal for r in results if not r.outcome.converged)
            skipped = [
                PortalResult(
                    p.portal, FleetOutcome.SKIPPED, message=f"not attempted: the canary {failed} failed"
                )
                for p in rest
            ]
            for result in skipped:
                if done is not None:
                    done(result)
            results += skipped
        return FleetResult(reviewed, results, canary=canary)

    def _apply_one(self, portal: PortalRef, plan: PortalPlan, progress: sync.Progress) -> PortalResult:
        if plan.error:
            return PortalResult(portal.label, FleetOutcome.ERROR, message=plan.error)
        if not plan.has_changes and not plan.refusals:
            return PortalResult(portal.label, FleetOutcome.NOTHING_TO_DO)
        try:
            with self._target(portal) as target:
                return self._journaled(target, portal.label, plan, progress)
        except PortalBusy:
            return PortalResult(
                portal.label,
                FleetOutcome.ERROR,
                message="another b24app run is applying to it; run again when it has finished",
            )
        except (sync.PlanChanged, sync.UnsafePlan) as error:
            return PortalResult(portal.label, FleetOutcome.REFUSED, message=_refusal(error))
        except Exception as error:  # reported; the other portals go on
            return PortalResult(portal.label, FleetOutcome.ERROR, message=_message(error))

    def _journaled(
        self, target: cli_store.Target, label: str, plan: PortalPlan, progress: sync.Progress
    ) -> PortalResult:
        states: list = []
        with cli_store.portal_lock(target), self.locks.hold(target.client.domain, wait=self.wait):
            run_id = target.record(
                RunKind.APPLY,
                RunOutcome.RUNNING,
                **self.which,
            )
            try:
                result = sync.apply(
                    target.client,
                    self.template,
                    self.options,
                    expected_checksum=plan.checksum,
                    progress=progress,
                    on_state=states.append,
                )
            except (sync.PlanChanged, sync.UnsafePlan) as error:
                _finish(
                    target, run_id, RunOutcome.REFUSED, **runs.refused(error, target.client.requests_sent)
                )
                raise
            except BaseException as error:
                _finish(target, run_id, RunOutcome.FAILED, error=_message(error))
                raise
            outcome, details = runs.applied(result, states[0] if states else None)
            _finish(target, run_id, outcome, **details)
        return _portal_result(label, result)

    def _target(self, portal: PortalRef):
        options = {} if self.attempts is None else {"max_attempts": self.attempts}
        return cli_store.target(portal.ref, "--portal", **options)

    # -- threads ---------------------------------------------------------------------------------

    def _map(self, work: Callable, items: Sequence) -> list:
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(items)))) as pool:
            return list(pool.map(work, items))


def installed_portals() -> list[PortalRef]:
    """Every portal installed in the store (``--all``), by domain."""
    from b24app.store import PortalState

    with cli_store.opened_store() as (store, _):
        domains = [p.domain for p in store.portals.list() if p.state != PortalState.UNINSTALLED]
    return [PortalRef(d, d) for d in domains]


def template_label(path: str) -> str:
    return Path(path).name


# -- helpers -----------------------------------------------------------------------------------------


def _portal_plan(label: str, plan: Plan, requests: int) -> PortalPlan:
    return PortalPlan(
        label,
        summary={k: int(plan.summary.get(k, 0)) for k in COUNTS},
        refusals=len(plan.refusals),
        conflicts=len(plan.conflicts),
        checksum=plan.checksum,
        requests=requests,
    )


def _portal_result(label: str, result: ApplyResult) -> PortalResult:
    summary = result.summary()
    outcome = {
        ApplyOutcome.APPLIED_VERIFIED: FleetOutcome.APPLIED_VERIFIED,
        ApplyOutcome.NOTHING_TO_DO: FleetOutcome.NOTHING_TO_DO,
        ApplyOutcome.NOT_CONVERGED: FleetOutcome.NOT_CONVERGED,
    }[summary.outcome]
    message = None
    if outcome == FleetOutcome.NOT_CONVERGED:
        message = f"{summary.failed} change(s) failed; {summary.remaining} difference(s) remain"
    return PortalResult(
        label,
        outcome,
        applied=summary.applied,
        failed=summary.failed,
        remaining=summary.remaining,
        requests=summary.requests,
        message=message,
    )


def _bound(progress: FleetProgress | None, label: str) -> sync.Progress:
    if progress is None:
        return lambda _: None
    return lambda event: progress(label, event)


def _message(error: BaseException) -> str:
    """One line naming the failure, with no secret in it."""
    if isinstance(error, BitrixError | sync.SyncError | cli_store.CommandError | StoreError | ValueError):
        return redact(str(error))
    return f"unexpected {type(error).__name__}: {redact(str(error))}"


def _refusal(error: sync.PlanChanged | sync.UnsafePlan) -> str:
    from b24app import console

    if isinstance(error, sync.PlanChanged):
        return "the portal changed since its plan was shown; plan again and review it"
    return console.unsafe_message(error)


def _finish(target: cli_store.Target, run_id: int | None, outcome: RunOutcome, **details) -> None:
    if run_id is not None and target.store is not None:
        target.store.runs.finish(run_id, outcome, **details)


__all__ = [
    "Fleet",
    "FleetOutcome",
    "FleetPlan",
    "FleetResult",
    "PortalPlan",
    "PortalRef",
    "PortalResult",
    "installed_portals",
    "label_of",
]
