"""What one resync of a portal does, once a worker holds the portal's lock and claimed its request.

Read the portal, plan with its assigned library template and journal that plan (``user_name`` says
``resync: <reasons>``); when the portal's policy is ``apply`` and the plan has changes that are safe,
apply exactly that plan (its checksum) and journal the apply. Blocked changes and the prune guard's
refusals are only reported: a resync never forces. Then b24app.notify is told (drift, failure).
A plan in sync that finds just what the portal's previous resync plan found (the same template and
state) is not kept as a new run: that run is marked checked once more (:func:`_confirmed_again`).

The library folder is first brought to the revision the last library sync hashed
(``library.ensure_current``): the sync that queued this resync may have run on another machine.

Failures are sorted here (:func:`is_temporary`): a temporary one (limits, server faults, network,
an access token that expired meanwhile, the database for a moment) is tried again later by the
queue; any other (no permission, uninstalled, an invalid template) fails at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError

from b24app import console, library, runs, sync
from b24app import notify as notifier
from b24app.bitrix.client import Client
from b24app.bitrix.errors import AuthError, BitrixError, TransientError
from b24app.bitrix.secrets import redact
from b24app.core.changes import Plan
from b24app.core.inherit import BaseNotFound
from b24app.core.model import Template
from b24app.core.template import TemplateError, load_template
from b24app.portal_access import PortalUnavailable, connect_installed
from b24app.progress import ProgressEvent
from b24app.store import LockTimeout, NotFound, Portal, Run, RunKind, RunOutcome, Settings, Store, StoreError
from b24app.store import PortalState as InstallState
from b24app.template_files import library_file, library_resolver, read_base

logger = logging.getLogger("b24app.resync")
APPLY_POLICY = "apply"
EVENT = "resync"
WHO = "resync:"  # how a resync's runs begin their user_name


class ResyncFailed(Exception):
    """The resync failed; ``temporary`` says whether trying again later may succeed."""

    def __init__(
        self, message: str, *, temporary: bool, retry_after: float | None = None, run: Run | None = None
    ):
        super().__init__(message)
        self.temporary = temporary
        self.retry_after = retry_after  # seconds the portal asked us to wait (operating_reset_at)
        self.run = run  # the journal run that failed (None when none was started)


@dataclass(frozen=True)
class Done:
    """A resync that ran (``run``: its last journal run) or was skipped (``skipped``: why)."""

    run: Run | None = None
    skipped: str | None = None


def resync(
    store: Store,
    settings: Settings,
    portal_id: int,
    reasons: list[str],
    *,
    worker: str,
    on_run: Callable[[int], None],
    last_attempt: bool = True,
    client_options: dict[str, Any] | None = None,
) -> Done:
    """Plan (and, by policy, apply) the portal's template; ``on_run`` gets each journal run's id as
    it starts. Raises :class:`ResyncFailed` after journaling the failed run. A failure that will be
    tried again (temporary, not ``last_attempt``) is not notified."""
    try:
        portal = store.portals.by_id(portal_id)
    except NotFound:
        return Done(skipped="the portal was removed")
    skipped = _skip_reason(portal)
    if skipped:  # the queue notes it in the event log
        return Done(skipped=skipped)
    who = (WHO + " " + ", ".join(reasons))[:255]
    _library_current(store, settings)
    text = _template_text(settings, portal.template or "")
    run = store.runs.start(
        portal.id,
        RunKind.PLAN,
        worker=worker,
        user_name=who,
        template_name=portal.template,
        template_hash=runs.template_hash(text) if text is not None else None,
    )
    on_run(run.id)
    client = None
    try:
        if text is None:
            raise ResyncFailed(
                f"the template {portal.template!r} is not in the library {settings.templates}: put it back "
                "or assign another template to the portal",
                temporary=False,
            )
        template = load_template(
            text, source=f"{portal.template}.yaml", resolver=library_resolver(settings.templates)
        )
        client = connect_installed(store, settings, portal, **(client_options or {}))
        plan, read = sync.make_plan(client, template, progress=_progress(store, run.id))
        details = runs.planned(plan, client.requests_sent, read.state, template)
        details["result"]["state_digest"] = runs.state_digest(details["state_before"]["state"])
        sources = runs.template_sources(template)
        run = _confirmed_again(store, run, plan, details, sources) or store.runs.finish(
            run.id, RunOutcome.PLANNED, **details, template_sources=sources
        )
        if portal.policy == APPLY_POLICY and plan.has_changes and not plan.refused:
            run = store.runs.start(
                portal.id,
                RunKind.APPLY,
                worker=worker,
                user_name=who,
                template_name=portal.template,
                template_hash=run.template_hash,
            )
            on_run(run.id)
            run = _apply(store, client, template, plan.checksum, run)
    except Exception as error:  # journaled, then sorted into temporary or not
        temporary = is_temporary(error)
        failed = store.runs.finish(run.id, RunOutcome.FAILED, error=failure_text(error))
        if last_attempt or not temporary:
            notify(store, settings, client, portal, failed)
        raise ResyncFailed(
            failed.error or "", temporary=temporary, retry_after=retry_after(error, client), run=failed
        ) from error
    notify(store, settings, client, portal, run)
    return Done(run=run)


def _confirmed_again(
    store: Store, run: Run, plan: Plan, details: dict[str, Any], sources: list[dict[str, str]]
) -> Run | None:
    """The portal's previous run, confirmed, when this plan found just what it found; else None.

    Every 15 minutes a portal nobody touched gives the same plan in sync from the same state: kept as
    rows, that is 96 runs of ~17 KB a day per portal. So when this plan is in sync and the previous
    run of the portal is a resync plan in sync, with the same template (hash and files) and the same
    state (``result["state_digest"]``, compared by ``Runs.confirm``), that run is marked checked once
    more and this one removed. Drift, a changed state, another template, or any run in between (an
    apply, a page or CLI run) makes None: the plan is journaled in full, as the start of a new chain.
    """
    if not runs.in_sync(plan):
        return None
    earlier = store.runs.previous(run.id)
    if earlier is None or not _same_finding(earlier, run, details, sources):
        return None
    return store.runs.confirm(
        earlier.id, instead_of=run.id, worker=run.worker or "", state_digest=details["result"]["state_digest"]
    )


def _same_finding(earlier: Run, run: Run, details: dict[str, Any], sources: list[dict[str, str]]) -> bool:
    """Whether ``earlier`` is a resync plan in sync made with the template ``run`` uses (its state is
    compared in the store, atomically)."""
    result = earlier.result if isinstance(earlier.result, dict) else {}
    return (
        earlier.kind == RunKind.PLAN
        and earlier.outcome == RunOutcome.PLANNED
        and (earlier.user_name or "").startswith(WHO)
        and (earlier.template_name, earlier.template_hash) == (run.template_name, run.template_hash)
        and earlier.template_sources == sources
        and earlier.checksum == details["checksum"]
        and result.get("changes") == []
        and not result.get("refusals")
        and not result.get("conflicts")
    )


def _apply(store: Store, client: Client, template: Template, checksum: str, run: Run) -> Run:
    """Apply exactly the plan just journaled; a changed or unsafe plan is refused (never forced)."""
    outcome, details = runs.apply_reviewed(client, template, checksum, _progress(store, run.id))
    return store.runs.finish(run.id, outcome, **details)


def _skip_reason(portal: Portal) -> str | None:
    if portal.state == InstallState.UNINSTALLED:
        return f"skipped: {portal.domain} is uninstalled"
    if not portal.template:
        return f"skipped: no template is assigned to {portal.domain}"
    return None


def _library_current(store: Store, settings: Settings) -> None:
    """This machine's library folder at the revision the last sync hashed, before a template is read:
    the resync may have been queued by a sync on another machine, and this folder may be behind it.
    Failing is temporary (the repository unreachable for a moment): the resync is tried again."""
    try:
        library.ensure_current(store, settings)
    except library.LibraryError as error:
        raise ResyncFailed(str(error), temporary=True) from error


def _template_text(settings: Settings, name: str) -> str | None:
    """The assigned library template's text, None when the library has no such template."""
    file = library_file(settings.templates, name)
    if file is None or not file.is_file():
        return None
    try:
        return read_base(file, file.name)
    except BaseNotFound:
        return None


