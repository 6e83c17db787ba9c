"""Resync requests of many threads written together: one transaction, so one commit, per batch.

Bitrix24 events come in bursts of hundreds a second and each must be stored before it is answered
(Bitrix24 never sends one again). A transaction per event caps that at one commit at a time: on
SQLite every write transaction holds the database's one write lock through its commit's fsync, and
the threads of the server queue for it. Here each caller hands its request to a writer thread and
waits; the writer takes every request waiting (up to ``MAX_BATCH``), writes them in one transaction
and wakes their callers once it is committed. So an answered event is stored, as before, and a
burst costs a commit per batch instead of per event. A batch that fails is retried one request at
a time, so one bad request fails alone.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field

from b24app.store.resyncs import Ask, Resyncs

MAX_BATCH = 200  # requests in one transaction
WAIT = 60.0  # seconds a caller waits for its request's commit before it gives up
logger = logging.getLogger("b24app.store")


class WriterStopped(RuntimeError):
    """The writer was closed: the request was not stored."""


@dataclass
class _Pending:
    ask: Ask
    done: threading.Event = field(default_factory=threading.Event)
    queued: bool | None = None
    error: BaseException | None = None


class ResyncWriter:
    """``request`` as :meth:`Resyncs.request`, for many threads at once; the thread starts on first use."""

    def __init__(self, resyncs: Resyncs, max_batch: int = MAX_BATCH) -> None:
        self._resyncs = resyncs
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def request(self, ask: Ask, timeout: float = WAIT) -> bool:
        """True when a new request waits now, False when merged; returns once it is committed."""
        pending = _Pending(ask)
        with self._lock:
            if self._closed:
                raise WriterStopped("the resync writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="b24app resync writer", daemon=True)
                self._thread.start()
            self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise TimeoutError(f"the resync request was not stored within {timeout:.0f} s")
        if pending.error is not None:
            raise pending.error
        return bool(pending.queued)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop the thread; later requests are refused."""
        with self._lock:
            self._closed, thread = True, self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[_Pending] = []
            item = self._queue.get()
            while item is not None:
                batch.append(item)
                if len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            results = self._resyncs.request_many([p.ask for p in batch])
        except Exception:  # noqa: BLE001 - one at a time: only the request that fails fails
            logger.warning("a batch of %d resync requests failed; writing them one at a time", len(batch))
            for pending in batch:
                self._write_one(pending)
            return
        for pending, queued in zip(batch, results, strict=True):
            pending.queued = queued
            pending.done.set()

    def _write_one(self, pending: _Pending) -> None:
        try:
            pending.queued = self._resyncs.request_many([pending.ask])[0]
        except Exception as error:  # noqa: BLE001 - handed to the caller, who answers with an error
            pending.error = error
        pending.done.set()
