"""Runs off the request: plan and apply jobs and resyncs on a Huey queue, one portal at a time.

- The queue's storage comes from the configuration (:func:`make_queue`): Redis when ``REDIS_URL``
  is set (workers on any number of machines sharing it and the database), else SQLite in the
  instance folder (``jobs.sqlite``). Jobs carry ids and template text, never a token: the job
  loads the portal's tokens from the store itself.
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
  and the engine is idempotent. Across machines, a running run whose portal lock is free has lost
  its worker (the job holds the lock from start to finish): the periodic sweep marks it failed too.

Resyncs (:meth:`Jobs.request_resync`) are different: the database holds the request
(``store.resyncs``, merged per portal) and the queue's message only wakes a worker. The worker
takes the portal's lock, claims the request (its lease renewed while it runs), does it
(b24app.resync) and deletes it; a temporary failure puts it back to wait with an exponential
backoff, up to ``B24APP_JOB_ATTEMPTS`` attempts. Every worker process sweeps every few seconds:
a claimed request whose lease ended (its worker died, on any machine) waits again and its run is
marked failed; a due request no message woke (a lost message, a busy portal) is woken again.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from huey import Huey, SqliteHuey
from huey.consumer import Consumer

from b24app import console, library, resync, rollback, runs, sync
from b24app.core.model import Template
from b24app.core.template import load_template
from b24app.portal_access import connect_installed, installed_auth
from b24app.progress import ProgressEvent
from b24app.schedule import Scheduler
from b24app.store import LockTimeout, Resync, RunKind, RunOutcome, Settings, SettingsError, Store, StoreError
from b24app.store.locks import named_lock
from b24app.template_files import library_resolver

logger = logging.getLogger("b24app.jobs")

QUEUE_FILE = "jobs.sqlite"
PORTAL_LOCK_WAIT = 3600.0  # seconds a job waits for another job of its portal
WORKER_DIED = (
    "the worker running this job stopped before it finished (killed or crashed); what it wrote is "
    "in the portal, the rest is not: plan again to see what is left, then apply (running it again is safe)"
)
RESYNC_WORKER_DIED = (
    "the worker running this resync stopped before it finished (killed or crashed, its lease ended); "
    "what it wrote is in the portal, and the resync runs again by itself"
)
_STATES = {RunOutcome.QUEUED: "queued", RunOutcome.RUNNING: "running", RunOutcome.FAILED: "failed"}


@dataclass(frozen=True)
class RunStatus:
    run_id: int
    state: str  # queued | running | done | failed
    progress: list[str]
    outcome_json: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class Tuning:
    """How the queue paces itself; each has an environment variable (tests shorten them)."""

    queue_name: str = "b24app"  # B24APP_QUEUE_NAME: several b24app installations on one Redis
    lease: float = 60.0  # B24APP_JOB_LEASE: s a claimed resync stays claimed once its worker stops renewing
    sweep: float = 5.0  # B24APP_JOB_SWEEP: s between two sweeps of a worker process
    renudge: float = 30.0  # B24APP_JOB_RENUDGE: s a due request waits before it is woken again
    attempts: int = 5  # B24APP_JOB_ATTEMPTS: attempts of a resync before it fails for good
    backoff: float = 30.0  # B24APP_JOB_BACKOFF: s before the first retry (doubling, with jitter)
    max_backoff: float = 1800.0  # B24APP_JOB_MAX_BACKOFF: the longest wait between two attempts
    client_attempts: int = 3  # B24APP_JOB_CLIENT_ATTEMPTS: tries of one request within an attempt

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Tuning:
        values: dict[str, Any] = {}
        name = environ.get("B24APP_QUEUE_NAME", "").strip()
        if name:
            values["queue_name"] = name[:64]
        for field, kind in (
            ("lease", float),
            ("sweep", float),
            ("renudge", float),
            ("attempts", int),
            ("backoff", float),
            ("max_backoff", float),
            ("client_attempts", int),
        ):
            variable = f"B24APP_JOB_{field.upper()}"
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[field] = kind(raw)
            except ValueError:
                raise SettingsError(f"{variable} must be a number, such as {getattr(cls, field)}") from None
            if values[field] <= 0:
                raise SettingsError(f"{variable} must be more than 0")
        return cls(**values)

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones: exponential, capped, with
        jitter (workers that failed together do not retry together), never before the portal's
        ``operating_reset_at``."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** max(attempts - 1, 0))
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(wait, min(retry_after or 0.0, self.max_backoff))


def make_queue(settings: Settings, name: str = "b24app") -> Huey:
    """The queue the configuration names: Huey's Redis storage when ``REDIS_URL`` is set (many
    machines), else its SQLite storage in the instance folder (one machine)."""
    if settings.redis_url:
        from huey import RedisHuey

        return RedisHuey(name, url=settings.redis_url, results=False, utc=True)
    settings.instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(settings.instance / QUEUE_FILE), results=False, utc=True)


def queue_place(settings: Settings) -> str:
    """Where the queue is, for messages: Redis's host and port (never a password), or the SQLite file."""
    if not settings.redis_url:
        return str(settings.instance / QUEUE_FILE)
    parts = urlsplit(settings.redis_url)
    return f"Redis at {parts.hostname or parts.path}" + (f":{parts.port}" if parts.port else "")


