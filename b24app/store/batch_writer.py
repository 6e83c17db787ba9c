"""Writes of many threads done together: one transaction, so one commit, per batch.

Bitrix24 events and webhook deliveries come in bursts of hundreds a second, and each must be
stored before it is answered (Bitrix24 never sends an event again). A transaction per request caps
that at one commit at a time: on SQLite every write transaction holds the database's one write lock
through its commit's fsync; on PostgreSQL requests that update one shared row (the library's sync
clock) wait for each other's commits. Here each caller hands its item to a writer thread and waits;
the writer takes every item waiting (up to ``MAX_BATCH``), writes them with one call of
``write_many`` (one transaction) and wakes their callers once it is committed. So an answered
request is stored, as before, and a burst costs a commit per batch instead of per request. A batch
that fails is written again one item at a time, so one bad item (a replayed delivery) fails alone,
with its own error.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

MAX_BATCH = 200  # items in one transaction
WAIT = 60.0  # seconds a caller waits for its item's commit before it gives up
logger = logging.getLogger("b24app.store")

Item = TypeVar("Item")
Result = TypeVar("Result")


class WriterStopped(RuntimeError):
    """The writer was closed: the item was not stored."""


@dataclass
class _Pending:
    item: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class BatchWriter(Generic[Item, Result]):
    """``submit`` as ``write_many([item])[0]``, for many threads at once; the thread starts on first use.

    ``write_many`` writes its items in one transaction and returns one result per item, in order; it
    raises (changing nothing) when any item cannot be written.
    """

    def __init__(
        self, write_many: Callable[[Sequence[Item]], list[Result]], name: str, max_batch: int = MAX_BATCH
    ) -> None:
        self._write_many = write_many
        self._name = name
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, item: Item, timeout: float = WAIT) -> Result:
        """``item``'s result, once it is committed; ``write_many``'s error for this item alone."""
        pending = _Pending(item)
        with self._lock:
            if self._closed:
                raise WriterStopped(f"the {self._name} writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"b24app {self._name} writer", daemon=True
                )
                self._thread.start()
            self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise TimeoutError(f"the {self._name} request was not stored within {timeout:.0f} s")
        if pending.error is not None:
            raise pending.error
        return pending.result

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop the thread; later items are refused."""
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
        if len(batch) == 1:
            self._write_one(batch[0])
            return
        try:
            results = self._write_many([p.item for p in batch])
        except Exception:  # noqa: BLE001 - one at a time: only the item that fails fails
            logger.warning(
                "a batch of %d %s requests failed; writing them one at a time", len(batch), self._name
            )
            for pending in batch:
                self._write_one(pending)
            return
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
            pending.done.set()

    def _write_one(self, pending: _Pending) -> None:
        try:
            pending.result = self._write_many([pending.item])[0]
        except Exception as error:  # noqa: BLE001 - handed to the caller, who answers with an error
            pending.error = error
        pending.done.set()
