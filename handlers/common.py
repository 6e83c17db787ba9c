"""What the blueprints share: the store, the settings, the registration of a callback, refusals."""

from __future__ import annotations

import logging

from flask import abort, current_app, jsonify

from b24app.bitrix.addresses import AddressPolicy
from b24app.manifest import AppUrls, Manifest, load_manifest
from b24app.store import NotFound, Registration, Settings, Store

logger = logging.getLogger("handlers")


def store() -> Store:
    return current_app.extensions["b24app.store"]


def settings() -> Settings:
    return current_app.extensions["b24app.settings"]


def jobs():
    """The app's job queue (b24app.jobs.Jobs), or None when that module is not installed."""
    return current_app.extensions.get("b24app.jobs")


def policy() -> AddressPolicy:
    """The SSRF guard's policy: public portal addresses only, loopback only in development."""
    return AddressPolicy(allow_loopback=settings().allow_loopback)


def manifest() -> Manifest:
    cached = current_app.extensions.get("b24app.manifest")
    if cached is None:
        cached = current_app.extensions["b24app.manifest"] = load_manifest()
    return cached


def registration(slug: str) -> Registration:
    """The registration a callback URL names, or 404 (nothing stored, nothing asked of anyone)."""
    try:
        return store().registrations.by_slug(slug)
    except NotFound:
        abort(404, description="no app registration has this address; see: b24app app list")


def app_urls(slug: str) -> AppUrls:
    public_url = settings().public_url
    if not public_url:
        abort(500, description="B24APP_PUBLIC_URL is not set; the server cannot tell portals its address")
    return manifest().urls(public_url, slug)


def refuse(status: int, what: str, reason: str, **log):
    """A short JSON refusal; logged without any value from the request (values may be tokens)."""
    logger.warning("refused %s: %s", what, reason)
    return jsonify(error="refused", message=f"{what}: {reason}"), status
