"""The server's configuration, read once from the environment, with safe defaults.

Every problem is one sentence that names the variable and says how to fix it. Nothing here
prints a secret: the database URL's password and the secret key stay out of messages and reprs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from b24app.store.crypto import ENV_KEY, KeyProblem, parse_keys

DEFAULT_INSTANCE = "instance"
DEFAULT_OAUTH_URL = "https://oauth.bitrix.info"
DATABASE_FILE = "b24app.sqlite"
KEY_FILE = "secret.key"
DEFAULT_SCHEDULE_MINUTES = 15
MAX_SCHEDULE_MINUTES = 7 * 24 * 60
MIN_WEBHOOK_SECRET = 16
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A configuration problem: one sentence naming the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    instance: Path
    database_url: str = field(repr=False)
    templates: Path
    oauth_url: str = DEFAULT_OAUTH_URL
    public_url: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    allow_loopback: bool = False
    redis_url: str | None = field(default=None, repr=False)  # the queue on Redis (many machines)
    webhook_secret: str | None = field(default=None, repr=False)  # POST /hooks/resync's HMAC key
    templates_repo: str | None = None  # a git repository (URL or path) the library is fetched from
    schedule_minutes: int = DEFAULT_SCHEDULE_MINUTES  # every portal planned this often; 0 = never
    fleet_password: str | None = field(default=None, repr=False)  # the fleet view's login

    @classmethod
    def from_env(cls, environ: Mapping[str, str], cwd: Path | None = None) -> Settings:
        base = cwd or Path.cwd()

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        instance = _folder(base, get("B24APP_INSTANCE") or DEFAULT_INSTANCE, "B24APP_INSTANCE")
        templates_value = get("B24APP_TEMPLATES")
        templates = (
            _folder(base, templates_value, "B24APP_TEMPLATES") if templates_value else instance / "templates"
        )
        database = get("DATABASE_URL")
        return cls(
            instance=instance,
            database_url=database_url(database) if database else sqlite_url(instance / DATABASE_FILE),
            templates=templates,
            oauth_url=_web_url(get("B24APP_OAUTH_URL") or DEFAULT_OAUTH_URL, "B24APP_OAUTH_URL"),
            public_url=_web_url(get("B24APP_PUBLIC_URL"), "B24APP_PUBLIC_URL"),
            secret_key=_secret_key(get(ENV_KEY)),
            allow_loopback=_flag(get("B24APP_ALLOW_LOOPBACK"), "B24APP_ALLOW_LOOPBACK"),
            redis_url=_redis_url(get("REDIS_URL")),
            webhook_secret=_webhook_secret(get("B24APP_WEBHOOK_SECRET")),
            templates_repo=get("B24APP_TEMPLATES_REPO"),
            schedule_minutes=_minutes(get("B24APP_SCHEDULE_MINUTES")),
            fleet_password=get("B24APP_FLEET_PASSWORD"),
        )

    @property
    def key_file(self) -> Path:
        return self.instance / KEY_FILE

    @property
    def uses_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"


def sqlite_url(path: Path) -> str:
    return URL.create("sqlite+pysqlite", database=str(path)).render_as_string(hide_password=False)


def database_url(value: str) -> str:
    """``DATABASE_URL`` as SQLAlchemy wants it: PostgreSQL through psycopg 3, or SQLite."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise SettingsError(
            "DATABASE_URL is not a database URL; use postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise SettingsError(
            f"DATABASE_URL names a {backend!r} database; b24app supports PostgreSQL "
            "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE), or leave it unset for SQLite in the instance folder"
        )
    if not url.database and backend != "sqlite":
        raise SettingsError(
            "DATABASE_URL names no database; add it after the host: postgresql://HOST/DATABASE"
        )
    return url.render_as_string(hide_password=False)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _folder(base: Path, value: str, name: str) -> Path:
    path = (base / Path(value).expanduser()).resolve()
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{name} is {path}, which is a file; give the path of a folder")
    return path


def _web_url(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise SettingsError(f"{name} is not a valid address; check its host and port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an https:// address, such as https://b24app.example.com")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise SettingsError(f"{name} must be a plain https:// address, without user, password, query or #")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise SettingsError(
            f"{name} must use https:// ({parts.hostname} is not a loopback address; "
            "plain http is accepted only for 127.0.0.1, ::1 and localhost)"
        )
    return value.rstrip("/")


def _secret_key(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_keys(value, ENV_KEY)
        except KeyProblem as problem:
            raise SettingsError(str(problem)) from None
    return value


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise SettingsError(f"{name} must be 1 (on) or 0 (off), not {value!r}")


def _redis_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise SettingsError("REDIS_URL is not a valid address; use redis://HOST:6379/0") from None
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise SettingsError(
            "REDIS_URL must be a redis:// (or rediss://) address, such as redis://127.0.0.1:6379/0"
        )
    return value


def _webhook_secret(value: str | None) -> str | None:
    if value is not None and len(value) < MIN_WEBHOOK_SECRET:
        raise SettingsError(
            f"B24APP_WEBHOOK_SECRET is too short to sign anything safely; use at least {MIN_WEBHOOK_SECRET} "
            "random characters (for example: python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return value


def _minutes(value: str | None) -> int:
    if value is None:
        return DEFAULT_SCHEDULE_MINUTES
    if not value.isdigit() or int(value) > MAX_SCHEDULE_MINUTES:
        raise SettingsError(
            "B24APP_SCHEDULE_MINUTES must be a whole number of minutes from 0 (no schedule) "
            f"to {MAX_SCHEDULE_MINUTES}, not {value!r}"
        )
    return int(value)