class QueueUnavailable(StoreError):
    """The queue's storage does not answer (Redis down or unreachable)."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Jobs:
    def __init__(
        self, store: Store, settings: Settings, *, queue: Huey | None = None, tuning: Tuning | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.tuning = tuning or Tuning.from_env(os.environ)
        self.queue = queue or make_queue(settings, self.tuning.queue_name)
        self._apply_task = self.queue.task(name="b24app.apply")(self._apply_job)
        self._plan_task = self.queue.task(name="b24app.plan")(self._plan_job)
        self._rollback_task = self.queue.task(name="b24app.rollback")(self._rollback_job)
        self._resync_task = self.queue.task(name="b24app.resync")(self._resync_job)
        self._consumer: Consumer | None = None
        self._sweeper: _Sweeper | None = None
        self._scheduler: Scheduler | None = None

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

    def request_resync(self, portal_id: int, reason: str, not_before: datetime | None = None) -> bool:
        """Ask for a resync of the portal (durably, in the database); True when a new request waits,
        False when it was merged into the one waiting. A new one gets a wake-up message."""
        new = self.store.resyncs.request(portal_id, reason, not_before)
        if new:
            delay = 0.0 if not_before is None else (not_before - self.store.now()).total_seconds()
            self._nudge(portal_id, delay)
        return new

    def wake(self, portal_id: int) -> None:
        """Wake a worker for a request a trigger wrote itself (the events endpoint and the schedule
        write theirs in batches, through ``store.resyncs``): sooner than the sweep would."""
        self._nudge(portal_id)

    def _nudge(self, portal_id: int, delay: float = 0.0) -> None:
        """Wake a worker for the portal's request (after ``delay`` s). A message that cannot be sent
        loses nothing: the request is in the database and a sweep wakes it later."""
        try:
            if delay > 0:
                self._resync_task.schedule(args=(portal_id,), delay=delay)
            else:
                self._resync_task(portal_id)
        except Exception as error:  # noqa: BLE001 - the queue's storage may be down for a moment
            logger.warning(
                "portal %s: could not queue the resync's wake-up (%s)", portal_id, type(error).__name__
            )

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
        """Mark failed the runs whose worker died mid-job; returns their ids. On this machine a
        worker's process is looked up; another machine's worker is dead when its run's portal lock
        is free (a job holds it from start to finish; PostgreSQL frees it with the session)."""
        failed = []
        for run in self.store.runs.unfinished():
            if run.outcome != RunOutcome.RUNNING or not self._abandoned(run.portal_id, run.worker):
                continue
            message = RESYNC_WORKER_DIED if (run.user_name or "").startswith("resync:") else WORKER_DIED
            if self.store.runs.fail_if_running(run.id, run.worker, message):
                logger.warning("run %s: its worker %s died mid-job; marked failed", run.id, run.worker)
                failed.append(run.id)
        return failed

    def _abandoned(self, portal_id: int, worker: str | None) -> bool:
        if not worker or _local(worker):
            return _dead(worker)
        try:
            with named_lock(self.store, f"portal:{portal_id}", timeout=0):
                return True
        except LockTimeout:
            return False

    def sweep(self) -> None:
        """One sweep: resyncs whose worker died wait again (their runs marked failed), dead page
        jobs are marked failed, and due resyncs that no message woke are woken (also those asked
        for with ``store.resyncs.request`` alone)."""
        for stale in self.store.resyncs.recover():
            if stale.run_id is not None and stale.claimed_by:
                self.store.runs.fail_if_running(stale.run_id, stale.claimed_by, RESYNC_WORKER_DIED)
            logger.warning(
                "portal %s: the resync's worker %s died; it runs again", stale.portal_id, stale.claimed_by
            )
            self._nudge(stale.portal_id)
        self.recover()
        grace = self.tuning.sweep if self._queue_idle() else self.tuning.renudge
        for overdue in self.store.resyncs.overdue(grace):
            self._nudge(overdue.portal_id)

    def _queue_idle(self) -> bool:
        """No message waits in the queue: a due request is then woken at the next sweep (it may have
        been asked for in the database alone, or its message lost); while messages flow, only after
        ``tuning.renudge`` seconds, so a long queue is not flooded with second messages."""
        try:
            return len(self.queue) == 0
        except Exception:  # noqa: BLE001 - the queue's storage away for a moment: the slow path
            return False

    def check_queue(self) -> None:
        """Raise :class:`QueueUnavailable`, saying what to do, when the queue's storage does not answer."""
        try:
            len(self.queue)
        except Exception as error:  # noqa: BLE001 - redis's and sqlite's errors alike
            raise QueueUnavailable(
                f"the job queue ({queue_place(self.settings)}) does not answer ({type(error).__name__}); "
                "start it, or fix REDIS_URL (unset it to queue in the instance folder on one machine)"
            ) from None

    def library_duty(self) -> None:
        """A sync of the template library asked for by a signed webhook (b24app.library), if any: it
        asks for a resync of every portal whose template changed (the next sweep wakes them). Then
        this machine's library folder is brought to the revision the last sync (maybe on another
        machine) hashed, so the pages and resyncs here read what the portals are queued for."""
        report = library.run_pending(self.store, self.settings)
        if report is not None:
            logger.info("%s", report.summary())
        try:
            library.ensure_current(self.store, self.settings)
        except library.LibraryError as error:
            logger.warning("%s", error)

    def start_sweeper(self) -> None:
        """This process's periodic duties, in background threads: the sweep (and the library sync
        asked for) every ``tuning.sweep`` seconds, and the schedule's ticks. Every worker process
        runs them; locks in the store make each duty happen once across processes and machines."""
        if self._sweeper is None:
            self._sweeper = _Sweeper(self)
            self._sweeper.start()
            self._scheduler = Scheduler(self.store, self.settings, wake=self.wake).start()

    def stop_sweeper(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.stop()
        if sweeper is not None:
            sweeper.stop()

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
        self.start_sweeper()
        consumer = _InProcessConsumer(
            self.queue, workers=workers, worker_type="thread", periodic=False, max_delay=0.5
        )
        consumer.start()
        self._consumer = consumer

    def stop_consumer(self) -> None:
        """Stop the in-process consumer, letting the jobs that run finish."""
        consumer, self._consumer = self._consumer, None
        self.stop_sweeper()
        if consumer is not None:
            consumer.stop(graceful=True)

    # -- the jobs (run by a consumer) ------------------------------------------------------------

    def _apply_job(self, run_id: int, portal_id: int, name: str, text: str, expected_checksum: str) -> None:
        def work(progress: sync.Progress) -> tuple[RunOutcome, dict[str, Any]]:
            client = connect_installed(self.store, self.settings, portal_id)
            return runs.apply_reviewed(client, self._template(name, text), expected_checksum, progress)

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
                    outcome, details = RunOutcome.FAILED, {"error": resync.failure_text(error)}
                self.store.runs.finish(run_id, outcome, **details)  # still locked: runs never overlap
        except LockTimeout:
            self.store.runs.finish(
                run_id,
                RunOutcome.FAILED,
                error=f"another job of this portal ran for more than {PORTAL_LOCK_WAIT:g} s; try again later",
            )

    # -- resyncs (run by a consumer) -------------------------------------------------------------

    def _resync_job(self, portal_id: int) -> None:
        """Wake-up for the portal's resync: do its due request if the portal is free, then wake the next."""
        worker = worker_id()
        with _try_lock(self.store, f"portal:{portal_id}", self.tuning.lease) as locked:
            if not locked:
                return  # another job of this portal runs: a sweep wakes the request later
            claimed = self.store.resyncs.claim(portal_id, worker, self.tuning.lease)
            if claimed is None:
                return  # nothing due (merged, done, or waiting for its backoff)
            with _LeaseKeeper(self.store, claimed.id, worker, self.tuning.lease):
                self._do_resync(claimed, worker)
        if self.store.resyncs.due(portal_id):  # asked for again while it ran
            self._nudge(portal_id)

    def _do_resync(self, claimed: Resync, worker: str) -> None:
        attempt = claimed.attempts + 1
        last = attempt >= self.tuning.attempts
        if claimed.attempts >= self.tuning.attempts:  # its workers died that often: give up
            self._give_up(claimed, worker, None, f"its worker died {claimed.attempts} times")
            return
        try:
            done = resync.resync(
                self.store,
                self.settings,
                claimed.portal_id,
                claimed.reasons,
                worker=worker,
                on_run=lambda run_id: self.store.resyncs.set_run(claimed.id, worker, run_id),
                last_attempt=last,
                client_options={"max_attempts": self.tuning.client_attempts},
            )
        except Exception as error:  # noqa: BLE001 - journaled (ResyncFailed) or about to be
            failure = error if isinstance(error, resync.ResyncFailed) else None
            text = str(error) if failure else resync.failure_text(error)
            if resync.is_temporary(error) and not last:
                delay = self.tuning.delay(attempt, failure.retry_after if failure else None)
                not_before = self.store.now() + timedelta(seconds=delay)
                self.store.resyncs.retry_later(
                    claimed.id, worker, not_before, "retry after a temporary error"
                )
                logger.info(
                    "portal %s: resync attempt %s failed (%s); again in %.0f s",
                    claimed.portal_id,
                    attempt,
                    text,
                    delay,
                )
                self._nudge(claimed.portal_id, delay)
                return
            why = f"gave up after {attempt} attempts: {text}" if resync.is_temporary(error) else text
            self._give_up(claimed, worker, failure.run if failure else None, why)
            return
        self.store.resyncs.finish(claimed.id, worker)
        outcome = "skipped" if done.skipped else "done"
        detail = done.skipped or f"run {done.run.id}: {done.run.outcome.value}"
        self.store.events.record(
            resync.EVENT, outcome, portal_id=claimed.portal_id, detail=f"{_asked(claimed)}; {detail}"
        )

    def _give_up(self, claimed: Resync, worker: str, run: Any, why: str) -> None:
        """The resync fails for good: its run says why (one is journaled if none was), the request goes."""
        if run is None:
            self.store.runs.record(
                claimed.portal_id,
                RunKind.PLAN,
                RunOutcome.FAILED,
                worker=worker,
                user_name=("resync: " + ", ".join(claimed.reasons))[:255],
                error=why,
            )
        else:
            self.store.runs.finish(run.id, RunOutcome.FAILED, error=why)
        self.store.resyncs.finish(claimed.id, worker)
        self.store.events.record(
            resync.EVENT, "failed", portal_id=claimed.portal_id, detail=f"{_asked(claimed)}; {why}"
        )
        logger.warning("portal %s: the resync failed for good: %s", claimed.portal_id, why)


class _LeaseKeeper:
    """Renews a claimed resync's lease while its worker lives (a long resync keeps its claim)."""

    def __init__(self, store: Store, resync_id: int, worker: str, lease: float) -> None:
        self._args = (resync_id, worker, lease)
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease of resync {resync_id}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _keep(self) -> None:
        while not self._stop.wait(self._args[2] / 3):
            try:
                if not self._store.resyncs.renew(*self._args):
                    logger.warning(
                        "resync %s: its claim was taken back (lease ended); it will run again", self._args[0]
                    )
            except Exception as error:  # noqa: BLE001 - the next round tries again, within the lease
                logger.warning(
                    "resync %s: could not renew its lease (%s)", self._args[0], type(error).__name__
                )


class _Sweeper(threading.Thread):
    def __init__(self, jobs: Jobs) -> None:
        super().__init__(name="b24app sweeper", daemon=True)
        self._jobs = jobs
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self._jobs.tuning.sweep):
            for duty in (self._jobs.sweep, self._jobs.library_duty):
                try:
                    duty()
                except Exception:  # noqa: BLE001 - the database or the queue away for a moment: next round
                    logger.exception(
                        "%s failed; trying again in %s s", duty.__name__, self._jobs.tuning.sweep
                    )

    def stop(self) -> None:
        self._stopping.set()
        self.join()


@contextmanager
def _try_lock(store: Store, name: str, lease: float) -> Iterator[bool]:
    """The lock ``name`` if it is free now (True), else False at once."""
    with ExitStack() as stack:
        try:
            stack.enter_context(named_lock(store, name, timeout=0, lease=lease))
        except LockTimeout:
            yield False
            return
        yield True


def _asked(claimed: Resync) -> str:
    return f"{claimed.requests} request(s): {', '.join(claimed.reasons)}"


class _InProcessConsumer(Consumer):
    """Huey's consumer without signal handlers: the server's own process keeps those."""

    def _set_signal_handlers(self) -> None:
        pass


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


def _local(worker: str) -> bool:
    return worker.rpartition(":")[0] == socket.gethostname()


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
