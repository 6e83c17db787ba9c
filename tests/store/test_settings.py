"""Settings.from_env: safe defaults, and one clear sentence for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from b24app.store import Settings, SettingsError, new_key


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(env, cwd=tmp_path)


def test_defaults_put_everything_in_the_instance_folder(tmp_path):
    got = settings(tmp_path)
    assert got.instance == tmp_path / "instance"
    assert got.database_url == f"sqlite+pysqlite:///{tmp_path / 'instance' / 'b24app.sqlite'}"
    assert got.uses_sqlite
    assert got.templates == tmp_path / "instance" / "templates"
    assert got.key_file == tmp_path / "instance" / "secret.key"
    assert got.oauth_url == "https://oauth.bitrix.info"
    assert (got.public_url, got.secret_key, got.allow_loopback) == (None, None, False)


def test_every_variable_is_read(tmp_path):
    key = new_key()
    got = settings(
        tmp_path,
        B24APP_INSTANCE="srv",
        B24APP_PUBLIC_URL="https://b24app.example.com/",
        DATABASE_URL="postgres://app:pw@db.example.com:5433/b24app",
        B24APP_SECRET_KEY=key,
        B24APP_OAUTH_URL="http://127.0.0.1:8024/",
        B24APP_ALLOW_LOOPBACK="1",
        B24APP_TEMPLATES="/srv/templates",
    )
    assert got.instance == tmp_path / "srv"
    assert got.public_url == "https://b24app.example.com"
    assert got.database_url == "postgresql+psycopg://app:pw@db.example.com:5433/b24app"
    assert not got.uses_sqlite
    assert got.secret_key == key
    assert got.oauth_url == "http://127.0.0.1:8024"
    assert got.allow_loopback is True
    assert got.templates == Path("/srv/templates")


def test_repr_hides_the_database_password_and_the_key(tmp_path):
    key = new_key()
    got = settings(tmp_path, DATABASE_URL="postgresql://app:hunter2@db/b24app", B24APP_SECRET_KEY=key)
    assert "hunter2" not in repr(got) and key not in repr(got)


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "http://localhost:5000/", "http://[::1]:5000"])
def test_plain_http_public_url_only_on_loopback(tmp_path, url):
    assert settings(tmp_path, B24APP_PUBLIC_URL=url).public_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"B24APP_PUBLIC_URL": "http://b24app.example.com"}, "B24APP_PUBLIC_URL must use https://"),
        ({"B24APP_PUBLIC_URL": "b24app.example.com"}, "B24APP_PUBLIC_URL must be an https:// address"),
        ({"B24APP_PUBLIC_URL": "https://u:p@b24app.example.com"}, "without user, password"),
        (
            {"B24APP_PUBLIC_URL": "https://b24app.example.com:99999"},
            "B24APP_PUBLIC_URL is not a valid address",
        ),
        ({"B24APP_OAUTH_URL": "http://oauth.example.com"}, "B24APP_OAUTH_URL must use https://"),
        ({"DATABASE_URL": "mysql://u:secretpw@h/db"}, "DATABASE_URL names a 'mysql' database"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "postgresql://u:secretpw@h"}, "DATABASE_URL names no database"),
        ({"B24APP_ALLOW_LOOPBACK": "maybe"}, "B24APP_ALLOW_LOOPBACK must be 1 (on) or 0 (off)"),
        ({"B24APP_SECRET_KEY": "short"}, "key 1 of 1 in B24APP_SECRET_KEY is not a Fernet key"),
        ({"B24APP_SECRET_KEY": f"{new_key()},nope"}, "key 2 of 2 in B24APP_SECRET_KEY is not a Fernet key"),
    ],
)
def test_bad_values_are_one_clear_sentence(tmp_path, env, says):
    with pytest.raises(SettingsError) as error:
        settings(tmp_path, **env)
    message = str(error.value)
    assert says in message
    assert "\n" not in message and "secretpw" not in message


def test_instance_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "instance").write_text("")
    with pytest.raises(SettingsError, match="B24APP_INSTANCE is .* which is a file"):
        settings(tmp_path)


def test_empty_values_mean_the_defaults(tmp_path):
    got = settings(tmp_path, DATABASE_URL=" ", B24APP_PUBLIC_URL="", B24APP_ALLOW_LOOPBACK="0")
    assert got.uses_sqlite and got.public_url is None and got.allow_loopback is False
