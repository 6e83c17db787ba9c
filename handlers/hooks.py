"""``POST /hooks/resync``: a signed webhook (a push to the template repository) asks for a library sync.

Signed with HMAC-SHA256 and the shared secret ``B24APP_WEBHOOK_SECRET``, in either convention:

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC of the raw body>``;
- GitLab's signing token (the Standard Webhooks scheme): ``webhook-id``, ``webhook-timestamp`` (Unix
  seconds) and ``webhook-signature: v1,<base64 HMAC of "id.timestamp.body">`` (several space-separated
  signatures may be sent; one must match). GitLab's signing tokens are ``whsec_<base64 key>``: the key
  is the decoded bytes, so the secret is configured here exactly as GitLab shows it. A timestamp more
  than 5 minutes away from our clock is refused.

GitLab's older ``X-Gitlab-Token`` is refused: it is the shared secret itself, sent in clear text in
every request, signing nothing — whoever sees one request can forge any body and replay it forever.

Every accepted signature's digest is stored (table ``webhook_deliveries``, primary key), in the same
transaction as the sync request (with the deliveries arriving meanwhile: ``store.sync_writer``, one
commit a batch): the same delivery sent again is refused, even when both copies arrive at once. The
answer comes at once (202): the git work is done by a worker (``b24app.library.run_pending``). A
refusal stores nothing but an event line (no secret, no value from the request).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from b24app.store.library import TIMESTAMPED, UNTIMED, DeliveryReplayed, SyncAsk
from b24app.template_files import LIBRARY_NAME
from handlers import common
from handlers.common import logger

bp = Blueprint("hooks", __name__)

MAX_HOOK_BODY = 1024 * 1024  # bytes; a push event of GitHub or GitLab is far smaller
TOLERANCE = 5 * 60  # seconds a signed timestamp may be away from our clock
MAX_NAMES = 100
WHAT = "the resync webhook"
_GITHUB = re.compile(r"sha256=([0-9a-fA-F]{64})")
_WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no space (it is part of the signed text)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Refused(Exception):
    """The request is refused: ``status`` and a reason that quotes nothing from the request."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Delivery:
    digest: str  # what is stored against replays
    convention: str  # "GitHub" or "Standard Webhooks"


@bp.post("/hooks/resync")
def resync():
    secret = common.settings().webhook_secret
    if not secret:
        return jsonify(
            error="not found",
            message="the resync webhook is off: set B24APP_WEBHOOK_SECRET (at least 16 characters) and restart b24app",
        ), 404
    try:
        body = _body()
        delivery = verify(request.headers, body, secret, now=time.time())
        names = _names(body)
    except Refused as refused:
        return _refuse(refused)
    if names == "ping":
        return jsonify(
            result="pong", message="the signature is right; send a push event to ask for a sync"
        ), 200
    wanted = None if names is None else list(names)
    shown = "all" if wanted is None else ", ".join(wanted)
    try:
        ask = SyncAsk(
            None if wanted is None else tuple(wanted),
            delivery.digest,
            f"{delivery.convention}: templates {shown}",
        )
        common.store().sync_writer.submit(ask)  # committed with the deliveries arriving meanwhile
    except DeliveryReplayed:
        return _refuse(Refused(401, "this signed delivery was accepted before (a replay)"))
    return jsonify(result="accepted", templates="all" if wanted is None else wanted), 202


def _refuse(refused: Refused):
    logger.warning("refused %s: %s", WHAT, refused.reason)
    if refused.status == 401:
        common.store().events.record("hooks.resync", "refused", detail=refused.reason)
    return jsonify(error="refused", message=f"{WHAT}: {refused.reason}"), refused.status


def _body() -> bytes:
    """The raw body, at most MAX_HOOK_BODY bytes (413 beyond, before anything is read)."""
    request.max_content_length = MAX_HOOK_BODY
    if request.content_length is not None and request.content_length > MAX_HOOK_BODY:
        raise Refused(413, f"the body is larger than {MAX_HOOK_BODY} bytes")
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:  # a body sent without Content-Length
        raise Refused(413, f"the body is larger than {MAX_HOOK_BODY} bytes") from None


