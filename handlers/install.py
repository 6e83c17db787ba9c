"""``POST /b24/<slug>/install/``: both install flavours of platform.md §2.

- "API only" (§2.2): the portal POSTs ONAPPINSTALL with the installing user's token pair.
- "with UI" (§2.3): the portal opens the installer in its frame (a frame POST with ``AUTH_ID``,
  ``REFRESH_ID``, ``member_id``…); the installer shows what b24app will do, lets the admin pick the
  portal's template, and its form (the third kind of POST here, with a signed ``install_token``)
  ends with a page that calls ``BX24.installFinish()``.

Either way nothing is trusted before Bitrix24 vouches for the token (``app.info`` on the configured
OAuth server): the portal's identity and address come from that answer only, must pass the SSRF
guard, and must match the registration (client_id) this URL belongs to and what the POST claims.

The installing user (Bitrix24's ``user_id`` in that answer) is kept as the portal's admin. A portal
whose policy is ``apply`` and that has a template (a reinstall keeps both; the installer's form
assigns one) gets its initial deploy asked for: a resync request, done later by a worker.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, render_template_string, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from b24app.bitrix.callbacks import CallbackRefused, PayloadError, parse_event, parse_frame, parse_php_form
from b24app.bitrix.errors import BitrixError
from b24app.bitrix.eventbind import BindResult, bind_events
from b24app.bitrix.verify import VerifiedPortal, portal_client, verified_tokens, verify_event, verify_frame
from b24app.store import NotFound, Portal, PortalState, Registration, TokenPair
from b24app.store.portals import APPLY
from handlers import common, i18n
from handlers.common import logger, refuse

bp = Blueprint("install", __name__)

INSTALL_TOKEN_AGE = 30 * 60  # seconds the installer form stays valid
_SALT = "b24app-installer"


@dataclass(frozen=True)
class Installed:
    portal: Portal
    bound: BindResult | None
    bind_error: str | None = None


@bp.post("/b24/<slug>/install/")
def install(slug: str):
    registration = common.registration(slug)
    try:
        form = parse_php_form(request.get_data(), "the installation")
        if "event" in form:
            return _api_only(registration)
        if "AUTH_ID" in form:
            return _installer(registration)
        if "install_token" in form:
            return _finish(registration, form)
    except CallbackRefused as refused:
        return refuse(403 if not _is_payload_error(refused) else 400, "the installation", refused.reason)
    except BitrixError as error:  # Bitrix24 could not be asked: nothing was stored
        logger.warning("installation not verified: Bitrix24 did not answer (%s)", type(error).__name__)
        return jsonify(error="unavailable", message="Bitrix24 could not be asked; try again"), 503
    return refuse(400, "the installation", "neither an ONAPPINSTALL event nor an installer frame")


def _is_payload_error(refused: CallbackRefused) -> bool:
    return isinstance(refused, PayloadError)


# -- "API only": ONAPPINSTALL ------------------------------------------------------------------------


def _api_only(registration: Registration):
    event = parse_event(request.get_data())
    if event.event != "ONAPPINSTALL":
        raise CallbackRefused("the installation", f"{event.event} is not an installation event")
    verified = verify_event(event, **_verify_options(registration))
    _check_claims(verified, event.auth.domain, event.auth.client_endpoint)
    expires = _expiry(event.auth.expires, event.auth.expires_in)
    done = _install(
        registration,
        verified,
        access_token=event.auth.access_token or "",
        refresh_token=event.auth.refresh_token or "",
        expires=expires,
        application_token=event.auth.application_token,
        language=event.language,
        state=PortalState.INSTALLED,
    )
    deploy = _initial_deploy(done.portal)
    common.store().events.record(
        "ONAPPINSTALL",
        "installed",
        portal_id=done.portal.id,
        member_id=verified.member_id,
        detail="; ".join(filter(None, (_bind_detail(done), deploy))),
    )
    status = 200 if done.bind_error is None else 502
    return jsonify(result="installed", portal=verified.domain, events=_bind_summary(done)), status


# -- "with UI": the installer page -------------------------------------------------------------------


def _installer(registration: Registration):
    frame = parse_frame(request.query_string, request.get_data())
    verified = verify_frame(frame, policy=common.policy(), **_verify_options(registration, policy=False))
    _check_claims(verified, frame.domain, None)
    if not verified.admin:
        raise CallbackRefused("the installation", "only a portal administrator can install b24app")
    expires = _expiry(None, frame.auth_expires)
    done = _install(
        registration,
        verified,
        access_token=frame.auth_id,
        refresh_token=frame.refresh_id or "",
        expires=expires,
        application_token=frame.application_token,
        language=frame.lang,
        state=PortalState.INSTALLING,
    )
    common.store().events.record(
        "INSTALLER",
        "opened",
        portal_id=done.portal.id,
        member_id=verified.member_id,
        detail=_bind_detail(done),
    )
    token = _serializer().dumps({"p": done.portal.id, "r": registration.slug, "u": verified.user_id})
    return _page(
        INSTALLER_PAGE,
        verified,
        lang=_lang(frame.lang),
        token=token,
        action=request.path,
        templates=template_names(common.settings().templates),
        current=done.portal.template,
        bound=_bind_summary(done),
        bind_error=done.bind_error,
    )


def _finish(registration: Registration, form: dict):
    """The installer's form: the chosen template, then the page that calls BX24.installFinish()."""
    if not _same_origin():
        raise CallbackRefused("the installation", "the form was posted from another site")
    try:
        signed = _serializer().loads(str(form.get("install_token", "")), max_age=INSTALL_TOKEN_AGE)
    except BadSignature:
        raise CallbackRefused(
            "the installation", "the installer form expired or was altered; reopen b24app"
        ) from None
    if signed.get("r") != registration.slug:
        raise CallbackRefused("the installation", "the installer form belongs to another registration")
    store = common.store()
    try:
        portal = store.portals.by_id(int(signed["p"]))
    except (NotFound, KeyError, TypeError, ValueError):
        raise CallbackRefused("the installation", "the portal of this installer form is unknown") from None
    if portal.state == PortalState.UNINSTALLED:
        raise CallbackRefused("the installation", "b24app was uninstalled from this portal meanwhile")
    choice = form.get("template", "")
    if not isinstance(choice, str):
        raise CallbackRefused("the installation", "the template field is malformed")
    if choice and choice not in template_names(common.settings().templates):
        raise CallbackRefused("the installation", "the chosen template is not in the library")
    store.portals.assign_template(portal.id, choice or None)
    store.portals.set_state(portal.id, PortalState.INSTALLED)
    deploy = _initial_deploy(store.portals.by_id(portal.id))
    store.events.record(
        "INSTALLER", "finished", portal_id=portal.id, member_id=portal.member_id, detail=deploy
    )
    verified_origin = f"{urlsplit(portal.client_endpoint).scheme}://{portal.domain}"
    return _page(FINISH_PAGE, None, origin=verified_origin, lang=_lang(portal.language), template=choice)


