"""Envelope encryption under the key-encryption key (KEK).

Private signing keys and the hashing pepper are stored as AES-256-GCM ciphertexts; the
row's identity is bound as associated data, so a ciphertext copied into another row does
not decrypt. Each ciphertext records the id of the KEK that wrapped it. The KEK source is
a small interface (environment variable, file; a KMS or HSM can be added) that yields the
newest KEK first: the newest encrypts, older ones still decrypt (the Hydra model).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from authserver.platform.config import ConfigError, Settings, decode_kek
from authserver.platform.private_files import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    make_private_dir,
    tighten_dir,
)

_NONCE_BYTES = 12
KEK_FILE_NAME = "kek"


class KekError(Exception):
    """A ciphertext cannot be opened with the configured KEKs."""


class KekSource(Protocol):
    def keks(self) -> list[bytes]:
        """The KEKs, newest (the one that encrypts) first."""
        ...


class EnvKekSource:
    """``AUTHSERVER_KEK`` encrypts; ``AUTHSERVER_KEK_PREVIOUS`` (comma-separated) still decrypt."""

    def __init__(self, value: str, previous: str | None = None) -> None:
        self._keks = [decode_kek(value, name="AUTHSERVER_KEK")]
        for older in (previous or "").split(","):
            if older.strip():
                self._keks.append(decode_kek(older, name="AUTHSERVER_KEK_PREVIOUS"))

    def keks(self) -> list[bytes]:
        return list(self._keks)


def _write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def new_kek_text() -> bytes:
    return base64.b64encode(secrets.token_bytes(32)) + b"\n"


class FileKekSource:
    """Development KEKs under ``keys_dir`` (mode 0700), each base64 of 32 random bytes, mode
    0600: ``kek`` encrypts; ``kek.next`` (a rotation in progress) and ``kek.previous`` (one
    per line) still decrypt."""

    def __init__(self, keys_dir: str) -> None:
        self.path = Path(keys_dir) / KEK_FILE_NAME
        self.next_path = self.path.with_name(KEK_FILE_NAME + ".next")
        self.previous_path = self.path.with_name(KEK_FILE_NAME + ".previous")

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        make_private_dir(self.path.parent)
        # The folder may come from a checkout (keys/ is in the repository, mode 0755).
        tighten_dir(self.path.parent)
        # O_EXCL: never overwrite a KEK, which would orphan every ciphertext it wrapped.
        _write_private(self.path, new_kek_text(), exclusive=True)

    def private_paths(self) -> list[tuple[str, Path, int]]:
        """(what, path, the widest mode it may have), for ``authserver doctor``."""
        files = [("KEK file", p, PRIVATE_FILE)
                 for p in (self.path, self.next_path, self.previous_path)]  # fmt: skip
        return [("keys folder", self.path.parent, PRIVATE_DIR), *files]

    def keks(self) -> list[bytes]:
        try:
            current = [decode_kek(self.path.read_text(), name=str(self.path))]
        except FileNotFoundError:
            raise ConfigError(
                f"no key-encryption key: {self.path} is missing (run `authserver init`) "
                "and AUTHSERVER_KEK is not set"
            ) from None
        return current + self._decrypt_only()

    def _decrypt_only(self) -> list[bytes]:
        keks = []
        if self.next_path.exists():
            keks.append(decode_kek(self.next_path.read_text(), name=str(self.next_path)))
        if self.previous_path.exists():
            for line in self.previous_path.read_text().split():
                keks.append(decode_kek(line, name=str(self.previous_path)))
        return keks

    def begin_rotation(self) -> bytes:
        """Write the next KEK beside the current one; returns it."""
        text = new_kek_text()
        _write_private(self.next_path, text, exclusive=False)
        return decode_kek(text.decode(), name=str(self.next_path))

    def finish_rotation(self) -> None:
        """After every row is re-wrapped: the next KEK becomes current, the old one previous."""
        old = self.path.read_bytes()
        kept = self.previous_path.read_bytes() if self.previous_path.exists() else b""
        _write_private(self.previous_path, kept + old, exclusive=False)
        os.replace(self.next_path, self.path)


def kek_source_for(settings: Settings) -> EnvKekSource | FileKekSource:
    if settings.kek is not None:
        return EnvKekSource(settings.kek, settings.kek_previous)
    return FileKekSource(settings.keys_dir)


def kek_id(kek: bytes) -> str:
    """A public name for a KEK: a truncated hash of a 256-bit random key reveals nothing of it."""
    return hashlib.sha256(b"authserver:kek-id:" + kek).hexdigest()[:16]


class Envelope:
    def __init__(self, keks: list[bytes]) -> None:
        if not keks:
            raise ConfigError("no key-encryption key configured")
        self._current = keks[0]
        self._by_id = {kek_id(k): k for k in keks}

    @property
    def current_kek_id(self) -> str:
        return kek_id(self._current)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self._current).encrypt(nonce, plaintext, associated_data)
        return self.current_kek_id, nonce + sealed

    def decrypt(self, kek_ident: str, blob: bytes, associated_data: bytes) -> bytes:
        kek = self._by_id.get(kek_ident)
        if kek is None:
            raise KekError(f"ciphertext wrapped by unknown KEK {kek_ident}")
        try:
            return AESGCM(kek).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise KekError("ciphertext does not open (tampered, or moved to another row)") from None