# -- signatures ------------------------------------------------------------------------------------


def verify(headers, body: bytes, secret: str, *, now: float) -> Delivery:
    """The delivery if ``body`` is signed with ``secret`` in either convention; Refused(401) if not."""
    if "X-Hub-Signature-256" in headers:
        return _github(headers["X-Hub-Signature-256"], body, secret)
    if "webhook-signature" in headers:
        return _standard(headers, body, secret, now)
    if "X-Gitlab-Token" in headers:
        raise Refused(
            401,
            "X-Gitlab-Token is a plain shared token, not a signature, and is not accepted; "
            "set a signing token in GitLab's webhook settings instead (README: Resync on a push)",
        )
    raise Refused(
        401, "no signature: send X-Hub-Signature-256 (GitHub) or webhook-signature (GitLab's signing token)"
    )


def _github(header: str, body: bytes, secret: str) -> Delivery:
    match = _GITHUB.fullmatch(header.strip())
    if match is None:
        raise Refused(
            401, "X-Hub-Signature-256 must be 'sha256=' and 64 hex digits (HMAC-SHA256 of the body)"
        )
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, bytes.fromhex(match.group(1))):
        raise Refused(401, "the signature is wrong: check that both sides have the same secret")
    return Delivery(UNTIMED + base64.b64encode(expected).decode(), "GitHub")


def standard_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks scheme: a ``whsec_`` secret's decoded bytes, else its text."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode("utf-8")


def _standard(headers, body: bytes, secret: str, now: float) -> Delivery:
    delivery_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not _WEBHOOK_ID.fullmatch(delivery_id) or not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "webhook-signature needs webhook-id and webhook-timestamp (Unix seconds) with it")
    given = _v1_signatures(headers["webhook-signature"])
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    expected = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    matched = False
    for signature in given:
        matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise Refused(401, "the signature is wrong: check that both sides have the same signing token")
    if abs(now - int(timestamp)) > TOLERANCE:
        raise Refused(
            401, f"webhook-timestamp is more than {TOLERANCE // 60} minutes away from our clock (a replay?)"
        )
    return Delivery(TIMESTAMPED + base64.b64encode(expected).decode(), "Standard Webhooks")


def _v1_signatures(header: str) -> list[bytes]:
    """The ``v1,<base64>`` signatures of a webhook-signature header (other versions are ignored)."""
    found = []
    for entry in header.split()[:10]:
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(decoded) == hashlib.sha256().digest_size:
            found.append(decoded)
    if not found:
        raise Refused(401, "webhook-signature holds no 'v1,<base64 HMAC-SHA256>' signature")
    return found


# -- the body --------------------------------------------------------------------------------------


def _names(body: bytes) -> tuple[str, ...] | str | None:
    """The templates asked for: a tuple of names, None for all, or "ping" (a hook's test event)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "the body is not JSON: choose the content type application/json") from None
    if not isinstance(document, dict):
        raise Refused(400, 'the body must be a JSON object such as {"templates": "all"}')
    if "templates" in document:
        return _template_names(document["templates"])
    if "commits" in document or "ref" in document:
        return None  # a push event: the sync finds what changed by the templates' hashes
    if request.headers.get("X-GitHub-Event") == "ping" or "zen" in document:
        return "ping"
    raise Refused(
        400,
        'the body names no templates: send {"templates": ["retail", ...]} or {"templates": "all"}, or a push event',
    )


def _template_names(value) -> tuple[str, ...] | None:
    if value == "all":
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_NAMES:
        raise Refused(400, f'"templates" must be "all" or a list of 1 to {MAX_NAMES} template names')
    names = []
    for item in value:
        name = item.removesuffix(".yaml") if isinstance(item, str) else None
        if name is None or not LIBRARY_NAME.fullmatch(name):
            raise Refused(
                400, "a template name is a file name of the library without .yaml (letters, digits, '-', '_')"
            )
        names.append(name)
    return tuple(dict.fromkeys(names))
