"""b24app's manifest, ``install.json`` at the repository's top level (Bitrix24 itself has none).

It says what the portal admin enters in the local-app form (name, menu titles, scopes, handler
and installation paths) and which events b24app binds at install. Paths hold a ``{registration}``
placeholder: each local-app registration gets its own URLs, so every callback tells which
registration it belongs to. :func:`load_manifest` reports every problem at once.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

MANIFEST_ENV = "B24APP_MANIFEST"
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "install.json"
LANGUAGES = ("en", "ru")
PATH_KINDS = ("handler", "install", "events")
REQUIRED_EVENTS = ("ONAPPUNINSTALL",)  # without it, an uninstall would go unnoticed
PLACEHOLDER = "{registration}"
MAX_EVENTS = 50  # one batch

_KEYS = {"name", "menu", "api_only", "scopes", "paths", "events"}
_SCOPE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_EVENT = re.compile(r"ON[A-Z0-9_]{1,62}")
_PATH = re.compile(r"/[A-Za-z0-9_\-/.{}]*")
_REGISTRATION = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class ManifestError(ValueError):
    """install.json is missing or invalid; the message lists every problem."""


@dataclass(frozen=True)
class Scope:
    code: str
    titles: dict[str, str]
    why: str


@dataclass(frozen=True)
class AppUrls:
    """The addresses of one registration, as the portal must be given them."""

    handler: str
    install: str
    events: str


@dataclass(frozen=True)
class Manifest:
    name: dict[str, str]
    menu: dict[str, str]
    api_only: bool
    scopes: tuple[Scope, ...]
    paths: dict[str, str]
    events: tuple[str, ...]

    def urls(self, public_url: str, registration: str) -> AppUrls:
        """The registration's URLs under ``public_url`` (https, or http on loopback)."""
        from b24app.bitrix.auth import checked_url  # the HTTP stack: not for the command line's start

        parts = checked_url(public_url, "the public URL (B24APP_PUBLIC_URL)")
        if parts.query or parts.fragment:
            raise ValueError("the public URL (B24APP_PUBLIC_URL) must not have a query or a fragment")
        if not _REGISTRATION.fullmatch(registration):
            raise ValueError("a registration id holds only letters, digits, '_' and '-' (at most 64)")
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        made = {
            kind: base + self.paths[kind].replace(PLACEHOLDER, quote(registration)) for kind in PATH_KINDS
        }
        return AppUrls(**made)


def manifest_path() -> Path:
    return Path(os.environ.get(MANIFEST_ENV) or DEFAULT_PATH)


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    """Read and validate install.json (default: ``$B24APP_MANIFEST`` or the repository's own)."""
    file = Path(path) if path is not None else manifest_path()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{file}: not found; set {MANIFEST_ENV} to the path of install.json") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{file}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise ManifestError(f"{file}:{error.lineno}: not valid JSON ({error.msg})") from None
    return parse_manifest(data, str(file))


