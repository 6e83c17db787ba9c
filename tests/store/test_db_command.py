"""``b24app db rotate-key`` and ``new-key`` through the command line, and its one-line errors."""

from __future__ import annotations

import stat

import pytest

from b24app import cli
from b24app.store import Cipher, SecretUnreadable, Settings, Store, TokenPair, load_cipher, new_key
from b24app.store.crypto import read_key_file
from b24app.store.db import make_engine


@pytest.fixture
def env(database_url, tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("B24APP_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.delenv("B24APP_SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return Settings.from_env({"B24APP_INSTANCE": str(tmp_path / "instance"), "DATABASE_URL": database_url})


def save_secret(database_url: str, keys: list[bytes]) -> int:
    store = Store(make_engine(database_url), Cipher(keys))
    try:
        portal = store.portals.upsert(
            "a1b2c3", domain="acme.bitrix24.ru", client_endpoint="x", registration_id=None, state="installed"
        )
        store.tokens.save(portal.id, TokenPair("access-secret-1", "refresh-secret-1"))
        return portal.id
    finally:
        store.close()


def refresh_token(database_url: str, keys: list[bytes], portal_id: int) -> str:
    store = Store(make_engine(database_url), Cipher(keys))
    try:
        return store.tokens.load(portal_id).pair.refresh_token
    finally:
        store.close()


def test_rotate_key_with_the_key_file_makes_a_new_key_and_drops_the_old(env, database_url, capsys):
    old = load_cipher(None, env.key_file).keys  # as the server makes it on its first start
    portal_id = save_secret(database_url, old)
    assert cli.main(["db", "rotate-key"]) == 0
    assert "re-encrypted 2 secret(s) with a new key" in capsys.readouterr().out
    new = read_key_file(env.key_file)
    assert len(new) == 1 and new != old and stat.S_IMODE(env.key_file.stat().st_mode) == 0o600
    assert refresh_token(database_url, new, portal_id) == "refresh-secret-1"
    with pytest.raises(SecretUnreadable):
        refresh_token(database_url, old, portal_id)


def test_rotate_key_with_the_environment_key(env, database_url, monkeypatch, capsys):
    old, new = new_key(), new_key()
    portal_id = save_secret(database_url, [old.encode()])
    monkeypatch.setenv("B24APP_SECRET_KEY", f"{new},{old}")
    assert cli.main(["db", "rotate-key"]) == 0
    assert "the other keys can now be removed" in capsys.readouterr().out
    assert refresh_token(database_url, [new.encode()], portal_id) == "refresh-secret-1"
    assert not env.key_file.exists()


def test_new_key_prints_a_usable_key(env, capsys):
    assert cli.main(["db", "new-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert Cipher([key.encode()]).decrypt(Cipher([key.encode()]).encrypt("x"), "test") == "x"


def test_errors_are_one_line_without_secrets(env, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@127.0.0.1:1/nowhere")
    assert cli.main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot use the database (") and err.count("\n") == 1
    assert "hunter2" not in err and "Traceback" not in err
    monkeypatch.setenv("B24APP_PUBLIC_URL", "http://b24app.example.com")
    assert cli.main(["db", "upgrade"]) == 1
    assert capsys.readouterr().err == (
        "error: B24APP_PUBLIC_URL must use https:// (b24app.example.com is not a loopback address; "
        "plain http is accepted only for 127.0.0.1, ::1 and localhost)\n"
    )
