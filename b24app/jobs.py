"""Runs off the request: plan and apply jobs on a Huey queue, one portal at a time.

- The queue's storage comes from the configuration (:func:`make_queue`): SQLite in the instance
  folder by default (``jobs.sqlite``); a Redis-backed queue is one more branch there, because
  nothing else depends on the storage (jobs carry ids and template text, never a token: the job
  loads the portal's tokens from the store itself).
- A run row is created at once (outcome ``queued``); the job sets it ``running`` (``started_at``
  is then the start of the work, ``worker`` the host:pid running it), appends the engine's
  progress lines to it as they happen, and records how it ended. Everything a page needs to show
  is in the database, so it survives a reload and a server restart.
- Jobs of one portal never run at the same time: each holds ``store.lock("portal:<id>")`` (across
  processes and machines sharing the database) from start to finish; a second job waits.
- A worker that dies mid-job (killed, crashed) leaves a ``running`` run behind. :meth:`Jobs.recover`
  (at every consumer start, and when such a run's status is asked) marks it failed, saying so.
  It is not run again by itself: the admin approved one plan, and after a partial apply the portal
  differs from it, so the same apply would be refused anyway; planning again shows what is left,
  and the engine is idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey, SqliteHuey
from huey.consumer import Consumer

from b24app import console, rollback, runs, sync
from b24app.bitrix.errors import BitrixError
from b24app.bitrix.secrets import redact
from b24app.core.model import PortalState, Template
from b24app.core.template import TemplateError, load_template
from b24app.portal_access import PortalUnavailable, connect_installed, installed_auth
from b24app.progress import ProgressEvent
from b24app.store import LockTimeout, RunKind, RunOutcome, Settings, Store, StoreError
from b24app.template_files import library_resolver

logger = logging.getLogger("b24app.jobs")

QUEUE_FILE = "jobs.sqlite"
PORTAL_LOCK_WAIT = 3600.0  # seconds a job waits for another job of its portal
WORKER_DIED = (
    "the worker running this job stopped before it finished (killed or crashed); what it wrote is "
    "in the portal, the rest is not: plan again to see what is left, then apply (running it again is safe)"
)
_STATES = {RunOutcome.QUEUED: "queued", RunOutcome.RUNNING: "running", RunOutcome.FAILED: "failed"}


@dataclass(frozen=True)
class RunStatus:
    run_id: int
    state: str  # queued | running | done | failed
    progress: list[str]
    outcome_json: dict[str, Any] | None
    error: str | None


def make_queue(settings: Settings, name: str = "b24app") -> Huey:
    """The queue the configuration names: Huey's SQLite storage in the instance folder (the default)."""
    settings.instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(settings.instance / QUEUE_FILE), results=False, utc=True)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Jobs:
    def __init__(self, store: Store, settings: Settings, *, queue: Huey | None = None) -> None:
        self.store = store
        self.settings = settings
        self.queue = queue or make_queue(settings)
        self._apply_task = self.queue.task(name="b24app.apply")(self._apply_job)
        self._plan_task = self.queue.task(name="b24app.plan")(self._plan_job)
        self._rollback_task = self.queue.task(name="b24app.rollback")(self._rollback_job)
        self._consumer: Consumer | None = None

    # -- submitting ------------------------------------------------------------------------------

    def submit_apply(
        self, portal_id: int, template_name: str, template_text: str, expected_checksum: str, user: Any
    ) -> int:
        """Queue an apply of exactly the reviewed plan (``expected_checksum``); returns the run id."""
        run_id = self._queued(portal_id, RunKind.APPLY, template_name, template_text, user)
        self._enqueue(
            run_id, self._apply_task, run_id, portal_id, template_name, template_text, expected_checksum
        )
        return run_id

    def submit_plan(self, portal_id: int, template_name: str, template_text: str, user: Any) -> int:
        run_id = self._queued(portal_id, RunKind.PLAN, template_name, template_text, user)
        self._enqueue(run_id, self._plan_task, run_id, portal_id, template_name, template_text)
        return run_id

    def submit_rollback(self, portal_id: int, rollback_of: int, expected_checksum: str, user: Any) -> int:
        """Queue the rollback of run ``rollback_of`` exactly as reviewed (``expected_checksum`` of the
        rollback plan shown); journaled as a run of kind rollback. Returns the new run's id."""
        portal = self.store.portals.by_id(portal_id)
        installed_auth(self.store, self.settings, portal)  # refuse at once (uninstalled, no tokens)
        user_id, user_name = _who(user)
        run_id = self.store.runs.record(
            portal_id,
            RunKind.ROLLBACK,
            RunOutcome.QUEUED,
            user_id=user_id,
            user_name=user_name,
            template_name=f"state before run {rollback_of}",
            rollback_of=rollback_of,
        ).id
        self._enqueue(run_id, self._rollback_task, run_id, portal_id, rollback_of, expected_checksum)
        return run_id

    def _queued(self, portal_id: int, kind: RunKind, name: str, text: str, user: Any) -> int:
        portal = self.store.portals.by_id(portal_id)
        installed_auth(self.store, self.settings, portal)  # refuse at once (uninstalled, no tokens)
        user_id, user_name = _who(user)
        run = self.store.runs.record(
            portal_id,
            kind,
            RunOutcome.QUEUED,
            user_id=user_id,
            user_name=user_name,
            template_name=name,
            template_hash=runs.template_hash(text),
        )
        return run.id

    def _enqueue(self, run_id: int, task: Callable[..., Any], *args: Any) -> None:
        try:
            task(*args)
        except Exception as error:
            self.store.runs.finish(run_id, RunOutcome.FAILED, error=f"the job could not be queued: {error}")
            raise

    # -- status ----------------------------------------------------------------------------------

    def status(self, run_id: int) -> RunStatus:
        run = self.store.runs.get(run_id)
        if run.outcome == RunOutcome.RUNNING and _dead(run.worker):
            self.store.runs.fail_if_running(run.id, run.worker, WORKER_DIED)
            run = self.store.runs.get(run_id)
        return RunStatus(
            run_id=run.id,
            state=_STATES.get(run.outcome, "done"),
            progress=list(run.progress or []),
            outcome_json=run.result,
            error=run.error,
        )

    def recover(self) -> list[int]:
        """Mark failed the runs whose worker died mid-job (on this machine); returns their ids."""
        failed = []
        for run in self.store.runs.unfinished():
            dead = run.outcome == RunOutcome.RUNNING and _dead(run.worker)
            if dead and self.store.runs.fail_if_running(run.id, run.worker, WORKER_DIED):
                logger.warning("run %s: its worker %s died mid-job; marked failed", run.id, run.worker)
                failed.append(run.id)
        return failed

    # -- consumers -------------------------------------------------------------------------------

    def consumer(self, workers: int = 1, **options: Any) -> Consumer:
        """A Huey consumer of this queue with thread workers (``run()`` it in a process of its own)."""
        options.setdefault("max_delay", 1.0)
        return self.queue.create_consumer(workers=workers, worker_type="thread", periodic=False, **options)

    def start_consumer(self, workers: int = 1) -> None:
        """Run the consumer in this process's background threads (``b24app serve``)."""
        if self._consumer is not None:
            return
        self.recover()
        consumer = _InProcessConsumer(
            self.queue, workers=workers, worker_type="thread", periodic=False, max_delay=0.5
        )
        consumer.start()
        self._consumer = consumer

    def stop_consumer(self) -> None:
        """Stop the in-process consumer, letting the jobs that run finish."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.stop(graceful=True)

    # -- the jobs (run by a consumer) ------------------------------------------------------------

    def _apply_job(self, run_id: int, portal_id: int, name: str, text: str, expected_checksum: str) -> None:
        def work(progress: sync.Progress) -> tuple[RunOutcome, dict[str, Any]]:
            client = connect_installed(self.store, self.settings, portal_id)
            state: list[PortalState] = []
            template = self._template(name, text)
            sources = {"template_sources": runs.template_sources(template)}
            try:
                result = sync.apply(
                    client,
                    template,
                    expected_checksum=expected_checksum,
                    progress=progress,
                    on_state=state.append,
                )
            except (sync.PlanChanged, sync.UnsafePlan) as error:
                return RunOutcome.REFUSED, {**runs.refused(error, client.requests_sent), **sources}
            outcome, details = runs.applied(result, state[0] if state else None, template)
            return outcome, details | sources

        self._run(run_id, portal_id, work)

    def _plan_job(self, run_id: int, portal_id: int, name: str, text: str) -> None:
        def work(progress: sync.Progress) -> tuple[RunOutcome, dict[str, Any]]:
            client = connect_installed(self.store, self.settings, portal_id)
            template = self._template(name, text)
            plan, read = sync.make_plan(client, template, progress=progress)
            details = runs.planned(plan, client.requests_sent, read.state, template)
            return RunOutcome.PLANNED, details | {"template_sources": runs.template_sources(template)}

        self._run(run_id, portal_id, work)

    def _rollback_job(self, run_id: int, portal_id: int, rollback_of: int, expected_checksum: str) -> None:
        def work(progress: sync.Progress) -> tuple[RunOutcome, dict[str, Any]]:
            return rollback.applied_in_job(
                self.store, self.settings, portal_id, rollback_of, expected_checksum, progress
            )

        self._run(run_id, portal_id, work)

    def _template(self, name: str, text: str) -> Template:
        """The job's template; its bases (``extends``) come from the library, as the page read them."""
        source = f"{name}.yaml" if name else "pasted template"
        return load_template(text, source=source, resolver=library_resolver(self.settings.templates))

    def _run(
        self, run_id: int, portal_id: int, work: Callable[[sync.Progress], tuple[RunOutcome, dict[str, Any]]]
    ) -> None:
        """Run ``work`` holding the portal's lock; the run row says when, where and how it went."""

        def progress(event: ProgressEvent) -> None:
            self.store.runs.add_progress(run_id, console.progress_text(event))

        try:
            with self.store.lock(f"portal:{portal_id}", timeout=PORTAL_LOCK_WAIT):
                self.store.runs.begin(run_id, worker_id())
                try:
                    outcome, details = work(progress)
                except Exception as error:  # recorded for the page; never a traceback there
                    outcome, details = RunOutcome.FAILED, {"error": _failure(error)}
                self.store.runs.finish(run_id, outcome, **details)  # still locked: runs never overlap
        except LockTimeout:
            self.store.runs.finish(
                run_id,
                RunOutcome.FAILED,
                error=f"another job of this portal ran for more than {PORTAL_LOCK_WAIT:g} s; try again later",
            )


