"""The in-portal page: the plan of the portal's template, one-click Apply, runs, export.

Bitrix24 opens it with a frame POST to ``/b24/<slug>/app/`` (platform.md §2.3). That POST is
trusted only after four checks: the portal is installed and known by its ``member_id`` under this
registration, its ``APPLICATION_TOKEN`` matches the stored one, ``AUTH_ID`` is a live token of
that very portal (Bitrix24's OAuth server says so, not the POST), and the portal answers
``user.admin`` for the user (in the same batch as the read of its lists). Admins may apply;
everyone else sees the page read-only. Every later POST of the page carries the page token
(:mod:`handlers.security`) and comes from our own site. No token, code or secret goes into a URL,
a log line or the HTML, except the page token in hidden fields.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_from_directory

from b24app import rollback, sync
from b24app.bitrix.addresses import AddressPolicy
from b24app.bitrix.callbacks import CallbackRefused, parse_frame
from b24app.bitrix.errors import AccessDenied, AuthError, BitrixError
from b24app.bitrix.oauthflow import parse_authorization_reply
from b24app.bitrix.verify import is_admin, portal_client, same_secret, verify_token
from b24app.core.changes import Plan
from b24app.core.dump import dump_template
from b24app.core.limits import MAX_TEMPLATE_BYTES
from b24app.core.render import render_html
from b24app.core.template import Problem, TemplateError, load_template
from b24app.portal_access import PortalUnavailable, connect_installed
from b24app.store import NotFound, Portal, PortalState, Run, RunKind, RunOutcome, Settings, Store
from b24app.template_files import library_resolver
from handlers import i18n, reconnect
from handlers.install import bx24_script_url
from handlers.security import (
    PageRefused,
    PageTokens,
    PageUser,
    check_same_origin,
    page_headers,
    portal_origin,
    refusal_headers,
)

logger = logging.getLogger("b24app.page")
bp = Blueprint("page", __name__, url_prefix="/b24/<slug>/app", template_folder="templates")
STATIC = Path(__file__).resolve().parent / "static"

TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_FORM_BYTES = 2 * MAX_TEMPLATE_BYTES + 64 * 1024  # a pasted template shown again in a hidden field
RUNS_SHOWN = 20


@dataclass(frozen=True)
class Chosen:
    """The template the page plans with: a library name, or pasted text (name None)."""

    name: str | None
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def source(self) -> str:
        return f"{self.name}.yaml" if self.name else "pasted template"


# -- app wiring ----------------------------------------------------------------------------------


def _store() -> Store:
    return current_app.extensions["b24app.store"]


def _settings() -> Settings:
    return current_app.extensions["b24app.settings"]


def _tokens() -> PageTokens:
    return PageTokens(_store().cipher.keys[0])


def _policy() -> AddressPolicy:
    return AddressPolicy(allow_loopback=_settings().allow_loopback)


@bp.before_request
def _bounded_body():
    """The page's POSTs may carry a template (2 MB, twice when shown again): their own bound."""
    request.max_content_length = MAX_FORM_BYTES
    request.max_form_memory_size = MAX_FORM_BYTES
    if (request.content_length or 0) > MAX_FORM_BYTES:
        return _refusal("refused_too_large", 413, "en")
    return None


