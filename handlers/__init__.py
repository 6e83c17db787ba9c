"""The Flask web layer of b24app (install callback, in-portal page, events) — an app factory.

Only the factory and a health check exist so far; the install, frame and event endpoints come
with the web-app issue (shared/DESIGN.md §7). This package imports b24app, never the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, jsonify

import b24app


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(config or {})

    @app.get("/healthz")
    def health():
        return jsonify(status="ok", version=b24app.__version__)

    return app
