"""The Flask web layer of b24app: install callbacks, events, the in-portal page, health.

``create_app(settings)`` builds one server for many portals and registrations. Blueprints by kind
of callback: :mod:`handlers.install` (both install flavours of platform.md §2),
:mod:`handlers.events` (ONAPPUPDATE, ONAPPUNINSTALL, CRM events), :mod:`handlers.health`, and the
in-portal page (:mod:`handlers.page`, when present). This package imports b24app, never the reverse.

``create_app`` lives in :mod:`handlers.app`; it is imported from there on first use, so importing
``handlers.serve`` (the CLI's ``serve`` plugin) loads no Flask until the server starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from handlers.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app"]
