"""The web app's factory: ``create_app(settings)`` (see the package's docstring)."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
import os

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from b24app.bitrix.callbacks import MAX_BODY
from b24app.store import Settings, Store
from handlers import events, fleet, health, hooks, install
from handlers.logs import hide, hide_secrets_in_logs

logger = logging.getLogger("handlers")

STORE, SETTINGS, JOBS = "b24app.store", "b24app.settings", "b24app.jobs"
MAX_REQUEST = 4 * MAX_BODY  # the page's own POSTs carry a template (C's blueprint bounds its own fields)


def create_app(
    settings: Settings | None = None, *, store: Store | None = None, start_jobs: bool = False
) -> Flask:
    """The b24app server. ``settings`` default to the environment; ``store`` to ``Store.open`` (migrated).

    ``start_jobs`` starts the in-process job consumer (``b24app serve``) when b24app.jobs exists.
    """
    hide_secrets_in_logs()
    settings = settings or Settings.from_env(os.environ)
    store = store or Store.open(settings)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST, JSON_SORT_KEYS=False)
    app.secret_key = signing_key(store)
    app.extensions[SETTINGS] = settings
    app.extensions[STORE] = store
    for blueprint in (install.bp, events.bp, health.bp, hooks.bp):
        app.register_blueprint(blueprint)
    page = _optional_module("handlers.page")
    if page is not None:
        app.register_blueprint(page.bp)
    fleet.init_app(app)
    _add_error_handlers(app)
    _add_request_log(app)
    _add_jobs(app, store, settings, start_jobs)
    return app


def signing_key(store: Store) -> bytes:
    """A key for signed page/installer tokens, derived from the store's current secret key."""
    return hmac.new(store.cipher.keys[0], b"b24app page signing", hashlib.sha256).digest()


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None


def _add_jobs(app: Flask, store: Store, settings: Settings, start: bool) -> None:
    jobs_module = _optional_module("b24app.jobs")
    if jobs_module is None:
        return
    jobs = jobs_module.Jobs(store, settings)
    app.extensions[JOBS] = jobs
    if start:
        jobs.check_queue()  # a queue that does not answer: one clear error, not a worker's tracebacks
        jobs.start_consumer()


def _add_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.name, message=_short(error)), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        logger.error("unexpected %s at %s: %s", type(error).__name__, request.path, hide(str(error)))
        return jsonify(error="Internal Server Error", message="b24app failed; the error is logged"), 500


def _add_request_log(app: Flask) -> None:
    requests_log = logging.getLogger("handlers.requests")

    @app.after_request
    def log_request(response):
        if requests_log.isEnabledFor(logging.INFO):  # full_path is built only for a line written
            requests_log.info(
                "%s %s -> %s", request.method, request.full_path.rstrip("?"), response.status_code
            )
        return response


def _short(error: HTTPException) -> str:
    if error.code == 413:
        return f"the request is larger than {MAX_REQUEST} bytes"
    return error.description or error.name