class _InProcessConsumer(Consumer):
    """Huey's consumer without signal handlers: the server's own process keeps those."""

    def _set_signal_handlers(self) -> None:
        pass


def _failure(error: Exception) -> str:
    if isinstance(error, TemplateError):
        return "the template is not valid: " + "; ".join(map(str, error.problems))
    if isinstance(error, PortalUnavailable | sync.SyncError | BitrixError | StoreError):
        return redact(str(error))
    logger.exception("a job failed unexpectedly")
    return f"unexpected {type(error).__name__}: {redact(str(error))}; rerunning is safe"


def _who(user: Any) -> tuple[int | None, str | None]:
    """(user_id, user_name) from what the caller knows: an id, a name, a mapping or an object."""
    if user is None:
        return None, None
    if isinstance(user, int):
        return user, None
    if isinstance(user, str):
        return None, user[:255]
    if isinstance(user, tuple):
        return (user + (None, None))[:2]
    get = user.get if isinstance(user, dict) else (lambda key: getattr(user, key, None))
    user_id = get("id") if get("id") is not None else get("user_id")
    name = get("name") if get("name") is not None else get("user_name")
    return (int(user_id) if user_id is not None else None), (None if name is None else str(name)[:255])


def _dead(worker: str | None) -> bool:
    """Whether ``worker`` (host:pid) is a process of this machine that no longer exists."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's worker: its lock's lease or session tells (issue 8)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
