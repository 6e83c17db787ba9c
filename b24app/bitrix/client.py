"""The Bitrix24 REST client: the only code that sends HTTP requests to a portal.

One :class:`Client` per portal and credentials (build one with :func:`b24app.bitrix.connect`). It
respects the portal's request budget (a :class:`~b24app.bitrix.ratelimit.RateLimiter` shared per
portal), retries what is temporary (rate and time limits, server faults, network) with a
capped exponential backoff, renews an expired OAuth token once, and turns every failure into one
of the few error types of :mod:`b24app.bitrix.errors`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import requests

from b24app.bitrix.answers import CONNECTION_FAILED, error_from_exception, read_payload
from b24app.bitrix.auth import Auth
from b24app.bitrix.encoding import batch_command
from b24app.bitrix.errors import (
    AuthError,
    BitrixError,
    ProtocolError,
    TransientError,
    describe,
    error_from_payload,
)
from b24app.bitrix.ratelimit import RateLimiter, bucket_for
from b24app.bitrix.secrets import hide_secrets_in_http_logs

logger = logging.getLogger("b24app.bitrix")
hide_secrets_in_http_logs()

MAX_CONNECTION_ATTEMPTS = 3  # a portal that refuses connections is rarely back within seconds
MAX_BATCH = 50  # commands per batch, Bitrix24's limit
PAGE_SIZE = 50  # rows per page of a list method, fixed by Bitrix24
# Refusals Bitrix24 answers before running the method: retrying them can never do a write twice.
REFUSED_BEFORE_RUNNING = frozenset({"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "OVERLOAD_LIMIT"})
BATCH_SECTIONS = ("result", "result_error", "result_total", "result_next", "result_time")


def _user_agent() -> str:
    try:
        version = metadata.version("b24app")
    except metadata.PackageNotFoundError:  # running from a source checkout
        version = "dev"
    return f"b24app/{version}"


HEADERS = {"Accept": "application/json", "Content-Type": "application/json", "User-Agent": _user_agent()}


@dataclass(frozen=True)
class Command:
    """One method call inside a batch."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Reply:
    """A successful answer: ``result`` as sent (numbers may be strings), paging as ints."""

    result: Any
    total: int | None = None
    next: int | None = None
    time: dict[str, Any] | None = None


