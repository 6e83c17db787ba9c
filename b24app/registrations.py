"""``b24app app add | list | remove``: the local-app registrations this server answers for.

Each portal registers b24app as its own local app; the form shows a client_id and a client_secret.
``app add`` stores them (the secret encrypted) and prints the exact lines to enter in that form: the
registration's own handler and install URLs (so every callback says which registration it is for)
and the scopes to tick. The secret is read from standard input or ``B24APP_CLIENT_SECRET``, never
from the command line, where shell history and ``ps`` would keep it.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from b24app.manifest import Manifest, load_manifest

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only when an app command runs
    from b24app.store import Registration, Settings, Store

SECRET_ENV = "B24APP_CLIENT_SECRET"
MAX_SECRET = 200


class RegistrationError(Exception):
    """A problem for the user: one line, exit 1."""


def add_command(sub: Any) -> None:
    p = sub.add_parser("app", help="the local-app registrations of this server: add, list, remove")
    actions = p.add_subparsers(dest="app_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="store a portal's local app and print what to enter in its form")
    add.add_argument("--client-id", required=True, help="the client_id the portal's local-app form shows")
    add.add_argument(
        "--client-secret",
        metavar="-",
        help=f"'-' to read the client_secret from standard input (default: ${SECRET_ENV})",
    )
    add.add_argument("--name", default="", help="a name to recognise it by (e.g. the client's company)")
    add.set_defaults(func=run_command)
    actions.add_parser("list", help="list the registrations (no secrets)").set_defaults(func=run_command)
    remove = actions.add_parser(
        "remove", help="forget a registration (refused while portals have it installed)"
    )
    remove.add_argument("registration", help="its id or client_id (see: b24app app list)")
    remove.set_defaults(func=run_command)


def run_command(args: Any, environ: Mapping[str, str] | None = None) -> int:
    from sqlalchemy.exc import OperationalError

    from b24app.store import Settings, SettingsError, StoreError

    environ = os.environ if environ is None else environ
    try:
        settings = Settings.from_env(environ)
        if args.app_action == "add":
            secret = read_secret(args.client_secret, environ)
            return _with_store(
                settings, lambda store: app_add(store, settings, args.client_id, secret, args.name)
            )
        if args.app_action == "list":
            return _with_store(settings, lambda store: app_list(store, settings))
        return _with_store(settings, lambda store: app_remove(store, args.registration))
    except (RegistrationError, SettingsError, StoreError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        print(f"error: cannot use the database ({reason}); check DATABASE_URL", file=sys.stderr)
    return 1


def read_secret(option: str | None, environ: Mapping[str, str]) -> str:
    """The client_secret from standard input (``-``) or the environment; a literal value is refused."""
    if option is not None and option != "-":
        raise RegistrationError(
            "give the client_secret on standard input, not as an argument (shell history and ps keep "
            f"arguments): --client-secret - and paste it, or set {SECRET_ENV}"
        )
    if option == "-":
        if sys.stdin.isatty():
            secret = getpass.getpass("client_secret (input hidden): ")
        else:
            secret = sys.stdin.readline(MAX_SECRET + 1)
    else:
        secret = environ.get(SECRET_ENV, "")
        if not secret:
            raise RegistrationError(
                f"no client_secret: pass --client-secret - (standard input) or set {SECRET_ENV}"
            )
    secret = secret.strip()
    if not secret or len(secret) > MAX_SECRET or any(c.isspace() for c in secret):
        raise RegistrationError(
            "the client_secret is empty or malformed; copy it again from the local-app form"
        )
    return secret


def app_add(store: Store, settings: Settings, client_id: str, secret: str, name: str) -> int:
    if not settings.public_url:
        raise RegistrationError(
            "set B24APP_PUBLIC_URL to the https:// address portals reach this server at; "
            "the local-app form needs the registration's URLs under it"
        )
    manifest = load_manifest()
    registration = store.registrations.add(client_id, secret, name)
    print(f"registration {registration.id} added for client_id {registration.client_id}")
    print(
        "Enter in the portal's local-app form (Applications > Developer resources > Other > Local application):"
    )
    for line in form_lines(manifest, settings.public_url, registration):
        print(line)
    return 0


def form_lines(manifest: Manifest, public_url: str, registration: Registration) -> list[str]:
    """The lines to enter in the local-app form for ``registration``."""
    urls = manifest.urls(public_url, registration.slug)
    return [
        f"handler: {urls.handler}",
        f"install: {urls.install}",
        f"scopes: {', '.join(scope.code for scope in manifest.scopes)}",
    ]


def app_list(store: Store, settings: Settings) -> int:
    registrations = store.registrations.list()
    if not registrations:
        print("no registrations; add one with: b24app app add --client-id ID --client-secret -")
        return 0
    manifest = load_manifest() if settings.public_url else None
    for registration in registrations:
        name = f"  {registration.name}" if registration.name else ""
        print(
            f"{registration.id}  {registration.client_id}{name}  (added {registration.created_at:%Y-%m-%d})"
        )
        if manifest is not None:
            urls = manifest.urls(settings.public_url, registration.slug)
            print(f"    handler: {urls.handler}\n    install: {urls.install}")
    return 0


def app_remove(store: Store, which: str) -> int:
    registration = (
        store.registrations.get(int(which)) if which.isdigit() else store.registrations.by_client_id(which)
    )
    store.registrations.remove(registration.id)  # refused while installed portals use it
    print(f"registration {registration.id} ({registration.client_id}) removed")
    return 0


def _with_store(settings: Settings, work) -> int:
    from b24app.store import Store

    store = Store.open(settings)
    try:
        return work(store)
    finally:
        store.close()