# -- the work ----------------------------------------------------------------------------------------


def _verify_options(registration: Registration, *, policy: bool = True) -> dict:
    options = {"client_id": registration.client_id, "oauth_url": common.settings().oauth_url}
    if policy:
        options["policy"] = common.policy()
    return options


def _check_claims(verified: VerifiedPortal, domain: str | None, client_endpoint: str | None) -> None:
    """What the POST claims about the portal must be what Bitrix24 says (a forgery otherwise)."""
    claimed = [domain.lower()] if domain else []
    if client_endpoint:
        claimed.append(urlsplit(client_endpoint).netloc.lower())
    if any(not hmac.compare_digest(c, verified.domain) for c in claimed):
        raise CallbackRefused("the installation", "the POSTed portal address differs from Bitrix24's answer")


def _install(
    registration: Registration,
    verified: VerifiedPortal,
    *,
    access_token: str,
    refresh_token: str,
    expires: datetime | None,
    application_token: str,
    language: str | None,
    state: PortalState,
) -> Installed:
    """Store the portal (one row per member_id: a reinstall updates it) and its tokens; bind events."""
    if not refresh_token:
        raise CallbackRefused("the installation", "it carries no refresh token to keep")
    settings, store = common.settings(), common.store()
    tokens = verified_tokens(
        verified,
        access_token,
        refresh_token,
        oauth_url=settings.oauth_url,
        expires=expires.timestamp() if expires else None,
    )
    urls = common.app_urls(registration.slug)
    portal = store.portals.upsert(
        verified.member_id,
        domain=verified.domain,
        client_endpoint=verified.client_endpoint,
        registration_id=registration.id,
        state=state,
        language=language,
        application_token=application_token,
    )
    store.tokens.save(
        portal.id, TokenPair(tokens.access_token, tokens.refresh_token, expires, tokens.scope or None)
    )
    if verified.user_id is not None:  # who installed: the admin to tell about drift or a failed apply
        store.portals.set_admin(portal.id, verified.user_id)
    logger.info("installed b24app (%s) in %s", registration.client_id, verified.domain)
    client = portal_client(verified, access_token, common.policy())
    try:
        bound = bind_events(client, common.manifest().events, urls.events)
    except BitrixError as error:
        logger.warning("binding events in %s failed: %s", verified.domain, type(error).__name__)
        return Installed(portal, None, f"the portal refused the event binding ({type(error).__name__})")
    error = None if bound.ok else "some events could not be bound: " + ", ".join(sorted(bound.failed))
    return Installed(portal, bound, error)