@dataclass
class BatchReply:
    """A batch's answers by command key; a failed command is in ``errors``, not raised."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BitrixError] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    nexts: dict[str, int] = field(default_factory=dict)

    def update(self, other: BatchReply) -> None:
        self.results.update(other.results)
        self.errors.update(other.errors)
        self.totals.update(other.totals)
        self.nexts.update(other.nexts)


class Client:
    """Calls one portal's REST methods; thread-safe as far as ``requests`` sessions are."""

    def __init__(
        self,
        auth: Auth,
        *,
        session: requests.Session | None = None,
        bucket: RateLimiter | None = None,
        timeout: float | tuple[float, float] = (3.05, 30.0),
        max_attempts: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.domain = auth.domain
        self.requests_sent = 0
        self._auth = auth
        self._session = session or requests.Session()
        self._bucket = bucket or bucket_for(auth.domain)
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._on_request = on_request
        self._count_lock = threading.Lock()
        # method -> (seconds until its operating_reset_at, time.monotonic() when that was reported)
        self._operating_reset: dict[str, tuple[float, float]] = {}

    def __repr__(self) -> str:
        return f"Client({self._auth!r})"

    # -- single calls ---------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, idempotent: bool = True) -> Reply:
        """Call ``method``; retries what is temporary and renews an expired token once.

        With ``idempotent=False`` (a write that must not happen twice, such as creating a pipeline)
        only refusals that Bitrix24 gives before running anything (rate and time limits) are
        retried; a timeout or a server error, after which the write may have happened, is raised.
        """
        payload = self._call_authorised(method, dict(params or {}), idempotent)
        time_block = payload.get("time")
        return Reply(
            result=payload["result"],
            total=_int_or_none(payload.get("total")),
            next=_int_or_none(payload.get("next")),
            time=time_block if isinstance(time_block, dict) else None,
        )

    def _call_authorised(self, method: str, params: dict[str, Any], idempotent: bool) -> dict[str, Any]:
        auth_params = self._auth.params()
        try:
            return self._call_with_retries(method, {**params, **auth_params}, idempotent)
        except AuthError as error:
            if error.code.lower() != "expired_token" or not self._auth.can_refresh:
                raise
        self._auth.refresh(self._session, stale_token=auth_params.get("auth"))
        return self._call_with_retries(method, {**params, **self._auth.params()}, idempotent)

    def _call_with_retries(self, method: str, body: dict[str, Any], idempotent: bool) -> dict[str, Any]:
        attempt = 1
        while True:
            try:
                return self._post(method, body)
            except TransientError as error:
                if not idempotent and error.code not in REFUSED_BEFORE_RUNNING:
                    raise
                if attempt >= self._max_attempts or (
                    error.code == CONNECTION_FAILED and attempt >= MAX_CONNECTION_ATTEMPTS
                ):
                    raise _gave_up(error, attempt) from None
                if error.code == "QUERY_LIMIT_EXCEEDED":
                    self._bucket.penalize()
                delay = self._delay(error, attempt)
                logger.debug("%s: retrying in %.2f s after: %s", method, delay, error)
                self._sleep(delay)
            attempt += 1

    def _post(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self._auth.method_url(method)
        self._bucket.acquire()
        if self._on_request is not None:
            self._on_request(method)
        with self._count_lock:
            self.requests_sent += 1
        logger.debug("POST %s", self._auth.redact(url))
        try:
            response = self._session.post(
                url, json=body, headers=HEADERS, timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as error:
            logger.debug("%s: %s", method, self._auth.redact(str(error)))
            raise error_from_exception(error, method, self.domain) from None
        payload = read_payload(response, method)
        if "result" not in payload:
            what = f"the portal answered without a result (HTTP {response.status_code})"
            raise ProtocolError(describe(method, what), status=response.status_code, method=method)
        self._remember_operating_reset(method, payload.get("time"))
        return payload

    def _delay(self, error: TransientError, attempt: int) -> float:
        """How long to wait before the next attempt, never more than ``max_backoff``."""
        delay = error.retry_after
        if delay is None and error.code == "OPERATION_TIME_LIMIT" and error.method:
            delay = self._until_operating_reset(error.method)
        if delay is None:
            ceiling = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        return min(delay, self._max_backoff)

    def _remember_operating_reset(self, method: str, time_block: Any) -> None:
        if not isinstance(time_block, dict):
            return
        reset_at, finish = time_block.get("operating_reset_at"), time_block.get("finish")
        try:
            self._operating_reset[method] = (float(reset_at) - float(finish), time.monotonic())
        except (TypeError, ValueError):
            return

    def until_operating_reset(self, method: str) -> float | None:
        """Seconds until ``method``'s operating-time budget resets, as the portal last reported it
        (None when unknown): a retry later than this client's own (the job queue's) waits that long."""
        return self._until_operating_reset(method)

    def _until_operating_reset(self, method: str) -> float | None:
        if method not in self._operating_reset:
            return None
        left, reported = self._operating_reset[method]
        remaining = left - (time.monotonic() - reported)
        return remaining if remaining > 0 else None

    # -- batches --------------------------------------------------------------------------------

    def batch(
        self, commands: Mapping[str, Command], *, halt: bool = False, idempotent: bool = True
    ) -> BatchReply:
        """Run up to 50 keyed commands in one request; a failed command lands in ``.errors``.

        ``idempotent=False``: see :meth:`call`."""
        if len(commands) > MAX_BATCH:
            raise ValueError(
                f"a batch holds at most {MAX_BATCH} commands, got {len(commands)}; use batch_all"
            )
        if not commands:
            return BatchReply()
        cmd = {key: batch_command(command.method, command.params) for key, command in commands.items()}
        reply = self.call("batch", {"halt": 1 if halt else 0, "cmd": cmd}, idempotent=idempotent)
        sections = _batch_sections(reply.result, commands)
        for key, time_block in sections["result_time"].items():  # each command has its own time limit
            self._remember_operating_reset(commands[key].method, time_block)
        return _batch_reply(sections, commands)

    def batch_all(
        self, commands: Mapping[str, Command], *, halt: bool = False, chunk: int = MAX_BATCH
    ) -> BatchReply:
        """Run any number of commands as consecutive batches of ``chunk``, in order.

        ``$result[...]`` references work only within one chunk. With ``halt``, no chunk is sent
        after one that had an error.
        """
        if not 1 <= chunk <= MAX_BATCH:
            raise ValueError(f"chunk must be between 1 and {MAX_BATCH}, got {chunk}")
        items = list(commands.items())
        merged = BatchReply()
        for start in range(0, len(items), chunk):
            reply = self.batch(dict(items[start : start + chunk]), halt=halt)
            merged.update(reply)
            if halt and reply.errors:
                break
        return merged

    # -- lists ----------------------------------------------------------------------------------

    def list_all(
        self, method: str, params: Mapping[str, Any] | None = None, *, key: str | None = None
    ) -> list:
        """Every row of a list method, following its pages from ``params["start"]`` (default 0).

        ``key`` names the wrapper inside ``result`` (``"categories"``, ``"types"``, ``"items"``).
        When the first page reports more than one page in ``total``, the remaining pages are
        fetched together in batches instead of one request per page.
        """
        base = dict(params or {})
        start = int(base.pop("start", 0))
        first = self.call(method, {**base, "start": start})
        rows = _page_rows(first.result, key, method)
        next_start, total = first.next, first.total
        if next_start is not None and total is not None and total > PAGE_SIZE and next_start < total:
            starts = range(next_start, total, PAGE_SIZE)
            commands = {f"start_{offset}": Command(method, {**base, "start": offset}) for offset in starts}
            pages = self.batch_all(commands, halt=True)
            for page_key in commands:
                if page_key in pages.errors:
                    raise pages.errors[page_key]
                if page_key not in pages.results:
                    raise ProtocolError(describe(method, f"the batch did not answer page {page_key}"))
                rows.extend(_page_rows(pages.results[page_key], key, method))
            start = starts[-1]
            next_start = pages.nexts.get(f"start_{start}")  # rows added since the first page
        while next_start is not None:
            if next_start <= start:
                raise ProtocolError(describe(method, f"the portal pages backwards (next {next_start})"))
            page = self.call(method, {**base, "start": next_start})
            rows.extend(_page_rows(page.result, key, method))
            start, next_start = next_start, page.next
        return rows


def _gave_up(error: TransientError, attempts: int) -> TransientError:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return TransientError(
        f"{error} (gave up after {tries}; rerunning is safe)",
        retry_after=error.retry_after,
        code=error.code,
        description=error.description,
        status=error.status,
        method=error.method,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _page_rows(result: Any, key: str | None, method: str) -> list:
    if key is not None and isinstance(result, dict):
        if key not in result:
            raise ProtocolError(describe(method, f"the portal's answer has no {key!r} list"))
        result = result[key]
    if isinstance(result, list):
        return list(result)
    raise ProtocolError(describe(method, "the portal answered something else than a list of rows"))


def _batch_sections(result: Any, commands: Mapping[str, Command]) -> dict[str, dict[str, Any]]:
    """The five sections of a batch answer by command key, as PHP encodes them.

    An empty section is ``[]``; a section whose keys are 0..n-1 is a JSON list (position = key).
    """
    if result == []:
        result = {}
    if not isinstance(result, dict):
        raise ProtocolError(describe("batch", "the portal answered a batch result that is not an object"))
    return {name: _section(result.get(name), commands) for name in BATCH_SECTIONS}


def _batch_reply(sections: dict[str, dict[str, Any]], commands: Mapping[str, Command]) -> BatchReply:
    return BatchReply(
        results=sections["result"],
        errors={
            key: _command_error(value, commands[key].method)
            for key, value in sections["result_error"].items()
        },
        totals=_ints(sections["result_total"]),
        nexts=_ints(sections["result_next"]),
    )


def _ints(section: dict[str, Any]) -> dict[str, int]:
    return {key: number for key, value in section.items() if (number := _int_or_none(value)) is not None}


def _section(value: Any, commands: Mapping[str, Command]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list):
        keys = list(commands)
        pairs = (
            (str(i) if str(i) in commands else keys[i], item) for i, item in enumerate(value[: len(keys)])
        )
        return dict(pairs)
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items() if str(key) in commands}
    raise ProtocolError(describe("batch", "the portal answered a batch section that is not an object"))


def _command_error(value: Any, method: str) -> BitrixError:
    if isinstance(value, Mapping):
        return error_from_payload(value, None, method)
    return error_from_payload({"error": "", "error_description": str(value)}, None, method)
