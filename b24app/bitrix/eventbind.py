"""Binding the events b24app listens to, at install: one ``event.get``, then one ``batch`` of ``event.bind``.

A reinstall (or a second install callback) must not bind a handler twice, so the handlers the
portal already has for this app (``event.get``) are skipped; a bind the portal still refuses as a
duplicate ("Unable to set event handler", platform.md §3.3) counts as bound too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from b24app.bitrix.auth import checked_url
from b24app.bitrix.client import MAX_BATCH, Client, Command

_EVENT = re.compile(r"ON[A-Z0-9_]{1,62}")
_DUPLICATE = "unable to set event handler"


@dataclass(frozen=True)
class BindResult:
    """What :func:`bind_events` did: newly bound, already there, and refused (event -> reason)."""

    bound: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def bind_events(client: Client, events: Sequence[str], handler_url: str) -> BindResult:
    """Bind each of ``events`` to ``handler_url`` on the client's portal, skipping those already bound.

    At most two requests: ``event.get``, then (if anything is missing) one ``batch``.
    """
    wanted = list(dict.fromkeys(event.strip().upper() for event in events))
    bad = [event for event in wanted if not _EVENT.fullmatch(event)]
    if bad:
        raise ValueError(f"not Bitrix24 event codes: {', '.join(bad)} (expected ON… in capitals)")
    if len(wanted) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} events can be bound in one batch, got {len(wanted)}")
    checked_url(handler_url, "the event handler URL")
    present = {
        str(row.get("event", "")).upper()
        for row in client.call("event.get").result or []
        if isinstance(row, dict) and row.get("handler") == handler_url
    }
    missing = [event for event in wanted if event not in present]
    already = [event for event in wanted if event in present]
    if not missing:
        return BindResult(already=tuple(already))
    commands = {
        f"bind_{event.lower()}": Command("event.bind", {"event": event, "handler": handler_url})
        for event in missing
    }
    reply = client.batch(commands)
    bound, failed = [], {}
    for key, command in commands.items():
        event = command.params["event"]
        error = reply.errors.get(key)
        if error is None and key in reply.results:
            bound.append(event)
        elif error is not None and _DUPLICATE in error.description.lower():
            already.append(event)
        else:
            failed[event] = str(error) if error else "the portal's batch answer did not mention it"
    return BindResult(bound=tuple(bound), already=tuple(already), failed=failed)