def _progress(store: Store, run_id: int) -> sync.Progress:
    def progress(event: ProgressEvent) -> None:
        store.runs.add_progress(run_id, console.progress_text(event))

    return progress


def is_temporary(error: BaseException) -> bool:
    """Worth trying again later: Bitrix24's temporary errors (the client gave up on them), an access
    token that expired again meanwhile, the database or a lock for a moment."""
    if isinstance(error, ResyncFailed):
        return error.temporary
    if isinstance(error, TransientError | OperationalError | LockTimeout):
        return True
    return isinstance(error, AuthError) and error.code.lower() == "expired_token"


def retry_after(error: BaseException, client: Client | None) -> float | None:
    """Seconds the portal asked us to wait: the answer's ``operating_reset_at``, or for an
    OPERATION_TIME_LIMIT refusal (which carries none) the one of the method's last success."""
    if not isinstance(error, TransientError):
        return None
    if error.retry_after is None and error.code == "OPERATION_TIME_LIMIT" and client and error.method:
        return client.until_operating_reset(error.method)
    return error.retry_after


def failure_text(error: BaseException) -> str:
    """One sentence for the journal, never a secret or a traceback (every job's, not only resyncs')."""
    if isinstance(error, ResyncFailed):
        return str(error)
    if isinstance(error, TemplateError):
        return "the template is not valid: " + "; ".join(map(str, error.problems))
    if isinstance(error, OperationalError):
        return "the database was unreachable for a moment"
    if isinstance(error, PortalUnavailable | sync.SyncError | BitrixError | StoreError):
        return redact(str(error))
    logger.exception("a job failed unexpectedly")
    return f"unexpected {type(error).__name__}: {redact(str(error))}; rerunning is safe"


def notify(store: Store, settings: Settings, client: Client | None, portal: Portal, run: Run) -> None:
    """Tell b24app.notify how the resync ended (it tells the portal's admin of drift or a failed
    apply, and never raises). Without a client (the portal could not be reached) there is no one
    to tell through."""
    if client is not None:
        notifier.after_resync(store, settings, client, portal, run)
