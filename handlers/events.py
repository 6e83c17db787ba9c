"""``POST /b24/<slug>/events/``: the events b24app binds at install (install.json).

Bitrix24 never retries an event, so the answer comes at once: no portal is called here. Every
event is checked by its ``application_token`` first (platform.md §2.5), in constant time, against
the one stored for its ``member_id``; an unknown portal or a wrong token is refused with nothing
stored. The one exception is ONAPPUPDATE with a *new* ``application_token`` (§2.4): it is accepted
only when its access token is vouched for by the configured OAuth server (``app.info``) as this
registration's, for this very portal — then the new token replaces the stored one.

ONAPPUPDATE and ONCRMTYPEADD/UPDATE/DELETE (a new app version, a smart process changed) ask for a
resync of the portal: one row in the store, merged into the request that already waits, if any,
written with its event-log line and with the requests of concurrent events (``store.resync_writer``);
the workers do the work later. An uninstalled portal has no stored ``application_token``, so its
events never get this far.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, jsonify, request

from b24app.bitrix.callbacks import CallbackRefused, EventPost, PayloadError, parse_event
from b24app.bitrix.errors import BitrixError
from b24app.bitrix.verify import same_secret, verify_event
from b24app.store import NotFound, Portal, PortalState, Registration
from b24app.store.resyncs import MERGED, QUEUED, Ask, Logged
from handlers import common
from handlers.common import logger, refuse

bp = Blueprint("events", __name__)
_ANSWERS = {outcome: json.dumps({"result": outcome}) for outcome in (QUEUED, MERGED)}

CRM_TYPE_EVENTS = ("ONCRMTYPEADD", "ONCRMTYPEUPDATE", "ONCRMTYPEDELETE")


@bp.post("/b24/<slug>/events/")
def receive(slug: str):
    try:
        event = parse_event(request.get_data())
    except PayloadError as error:
        common.registration(slug)  # an unknown address is 404 whatever it was sent
        return refuse(400, "the event", error.reason)
    try:  # the registration and the portal in one go: hundreds of events a second may come
        registration, portal = common.store().registrations.with_portal(slug, event.auth.member_id)
    except NotFound:
        abort(404, description="no app registration has this address; see: b24app app list")
    if portal is None:
        return refuse(401, f"the {event.event} event", "no portal with this member_id installed this app")
    if not same_secret(portal.application_token, event.auth.application_token):
        if event.event != "ONAPPUPDATE":
            return refuse(403, f"the {event.event} event", "its application_token is wrong")
        return _renewed_token(event, registration, portal)
    return _handle(event, portal)


def _handle(event: EventPost, portal: Portal):
    store = common.store()
    if event.event == "ONAPPUPDATE":
        version = f"version {event.data.get('VERSION', '?')}; application_token unchanged"
        return _answer(_resync(event.event, portal, version))
    if event.event in CRM_TYPE_EVENTS:
        return _answer(_resync(event.event, portal, _entity(event)))
    if event.event == "ONAPPUNINSTALL":
        store.tokens.delete(portal.id)
        store.portals.set_application_token(portal.id, None)
        store.portals.set_state(portal.id, PortalState.UNINSTALLED)
        outcome, detail = "uninstalled", f"CLEAN={event.data.get('CLEAN', '0')}"
        logger.info("b24app was uninstalled from %s; its tokens are deleted", portal.domain)
    else:
        outcome, detail = "ignored", None
    store.events.record(event.event, outcome, portal_id=portal.id, member_id=portal.member_id, detail=detail)
    return jsonify(result=outcome)


def _renewed_token(event: EventPost, registration: Registration, portal: Portal):
    """ONAPPUPDATE carrying a new application_token: believed only if Bitrix24 vouches for its token."""
    what = "the ONAPPUPDATE event"
    if portal.state == PortalState.UNINSTALLED or not event.auth.access_token:
        return refuse(403, what, "its application_token is wrong and it carries no token to verify")
    try:
        verify_event(
            event,
            client_id=registration.client_id,
            oauth_url=common.settings().oauth_url,
            policy=common.policy(),
        )
    except CallbackRefused as refused:
        return refuse(403, what, refused.reason)
    except BitrixError as error:
        logger.warning("ONAPPUPDATE not verified: Bitrix24 did not answer (%s)", type(error).__name__)
        return jsonify(error="unavailable", message="Bitrix24 could not be asked"), 503
    common.store().portals.set_application_token(portal.id, event.auth.application_token)
    outcome = _resync(
        "ONAPPUPDATE", portal, f"version {event.data.get('VERSION', '?')}; application_token renewed"
    )
    logger.info("the application_token of %s was renewed (ONAPPUPDATE)", portal.domain)
    return jsonify(result=outcome)


def _resync(event: str, portal: Portal, detail: str) -> str:
    """Ask for a resync of the portal and log the event, in one transaction with the requests of the
    other events arriving meanwhile (store/resync_writer.py), and wake a worker for a new request;
    answered once committed. Returns the outcome logged: ``queued resync``, or ``merged`` into the
    request that waits."""
    ask = Ask(portal.id, event, log=Logged(event, portal.member_id, detail))
    if not common.store().resync_writer.request(ask):
        return MERGED  # the waiting request's worker is woken already
    jobs = common.jobs()
    if jobs is not None:  # a message to wake a worker; lost, the queue's sweep finds the request
        jobs.wake(portal.id)
    return QUEUED


def _answer(outcome: str) -> Response:
    """``{"result": outcome}``, written out once per outcome (jsonify's work shows at hundreds a second)."""
    return Response(_ANSWERS[outcome], mimetype="application/json")


def _entity(event: EventPost) -> str:
    fields = event.data.get("FIELDS")
    entity = fields.get("ENTITY_TYPE_ID") or fields.get("ID") if hasattr(fields, "get") else None
    return f"smart process {entity}" if entity else "smart process changed"
