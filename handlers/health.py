"""``GET /healthz``: the server answers and its database is reachable."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import b24app

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    store = current_app.extensions["b24app.store"]
    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify(status="error", message="the database is unreachable", version=b24app.__version__), 503
    return jsonify(status="ok", version=b24app.__version__)
