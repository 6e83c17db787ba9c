"""The key file: made once with mode 0600, reused, and refused when others may read it."""

from __future__ import annotations

import os
import stat

import pytest

from b24app.store import KeyProblem, Settings, Store, new_key
from b24app.store.crypto import _create_key_file, load_cipher, read_key_file


def test_key_file_is_made_once_private_and_reused(tmp_path):
    key_file = tmp_path / "instance" / "secret.key"
    first = load_cipher(None, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    second = load_cipher(None, key_file)
    assert second.keys == first.keys
    assert second.decrypt(first.encrypt("x"), "test") == "x"
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]  # no temporary file left


def test_key_file_readable_by_others_is_refused(tmp_path):
    key_file = tmp_path / "secret.key"
    key_file.write_text(new_key() + "\n")
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyProblem) as error:
        load_cipher(None, key_file)
    assert str(error.value) == (
        f"the key file {key_file} may be read by other users (mode 0644); make it private with: chmod 600 {key_file}"
    )
    os.chmod(key_file, 0o600)
    assert len(load_cipher(None, key_file).keys) == 1


def test_key_file_with_garbage_is_refused(tmp_path):
    key_file = tmp_path / "secret.key"
    key_file.write_text("not a key\n")
    os.chmod(key_file, 0o600)
    with pytest.raises(KeyProblem, match="key 1 of 1 in the key file .* is not a Fernet key"):
        load_cipher(None, key_file)


def test_the_environment_key_wins_and_no_file_is_made(tmp_path):
    keys = [new_key(), new_key()]
    settings = Settings.from_env({"B24APP_SECRET_KEY": ",".join(keys)}, cwd=tmp_path)
    cipher = load_cipher(settings.secret_key, settings.key_file)
    assert cipher.keys == [k.encode() for k in keys]
    assert not settings.key_file.exists()


def test_store_opens_on_a_fresh_instance_folder(tmp_path):
    store = Store.open(Settings.from_env({}, cwd=tmp_path))
    try:
        assert store.registrations.list() == []
        assert (tmp_path / "instance" / "b24app.sqlite").is_file()
        assert stat.S_IMODE((tmp_path / "instance" / "secret.key").stat().st_mode) == 0o600
    finally:
        store.close()


def test_a_key_file_made_meanwhile_by_another_process_is_kept(tmp_path):
    # two processes starting at once both find no key file; the second to write must keep the first's key
    key_file = tmp_path / "secret.key"
    first, second = new_key().encode(), new_key().encode()
    _create_key_file(key_file, first)
    _create_key_file(key_file, second)
    assert read_key_file(key_file) == [first]
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
