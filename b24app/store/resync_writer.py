"""Resync requests of many threads written together (``store.batch_writer``): the events endpoint's.

Each Bitrix24 event that asks for a resync is stored, with its event-log line, before it is
answered; the requests of events arriving meanwhile share its transaction and its commit
(``Resyncs.request_many``), merged as one request at a time would be.
"""

from __future__ import annotations

from b24app.store.batch_writer import MAX_BATCH, WAIT, BatchWriter, WriterStopped
from b24app.store.resyncs import Ask, Resyncs

__all__ = ["ResyncWriter", "WriterStopped"]


class ResyncWriter(BatchWriter[Ask, bool]):
    """``request`` as :meth:`Resyncs.request`, for many threads at once."""

    def __init__(self, resyncs: Resyncs, max_batch: int = MAX_BATCH) -> None:
        super().__init__(resyncs.request_many, "resync", max_batch)

    def request(self, ask: Ask, timeout: float = WAIT) -> bool:
        """True when a new request waits now, False when merged; returns once it is committed."""
        return bool(self.submit(ask, timeout))
