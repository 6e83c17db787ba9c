"""The command line's side of the store: ``--portal DOMAIN|MEMBER_ID``, ``portal list|assign|policy``,
``worker``, and the journal of the runs the command line makes on installed portals.

The store is opened only when a command needs it: a ``--portal`` that is not a webhook URL, with a
store configured (``B24APP_INSTANCE`` or ``DATABASE_URL`` set, or ``./instance`` holding a database).
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from b24app.bitrix import connect
from b24app.bitrix.client import Client
from b24app.bitrix.portals import register_resolver, unregister_resolver
from b24app.store import NotFound, Portal, RunKind, RunOutcome, StoreError

if TYPE_CHECKING:
    from b24app.store import Settings, Store

# SQLAlchemy, Alembic and the store's settings are imported only where the store is opened: a webhook
# URL never needs them (tests/unit/test_layering.py checks what the command line imports).

TEMPLATE_SUFFIX = ".yaml"


class CommandError(Exception):
    """One message for the user, exit 1."""


@dataclass
class Target:
    """The portal a command works on; ``store`` and ``portal`` are set for an installed portal."""

    client: Client
    store: Store | None = None
    portal: Portal | None = None

    def record(self, kind: RunKind, outcome: RunOutcome, **details: Any) -> int | None:
        """Journal a run of the command line on an installed portal (nothing for a webhook)."""
        if self.store is None or self.portal is None:
            return None
        return self.store.runs.record(self.portal.id, kind, outcome, user_name=_who(), **details).id


def store_configured(environ: os._Environ | dict = os.environ) -> bool:
    from b24app.store.settings import DATABASE_FILE, DEFAULT_INSTANCE

    if environ.get("DATABASE_URL", "").strip() or environ.get("B24APP_INSTANCE", "").strip():
        return True
    return (Path.cwd() / DEFAULT_INSTANCE / DATABASE_FILE).exists()


@contextlib.contextmanager
def opened_store() -> Iterator[tuple[Store, Settings]]:
    from sqlalchemy.exc import SQLAlchemyError

    from b24app.store import Settings, SettingsError, Store

    try:
        settings = Settings.from_env(os.environ)
        store = Store.open(settings)
    except (SettingsError, StoreError) as error:
        raise CommandError(str(error)) from None
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or type(error).__name__).strip().splitlines()[0]
        raise CommandError(
            f"cannot use the database ({reason}); check DATABASE_URL and that it runs"
        ) from None
    try:
        yield store, settings
    finally:
        store.close()


@contextlib.contextmanager
def target(ref: str, source: str, **client_options: Any) -> Iterator[Target]:
    """The client for ``ref``: a webhook URL, or (with a store) an installed portal's domain or member_id.
    ``client_options`` go to the :class:`Client` (e.g. ``max_attempts``)."""
    if "/" in ref or not store_configured():
        yield Target(_connect(ref, source, **client_options))
        return
    from b24app.portal_access import PortalUnavailable, StoreResolver, connect_installed

    with opened_store() as (store, settings):
        resolver = StoreResolver(store, settings)
        register_resolver(resolver)
        try:
            portal = resolver.portal_for(ref)
            if portal is None:
                # no such portal: connect says what PORTAL may be
                yield Target(_connect(ref, source, **client_options))
                return
            try:
                client = connect_installed(store, settings, portal, **client_options)
            except PortalUnavailable as error:
                raise CommandError(f"{error} (from {source})") from None
            yield Target(client, store, portal)
        finally:
            unregister_resolver(resolver)


@contextlib.contextmanager
def portal_lock(item: Target) -> Iterator[None]:
    """For an installed portal, the store's lock of the portal: the command line and the server's
    jobs never apply to one portal at the same time."""
    if item.store is None or item.portal is None:
        yield
        return
    with item.store.lock(f"portal:{item.portal.id}", timeout=3600.0):
        yield


def _connect(ref: str, source: str, **client_options: Any) -> Client:
    try:
        return connect(ref, **client_options)
    except ValueError as error:
        raise CommandError(f"{error} (from {source})") from None


def who() -> str:
    """Who runs the command line, for the journal."""
    return _who()


def _who() -> str:
    try:
        return f"command line ({getpass.getuser()})"
    except (KeyError, OSError):
        return "command line"


# -- b24app portal list | assign | policy-----------------------------------------------------------------


def portal_list() -> list[str]:
    with opened_store() as (store, _):
        portals = store.portals.list()
        if not portals:
            return ["no portals yet: register the app (b24app app add) and install it in a portal"]
        rows = [("PORTAL", "MEMBER_ID", "STATE", "TEMPLATE", "POLICY", "LAST RUN", "LAST PLAN")]
        for portal in portals:
            rows.append(
                (
                    portal.domain,
                    portal.member_id,
                    portal.state.value,
                    portal.template or "-",
                    portal.policy,
                    _last_run(store, portal),
                    _last_plan(store, portal),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _last_run(store: Store, portal: Portal) -> str:
    run = store.runs.last(portal.id)
    if run is None:
        return "-"
    text = f"{run.kind.value} {run.outcome.value} {run.started_at:%Y-%m-%d %H:%M} UTC"
    if run.last_checked_at is not None:  # resyncs found it again (b24app.resync): say when they last did
        text += f", checked {run.checked} times, last {run.last_checked_at:%Y-%m-%d %H:%M} UTC"
    return text


def _last_plan(store: Store, portal: Portal) -> str:
    run = next((r for r in store.runs.list(portal.id, limit=20) if r.summary is not None), None)
    if run is None:
        return "-"
    summary = run.summary
    return ", ".join(f"{summary.get(k, 0)} {k}" for k in ("create", "update", "delete", "blocked"))


def available_templates(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in folder.glob(f"*{TEMPLATE_SUFFIX}") if p.is_file())


def portal_assign(ref: str, template: str) -> str:
    with opened_store() as (store, settings):
        try:
            portal = store.portals.find(ref)
        except NotFound as error:
            raise CommandError(str(error)) from None
        names = available_templates(settings.templates)
        if template not in names:
            known = ", ".join(names) if names else "none yet"
            raise CommandError(
                f"there is no template {template!r} in the library {settings.templates} (available: {known}); "
                f"put {template}{TEMPLATE_SUFFIX} there, or pick one of those"
            )
        store.portals.assign_template(portal.id, template)
        return f"{portal.domain}: template {template}"


def portal_policy(ref: str, policy: str) -> str:
    """``report``: resyncs plan and record drift; ``apply``: they apply the safe changes too."""
    from b24app.store.portals import POLICIES

    value = policy.strip().lower()
    if value not in POLICIES:
        raise CommandError(f"there is no policy {policy!r}; use one of: {', '.join(POLICIES)}")
    with opened_store() as (store, _):
        try:
            portal = store.portals.find(ref)
        except NotFound as error:
            raise CommandError(str(error)) from None
        store.portals.set_policy(portal.id, value)
        return f"{portal.domain}: policy {value}"


# -- b24app worker --------------------------------------------------------------------------------


def run_worker(workers: int) -> int:
    from b24app.jobs import Jobs, QueueUnavailable, queue_place  # huey: only for the worker

    if workers < 1:
        raise CommandError("--workers must be at least 1")
    from b24app.store import SettingsError

    with opened_store() as (store, settings):
        try:
            jobs = Jobs(store, settings)
            jobs.check_queue()
        except (SettingsError, QueueUnavailable) as error:
            raise CommandError(str(error)) from None
        jobs.recover()
        consumer = jobs.consumer(workers)
        print(f"b24app worker: {workers} worker(s) on {queue_place(settings)}; Ctrl+C stops", flush=True)
        jobs.start_sweeper()  # dead workers' resyncs and lost wake-ups, on every machine
        try:
            consumer.run()
        finally:
            jobs.stop_sweeper()
    return 0
