"""Telling a portal's admin inside Bitrix24 that its reference lists drifted or an apply failed.

The worker calls :func:`after_resync` after every resync run (a plan for a ``report`` portal, an
apply for an ``apply`` one). It sends one ``im.notify.system.add`` to ``portal.admin_user_id``:

- drift (policy ``report``, the plan has something to create, update or delete) is told once per
  drift: the plan's checksum is kept in ``portal.drift_checksum``, so the same drift found by every
  scheduled plan is not told again, a different drift is, and a plan in sync clears it;
- an apply that failed, was refused or did not converge is told every time (each is new news).

The message is short, in the portal's language (Russian for ``ru``, English otherwise), gives the
counts of what differs and links to the app page in the portal. It holds no token or secret, and no
string the portal sent (names of stages or pipelines, error texts): only numbers, our own words, the
portal's domain (checked to be a plain host name) and the registration's client_id.

Notifying is best effort: no admin, a portal that refuses (no ``im`` scope, an unknown user), a
network fault — each is logged and written to the event log (``NOTIFY``), and never raised into the
worker, whose run is already journaled.

Facts relied on (bitrix24/b24restdocs):

- api-reference/chats/notifications/im-notify-system-add.md: scope ``im``; USER_ID and MESSAGE
  required (``USER_ID_EMPTY``, ``MESSAGE_EMPTY``); MESSAGE_OUT is the text for e-mail; TAG is unique
  within the application, a new notification with an existing tag removes the earlier ones; the
  answer is the notification's id, or ``false`` when none was created;
- api-reference/chats/messages/formatting.md: links are written ``[URL=address]text[/URL]``;
- api-reference/widgets/universal/app-url.md: a local application's code is its client_id. The app
  page we link to is ``/marketplace/app/<client_id>/`` (the address a portal opens the app's own
  page at, as the sandbox does); ``/marketplace/view/<code>/`` would need the REST_APP_URI placement
  bound, which b24app does not do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from b24app.bitrix.errors import BitrixError, TransientError
from b24app.store.records import Portal, Run, RunKind, RunOutcome

if TYPE_CHECKING:
    from b24app.bitrix.client import Client
    from b24app.store import Settings, Store

logger = logging.getLogger("b24app.notify")

METHOD = "im.notify.system.add"
EVENT = "NOTIFY"  # the event log's name for what happened to a notice
APPLY_FAILURES = frozenset({RunOutcome.FAILED, RunOutcome.REFUSED, RunOutcome.NOT_CONVERGED})
DRIFT_COUNTS = ("create", "update", "delete")
# A portal's domain as it may appear in a link: host name labels or an IPv4 literal, an optional port.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?")
MAX_DOMAIN = 260  # 253 for the name, a colon and a port
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

WORDS = {
    "en": {
        "drift": "b24app: the CRM reference lists of this portal differ from their template",
        "failed": "b24app: applying the template to the CRM reference lists failed",
        "refused": "b24app: applying the template to the CRM reference lists was refused",
        "not_converged": "b24app: after applying the template, the CRM reference lists still differ",
        "plan": "{create} to create, {update} to update, {delete} to delete, {blocked} blocked",
        "apply": "{failed} change(s) failed, {remaining} difference(s) remain",
        "open": "Open b24app",
        "to_review": "to review it.",
    },
    "ru": {
        "drift": "b24app: справочники CRM этого портала отличаются от шаблона",
        "failed": "b24app: не удалось применить шаблон к справочникам CRM",
        "refused": "b24app: применение шаблона к справочникам CRM отклонено",
        "not_converged": "b24app: после применения шаблона справочники CRM всё ещё отличаются",
        "plan": "создать: {create}, изменить: {update}, удалить: {delete}, заблокировано: {blocked}",
        "apply": "изменений с ошибкой: {failed}, осталось различий: {remaining}",
        "open": "Откройте b24app",
        "to_review": "чтобы посмотреть подробности.",
    },
}
PLAN_COUNTS = (*DRIFT_COUNTS, "blocked")
APPLY_COUNTS = ("failed", "remaining")


@dataclass(frozen=True)
class Notice:
    """What to tell: ``kind`` picks the sentence and the TAG; ``drift`` is the checksum to remember."""

    kind: str  # "drift" or an apply outcome: "failed", "refused", "not_converged"
    tag: str
    counts: dict[str, int] | None  # the plan's (PLAN_COUNTS) or the apply's (APPLY_COUNTS), or none
    drift: str | None = None


def after_resync(store: Store, settings: Settings, client: Client, portal: Portal, run: Run) -> bool:
    """Tell the portal's admin about ``run`` when it found drift or an apply went wrong.

    Returns True when a notification was sent. Never raises: the run is journaled already, and a
    notice that cannot be given must not turn a resync into a failed job.
    """
    try:
        current = store.portals.by_id(portal.id)  # the drift last told of, as stored now
        notice = notice_for(current, run)
        if notice is None:
            _forget_drift_when_in_sync(store, current, run)
            return False
        return _tell(store, settings, client, current, run, notice)
    except Exception:  # noqa: BLE001 - best effort by design: log it, keep the worker going
        logger.exception("portal %s: the notice about run %s could not be given", portal.id, run.id)
        return False


def notice_for(portal: Portal, run: Run) -> Notice | None:
    """The notice ``run`` calls for, or None (nothing new to tell)."""
    if run.kind == RunKind.APPLY and run.outcome in APPLY_FAILURES:
        return Notice(run.outcome.value, f"b24app|apply|{portal.id}", _apply_counts(run))
    if run.kind != RunKind.PLAN or run.outcome != RunOutcome.PLANNED or portal.policy != "report":
        return None
    counts = _counts(run.summary, PLAN_COUNTS)
    if counts is None or not any(counts[k] for k in DRIFT_COUNTS) or not run.checksum:
        return None
    if run.checksum == portal.drift_checksum:
        return None  # this drift was told already
    return Notice("drift", f"b24app|drift|{portal.id}", counts, drift=run.checksum)


def _forget_drift_when_in_sync(store: Store, portal: Portal, run: Run) -> None:
    """A plan without drift, or an apply that converged: the next drift is news again."""
    if portal.drift_checksum is None:
        return
    in_sync_plan = run.kind == RunKind.PLAN and run.outcome == RunOutcome.PLANNED and not _drifts(run)
    if in_sync_plan or (run.kind == RunKind.APPLY and run.outcome == RunOutcome.APPLIED):
        store.portals.set_drift(portal.id, None)
        store.events.record(EVENT, "drift_cleared", portal_id=portal.id, detail=f"run {run.id}")


def _drifts(run: Run) -> bool:
    counts = _counts(run.summary, PLAN_COUNTS)
    return counts is not None and any(counts[k] for k in DRIFT_COUNTS)


def _apply_counts(run: Run) -> dict[str, int] | None:
    """What an apply left: failed changes and remaining differences (ApplyResult.to_json's counts);
    the plan's counts when the apply never ran (refused before writing)."""
    result = run.result if isinstance(run.result, Mapping) else {}
    found = _counts(result.get("counts"), APPLY_COUNTS)
    return found if found is not None else _counts(run.summary, PLAN_COUNTS)


def _counts(section: object, keys: tuple[str, ...]) -> dict[str, int] | None:
    """Counts from the journal's JSON as plain non-negative ints (read defensively: only numbers
    ever reach a message)."""
    if not isinstance(section, Mapping) or not any(key in section for key in keys):
        return None
    counts = {}
    for key in keys:
        value = section.get(key, 0)
        counts[key] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
    return counts


def _tell(store: Store, settings: Settings, client: Client, portal: Portal, run: Run, notice: Notice) -> bool:
    detail = f"{notice.kind}, run {run.id}"
    if portal.admin_user_id is None or portal.admin_user_id <= 0:
        return _not_told(
            store, portal, notice, "no_admin", f"{detail}: the portal has no admin user on record"
        )
    link = app_page_url(store, settings, portal)
    if link is None:
        return _not_told(store, portal, notice, "no_link", f"{detail}: the app page address cannot be built")
    params = message_params(notice, link, portal.language)
    try:
        # one request; a retry after a lost answer is harmless: the same TAG replaces the first notice
        answer = client.call(METHOD, {"USER_ID": portal.admin_user_id, **params})
    except BitrixError as error:
        transient = isinstance(error, TransientError)
        reason = f"{detail}: {error.code or type(error).__name__}"
        # a refusal is final for this drift; a temporary fault is tried again by the next plan
        return _not_told(
            store, portal, notice, "failed" if transient else "refused", reason, remember=not transient
        )
    if answer.result is False or answer.result is None:
        return _not_told(
            store, portal, notice, "not_created", f"{detail}: the portal created no notification"
        )
    if notice.drift is not None:
        store.portals.set_drift(portal.id, notice.drift)
    store.events.record(EVENT, "sent", portal_id=portal.id, detail=f"{detail}, user {portal.admin_user_id}")
    logger.info(
        "portal %s: told user %s of %s (run %s)", portal.id, portal.admin_user_id, notice.kind, run.id
    )
    return True


def _not_told(
    store: Store, portal: Portal, notice: Notice, outcome: str, detail: str, *, remember: bool = True
) -> bool:
    """Log why no notice was given; a drift is remembered so the same drift is not tried every plan."""
    logger.warning("portal %s: no notice given (%s): %s", portal.id, outcome, detail)
    store.events.record(EVENT, outcome, portal_id=portal.id, detail=detail[:500])
    if remember and notice.drift is not None:
        store.portals.set_drift(portal.id, notice.drift)
    return False


def app_page_url(store: Store, settings: Settings, portal: Portal) -> str | None:
    """``https://<portal domain>/marketplace/app/<client_id>/``, or None when either part is not
    plainly safe to put into a link (the domain came from the portal at install).

    Plain ``http`` only for a development portal on loopback (``allow_loopback``, the sandbox),
    whose REST endpoint is plain http too.
    """
    if portal.registration_id is None:
        return None
    client_id = store.registrations.get(portal.registration_id).client_id
    domain = portal.domain.strip().lower()
    if len(domain) > MAX_DOMAIN or not _DOMAIN.fullmatch(domain) or not _CLIENT_ID.fullmatch(client_id):
        return None
    scheme = "http" if settings.allow_loopback and portal.client_endpoint.startswith("http://") else "https"
    return f"{scheme}://{domain}/marketplace/app/{client_id}/"


def message_params(notice: Notice, link: str, language: str | None) -> dict[str, str]:
    """MESSAGE (with a BB-code link), MESSAGE_OUT (the address written out, for e-mail) and TAG."""
    words = WORDS[_language(language)]
    sentence = words[notice.kind]
    if notice.counts is not None:
        which = "apply" if set(notice.counts) == set(APPLY_COUNTS) else "plan"
        sentence += f" ({words[which].format(**notice.counts)})"
    sentence += "."
    return {
        "MESSAGE": f"{sentence} [URL={link}]{words['open']}[/URL] {words['to_review']}",
        "MESSAGE_OUT": f"{sentence} {words['open']}: {link}",
        "TAG": notice.tag,
    }


def _language(language: str | None) -> str:
    """The portal's language: ``ru`` → Russian, anything else → English (as the in-portal page)."""
    return "ru" if (language or "").strip().lower()[:2] == "ru" else "en"