@bp.get("/static/<path:filename>")
def static_file(slug: str, filename: str):
    """The page's script and style sheet (the same for every registration)."""
    response = send_from_directory(STATIC, filename, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- the frame POST ------------------------------------------------------------------------------


@bp.post("/")
def frame(slug: str):
    lang = i18n.language(request.args.get("LANG"))
    try:
        post = parse_frame(request.query_string, request.get_data(cache=False))
    except CallbackRefused as error:
        logger.info("frame POST refused: %s", error.reason)
        return _refusal("refused_payload", 400, lang)
    lang = i18n.language(post.lang)
    try:
        portal, registration = _installed_portal(slug, post.member_id)
        if not same_secret(portal.application_token, post.application_token):
            raise PageRefused("refused_application_token")
        verified = verify_token(
            post.auth_id,
            client_id=registration.client_id,
            oauth_url=_settings().oauth_url,
            policy=_policy(),
            claimed_member_id=portal.member_id,
        )
    except PageRefused as refused:
        logger.info("frame POST refused for member_id %s: %s", post.member_id, refused.reason)
        return _refusal(refused.reason, refused.status, lang)
    except CallbackRefused as error:
        logger.info("frame POST refused for member_id %s: %s", post.member_id, error.reason)
        return _refusal("refused_token", 403, lang)
    except BitrixError as error:
        logger.warning("frame POST: Bitrix24 could not be asked: %s", error)
        return _refusal("portal_unreachable", 502, lang)
    client = portal_client(verified, post.auth_id, _policy())
    chosen, problems = _assigned_template(portal)
    plan, admin, error = None, False, None
    try:
        if chosen is not None and not problems:
            plan, read = sync.make_plan(client, _load(chosen))
            admin = read.is_admin is True
        else:
            admin = is_admin(client)
    except AccessDenied as failure:
        logger.info(
            "frame POST: user %s may not read the CRM of %s: %s", verified.user_id, portal.domain, failure
        )
        error = "no_crm_access"
    except BitrixError as failure:
        logger.warning("frame POST: reading %s failed: %s", portal.domain, failure)
        error = "portal_unreachable"
    except TemplateError as invalid:  # e.g. a base it extends was removed from the library
        problems = invalid.problems
        admin = is_admin(client)
    user = PageUser(portal.id, slug, verified.user_id, admin, lang)
    if _store().tokens.load(portal.id) is None:
        error = "reconnect_needed"
    return _page(user, portal, chosen=chosen, problems=problems, plan=plan, error=error)


# -- reconnecting a portal whose refresh token died -----------------------------------------------


@bp.get("/")
def reconnect_callback(slug: str):
    """The portal's redirect after the admin authorised b24app again (``code`` and ``state``)."""
    lang = _language_of(request.args.get("member_id"))
    try:
        reply = parse_authorization_reply(request.query_string)
        portal = reconnect.complete(_store(), _settings(), slug, reply)
    except CallbackRefused as error:
        logger.info("reconnect refused: %s", error.reason)
        return _refusal("reconnect_bad_state", 400, lang)
    except reconnect.ReconnectFailed as refused:
        logger.info("reconnect refused: %s", refused.reason)
        return _refusal(refused.reason, refused.status, lang)
    except BitrixError as failure:
        logger.warning("reconnect: the OAuth server refused the code: %s", failure)
        return _refusal("reconnect_code_refused", 403, lang)
    logger.info("portal %s reconnected", portal.id)
    text = i18n.catalogue(portal.language)
    body = render_template(
        "b24app/reconnected.html",
        t=text,
        lang=i18n.language(portal.language),
        bx24=None,
        slug=slug,
        portal_url=portal_origin(portal.client_endpoint) + "/",
    )
    return _with_headers(Response(body, mimetype="text/html"), None)


def _language_of(member_id: str | None) -> str:
    """The language of the portal a redirect names (only to speak its language; nothing is trusted)."""
    try:
        return i18n.language(_store().portals.get(member_id).language) if member_id else "en"
    except NotFound:
        return "en"


def _stored_failure(portal: Portal, failure: Exception) -> str:
    """What the page says when a read with the portal's stored tokens failed (a catalogue key)."""
    if _dead_tokens(portal, failure):
        return "reconnect_needed"
    if isinstance(failure, AccessDenied):
        return "no_crm_access_app"
    return "portal_unreachable"


def _dead_tokens(portal: Portal, failure: Exception) -> bool:
    """True (and the dead pair forgotten) when the stored tokens cannot be used: press Reconnect."""
    if isinstance(failure, PortalUnavailable):
        return True
    if isinstance(failure, AuthError) and failure.code.lower() == "invalid_grant":
        _store().tokens.delete(portal.id)
        _store().events.record(reconnect.EVENT, "tokens_dead", portal_id=portal.id)
        return True
    return False


def _installed_portal(slug: str, member_id: str):
    store = _store()
    try:
        registration = store.registrations.by_slug(slug)
        portal = store.portals.get(member_id)
    except NotFound:
        raise PageRefused("refused_unknown_portal") from None
    if portal.registration_id != registration.id:
        raise PageRefused("refused_unknown_portal")
    if portal.state != PortalState.INSTALLED:
        raise PageRefused("refused_not_installed")
    return portal, registration


# -- the page's own POSTs ------------------------------------------------------------------------


def _page_user(slug: str) -> tuple[PageUser, Portal]:
    """The page token's user and the portal, after the Origin and token checks."""
    own = _settings().public_url or request.host_url
    check_same_origin(request.headers.get("Origin"), request.headers.get("Referer"), own)
    user = _tokens().check(request.form.get("page_token"), slug)
    try:
        portal = _store().portals.by_id(user.portal_id)
    except NotFound:
        raise PageRefused("refused_unknown_portal") from None
    if portal.state != PortalState.INSTALLED:
        raise PageRefused("refused_not_installed")
    return user, portal


def _guarded(view):
    """Run ``view(user, portal)`` for an authenticated page POST, or show the refusal."""

    def wrapper(slug: str):
        try:
            user, portal = _page_user(slug)
        except PageRefused as refused:
            logger.info("page POST refused: %s", refused.reason)
            return _refusal(refused.reason, refused.status, i18n.language(request.form.get("lang")))
        return view(user, portal)

    wrapper.__name__ = view.__name__
    return wrapper


@bp.post("/plan")
@_guarded
def plan_view(user: PageUser, portal: Portal):
    """Plan with a template from the library, or one pasted or uploaded."""
    chosen, problems = _chosen_from_form()
    if chosen is not None and chosen.name and user.admin and not problems:
        _store().portals.assign_template(portal.id, chosen.name)
    return _planned(user, portal, chosen, problems)


@bp.post("/reconnect")
@_guarded
def reconnect_view(user: PageUser, portal: Portal):
    """The link that opens the portal's consent page in the top window (admins only)."""
    if not user.admin:
        return _refusal("refused_not_admin", 403, user.lang, portal)
    url = reconnect.start_url(_store(), _settings(), portal, user.user_id)
    _store().events.record(reconnect.EVENT, "started", portal_id=portal.id, detail=f"user {user.user_id}")
    return _page(user, portal, view="reconnect", authorize_url=url)


@bp.post("/apply")
@_guarded
def apply_view(user: PageUser, portal: Portal):
    if not user.admin:
        return _refusal("refused_not_admin", 403, user.lang, portal)
    chosen, problems = _chosen_from_form()
    checksum = request.form.get("checksum", "")
    if chosen is None or problems or not re.fullmatch(r"[0-9a-f]{8,128}", checksum):
        return _planned(user, portal, chosen, problems, notice="apply_incomplete")
    if request.form.get("template_hash") != chosen.digest:
        return _planned(user, portal, chosen, problems, notice="template_changed")
    latest = _store().runs.last(portal.id)
    if str(latest.id if latest else 0) != request.form.get("after_run", ""):
        return _planned(user, portal, chosen, problems, notice="run_since")
    run_id = _jobs().submit_apply(portal.id, chosen.name or "", chosen.text, checksum, _who(user))
    logger.info("apply run %s submitted for portal %s", run_id, portal.id)
    return _run_page(user, portal, run_id, pasted=None if chosen.name else chosen.text)


@bp.post("/run")
@_guarded
def run_view(user: PageUser, portal: Portal):
    run_id = request.form.get("run", "")
    if not run_id.isdigit():
        return _refusal("refused_no_run", 404, user.lang, portal)
    if request.form.get("format") == "json":
        try:
            status = _run_status(portal, int(run_id))
        except PageRefused as refused:
            return jsonify(error=refused.reason), refused.status
        return jsonify(state=status.state, progress=list(status.progress), done=_finished(status))
    return _run_page(user, portal, int(run_id), pasted=request.form.get("template_text"))


@bp.post("/rollback")
@_guarded
def rollback_view(user: PageUser, portal: Portal):
    """The plan of rolling the portal back to the state before one of its runs (admins only)."""
    try:
        run = _rollback_source(user, portal, request.form.get("run", ""))
    except PageRefused as refused:
        return _refusal(refused.reason, refused.status, user.lang, portal)
    return _rollback_planned(user, portal, run)


@bp.post("/rollback/apply")
@_guarded
def rollback_apply_view(user: PageUser, portal: Portal):
    """Queue exactly the rollback shown; the job refuses it if the portal changed since (checksum)."""
    try:
        run = _rollback_source(user, portal, request.form.get("run", ""))
    except PageRefused as refused:
        return _refusal(refused.reason, refused.status, user.lang, portal)
    checksum = request.form.get("checksum", "")
    if not re.fullmatch(r"[0-9a-f]{8,128}", checksum):
        return _rollback_planned(user, portal, run, notice="apply_incomplete")
    latest = _store().runs.last(portal.id)
    if str(latest.id if latest else 0) != request.form.get("after_run", ""):
        return _rollback_planned(user, portal, run, notice="run_since")
    run_id = _jobs().submit_rollback(portal.id, run.id, checksum, _who(user))
    logger.info("rollback run %s of run %s submitted for portal %s", run_id, run.id, portal.id)
    return _run_page(user, portal, run_id)


def _rollback_source(user: PageUser, portal: Portal, run_id: str) -> Run:
    """The portal's run to roll back to the state before, if it has that state recorded; admins only."""
    if not user.admin:
        raise PageRefused("refused_not_admin", 403)
    if not run_id.isdigit() or len(run_id) > 18:
        raise PageRefused("refused_no_run", 404)
    try:
        run = _store().runs.get(int(run_id))
    except NotFound:
        raise PageRefused("refused_no_run", 404) from None
    if run.portal_id != portal.id:
        raise PageRefused("refused_no_run", 404)
    if not has_state_before(run):
        raise PageRefused("refused_no_state", 409)
    return run


def has_state_before(run: Run) -> bool:
    """Whether the journal kept the portal's state before ``run`` (what a rollback plans from)."""
    return bool((run.state_before or {}).get("managed"))


def _rollback_planned(user: PageUser, portal: Portal, run: Run, notice: str | None = None):
    """The page with the rollback plan of ``run``, read now with the portal's stored tokens."""
    try:
        plan, _ = rollback.plan_rollback(_store(), _settings(), run.id)
    except rollback.RollbackError as error:
        logger.info("rollback of run %s cannot be planned: %s", run.id, error)
        return _page(user, portal, view="rollback", rollback_of=run.id, error="rollback_unavailable")
    except (BitrixError, PortalUnavailable, sync.SyncError) as failure:
        logger.warning("planning the rollback of run %s on %s failed: %s", run.id, portal.domain, failure)
        error = _stored_failure(portal, failure)
        return _page(user, portal, view="rollback", rollback_of=run.id, error=error)
    return _page(user, portal, view="rollback", rollback_of=run.id, plan=plan, notice=notice)


@bp.post("/export")
@_guarded
def export_view(user: PageUser, portal: Portal):
    """Save this portal as a template in the library (admins; no overwrite without confirmation)."""
    if not user.admin:
        return _refusal("refused_not_admin", 403, user.lang, portal)
    name = request.form.get("name", "").strip()
    if not TEMPLATE_NAME.fullmatch(name):
        return _page(user, portal, notice="export_bad_name", export_name=name[:64])
    library = _settings().templates
    target = library / f"{name}.yaml"
    if target.exists() and request.form.get("overwrite") != "yes":
        return _page(user, portal, notice="export_exists", export_name=name, confirm_overwrite=True)
    try:
        template, _, warnings = sync.export(_installed_client(portal))
    except (BitrixError, PortalUnavailable) as failure:
        logger.warning("export of %s failed: %s", portal.domain, failure)
        return _page(user, portal, error=_stored_failure(portal, failure))
    text = dump_template(template, header=f"Exported from {portal.domain} by b24app (page)")
    _write_atomically(library, target, text)
    logger.info("portal %s exported to the library as %s", portal.id, name)
    return _page(user, portal, notice="export_saved", export_name=name, warnings=warnings)


# -- templates -----------------------------------------------------------------------------------


def library_names(folder: Path) -> list[str]:
    """The library's template names: ``NAME.yaml`` files directly in the folder."""
    if not folder.is_dir():
        return []
    names = (p.stem for p in folder.glob("*.yaml") if p.is_file() and not p.is_symlink())
    return sorted(n for n in names if TEMPLATE_NAME.fullmatch(n))


def _read_library(name: str) -> tuple[Chosen | None, list[str]]:
    folder = _settings().templates
    if not TEMPLATE_NAME.fullmatch(name) or name not in library_names(folder):
        return None, ["template_missing"]
    with (folder / f"{name}.yaml").open("rb") as stream:
        data = stream.read(MAX_TEMPLATE_BYTES + 1)
    if len(data) > MAX_TEMPLATE_BYTES:
        return None, ["template_too_large"]
    try:
        return Chosen(name, data.decode("utf-8")), []
    except UnicodeDecodeError:
        return None, ["template_not_utf8"]


def _load(chosen: Chosen):
    """The chosen template, merged with the library bases it extends (never a file outside the library)."""
    return load_template(chosen.text, chosen.source, resolver=library_resolver(_settings().templates))


def _assigned_template(portal: Portal) -> tuple[Chosen | None, list]:
    if not portal.template:
        return None, []
    return _read_library(portal.template)


def _chosen_from_form() -> tuple[Chosen | None, list]:
    """The template a POST names: a library name, an uploaded file, or pasted text (in that order)."""
    name = request.form.get("template_name", "").strip()
    if name:
        return _read_library(name)
    upload = request.files.get("template_file")
    if upload is not None and upload.filename:
        data = upload.stream.read(MAX_TEMPLATE_BYTES + 1)
        if len(data) > MAX_TEMPLATE_BYTES:
            return None, ["template_too_large"]
        try:
            return Chosen(None, data.decode("utf-8")), []
        except UnicodeDecodeError:
            return None, ["template_not_utf8"]
    text = request.form.get("template_text", "")
    if len(text.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        return None, ["template_too_large"]
    if not text.strip():
        return None, ["template_none"]
    return Chosen(None, text.replace("\r\n", "\n")), []


def _write_atomically(folder: Path, target: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{target.name}.{os.getpid()}.tmp"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)


# -- planning with the stored tokens ------------------------------------------------------------


def _installed_client(portal: Portal):
    return connect_installed(_store(), _settings(), portal)


def _jobs():
    return current_app.extensions["b24app.jobs"]


def _who(user: PageUser) -> int | None:
    return user.user_id


def _planned(
    user: PageUser, portal: Portal, chosen: Chosen | None, problems: list, notice: str | None = None
):
    """The page with a fresh plan of ``chosen`` (read with the portal's stored tokens)."""
    if chosen is None or problems:
        return _page(user, portal, chosen=chosen, problems=problems, notice=notice)
    try:
        template = _load(chosen)
    except TemplateError as error:
        return _page(user, portal, chosen=chosen, problems=error.problems, notice=notice)
    try:
        plan, _ = sync.make_plan(_installed_client(portal), template)
    except (BitrixError, PortalUnavailable) as failure:
        logger.warning("planning %s failed: %s", portal.domain, failure)
        return _page(user, portal, chosen=chosen, error=_stored_failure(portal, failure), notice=notice)
    return _page(user, portal, chosen=chosen, plan=plan, notice=notice)


# -- runs ----------------------------------------------------------------------------------------


def _run_status(portal: Portal, run_id: int):
    try:
        run = _store().runs.get(run_id)
    except NotFound:
        raise PageRefused("refused_no_run", 404) from None
    if run.portal_id != portal.id:
        raise PageRefused("refused_no_run", 404)
    return _jobs().status(run_id)


def _finished(status) -> bool:
    return status.state in ("done", "failed")


def _run_page(user: PageUser, portal: Portal, run_id: int, pasted: str | None = None):
    try:
        status = _run_status(portal, run_id)
    except PageRefused as refused:
        return _refusal(refused.reason, refused.status, user.lang, portal)
    run = _store().runs.get(run_id)
    if run.kind == RunKind.ROLLBACK:
        return _rollback_run_page(user, portal, run, status)
    chosen = _run_template(run, pasted)
    new_plan = None
    if _finished(status) and run.outcome.value == "refused" and user.admin and chosen is not None:
        try:
            new_plan, _ = sync.make_plan(_installed_client(portal), _load(chosen))
        except (BitrixError, TemplateError, PortalUnavailable):
            new_plan = None
    return _page(
        user,
        portal,
        view="run",
        run=run,
        status=status,
        finished=_finished(status),
        plan=new_plan,
        chosen=chosen,
    )


def _rollback_run_page(user: PageUser, portal: Portal, run: Run, status):
    """A rollback run; when refused (the portal changed since), the rollback plan made again."""
    new_plan = None
    refused = _finished(status) and run.outcome == RunOutcome.REFUSED
    if refused and user.admin and run.rollback_of is not None:
        try:
            new_plan, _ = rollback.plan_rollback(_store(), _settings(), run.rollback_of)
        except (rollback.RollbackError, BitrixError, PortalUnavailable, sync.SyncError):
            new_plan = None
    return _page(
        user,
        portal,
        view="run",
        run=run,
        status=status,
        finished=_finished(status),
        plan=new_plan,
        rollback_of=run.rollback_of if new_plan is not None else None,
    )


def _run_template(run, pasted: str | None) -> Chosen | None:
    """The run's template: from the library by name, or the pasted text the page carries along
    (only when it is the very text the run used: its hash is the run's)."""
    if run.template_name:
        chosen, problems = _read_library(run.template_name)
        return None if problems else chosen
    if pasted and len(pasted.encode("utf-8")) <= MAX_TEMPLATE_BYTES:
        chosen = Chosen(None, pasted.replace("\r\n", "\n"))
        if run.template_hash and hmac.compare_digest(chosen.digest, run.template_hash):
            return chosen
    return None


# -- rendering -----------------------------------------------------------------------------------


def _page(user: PageUser, portal: Portal, *, view: str = "main", plan: Plan | None = None, **context):
    store, settings = _store(), _settings()
    text = i18n.catalogue(user.lang)
    chosen = context.get("chosen")
    runs = store.runs.list(portal.id, limit=RUNS_SHOWN)
    applicable = bool(user.admin and plan is not None and plan.has_changes and not plan.refused)
    can_apply = applicable and chosen is not None and not context.get("rollback_of")
    can_roll_back = applicable and bool(context.get("rollback_of"))
    body = render_template(
        "b24app/page.html",
        t=text,
        view=view,
        user=user,
        portal=portal,
        page_token=_tokens().issue(user),
        library=library_names(settings.templates),
        plan_html=render_html(plan, i18n.plan_words(text)) if plan is not None else None,
        plan=plan,
        can_apply=can_apply,
        can_roll_back=can_roll_back,
        rollback_runs={r.id for r in runs if has_state_before(r)} if user.admin else set(),
        after_run=runs[0].id if runs else 0,
        runs=runs,
        problems=[_problem_text(p, text) for p in context.pop("problems", None) or []],
        bx24=_bx24(portal),
        slug=user.slug,
        lang=user.lang,
        **context,
    )
    return _with_headers(Response(body, mimetype="text/html"), portal)


def _problem_text(problem: Problem | str, text: dict) -> str:
    return text[problem] if isinstance(problem, str) else str(problem)


def _bx24(portal: Portal) -> str:
    """The BX24 library: Bitrix24's own, or the sandbox's stand-in (the installer loads the same)."""
    return bx24_script_url(_settings().oauth_url)


def _with_headers(response: Response, portal: Portal | None) -> Response:
    if portal is not None:
        origin = portal_origin(portal.client_endpoint)
        response.headers.update(page_headers(origin, _bx24(portal)))
    else:
        response.headers.update(refusal_headers(_settings().allow_loopback))
    return response


def _refusal(reason: str, status: int, lang: str, portal: Portal | None = None):
    text = i18n.catalogue(lang)
    body = render_template(
        "b24app/refused.html",
        t=text,
        message=text[reason],
        lang=i18n.language(lang),
        bx24=None,
        slug=(request.view_args or {}).get("slug", "-"),
    )
    return _with_headers(Response(body, status=status, mimetype="text/html"), portal)


__all__ = ["bp", "library_names"]