def _initial_deploy(portal: Portal) -> str | None:
    """Ask for the portal's first resync when its policy says apply and it has a template to apply;
    returns what the event log should say about it (None: nothing asked)."""
    if portal.state != PortalState.INSTALLED or portal.policy != APPLY or not portal.template:
        return None
    queued = common.store().resyncs.request(portal.id, "ONAPPINSTALL")
    return "initial deploy queued" if queued else "initial deploy merged into the waiting resync"


def _expiry(expires: int | None, expires_in: int | None) -> datetime | None:
    if expires:
        return datetime.fromtimestamp(expires, UTC)
    if expires_in:
        return common.store().now() + timedelta(seconds=expires_in)
    return None


def _bind_summary(done: Installed) -> dict:
    if done.bound is None:
        return {"bound": [], "already": [], "failed": list(common.manifest().events)}
    return {
        "bound": list(done.bound.bound),
        "already": list(done.bound.already),
        "failed": sorted(done.bound.failed),
    }


def _bind_detail(done: Installed) -> str:
    summary = _bind_summary(done)
    return "; ".join(f"{key}: {', '.join(value) or '-'}" for key, value in summary.items())


def template_names(folder: Path) -> list[str]:
    """The library: ``*.yaml`` files of the templates folder, names without ``.yaml``."""
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.yaml") if path.is_file())


def _serializer() -> URLSafeTimedSerializer:
    from flask import current_app

    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)


def _same_origin() -> bool:
    """A POST whose Origin names another site is refused (no Origin: a same-origin form in old browsers)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    public = common.settings().public_url or request.host_url
    mine = urlsplit(public)
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) == (mine.scheme, mine.netloc) or theirs.netloc == request.host


def _lang(value: str | None) -> str:
    return i18n.language(value)


def bx24_script_url(oauth_url: str) -> str:
    """The BX24 library: Bitrix24's //api.bitrix24.com/api/v1/, or the configured OAuth server's (sandbox)."""
    oauth_url = oauth_url.rstrip("/")
    if urlsplit(oauth_url).hostname == "oauth.bitrix.info":
        return "https://api.bitrix24.com/api/v1/"
    return f"{oauth_url}/api/v1/"


def _page(source: str, verified: VerifiedPortal | None, *, origin: str | None = None, lang: str, **context):
    manifest = common.manifest()
    if verified is not None:
        origin = f"{urlsplit(verified.client_endpoint).scheme}://{verified.domain}"
    script = bx24_script_url(common.settings().oauth_url)
    nonce = secrets.token_urlsafe(16)
    html = render_template_string(
        source,
        t=i18n.installer_words(lang),
        lang=lang,
        manifest=manifest,
        script=script,
        nonce=nonce,
        **context,
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    script_origin = "{0.scheme}://{0.netloc}".format(urlsplit(script))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {script_origin} 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        f"form-action 'self'; base-uri 'none'; frame-ancestors {origin}"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"  # no-referrer would make Origin "null"
    return response


INSTALLER_PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ t.title }}</title></head>
<body>
<h1>{{ t.title }}</h1>
<p>{{ t.intro }}</p>
<p>{{ t.manages }}</p>
<ul id="lists">{% for item in t.lists %}<li>{{ item }}</li>{% endfor %}</ul>
<p>{{ t.events }}:</p>
<ul id="events">{% for event in manifest.events %}<li>{{ event }}</li>{% endfor %}</ul>
<p>{{ t.scopes }}:</p>
<ul id="scopes">{% for scope in manifest.scopes %}<li>{{ scope.titles[lang] }} ({{ scope.code }})</li>{% endfor %}</ul>
{% if bind_error %}<p id="bind-error"><strong>{{ t.bind_error }}:</strong> {{ bind_error }}</p>{% endif %}
<form id="install" method="post" action="{{ action }}">
<input type="hidden" name="install_token" value="{{ token }}">
<label for="template">{{ t.template }}</label>
<select id="template" name="template">
<option value="">{{ t.none }}</option>
{% for name in templates %}
<option value="{{ name }}"{% if name == current %} selected{% endif %}>{{ name }}</option>
{% endfor %}
</select>
{% if not templates %}<p>{{ t.empty }}</p>{% endif %}
<button type="submit">{{ t.finish }}</button>
</form>
</body></html>
"""

FINISH_PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ t.title }}</title>
<script src="{{ script }}" nonce="{{ nonce }}"></script></head>
<body>
<p id="done">{{ t.done }}{% if template %} {{ t.assigned }}: {{ template }}.{% endif %}</p>
<script nonce="{{ nonce }}">BX24.init(function () { BX24.installFinish(); });</script>
</body></html>
"""
