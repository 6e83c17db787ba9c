"""Secrets at rest: Fernet keys from ``B24APP_SECRET_KEY`` or from a key file made once.

The keys are a list, current first. Encryption uses the current key; decryption tries every key,
so a rotation is: put a new key first, re-encrypt everything (``rotate``), drop the old keys.
The key file lives in the instance folder with mode 0600, created atomically; a key file that
other users may read is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from b24app.store.errors import StoreError

ENV_KEY = "B24APP_SECRET_KEY"
NEW_KEY_HINT = "make one with: b24app db new-key"
DECRYPTED_KEPT = 4096  # secrets kept decrypted, by their token


class KeyProblem(StoreError):
    """The keys cannot be used: one sentence saying which and how to fix it."""


class SecretUnreadable(StoreError):
    """A stored secret was encrypted with a key that is no longer configured."""


class Cipher:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise KeyProblem(f"no secret key is configured; set {ENV_KEY} ({NEW_KEY_HINT})")
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._decrypted: dict[str, str] = {}  # token -> secret (a token never changes meaning)

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, what: str) -> str:
        """The secret of ``token``; the same token decrypts once (every Bitrix24 event needs two
        secrets, and a Fernet decryption costs more than the rest of its lookup)."""
        known = self._decrypted.get(token)
        if known is not None:
            return known
        try:
            secret = self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretUnreadable(
                f"the stored {what} cannot be decrypted with the configured key(s): the key that encrypted "
                "it is missing; add it back after the current key and run 'b24app db rotate-key'"
            ) from None
        if len(self._decrypted) >= DECRYPTED_KEPT:
            self._decrypted.clear()  # bounded: a flood of distinct tokens costs decryptions, not memory
        self._decrypted[token] = secret
        return secret

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the current key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with the configured key(s), so it cannot be "
                "re-encrypted; add the old key after the current one and run 'b24app db rotate-key' again"
            ) from None

    def __repr__(self) -> str:
        return f"Cipher({len(self.keys)} key(s))"


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str, where: str) -> list[bytes]:
    """Comma- or line-separated Fernet keys, current first."""
    parts = [p.strip() for p in text.replace("\n", ",").split(",")]
    keys = [p.encode("ascii", "replace") for p in parts if p]
    if not keys:
        raise KeyProblem(f"{where} holds no key; {NEW_KEY_HINT}")
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise KeyProblem(
                f"key {number} of {len(keys)} in {where} is not a Fernet key (44 characters of url-safe "
                f"base64); {NEW_KEY_HINT}"
            ) from None
    return keys


def load_cipher(secret_key: str | None, key_file: Path) -> Cipher:
    """The cipher from the configured keys, or from the key file (made on first use)."""
    if secret_key:
        return Cipher(parse_keys(secret_key, ENV_KEY))
    return Cipher(read_or_create_key_file(key_file))


def read_or_create_key_file(path: Path) -> list[bytes]:
    if not path.exists():
        _create_key_file(path, Fernet.generate_key())
    return read_key_file(path)


def read_key_file(path: Path) -> list[bytes]:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise KeyProblem(f"the key file {path} is not a regular file; move it away")
    if info.st_mode & 0o077:
        raise KeyProblem(
            f"the key file {path} may be read by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"make it private with: chmod 600 {path}"
        )
    return parse_keys(path.read_text(encoding="ascii", errors="replace"), f"the key file {path}")


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file's keys atomically (rotation), keeping mode 0600."""
    temporary = _private_temp(path, b"\n".join(keys) + b"\n")
    os.replace(temporary, path)


def _create_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` to ``path`` unless another process got there first (then theirs is kept)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = _private_temp(path, key + b"\n")
    try:
        os.link(temporary, path)  # atomic, and never replaces a key another process just made
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def _private_temp(path: Path, data: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return temporary
