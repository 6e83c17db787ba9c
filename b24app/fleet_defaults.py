"""A fleet run's defaults, importable without the fleet itself: the command line's ``--help`` shows
them while only ``plan`` and ``apply`` on several portals load :mod:`b24app.fleet`."""

from __future__ import annotations

DEFAULT_CONCURRENCY = 8  # portals worked on at once