def parse_manifest(data: Any, source: str = "install.json") -> Manifest:
    """A :class:`Manifest` from decoded JSON, or a :class:`ManifestError` listing every problem."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: must be a JSON object")
    problems += [
        f"unknown key {key!r} (known: {', '.join(sorted(_KEYS))})" for key in sorted(set(data) - _KEYS)
    ]
    name, menu = _titles(data, "name", problems), _titles(data, "menu", problems)
    api_only = data.get("api_only", False)
    if not isinstance(api_only, bool):
        problems.append("api_only must be true or false")
    scopes, paths, events = _scopes(data, problems), _paths(data, problems), _events(data, problems)
    if problems:
        raise ManifestError(f"{source}: " + "; ".join(problems))
    return Manifest(name, menu, bool(api_only), scopes, paths, events)


def _titles(data: dict, key: str, problems: list[str]) -> dict[str, str]:
    value = data.get(key)
    if not isinstance(value, dict):
        problems.append(f"{key} must be an object with the languages {', '.join(LANGUAGES)}")
        return {}
    for lang in LANGUAGES:
        title = value.get(lang)
        if not isinstance(title, str) or not title.strip() or len(title) > 100:
            problems.append(f"{key}.{lang} must be a title of 1 to 100 characters")
    return {lang: str(value.get(lang, "")) for lang in LANGUAGES}


def _scopes(data: dict, problems: list[str]) -> tuple[Scope, ...]:
    value = data.get("scopes")
    if not isinstance(value, dict) or not value:
        problems.append("scopes must be an object of scope codes (such as crm)")
        return ()
    scopes = []
    for code, about in value.items():
        if not _SCOPE.fullmatch(code):
            problems.append(f"scopes: {code!r} is not a Bitrix24 scope code")
            continue
        needed = (*LANGUAGES, "why")
        if not isinstance(about, dict) or not all(isinstance(about.get(k), str) and about[k] for k in needed):
            problems.append(f"scopes.{code} must give en, ru and why")
            continue
        scopes.append(Scope(code, {lang: about[lang] for lang in LANGUAGES}, about["why"]))
    return tuple(scopes)


def _paths(data: dict, problems: list[str]) -> dict[str, str]:
    value = data.get("paths")
    if not isinstance(value, dict):
        problems.append(f"paths must be an object with {', '.join(PATH_KINDS)}")
        return {}
    problems += [f"paths: unknown key {key!r}" for key in sorted(set(value) - set(PATH_KINDS))]
    for kind in PATH_KINDS:
        path = value.get(kind)
        if not isinstance(path, str) or not _PATH.fullmatch(path) or ".." in path:
            problems.append(f"paths.{kind} must be a path starting with / (letters, digits, - _ . /)")
        elif path.count(PLACEHOLDER) != 1 or path.replace(PLACEHOLDER, "").count("{"):
            problems.append(f"paths.{kind} must hold {PLACEHOLDER} exactly once and no other placeholder")
    if (
        all(isinstance(value.get(kind), str) for kind in PATH_KINDS)
        and len({value[k] for k in PATH_KINDS}) < 3
    ):
        problems.append("paths: handler, install and events must differ")
    return {kind: str(value.get(kind, "")) for kind in PATH_KINDS}


def _events(data: dict, problems: list[str]) -> tuple[str, ...]:
    value = data.get("events")
    if not isinstance(value, list):
        problems.append("events must be a list of event codes")
        return ()
    bad = [repr(event) for event in value if not isinstance(event, str) or not _EVENT.fullmatch(event)]
    if bad:
        problems.append(f"events: {', '.join(bad)} are not event codes (ON… in capitals)")
    if len(set(map(str, value))) != len(value):
        problems.append("events: an event is listed twice")
    if len(value) > MAX_EVENTS:
        problems.append(f"events: at most {MAX_EVENTS} (they are bound in one batch)")
    problems += [f"events must include {event}" for event in REQUIRED_EVENTS if event not in value]
    return tuple(str(event) for event in value)


def render_form(manifest: Manifest, urls: AppUrls) -> str:
    """The manifest as the portal's local-app form asks for it, field by field."""
    flavour = "API only" if manifest.api_only else "with user interface (left menu)"
    lines = [
        "In the portal: Applications > Developer resources > Other > Local application,",
        f"a server-side application {flavour}. Fill in:",
        "",
        f"  Application name:            {manifest.name['en']}  (RU: {manifest.name['ru']})",
        f"  Handler path:                {urls.handler}",
        f"  Initial installation path:   {urls.install}",
        f"  Uses API only (no interface): {'tick it' if manifest.api_only else 'leave unticked'}",
    ]
    if not manifest.api_only:
        lines.append(f"  Menu item text:              EN: {manifest.menu['en']}  RU: {manifest.menu['ru']}")
    lines.append("  Permissions to tick:")
    lines += [f"    - {s.titles['en']} ({s.code}): {s.why}" for s in manifest.scopes]
    lines += [
        "",
        "Save, then give b24app the client_id and client_secret the form shows (b24app app add).",
        f"b24app binds these events itself at install (nothing to tick): {', '.join(manifest.events)}",
        f"Bitrix24 sends its events to {urls.events}",
    ]
    return "\n".join(lines)


def add_command(sub: Any) -> None:
    """``b24app manifest``: the local-app form's fields for a registration (argparse sub-command)."""
    p = sub.add_parser("manifest", help="print install.json as the portal's local-app form wants it")
    p.add_argument("--public-url", help="the URL portals reach (default: $B24APP_PUBLIC_URL)")
    p.add_argument("--registration", help="the registration id (b24app app add prints the exact lines)")
    p.add_argument("--manifest", metavar="install.json", help=f"default: ${MANIFEST_ENV} or the repository's")
    p.add_argument("--json", action="store_true", help="print the validated install.json itself")
    p.set_defaults(func=run_command)


def run_command(args: Any) -> int:
    try:
        manifest = load_manifest(args.manifest)
        if args.json:
            print(json.dumps(_as_json(manifest), ensure_ascii=False, indent=2))
            return 0
        public_url = args.public_url or os.environ.get("B24APP_PUBLIC_URL") or "https://b24app.example.com"
        registration = args.registration or "REGISTRATION"
        urls = manifest.urls(public_url, registration)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(render_form(manifest, urls))
    if not (args.public_url or os.environ.get("B24APP_PUBLIC_URL")) or not args.registration:
        print(
            "\n(Example addresses: pass --public-url (or set B24APP_PUBLIC_URL) and --registration "
            "for the exact ones.)"
        )
    return 0


def _as_json(manifest: Manifest) -> dict:
    return {
        "name": manifest.name,
        "menu": manifest.menu,
        "api_only": manifest.api_only,
        "scopes": {s.code: {**s.titles, "why": s.why} for s in manifest.scopes},
        "paths": manifest.paths,
        "events": list(manifest.events),
    }
